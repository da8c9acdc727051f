import Glibc

/// A tensor name as UTF-8 bytes cut at its dots, for the naming rules' many substring and segment
/// tests.
///
/// The rules run once per tensor, and a mixture-of-experts checkpoint has 100,000 tensors: with
/// Foundation's `String.contains` (an `NSString` bridge and a UTF-16 search per call) naming cost
/// about 50 µs a tensor; on bytes (`memmem`, `memcmp`) it is well under a microsecond. Every
/// fragment the rules look for is ASCII, so byte tests agree with the character tests they replace.
struct DottedName {
    /// The segments joined by single dots (empty segments dropped, as `split(separator: ".")` does).
    let bytes: [UInt8]
    /// Where each segment lies in ``bytes``.
    let segments: [Range<Int>]
    /// The byte pairs ``bytes`` holds, for ``contains(anyOf:)-(FragmentTable)`` to pass over most
    /// fragments without a search.
    let pairs: BytePairSet

    /// Splits `name` at its dots, dropping empty segments.
    init(_ name: String) {
        (bytes, segments) = name.utf8.withContiguousStorageIfAvailable(DottedName.split) ?? DottedName.split(Array(name.utf8))
        pairs = BytePairSet(bytes)
    }

    /// The joined bytes and the segments of `name`. A name without empty segments (the usual
    /// case) is copied in one piece, its segment array allocated once at its final size.
    static func split<Name: RandomAccessCollection<UInt8>>(_ name: Name) -> ([UInt8], [Range<Int>]) where Name.Index == Int {
        var dots = 0
        var clean = name.first != UInt8(ascii: ".") && name.last != UInt8(ascii: ".")
        var afterDot = false
        for byte in name {
            let isDot = byte == UInt8(ascii: ".")
            if isDot { dots += 1; if afterDot { clean = false } }
            afterDot = isDot
        }
        var segments: [Range<Int>] = []
        segments.reserveCapacity(dots + 1)
        if clean {
            let bytes = Array(name)
            var start = 0
            for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: ".") {
                segments.append(start..<offset)
                start = offset + 1
            }
            if !bytes.isEmpty { segments.append(start..<bytes.count) }
            return (bytes, segments)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(name.count)
        var start = -1
        for byte in name {
            if byte == UInt8(ascii: ".") {
                if start >= 0 { segments.append(start..<bytes.count); start = -1 }
                continue
            }
            if start < 0 {
                if !bytes.isEmpty { bytes.append(UInt8(ascii: ".")) }
                start = bytes.count
            }
            bytes.append(byte)
        }
        if start >= 0 { segments.append(start..<bytes.count) }
        return (bytes, segments)
    }

    /// The joined name as a string: `name` itself when splitting dropped nothing.
    func string(original name: String) -> String {
        name.utf8.count == bytes.count ? name : String(decoding: bytes, as: UTF8.self)
    }

    /// Whether segment `index` (negative: from the end) exists and is exactly `literal`.
    func segment(_ index: Int, is literal: [UInt8]) -> Bool {
        let i = index < 0 ? segments.count + index : index
        guard i >= 0, i < segments.count else { return false }
        return DottedName.equal(bytes, segments[i], literal)
    }

    /// Whether segment `index` (negative: from the end) is one of `literals`.
    func segment(_ index: Int, isOneOf literals: [[UInt8]]) -> Bool {
        literals.contains { segment(index, is: $0) }
    }

    /// Whether segment `index` (negative: from the end) ends with `suffix`.
    func segment(_ index: Int, hasSuffix suffix: [UInt8]) -> Bool {
        let i = index < 0 ? segments.count + index : index
        guard i >= 0, i < segments.count, segments[i].count >= suffix.count else { return false }
        return DottedName.equal(bytes, segments[i].upperBound - suffix.count..<segments[i].upperBound, suffix)
    }

    /// Whether the joined name contains any of `fragments`.
    func contains(anyOf fragments: [[UInt8]]) -> Bool {
        bytes.withUnsafeBytes { haystack in
            fragments.contains { fragment in
                fragment.withUnsafeBytes { DottedName.occurs($0, in: haystack) }
            }
        }
    }

