import Glibc

/// Reads the JSON of a safetensors header straight into its members, without a ``JSONValue``
/// tree for the tensor entries: a header of 100,000 tensors built 400,000 small arrays and
/// strings (the entry objects, their keys, `shape` and `data_offsets`) only to read them once.
///
/// An entry written the usual way (an object of exactly `dtype` string, `shape` and
/// `data_offsets` arrays of non-negative integers, each once, in any order) is read directly.
/// Anything else is read again from its first byte by ``JSONParser`` into a ``JSONValue``, so an
/// unusual or invalid entry meets exactly the same checks and messages as before; bytes the fast
/// path reads are the bytes the parser would read, in the same order, so a syntax or UTF-8 error
/// it meets is the parser's own. Limits (`maxDepth`, the longest array) hold on both paths.
struct SafetensorsHeaderScanner {
    /// One member of the header object, in file order; checked by ``SafetensorsHeader`` after the
    /// whole JSON has parsed (a syntax error anywhere is reported before any entry's content).
    enum Member {
        case metadata(JSONValue)
        case entry(name: String, dtype: String, shape: [Int], begin: Int, end: Int)
        case other(name: String, value: JSONValue)
    }

    var parser: JSONParser
    /// Every key read so far (tensor names and `__metadata__`) -> its member's index in file order:
    /// the duplicate-key check, kept afterwards as the file's one name index
    /// (``SafetensorsHeader/memberIndex``), so that no name is hashed twice.
    var keys: [String: Int] = [:]

    init(json: UnsafeRawBufferPointer, maxDepth: Int, maxArrayCount: Int) {
        parser = JSONParser(bytes: json, maxDepth: maxDepth)
        parser.maxArrayCount = maxArrayCount
    }

