import Glibc

/// Reads the JSON of a safetensors header straight into its tensor list, without a ``JSONValue``
/// tree for the tensor entries: a header of 100,000 tensors built 400,000 small arrays and
/// strings (the entry objects, their keys, `shape` and `data_offsets`) only to read them once.
/// Each name is made into a `String` once, each dtype is matched from its bytes, tensors of one
/// shape share its array (``SafetensorsShapeCache``), and names go into a
/// ``SafetensorsNameIndex``.
///
/// An entry written the usual way (an object of exactly `dtype` string, `shape` and
/// `data_offsets` arrays of non-negative integers, each once, in any order) is read directly.
/// Anything else is read again from its first byte by ``JSONParser`` into a ``JSONValue``, so an
/// unusual or invalid entry meets exactly the same checks and messages as before; bytes the fast
/// path reads are the bytes the parser would read, in the same order, so a syntax or UTF-8 error
/// it meets is the parser's own. Limits (`maxDepth`, the longest array) hold on both paths.
struct SafetensorsHeaderScanner {
    /// A member whose checks wait until the whole JSON has parsed (a syntax error anywhere is
    /// reported before any entry's content); ``SafetensorsHeader`` checks them in file order.
    /// Entries read directly that pass every check are not deferred: they cannot fail later.
    enum Deferred {
        case metadata(JSONValue)
        /// An entry read directly that failed a check, read again by the checks for their message.
        case entry(tensor: Int, dtype: DTypeName, shape: [Int], begin: Int, end: Int)
        /// An entry of an unusual form, read by ``JSONParser``.
        case other(tensor: Int, value: JSONValue)
    }

    /// A `dtype` as read: a known type, or the text of an unknown one (for its message).
    enum DTypeName {
        case known(DType)
        case unknown(String)
    }

    var parser: JSONParser
    /// The data section's size in bytes (an entry whose data runs past it is deferred).
    let dataSize: Int
    /// The tensors in header order; a deferred entry holds a placeholder with its name.
    var infos: [TensorInfo] = []
    /// Each tensor's data offsets relative to the data section, in the order of ``infos``.
    var ranges: [Range<Int>] = []
    var deferred: [Deferred] = []
    /// Tensor name -> its index in ``infos``: the duplicate-key check, kept afterwards as the
    /// file's one name index (``SafetensorsHeader/names``), so that no name is hashed twice.
    /// (`__metadata__` is not in it: ``sawMetadata`` finds it twice.)
    var names: SafetensorsNameIndex
    var sawMetadata = false
    var shapes = SafetensorsShapeCache()
    /// Reused for each `shape` as it is read (at most `maxArrayCount` long).
    var dimensions: [Int] = []

    init(json: UnsafeRawBufferPointer, maxDepth: Int, maxArrayCount: Int, dataSize: Int) {
        parser = JSONParser(bytes: json, maxDepth: maxDepth)
        parser.maxArrayCount = maxArrayCount
        self.dataSize = dataSize
        // Sized up front for one entry per 100 header bytes (a tensor's entry takes 64-120),
        // instead of growing through every power of two.
        let expected = json.count / 100
        names = SafetensorsNameIndex(expectedCount: expected)
        infos.reserveCapacity(expected)
        ranges.reserveCapacity(expected)
        dimensions.reserveCapacity(min(maxArrayCount, 8))
    }

