/// The entries of a zip archive whose members are stored uncompressed, as `torch.save` writes them
/// (PKWARE APPNOTE 6.3: end of central directory, ZIP64 end record and locator, central directory
/// headers, local headers; sizes come from the central directory, since torch's writer sets the
/// data-descriptor flag and leaves the local sizes zero).
///
/// Nothing is trusted: every offset and size is checked against the file size before use (with
/// overflow-checked arithmetic), counts are checked against the bytes that would have to hold them
/// before anything is allocated, entries may not overlap, and a compressed or encrypted entry is
/// refused when it is asked for (`data(of:)`), naming it.
public struct ZipArchive: Sendable {
    /// One member: its name and where its (stored) bytes lie in the file.
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// Byte offsets of the entry's data in the file.
        public var dataRange: Range<Int>
        /// Byte offset of the entry's local header (where the entry's bytes start).
        public var headerOffset: Int
        /// Compression method (0 = stored; torch writes nothing else).
        public var method: Int
        /// General-purpose flags (bit 0: encrypted).
        public var flags: Int
    }

    /// The most entries read. A torch checkpoint has one per storage plus five; a model with a
    /// million separate storages is already absurd.
    public static let maxEntries = 1 << 20
    /// Longest entry name, in bytes.
    public static let maxNameBytes = 4096

    /// Entries in central-directory order.
    public let entries: [Entry]
    private let index: [String: Int]

    /// Reads the directory of the archive `bytes` (the whole file); `path` names it in errors.
    public init(bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        let reader = ZipReader(bytes: bytes, path: path)
        let directory = try reader.centralDirectory()
        var entries: [Entry] = []
        entries.reserveCapacity(directory.count)
        var index: [String: Int] = [:]
        var offset = directory.offset
        for _ in 0..<directory.count {
            let (entry, next) = try reader.centralEntry(at: offset, directoryEnd: directory.end)
            guard index[entry.name] == nil else {
                throw .invalidHeader(path: path, reason: "zip entry '\(entry.name)' appears twice")
            }
            index[entry.name] = entries.count
            entries.append(entry)
            offset = next
        }
        try ZipArchive.checkNoOverlap(entries, directoryStart: directory.offset, path: path)
        self.entries = entries
        self.index = index
    }

    /// The entry called `name`, if there is one.
    public func entry(named name: String) -> Entry? {
        index[name].map { entries[$0] }
    }

    /// The data range of the stored entry `name`; refuses a compressed or encrypted one.
    public func storedRange(of name: String, path: String) throws(CheckpointError) -> Range<Int>? {
        guard let entry = entry(named: name) else { return nil }
        guard entry.flags & 1 == 0 else {
            throw .invalidHeader(path: path, reason: "zip entry '\(name)' is encrypted")
        }
        guard entry.method == 0 else {
            throw .invalidHeader(path: path, reason: "zip entry '\(name)' is compressed (method \(entry.method)); torch.save stores entries uncompressed, and only stored entries are read")
        }
        return entry.dataRange
    }

    /// Entries (local header through end of data) must not share bytes with each other or with the
    /// central directory: overlapping entries are how zip bombs and parser-confusion files are made.
    static func checkNoOverlap(_ entries: [Entry], directoryStart: Int, path: String) throws(CheckpointError) {
        let spans = entries.map { ($0.headerOffset..<$0.dataRange.upperBound, $0.name) }.sorted { $0.0.lowerBound < $1.0.lowerBound }
        var previousEnd = 0
        var previousName = ""
        for (range, name) in spans {
            guard range.lowerBound >= previousEnd else {
                throw .invalidHeader(path: path, reason: "zip entries '\(previousName)' and '\(name)' overlap")
            }
            previousEnd = range.upperBound
            previousName = name
        }
        guard previousEnd <= directoryStart else {
            throw .invalidHeader(path: path, reason: "zip entry '\(previousName)' overlaps the central directory")
        }
    }
}

/// Bounds-checked little-endian reads of the structures of a zip file.
struct ZipReader {
    let bytes: UnsafeRawBufferPointer
    let path: String

    /// Where the central directory lies and how many entries it has.
    struct Directory {
        var offset: Int
        var end: Int
        var count: Int
    }

