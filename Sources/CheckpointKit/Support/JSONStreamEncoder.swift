import Foundation

/// Writes an `Encodable` value as the same bytes as ``JSONOutput``'s configuration of Foundation's
/// `JSONEncoder` (indented or compact, keys sorted by their UTF-8 bytes, non-finite numbers as the
/// strings `"nan"`, `"inf"`, `"-inf"`, slashes unescaped, whole doubles without `.0`), at a fraction
/// of its cost: Foundation builds a dictionary per object, tracks the coding path and tests every
/// value for `Date`, `Data`, `URL` and `Decimal` (about 10 us a tensor of a `diff --json` report);
/// here a finished value is serialized at once into its parent's byte buffer, and an object keeps
/// only its keys and the byte ranges of its members until it is sorted and written.
///
/// Values that need one of Foundation's encoding strategies (`Date`, `Data`, `URL`, `Decimal`) throw
/// ``Unsupported``; ``JSONOutput`` then encodes the document with Foundation instead.
struct JSONStreamEncoder {
    /// A value this encoder leaves to Foundation.
    struct Unsupported: Error {}

    /// Indented (`--json` reports) or compact (headers, metadata).
    let pretty: Bool

    /// `value` as UTF-8 JSON.
    func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        var out: [UInt8] = []
        guard try JSONStreamNode.write(value, depth: 0, context: JSONStreamContext(pretty: pretty), into: &out) else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        return out
    }

    /// `value` as UTF-8 JSON, handed to `output` in pieces of about
    /// ``JSONStreamContext/streamChunkBytes`` as it is written (each ends on a member boundary), so
    /// that a report of 100,000 tensors is never one array in memory. Everything is encoded before
    /// the first byte goes out: an error leaves `output` untouched.
    func encode<T: Encodable>(_ value: T, chunkBytes: Int = JSONStreamContext.streamChunkBytes,
                              to output: (UnsafeBufferPointer<UInt8>) -> Void) throws {
        let context = JSONStreamContext(pretty: pretty, chunkBytes: chunkBytes)
        let (root, encodedSomething) = try JSONStreamNode.encodeNode(value, depth: 0, context: context)
        guard encodedSomething else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        withoutActuallyEscaping(output) { output in
            var out: [UInt8] = []
            out.reserveCapacity(chunkBytes + (1 << 16))
            context.stream(to: output)
            root.serialize(into: &out)
            context.flush(&out, force: true)
            context.stream(to: nil)
        }
    }
}

/// One value being encoded: a scalar, an array or an object whose finished members are bytes in
/// ``buffer`` (ranges in ``pieces``) and whose unfinished ones (nested containers, which their
/// owner may still fill) are nodes written when this one is.
final class JSONStreamNode {
    enum Kind { case none, single, array, object }
    enum Piece {
        case bytes(Range<Int>)
        case node(JSONStreamNode)
        /// Written only when this node is (``JSONStreamedValue``).
        case streamed(any JSONStreamedValue)
    }

    /// The encoding this node belongs to. Not reference-counted (each access to an `unowned` or
    /// strong one would cost a count): ``JSONStreamEncoder/encode(_:)`` holds the context until
    /// the last node is written, and the context holds the spare nodes, not the other way round.
    unowned(unsafe) let context: JSONStreamContext
    var pretty: Bool { context.pretty }
    /// Containers enclosing this value: its indentation level when pretty.
    var depth: Int
    var kind = Kind.none
    // Not checked for exclusive access at run time: a node is private to one encoding and its
    // members are never accessed overlapping (the checks cost 5% of a 100,000-tensor report).
    @exclusivity(unchecked) var buffer: [UInt8] = []
    @exclusivity(unchecked) var pieces: [Piece] = []
    /// Object member names, parallel to ``pieces``.
    @exclusivity(unchecked) var keys: [String] = []

    init(context: JSONStreamContext, depth: Int) {
        self.context = context
        self.depth = depth
    }

    /// Empties the node for another value, keeping its arrays' storage (``JSONStreamContext``).
    func reset() {
        kind = .none
        buffer.removeAll(keepingCapacity: true)
        pieces.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
    }

    /// Makes this node a container of `kind` (a second request for the same kind reuses it, as
    /// Foundation does).
    func become(_ newKind: Kind) {
        precondition(kind == .none || kind == newKind, "JSONStreamEncoder: \(newKind) requested for a value already encoded as \(kind)")
        kind = newKind
    }

    // MARK: members

    /// Starts a member (an element, or an object member named `key`) whose bytes follow in ``buffer``.
    @inline(__always)
    func beginMember(_ key: String?) -> Int {
        if let key { keys.append(key) }
        return buffer.count
    }