    /// The members of the root object (the caller has checked it starts with `{`).
    mutating func members() throws(JSONParseError) -> [Member] {
        parser.skipWhitespace()
        parser.position += 1
        // Sized up front for one member per 64-100 header bytes (a tensor's entry), instead of
        // growing through every power of two.
        var members: [Member] = []
        members.reserveCapacity(parser.bytes.count / 100)
        keys = Dictionary(minimumCapacity: parser.bytes.count / 64)
        parser.skipWhitespace()
        if parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: "}") {
            parser.position += 1
        } else {
            try readMembers(into: &members)
        }
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return members
    }

    mutating func readMembers(into members: inout [Member]) throws(JSONParseError) {
        while true {
            parser.skipWhitespace()
            guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: "\"") else {
                throw parser.error("expected a key")
            }
            let keyStart = parser.position
            let key = try parser.parseString()
            guard keys.updateValue(members.count, forKey: key) == nil else {
                throw JSONParseError(offset: keyStart, message: "duplicate key \"\(key)\"")
            }
            parser.skipWhitespace()
            guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: ":") else {
                throw parser.error("expected ':'")
            }
            parser.position += 1
            parser.skipWhitespace()
            if key == "__metadata__" {
                members.append(.metadata(try parser.parseValue(depth: 1)))
            } else if let entry = try fastEntry(name: key) {
                members.append(entry)
            } else {
                members.append(.other(name: key, value: try parser.parseValue(depth: 1)))
            }
            parser.skipWhitespace()
            guard parser.position < parser.bytes.count else { throw parser.error("unexpected end of JSON") }
            if parser.bytes[parser.position] == UInt8(ascii: ",") { parser.position += 1; continue }
            if parser.bytes[parser.position] == UInt8(ascii: "}") { parser.position += 1; return }
            throw parser.error("expected ',' or '}'")
        }
    }

    /// The entry at the current position if it has the usual form; nil, with the position back at
    /// its first byte, otherwise.
    mutating func fastEntry(name: String) throws(JSONParseError) -> Member? {
        let start = parser.position
        var dtype: String?
        var shape: [Int]?
        var offsets: (begin: Int, end: Int)?
        guard byte(is: "{") else { return nil }
        parser.position += 1
        while true {
            parser.skipWhitespace()
            guard byte(is: "\"") else { return rewind(start) }
            let key = readKnownKey()
            parser.skipWhitespace()
            guard key != 0, byte(is: ":") else { return rewind(start) }
            parser.position += 1
            parser.skipWhitespace()
            switch key {
            case 1:
                guard dtype == nil, byte(is: "\"") else { return rewind(start) }
                parser.position += 1
                guard let text = try parser.parseUnescapedString() else { return rewind(start) }
                dtype = text
            case 2:
                guard shape == nil, let values = readNaturals() else { return rewind(start) }
                shape = values
            default:
                guard offsets == nil, let pair = readNaturalPair() else { return rewind(start) }
                offsets = pair
            }
            parser.skipWhitespace()
            if byte(is: ",") { parser.position += 1; continue }
            guard byte(is: "}") else { return rewind(start) }
            parser.position += 1
            break
        }
        guard let dtype, let shape, let offsets else { return rewind(start) }
        return .entry(name: name, dtype: dtype, shape: shape, begin: offsets.begin, end: offsets.end)
    }

    mutating func rewind(_ start: Int) -> Member? {
        parser.position = start
        return nil
    }

    @inline(__always)
    func byte(is character: Unicode.Scalar) -> Bool {
        parser.position < parser.bytes.count && parser.bytes[parser.position] == UInt8(ascii: character)
    }

    /// 1 for `"dtype"`, 2 for `"shape"`, 3 for `"data_offsets"` (position moved past it); 0 for any
    /// other key (position unchanged).
    mutating func readKnownKey() -> Int {
        if skip("\"dtype\"") { return 1 }
        if skip("\"shape\"") { return 2 }
        if skip("\"data_offsets\"") { return 3 }
        return 0
    }

    /// Moves past `literal` if the bytes at the position spell it.
    @inline(__always)
    mutating func skip(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard parser.position + count <= parser.bytes.count,
              memcmp(parser.bytes.baseAddress! + parser.position, literal.utf8Start, count) == 0 else { return false }
        parser.position += count
        return true
    }

    /// An array of plain non-negative integers (no sign, fraction, exponent or leading zero) that
    /// fit in `Int`, at most `maxArrayCount` long; nil for anything else.
    mutating func readNaturals() -> [Int]? {
        guard byte(is: "[") else { return nil }
        parser.position += 1
        var values: [Int] = []
        parser.skipWhitespace()
        if byte(is: "]") { parser.position += 1; return values }
        while true {
            parser.skipWhitespace()
            guard values.count < parser.maxArrayCount, let value = readNatural() else { return nil }
            values.append(value)
            parser.skipWhitespace()
            if byte(is: ",") { parser.position += 1; continue }
            guard byte(is: "]") else { return nil }
            parser.position += 1
            return values
        }
    }

    /// `data_offsets`: an array of exactly two plain non-negative integers (what ``readNaturals()``
    /// reads when it finds two), without an array of its own; nil for anything else.
    mutating func readNaturalPair() -> (begin: Int, end: Int)? {
        guard parser.maxArrayCount >= 2, byte(is: "[") else { return nil }
        parser.position += 1
        parser.skipWhitespace()
        guard let begin = readNatural() else { return nil }
        parser.skipWhitespace()
        guard byte(is: ",") else { return nil }
        parser.position += 1
        parser.skipWhitespace()
        guard let end = readNatural() else { return nil }
        parser.skipWhitespace()
        guard byte(is: "]") else { return nil }
        parser.position += 1
        return (begin, end)
    }

    mutating func readNatural() -> Int? {
        let start = parser.position
        var value = 0
        while parser.position < parser.bytes.count {
            let digit = Int(parser.bytes[parser.position] &- UInt8(ascii: "0"))
            guard digit >= 0, digit <= 9 else { break }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
            parser.position += 1
        }
        let count = parser.position - start
        guard count > 0, count == 1 || parser.bytes[start] != UInt8(ascii: "0") else { return nil }
        if parser.position < parser.bytes.count {
            let next = parser.bytes[parser.position]
            guard next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E") else { return nil }
        }
        return value
    }
}