    func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }

    func invalid(_ reason: String) -> CheckpointError { .invalidHeader(path: path, reason: reason) }

    /// `offset + length` as a checked range inside the file.
    func range(_ offset: Int, _ length: Int, _ what: String) throws(CheckpointError) -> Range<Int> {
        guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset else {
            throw .truncated(path: path, reason: "\(what) lies past the end of the file")
        }
        return offset..<(offset + length)
    }

    /// A 64-bit size or offset as an `Int` inside the file.
    func fileOffset(_ value: UInt64, _ what: String) throws(CheckpointError) -> Int {
        guard value <= UInt64(bytes.count) else {
            throw .truncated(path: path, reason: "\(what) (\(value)) lies past the end of the file")
        }
        return Int(value)
    }

    /// Finds the end of central directory record (searching back over at most a 64 KiB comment),
    /// and the ZIP64 end record when the 32-bit fields say it is there.
    func centralDirectory() throws(CheckpointError) -> Directory {
        let minEnd = 22
        guard bytes.count >= minEnd else { throw invalid("file too small for a zip archive") }
        var at = bytes.count - minEnd
        let lowest = max(0, bytes.count - minEnd - 0xFFFF)
        while at >= lowest, u32(at) != 0x0605_4B50 { at -= 1 }
        guard at >= lowest else { throw invalid("zip archive without an end of central directory record") }
        var count = u16(at + 10)
        var size = UInt64(u32(at + 12))
        var offset = UInt64(u32(at + 16))
        guard u16(at + 4) == 0, u16(at + 6) == 0 else { throw invalid("multi-disk zip archives are not read") }
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            (count, size, offset) = try zip64Directory(endRecord: at)
        }
        let start = try fileOffset(offset, "central directory")
        let length = try fileOffset(size, "central directory size")
        let span = try range(start, length, "central directory")
        guard count <= ZipArchive.maxEntries else { throw invalid("zip archive lists \(count) entries, over the \(ZipArchive.maxEntries) read") }
        guard count <= length / 46 else { throw invalid("central directory of \(length) bytes cannot hold \(count) entries") }
        return Directory(offset: span.lowerBound, end: span.upperBound, count: count)
    }

    /// The ZIP64 end of central directory record, through its locator just before the 32-bit record.
    func zip64Directory(endRecord: Int) throws(CheckpointError) -> (Int, UInt64, UInt64) {
        let locator = endRecord - 20
        guard locator >= 0, u32(locator) == 0x0706_4B50 else {
            throw invalid("zip end record needs ZIP64 but has no ZIP64 locator")
        }
        let record = try fileOffset(u64(locator + 8), "ZIP64 end record")
        _ = try range(record, 56, "ZIP64 end record")
        guard u32(record) == 0x0606_4B50 else { throw invalid("ZIP64 end record signature missing") }
        let count = u64(record + 32)
        guard count <= UInt64(ZipArchive.maxEntries) else { throw invalid("zip archive lists \(count) entries, over the \(ZipArchive.maxEntries) read") }
        return (Int(count), u64(record + 40), u64(record + 48))
    }

    /// One central directory header at `offset` and the local header it points to; returns the
    /// entry and the offset of the next central header.
    func centralEntry(at offset: Int, directoryEnd: Int) throws(CheckpointError) -> (ZipArchive.Entry, Int) {
        let fixed = try range(offset, 46, "central directory entry")
        guard fixed.upperBound <= directoryEnd, u32(offset) == 0x0201_4B50 else {
            throw invalid("corrupt zip central directory at byte \(offset)")
        }
        let nameLength = u16(offset + 28), extraLength = u16(offset + 30), commentLength = u16(offset + 32)
        let total = try range(offset, 46 + nameLength + extraLength + commentLength, "central directory entry")
        guard total.upperBound <= directoryEnd else { throw invalid("corrupt zip central directory at byte \(offset)") }
        guard nameLength <= ZipArchive.maxNameBytes,
              let name = String(validating: UnsafeRawBufferPointer(rebasing: bytes[(offset + 46)..<(offset + 46 + nameLength)]), as: UTF8.self) else {
            throw invalid("zip entry name at byte \(offset) is not UTF-8 text")
        }
        var compressed = UInt64(u32(offset + 20))
        var uncompressed = UInt64(u32(offset + 24))
        var local = UInt64(u32(offset + 42))
        try readZip64Extra(at: offset + 46 + nameLength, length: extraLength, name: name,
                           uncompressed: &uncompressed, compressed: &compressed, local: &local)
        let method = u16(offset + 10)
        guard method != 0 || compressed == uncompressed else {
            throw invalid("zip entry '\(name)' is stored but its sizes differ (\(compressed) and \(uncompressed))")
        }
        let header = try fileOffset(local, "local header of '\(name)'")
        let dataStart = try localData(at: header, name: name)
        let data = try range(dataStart, try fileOffset(compressed, "size of '\(name)'"), "data of zip entry '\(name)'")
        let entry = ZipArchive.Entry(name: name, dataRange: data, headerOffset: header, method: method, flags: u16(offset + 8))
        return (entry, total.upperBound)
    }

    /// The ZIP64 extended information extra field (id 1): the 64-bit values of whichever 32-bit
    /// fields are 0xFFFFFFFF, in the order uncompressed size, compressed size, local header offset.
    func readZip64Extra(at start: Int, length: Int, name: String,
                        uncompressed: inout UInt64, compressed: inout UInt64, local: inout UInt64) throws(CheckpointError) {
        var at = start
        let end = start + length
        while at + 4 <= end {
            let id = u16(at), size = u16(at + 2)
            guard at + 4 + size <= end else { throw invalid("zip entry '\(name)' has a truncated extra field") }
            if id == 1 {
                var field = at + 4
                func next() throws(CheckpointError) -> UInt64 {
                    guard field + 8 <= at + 4 + size else { throw invalid("zip entry '\(name)' has a short ZIP64 field") }
                    defer { field += 8 }
                    return u64(field)
                }
                if uncompressed == 0xFFFF_FFFF { uncompressed = try next() }
                if compressed == 0xFFFF_FFFF { compressed = try next() }
                if local == 0xFFFF_FFFF { local = try next() }
            }
            at += 4 + size
        }
    }

    /// Checks the local header at `offset` names the same entry; returns where its data starts.
    func localData(at offset: Int, name: String) throws(CheckpointError) -> Int {
        _ = try range(offset, 30, "local header of '\(name)'")
        guard u32(offset) == 0x0403_4B50 else { throw invalid("zip entry '\(name)' has no local header at byte \(offset)") }
        let nameLength = u16(offset + 26), extraLength = u16(offset + 28)
        let header = try range(offset, 30 + nameLength + extraLength, "local header of '\(name)'")
        let localName = UnsafeRawBufferPointer(rebasing: bytes[(offset + 30)..<(offset + 30 + nameLength)])
        guard localName.elementsEqual(name.utf8) else {
            throw invalid("zip entry '\(name)': the local header names another entry")
        }
        return header.upperBound
    }
}