    @inline(__always)
    func endMember(_ start: Int) {
        pieces.append(.bytes(start..<buffer.count))
    }

    /// A nested container that its owner fills later, so it is written when this node is.
    func nestedNode(_ key: String?, kind: Kind) -> JSONStreamNode {
        if let key { keys.append(key) }
        let child = JSONStreamNode(context: context, depth: depth + 1)
        child.kind = kind
        pieces.append(.node(child))
        return child
    }

    /// A member that writes itself when this node is written (``JSONStreamedValue``).
    func appendStreamed(_ key: String?, _ value: any JSONStreamedValue) {
        if let key { keys.append(key) }
        pieces.append(.streamed(value))
        context.streamedMembers += 1
    }

    /// Writes a member value: primitives directly, anything else through its own `encode(to:)`.
    /// A value holding a streamed member somewhere inside stays a node, written when this one is,
    /// so that the streamed member goes straight to the output rather than into this buffer.
    func appendMember<T: Encodable>(_ key: String?, _ value: T) throws {
        let start = beginMember(key)
        if T.self == String.self || T.self == Double.self || T.self == Int.self || T.self == Bool.self
            || T.self == String?.self || T.self == Double?.self || T.self == Int?.self || T.self == Bool?.self {
            try JSONStreamNode.write(value, depth: depth + 1, context: context, into: &buffer)
            return endMember(start)
        }
        let streamedBefore = context.streamedMembers
        let (child, _) = try JSONStreamNode.encodeNode(value, depth: depth + 1, context: context)
        if context.streamedMembers != streamedBefore { return pieces.append(.node(child)) }
        child.serialize(into: &buffer)
        context.recycle(child)
        endMember(start)
    }

    /// Encodes `value` as this node's own (single) value.
    func encodeValue<T: Encodable>(_ value: T) throws {
        become(.single)
        let start = buffer.count
        try JSONStreamNode.write(value, depth: depth, context: context, into: &buffer)
        pieces.append(.bytes(start..<buffer.count))
    }

    /// Serializes `value`, sitting at indentation level `depth`, onto `out`; false when its
    /// `encode(to:)` asked for no container (written as `{}`, as Foundation writes it when nested).
    @discardableResult
    static func write<T: Encodable>(_ value: T, depth: Int, context: JSONStreamContext, into out: inout [UInt8]) throws -> Bool {
        // Metatype tests, not `as?` casts: a cast goes through the runtime for every value.
        if T.self == String.self {
            writeString(unsafeBitCast(value, to: String.self), into: &out)
        } else if T.self == Double.self {
            writeFloat(unsafeBitCast(value, to: Double.self), into: &out)
        } else if T.self == Int.self {
            out.append(contentsOf: unsafeBitCast(value, to: Int.self).description.utf8)
        } else if T.self == Bool.self {
            out.append(contentsOf: (unsafeBitCast(value, to: Bool.self) ? "true" : "false").utf8)
        } else if let written = try writeOptional(value, depth: depth, context: context, into: &out) {
            return written
        } else {
            let (child, encodedSomething) = try encodeNode(value, depth: depth, context: context)
            child.serialize(into: &out)
            context.recycle(child)
            return encodedSomething
        }
        return true
    }

    /// `value` encoded by its own `encode(to:)` into a node at indentation level `depth`, not yet
    /// written; false when it asked for no container (then written as `{}`, as Foundation writes
    /// it when nested).
    static func encodeNode<T: Encodable>(_ value: T, depth: Int, context: JSONStreamContext) throws -> (JSONStreamNode, Bool) {
        if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self {
            throw JSONStreamEncoder.Unsupported()
        }
        let child = context.node(depth: depth)
        try value.encode(to: JSONStreamNodeEncoder(node: child))
        let encodedSomething = child.kind != .none
        if !encodedSomething { child.kind = .object }
        return (child, encodedSomething)
    }

    /// An optional string, number or flag (most of a report's optional values) written as `null`
    /// or as its value, without the node its `encode(to:)` would ask for; nil for other types.
    private static func writeOptional<T: Encodable>(_ value: T, depth: Int, context: JSONStreamContext,
                                                    into out: inout [UInt8]) throws -> Bool? {
        func unwrapped<Wrapped: Encodable>(_ optional: Wrapped?) throws -> Bool {
            guard let wrapped = optional else {
                out.append(contentsOf: "null".utf8)
                return true
            }
            return try write(wrapped, depth: depth, context: context, into: &out)
        }
        if T.self == Double?.self { return try unwrapped(unsafeBitCast(value, to: Double?.self)) }
        if T.self == Int?.self { return try unwrapped(unsafeBitCast(value, to: Int?.self)) }
        if T.self == String?.self { return try unwrapped(unsafeBitCast(value, to: String?.self)) }
        if T.self == Bool?.self { return try unwrapped(unsafeBitCast(value, to: Bool?.self)) }
        return nil
    }

