/// Writes an array of objects of one shape (a report's tensor entries) straight onto a streamed
/// document's bytes, in ``JSONOutput``'s layout, without `encode(to:)`: for the arrays of 100,000
/// entries of a mixture-of-experts checkpoint (``JSONStreamedValue``).
///
/// The caller writes each entry's members in the UTF-8 order of their keys (as ``JSONOutput``
/// sorts them), through ``Members``; each member's separator and quoted key is one run of bytes
/// worked out once a document (writing them piece by piece was a sixth of a `diff --json`).
struct JSONEntryWriter {
    let pretty: Bool
    /// Every member key an entry may have, in the order written (UTF-8 order).
    let keys: [String]
    let elementSeparator: [UInt8]
    let entryIndent: [UInt8]
    /// For each of ``keys``: the separator before it (none before the first), the quoted key and
    /// the separator after it.
    let memberPrefixes: [[UInt8]]
    let entryClose: [UInt8]
    let shapeOpen: [UInt8]
    let shapeSeparator: [UInt8]
    let shapeClose: [UInt8]

    /// For entries of an array at indentation level `arrayDepth` (entries at `+ 1`, their members
    /// at `+ 2`, the elements of a member array at `+ 3`), with members named `keys` (in any
    /// order: sorted here).
    init(arrayDepth: Int, pretty: Bool, keys: [String]) {
        self.pretty = pretty
        self.keys = keys.sorted { JSONStreamNode.compareUTF8($0, $1) < 0 }
        func indent(_ level: Int) -> [UInt8] { pretty ? Array(repeating: 0x20, count: 2 * level) : [] }
        let newline: [UInt8] = pretty ? [0x0A] : []
        let comma = [UInt8(ascii: ",")]
        elementSeparator = comma + newline
        entryIndent = indent(arrayDepth + 1)
        let memberSeparator = comma + newline + indent(arrayDepth + 2)
        let keySeparator = Array((pretty ? " : " : ":").utf8)
        memberPrefixes = self.keys.enumerated().map { position, key in
            var quoted: [UInt8] = []
            JSONStreamNode.writeString(key, into: &quoted)
            return (position == 0 ? Array(memberSeparator.dropFirst()) : memberSeparator) + quoted + keySeparator
        }
        entryClose = newline + indent(arrayDepth + 1) + [UInt8(ascii: "}")]
        shapeOpen = [UInt8(ascii: "[")] + newline + indent(arrayDepth + 3)
        shapeSeparator = comma + newline + indent(arrayDepth + 3)
        shapeClose = newline + indent(arrayDepth + 2) + [UInt8(ascii: "]")]
    }

    /// The array of `count` entries at level `depth`, each written by `entry` (an object from its
    /// opening brace to its closing one: ``open(_:)``, members, ``close(_:)``; or any one value),
    /// the output flushed after each entry.
    func writeArray(count: Int, depth: Int, context: JSONStreamContext, into out: inout [UInt8],
                    entry: (Int, inout [UInt8]) -> Void) {
        out.append(UInt8(ascii: "["))
        if pretty { out.append(0x0A) }
        for index in 0..<count {
            if index > 0 { out.append(contentsOf: elementSeparator) }
            out.append(contentsOf: entryIndent)
            entry(index, &out)
            context.flush(&out)
        }
        if pretty {
            out.append(0x0A)
            JSONStreamNode.writeIndent(depth, into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// Starts an entry: its members follow through a fresh ``Members``.
    func open(_ out: inout [UInt8]) -> Members {
        out.append(UInt8(ascii: "{"))
        return Members(prefixes: memberPrefixes, keys: keys)
    }

    func close(_ out: inout [UInt8]) {
        out.append(contentsOf: entryClose)
    }

    /// Writes an entry's keys with the separators before them.
    struct Members {
        let prefixes: [[UInt8]]
        let keys: [String]
        var position = 0

        /// Writes the prefix of member `key`, the next of ``JSONEntryWriter/keys`` not skipped
        /// (checked in debug builds; the tests compare the bytes with Foundation's).
        mutating func key(_ key: StaticString, _ out: inout [UInt8]) {
            assert(key.description == keys[position], "JSONEntryWriter: \(key) written where \(keys[position]) belongs")
            prefixes.withUnsafeBufferPointer { out.append(contentsOf: $0[position]) }
            position += 1
        }

        /// Passes over member `key`, absent from this entry.
        mutating func skip(_ key: StaticString) {
            assert(key.description == keys[position])
            position += 1
        }
    }

    // MARK: values

    static func string(_ value: String?, _ out: inout [UInt8]) {
        guard let value else { return null(&out) }
        JSONStreamNode.writeString(value, into: &out)
    }

    static func number(_ value: Double?, _ out: inout [UInt8]) {
        guard let value else { return null(&out) }
        JSONStreamNode.writeFloat(value, into: &out)
    }

    static func integer(_ value: Int?, _ out: inout [UInt8]) {
        guard let value else { return null(&out) }
        digits(value, &out)
    }

    /// `value` in decimal, as `description` writes it, without making a `String` (the generic
    /// `description` of an integer was a twentieth of a `diff --json`).
    static func digits(_ value: Int, _ out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var start = 20
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start..<20]))
        }
    }

    static func flag(_ value: Bool, _ out: inout [UInt8]) {
        out.append(contentsOf: (value ? "true" : "false").utf8)
    }

    static func null(_ out: inout [UInt8]) {
        out.append(contentsOf: "null".utf8)
    }

    /// An array of integers (a shape) as a member: one element a line when pretty.
    func integers(_ values: [Int], _ out: inout [UInt8]) {
        guard !values.isEmpty else {
            out.append(UInt8(ascii: "["))
            if pretty { out.append(0x0A) }
            out.append(contentsOf: shapeClose)
            return
        }
        out.append(contentsOf: shapeOpen)
        for (index, value) in values.enumerated() {
            if index > 0 { out.append(contentsOf: shapeSeparator) }
            JSONEntryWriter.digits(value, &out)
        }
        out.append(contentsOf: shapeClose)
    }
}