    /// Whether the joined name contains any of the table's fragments; a fragment holding a byte
    /// pair the name lacks is passed over without a search (most are, for any one name).
    func contains(anyOf table: FragmentTable) -> Bool {
        bytes.withUnsafeBytes { haystack in
            for (fragment, fragmentPairs) in zip(table.fragments, table.pairs)
            where fragment.count <= haystack.count && pairs.isSuperset(of: fragmentPairs) {
                if fragment.withUnsafeBytes({ DottedName.occurs($0, in: haystack) }) { return true }
            }
            return false
        }
    }

    /// Whether the joined name ends with `suffix`.
    func hasSuffix(_ suffix: [UInt8]) -> Bool {
        bytes.count >= suffix.count && DottedName.equal(bytes, bytes.count - suffix.count..<bytes.count, suffix)
    }

    /// Segment `index` read as `Int(String)` reads text (optional sign, ASCII digits, nil on
    /// overflow), or nil.
    func integer(at index: Int) -> Int? {
        guard index < segments.count else { return nil }
        var range = segments[index]
        let negative = bytes[range.lowerBound] == UInt8(ascii: "-")
        if negative || bytes[range.lowerBound] == UInt8(ascii: "+") { range = range.dropFirst() }
        guard !range.isEmpty else { return nil }
        var value = 0
        for i in range {
            let digit = Int(bytes[i]) - Int(UInt8(ascii: "0"))
            guard digit >= 0, digit <= 9 else { return nil }
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = next
        }
        return value
    }

    /// Whether `name` holds a `/` (a TensorFlow path): `memchr` over its UTF-8 bytes.
    static func containsSlash(_ name: String) -> Bool {
        name.utf8.withContiguousStorageIfAvailable { bytes in
            bytes.baseAddress.map { memchr($0, Int32(UInt8(ascii: "/")), bytes.count) != nil } ?? false
        } ?? name.utf8.contains(UInt8(ascii: "/"))
    }

    /// Whether `needle` (not empty) occurs in `haystack`: `memchr` to each candidate first byte,
    /// then `memcmp` (glibc's `memmem` is a GNU extension Swift's Glibc module does not export).
    static func occurs(_ needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer) -> Bool {
        guard let base = haystack.baseAddress, let first = needle.first, haystack.count >= needle.count else { return false }
        var start = 0
        let lastStart = haystack.count - needle.count
        while start <= lastStart {
            guard let hit = memchr(base + start, Int32(first), lastStart - start + 1) else { return false }
            let offset = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + offset, needle.baseAddress!, needle.count) == 0 { return true }
            start = offset + 1
        }
        return false
    }

    static func equal(_ bytes: [UInt8], _ range: Range<Int>, _ literal: [UInt8]) -> Bool {
        guard range.count == literal.count else { return false }
        for (offset, byte) in literal.enumerated() where bytes[range.lowerBound + offset] != byte { return false }
        return true
    }
}

/// The UTF-8 bytes of each string, for ``DottedName``'s tests.
func utf8Table(_ strings: [String]) -> [[UInt8]] { strings.map { Array($0.utf8) } }

/// Fragments for ``DottedName/contains(anyOf:)-(FragmentTable)``: their UTF-8 bytes and byte pairs.
struct FragmentTable {
    let fragments: [[UInt8]]
    let pairs: [BytePairSet]

    init(_ strings: [String]) {
        fragments = utf8Table(strings)
        pairs = fragments.map(BytePairSet.init)
    }
}

/// A 128-bit filter of the adjacent byte pairs of a byte string: if a fragment holds a pair the
/// name's set lacks, the fragment does not occur in the name (the converse need not hold).
struct BytePairSet {
    var low: UInt64 = 0
    var high: UInt64 = 0

    init<Bytes: Collection<UInt8>>(_ bytes: Bytes) {
        var previous: UInt8?
        for byte in bytes {
            if let previous { insert(previous, byte) }
            previous = byte
        }
    }

    /// Sets the pair's bit: the top 7 bits of a multiplicative hash of the two bytes.
    @inline(__always)
    mutating func insert(_ first: UInt8, _ second: UInt8) {
        let bit = ((UInt32(first) << 8 | UInt32(second)) &* 0x9E37_79B1) >> 25
        if bit < 64 { low |= 1 << UInt64(bit) } else { high |= 1 << UInt64(bit - 64) }
    }

    func isSuperset(of other: BytePairSet) -> Bool {
        other.low & ~low == 0 && other.high & ~high == 0
    }
}