    // MARK: serialization

    /// Writes this node: Foundation's `JSONWriter` layout (`"key" : value`, two spaces a level,
    /// an empty container as an open and a close bracket with a blank line between when pretty).
    func serialize(into out: inout [UInt8]) {
        switch kind {
        case .single:
            if case .bytes(let range)? = pieces.first { out.append(contentsOf: buffer[range]) }
        case .array:
            writeContainer(open: UInt8(ascii: "["), close: UInt8(ascii: "]"), order: Array(pieces.indices), into: &out)
        case .object, .none:
            writeContainer(open: UInt8(ascii: "{"), close: UInt8(ascii: "}"), order: sortedMemberOrder(), into: &out)
        }
    }

    /// Member indices by key (UTF-8 byte order, as Foundation sorts); of members encoded twice
    /// under one key only the last counts, as in Foundation's dictionary.
    func sortedMemberOrder() -> [Int] {
        context.order(of: keys) { sortMembers() }
    }

    /// ``sortedMemberOrder()`` worked out.
    private func sortMembers() -> [Int] {
        let sorted = keys.indices.sorted { a, b in
            let order = JSONStreamNode.compareUTF8(keys[a], keys[b])
            return order != 0 ? order < 0 : a < b
        }
        var order: [Int] = []
        order.reserveCapacity(sorted.count)
        for (position, index) in sorted.enumerated() {
            if position + 1 < sorted.count, JSONStreamNode.compareUTF8(keys[sorted[position + 1]], keys[index]) == 0 { continue }
            order.append(index)
        }
        return order
    }

    /// Negative, zero or positive as `a`'s UTF-8 bytes sort before, equal or after `b`'s (one
    /// `memcmp`; the generic `lexicographicallyPrecedes` on two `UTF8View`s cost more than the
    /// rest of an object's writing).
    static func compareUTF8(_ a: String, _ b: String) -> Int {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let shared = min(x.count, y.count)
                if shared > 0 {
                    let order = memcmp(x.baseAddress!, y.baseAddress!, shared)
                    if order != 0 { return Int(order) }
                }
                return x.count - y.count
            }
        }
    }

    func writeContainer(open: UInt8, close: UInt8, order: [Int], into out: inout [UInt8]) {
        out.append(open)
        if pretty { out.append(0x0A) }
        var first = true
        for index in order {
            if !first { out.append(UInt8(ascii: ",")); if pretty { out.append(0x0A) } }
            first = false
            if pretty { JSONStreamNode.writeIndent(depth + 1, into: &out) }
            if kind == .object {
                JSONStreamNode.writeString(keys[index], into: &out)
                if pretty { out.append(contentsOf: " : ".utf8) } else { out.append(UInt8(ascii: ":")) }
            }
            switch pieces[index] {
            case .bytes(let range): out.append(contentsOf: buffer[range])
            case .node(let child): child.serialize(into: &out)
            case .streamed(let value): value.writeJSON(depth: depth + 1, context: context, into: &out)
            }
            context.flush(&out)
        }
        if pretty {
            out.append(0x0A)
            JSONStreamNode.writeIndent(depth, into: &out)
        }
        out.append(close)
    }

    static func writeIndent(_ level: Int, into out: inout [UInt8]) {
        for _ in 0..<(2 * level) { out.append(0x20) }
    }

    /// A floating-point number as Foundation writes it: Swift's shortest round-trip `description`
    /// without a trailing `.0`; NaN and the infinities as strings.
    static func writeFloat<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, into out: inout [UInt8]) {
        if value.isNaN { writeString("nan", into: &out); return }
        if value.isInfinite { writeString(value < 0 ? "-inf" : "inf", into: &out); return }
        var text = value.description
        // The bytes without a trailing ".0", rather than a shortened copy of the string (a third
        // of the time a report spent on its numbers).
        text.withUTF8 { bytes in
            var count = bytes.count
            if count >= 2, bytes[count - 1] == UInt8(ascii: "0"), bytes[count - 2] == UInt8(ascii: ".") { count -= 2 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[..<count]))
        }
    }

    /// A quoted string with Foundation's escapes: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, other
    /// control characters as `\u00xx` (lower-case hex); `/` and everything else as is.
    static func writeString(_ string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings (every key and tensor name) need no escape: copied in one go.
        let plain: Bool? = string.utf8.withContiguousStorageIfAvailable { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: utf8)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(0x5C); out.append(byte)
            case UInt8(ascii: "\\"): out.append(0x5C); out.append(byte)
            case 0x08: out.append(0x5C); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(0x5C); out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