    /// Reads the root object (the caller has checked it starts with `{`).
    mutating func scan() throws(JSONParseError) {
        parser.skipWhitespace()
        parser.position += 1
        parser.skipWhitespace()
        if parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: "}") {
            parser.position += 1
        } else {
            try readMembers()
        }
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.error("unexpected data after the JSON value") }
    }

    mutating func readMembers() throws(JSONParseError) {
        // A local table while the members are read, so that it can be changed while its
        // `nameAt` reads ``infos``.
        var names = SafetensorsNameIndex(expectedCount: 0)
        swap(&names, &self.names)
        defer { swap(&names, &self.names) }
        while true {
            parser.skipWhitespace()
            guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: "\"") else {
                throw parser.error("expected a key")
            }
            let keyStart = parser.position
            let (key, hash) = try readKey()
            if key == "__metadata__" {
                guard !sawMetadata else { throw SafetensorsHeaderScanner.duplicate(key, at: keyStart) }
                sawMetadata = true
                try readColon()
                deferred.append(.metadata(try parser.parseValue(depth: 1)))
            } else {
                // The duplicate check comes after the entry (its slot is loaded meanwhile), but
                // an error in the entry is reported only if the key is not a duplicate.
                names.prefetch(hash)
                do throws(JSONParseError) {
                    try readColon()
                    try readTensorEntry(name: key)
                } catch {
                    if names.index(of: key, hash: hash, nameAt: { infos[$0].name }) != nil {
                        throw SafetensorsHeaderScanner.duplicate(key, at: keyStart)
                    }
                    throw error
                }
                guard names.insert(key, hash: hash, nameAt: { infos[$0].name }) == nil else {
                    throw SafetensorsHeaderScanner.duplicate(key, at: keyStart)
                }
            }
            parser.skipWhitespace()
            guard parser.position < parser.bytes.count else { throw parser.error("unexpected end of JSON") }
            if parser.bytes[parser.position] == UInt8(ascii: ",") { parser.position += 1; continue }
            if parser.bytes[parser.position] == UInt8(ascii: "}") { parser.position += 1; return }
            throw parser.error("expected ',' or '}'")
        }
    }

    static func duplicate(_ key: String, at keyStart: Int) -> JSONParseError {
        JSONParseError(offset: keyStart, message: "duplicate key \"\(key)\"")
    }

    /// The key at the position (its opening quote) and ``SafetensorsNameIndex/hash(of:)`` of it,
    /// hashed from the JSON's bytes when it has no escape and is ASCII.
    mutating func readKey() throws(JSONParseError) -> (String, UInt32?) {
        parser.position += 1
        if let (end, isASCII) = parser.unescapedStringEnd(), isASCII {
            let bytes = UnsafeRawBufferPointer(rebasing: parser.bytes[parser.position..<end])
            parser.position = end + 1
            return (String(decoding: bytes, as: UTF8.self), SafetensorsNameIndex.hash(ascii: bytes))
        }
        parser.position -= 1
        let key = try parser.parseString()
        return (key, SafetensorsNameIndex.hash(of: key))
    }

    mutating func readColon() throws(JSONParseError) {
        parser.skipWhitespace()
        guard parser.position < parser.bytes.count, parser.bytes[parser.position] == UInt8(ascii: ":") else {
            throw parser.error("expected ':'")
        }
        parser.position += 1
        parser.skipWhitespace()
    }

    /// A tensor's entry: read directly, or by ``JSONParser`` and held for its checks.
    mutating func readTensorEntry(name: String) throws(JSONParseError) {
        if try !readUsualEntry(name: name) {
            let value = try parser.parseValue(depth: 1)
            hold(.other(tensor: infos.count, value: value), name: name)
        }
    }

    /// Reads the entry at the current position if it has the usual form (true); false, with the
    /// position back at its first byte, otherwise.
    mutating func readUsualEntry(name: String) throws(JSONParseError) -> Bool {
        let start = parser.position
        var dtype: DTypeName?
        var shape: [Int]?
        var offsets: (begin: Int, end: Int)?
        guard byte(is: "{") else { return false }
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
                guard let name = try readDType() else { return rewind(start) }
                dtype = name
            case 2:
                guard shape == nil, readNaturals() else { return rewind(start) }
                shape = shapes.shared(dimensions)
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
        append(name: name, dtype: dtype, shape: shape, begin: offsets.begin, end: offsets.end)
        return true
    }

    /// An entry read directly: kept if it passes every check, deferred (to fail in file order)
    /// if not.
    mutating func append(name: String, dtype: DTypeName, shape: [Int], begin: Int, end: Int) {
        if let (info, span) = try? SafetensorsHeader.checkedEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end, path: ""),
           span.upperBound <= dataSize {
            infos.append(info)
            ranges.append(span)
        } else {
            hold(.entry(tensor: infos.count, dtype: dtype, shape: shape, begin: begin, end: end), name: name)
        }
    }

    /// Defers the entry of tensor `name`, holding its place in ``infos``.
    mutating func hold(_ entry: Deferred, name: String) {
        deferred.append(entry)
        infos.append(TensorInfo(name: name, dtype: .u8, shape: [], byteCount: 0))
        ranges.append(0..<0)
    }

    /// The `dtype` string after its opening quote, when it has no escape or control character;
    /// nil, with the position unchanged, otherwise. Text that is not ASCII is checked as UTF-8 by
    /// ``JSONParser/parseUnescapedString()``, as any string.
    mutating func readDType() throws(JSONParseError) -> DTypeName? {
        guard let (end, isASCII) = parser.unescapedStringEnd() else { return nil }
        if isASCII {
            let bytes = UnsafeRawBufferPointer(rebasing: parser.bytes[parser.position..<end])
            parser.position = end + 1
            return DType.named(ascii: bytes).map { .known($0) } ?? .unknown(String(decoding: bytes, as: UTF8.self))
        }
        guard let text = try parser.parseUnescapedString() else { return nil }
        return DType.named(text).map { .known($0) } ?? .unknown(text)
    }

    mutating func rewind(_ start: Int) -> Bool {
        parser.position = start
        return false
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
    /// fit in `Int`, at most `maxArrayCount` long, into ``dimensions``; false for anything else.
    mutating func readNaturals() -> Bool {
        guard byte(is: "[") else { return false }
        parser.position += 1
        dimensions.removeAll(keepingCapacity: true)
        parser.skipWhitespace()
        if byte(is: "]") { parser.position += 1; return true }
        while true {
            parser.skipWhitespace()
            guard dimensions.count < parser.maxArrayCount, let value = readNatural() else { return false }
            dimensions.append(value)
            parser.skipWhitespace()
            if byte(is: ",") { parser.position += 1; continue }
            guard byte(is: "]") else { return false }
            parser.position += 1
            return true
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
