/// A value of a report that writes its own JSON bytes, element by element, when its object is
/// written, instead of being encoded into bytes first and held until then.
///
/// Why: the `tensors` array of a 100,000-tensor `diff --json` is about 150 MB of JSON and 45
/// members a tensor. Through `encode(to:)` it cost about 25 us a tensor and sat in memory three
/// times; written straight to the output (``JSONStreamEncoder/encode(_:to:)``) it costs a few
/// microseconds and at most one chunk of it is held.
///
/// Its `encode(to:)` stays the definition: Foundation's `JSONEncoder` (the tests' reference, and
/// the fallback) encodes through it, and ``writeJSON(depth:context:into:)`` must give the same
/// bytes.
protocol JSONStreamedValue: Encodable {
    /// Writes the value, sitting at indentation level `depth`, onto `out` in ``JSONOutput``'s
    /// layout (`context.pretty`), calling `context.flush(&out)` between elements. Every byte goes
    /// onto `out`, none into a buffer of its own: `out` may be the stream's.
    func writeJSON(depth: Int, context: JSONStreamContext, into out: inout [UInt8])
}

extension KeyedEncodingContainer {
    /// Encodes `value` under `key`, as a member written when its object is (``JSONStreamedValue``)
    /// when `encoder` (the one this container came from) is ``JSONStreamEncoder``'s, and through
    /// its `encode(to:)` otherwise.
    mutating func encodeStreamed<T: JSONStreamedValue>(_ value: T, forKey key: Key, of encoder: any Encoder) throws {
        if let stream = encoder as? JSONStreamNodeEncoder {
            stream.node.appendStreamed(key.stringValue, value)
        } else {
            try encode(value, forKey: key)
        }
    }
}

/// An array of strings written element by element (``JSONStreamedValue``): the tensor names of a
/// group of `diff --json`, 100,000 of them in each grouping of a mixture-of-experts checkpoint,
/// where going through `encode(to:)` cost a member record for each name.
struct JSONStreamedStrings: JSONStreamedValue {
    var strings: [String]

    init(_ strings: [String]) { self.strings = strings }

    func encode(to encoder: any Encoder) throws {
        try strings.encode(to: encoder)
    }

    func writeJSON(depth: Int, context: JSONStreamContext, into out: inout [UInt8]) {
        JSONEntryWriter(arrayDepth: depth, pretty: context.pretty, keys: []).writeArray(count: strings.count, depth: depth,
                                                                                        context: context, into: &out) { index, out in
            JSONStreamNode.writeString(strings[index], into: &out)
        }
    }
}
