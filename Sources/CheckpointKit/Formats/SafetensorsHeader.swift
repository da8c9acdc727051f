/// The parsed and validated header of a safetensors file.
struct SafetensorsHeader {
    struct Entry {
        var info: TensorInfo
        var fileRange: Range<Int>
    }

    var headerSize: Int
    /// The tensors sorted by their data's position in the file, each with its position in this
    /// list as its ``TensorInfo/storageIndex``.
    var infos: [TensorInfo]
    /// Each tensor's data range in the file, in the order of ``infos``.
    var fileRanges: [Range<Int>]
    /// The entries sorted by their data's position in the file.
    var tensors: [Entry] { zip(infos, fileRanges).map { Entry(info: $0, fileRange: $1) } }
    var metadata: [String: String]
    /// Tensor name -> the member's position in the header: the scanner's duplicate-key map, kept,
    /// so a file's names are hashed once (100,000 of them in a mixture-of-experts header).
    var memberIndex: [String: Int]
    /// For each header position, the member's index in ``tensors`` (-1 for `__metadata__`).
    var dataOrderOfHeaderMembers: [Int]

    init(file: MappedFile) throws(CheckpointError) {
        try self.init(bytes: file.bytes, path: file.path)
    }

    /// Parses a safetensors file held in memory (`path` is only used in messages).
    init(bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        try SafetensorsHeader.rejectKnownImpostors(bytes, path: path)
        guard bytes.count >= 8 else {
            throw .truncated(path: path, reason: "file is \(bytes.count) bytes: too short for the 8-byte header length")
        }
        let declared = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard declared <= UInt64(SafetensorsFile.maxHeaderSize) else {
            throw .invalidHeader(path: path, reason: "header length \(declared) is too large (the limit is 100,000,000 bytes; not a safetensors file?)")
        }
        let headerSize = Int(declared)
        guard 8 + headerSize <= bytes.count else {
            throw .truncated(path: path, reason: "header length \(headerSize) runs past the end of the \(bytes.count)-byte file")
        }
        self.headerSize = headerSize
        let json = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerSize)])
        let firstNonSpace = json.firstIndex { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        guard let firstNonSpace, json[firstNonSpace] == UInt8(ascii: "{") else {
            throw .invalidHeader(path: path, reason: "header does not start with '{'")
        }
        let members: [SafetensorsHeaderScanner.Member]
        do {
            var scanner = SafetensorsHeaderScanner(json: json, maxDepth: 8, maxArrayCount: SafetensorsFile.maxRank)
            members = try scanner.members()
            memberIndex = scanner.keys
        } catch {
            throw .invalidHeader(path: path, reason: "JSON: \(error)")
        }

        var metadata: [String: String] = [:]
        // In header order first; `headerPositions` says where each tensor's member was.
        var infos: [TensorInfo] = [], ranges: [Range<Int>] = [], headerPositions: [Int] = []
        infos.reserveCapacity(members.count)
        ranges.reserveCapacity(members.count)
        headerPositions.reserveCapacity(members.count)
        let dataStart = 8 + headerSize
        let dataSize = bytes.count - dataStart
        for (position, member) in members.enumerated() {
            let name: String, info: TensorInfo, span: Range<Int>
            switch member {
            case .metadata(let value):
                metadata = try SafetensorsHeader.parseMetadata(value, path: path)
                memberIndex["__metadata__"] = nil
                continue
            case let .entry(entryName, dtype, shape, begin, end):
                name = entryName
                (info, span) = try SafetensorsHeader.checkedEntry(name: name, dtypeName: dtype, shape: shape, begin: begin, end: end, path: path)
            case let .other(entryName, value):
                name = entryName
                (info, span) = try SafetensorsHeader.parseEntry(name: name, value: value, path: path)
            }
            guard span.upperBound <= dataSize else {
                throw .truncated(path: path, reason: "tensor '\(name)' has data offsets \(span.lowerBound)..<\(span.upperBound) but the data section holds only \(dataSize) bytes")
            }
            infos.append(info)
            ranges.append((dataStart + span.lowerBound)..<(dataStart + span.upperBound))
            headerPositions.append(position)
        }
        // Data order: a permutation sorted by range (the same stable sort the entries had), and
        // no copying when the header already lists the tensors in data order.
        var order = Array(infos.indices)
        let key = { (i: Int) in (ranges[i].lowerBound, ranges[i].upperBound) }
        if !zip(order, order.dropFirst()).allSatisfy({ key($0) <= key($1) }) { order.sort { key($0) < key($1) } }
        var expected = dataStart
        for index in order {
            if ranges[index].lowerBound < expected {
                throw .invalidTensor(path: path, tensor: infos[index].name, reason: "data offsets overlap the previous tensor")
            }
            if ranges[index].lowerBound > expected {
                throw .invalidTensor(path: path, tensor: infos[index].name, reason: "gap of \(ranges[index].lowerBound - expected) bytes before this tensor's data (offsets must be contiguous)")
            }
            expected = ranges[index].upperBound
        }
        if expected != bytes.count {
            throw .invalidHeader(path: path, reason: "\(bytes.count - expected) trailing bytes after the last tensor")
        }
        if order.elementsEqual(infos.indices) {
            self.fileRanges = ranges
        } else {
            infos = order.map { infos[$0] }
            self.fileRanges = order.map { ranges[$0] }
        }
        var dataOrder = [Int](repeating: -1, count: members.count)
        for (index, original) in order.enumerated() {
            infos[index].storageIndex = Int32(index)
            dataOrder[headerPositions[original]] = index
        }
        self.infos = infos
        self.metadata = metadata
        dataOrderOfHeaderMembers = dataOrder
    }

    /// The `__metadata__` object: string values only, each key and value at most
    /// ``SafetensorsFile/maxMetadataStringBytes`` long.
    static func parseMetadata(_ value: JSONValue, path: String) throws(CheckpointError) -> [String: String] {
        guard let pairs = value.objectValue else {
            throw .invalidHeader(path: path, reason: "__metadata__ is not an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, item) in pairs {
            guard let string = item.stringValue else {
                throw .invalidHeader(path: path, reason: "__metadata__ value for '\(key)' is not a string")
            }
            guard key.utf8.count <= SafetensorsFile.maxMetadataStringBytes,
                  string.utf8.count <= SafetensorsFile.maxMetadataStringBytes else {
                throw .invalidHeader(path: path, reason: "__metadata__ entry '\(key.prefix(64))' is longer than \(SafetensorsFile.maxMetadataStringBytes) bytes")
            }
            metadata[key] = string
        }
        return metadata
    }

    /// An entry the scanner read directly (its JSON types are right): the checks of
    /// ``parseEntry(name:value:path:)`` that its values can still fail, in the same order.
    static func checkedEntry(name: String, dtypeName: String, shape: [Int], begin: Int, end: Int,
                             path: String) throws(CheckpointError) -> (TensorInfo, Range<Int>) {
        guard name.utf8.count <= SafetensorsFile.maxTensorNameBytes else {
            throw .invalidTensor(path: path, tensor: String(name.prefix(64)) + "...", reason: "name is \(name.utf8.count) bytes long (the limit is \(SafetensorsFile.maxTensorNameBytes))")
        }
        guard let dtype = DType.named(dtypeName) else {
            throw .unknownDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard end >= begin else {
            throw .invalidTensor(path: path, tensor: name, reason: "'data_offsets' must be two integers [begin, end] with begin <= end")
        }
        return try sizedEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end, path: path)
    }

    /// Parses one `{"dtype", "shape", "data_offsets"}` entry; offsets are relative to the data buffer.
    static func parseEntry(name: String, value: JSONValue, path: String) throws(CheckpointError) -> (TensorInfo, Range<Int>) {
        guard name.utf8.count <= SafetensorsFile.maxTensorNameBytes else {
            throw .invalidTensor(path: path, tensor: String(name.prefix(64)) + "...", reason: "name is \(name.utf8.count) bytes long (the limit is \(SafetensorsFile.maxTensorNameBytes))")
        }
        guard value.objectValue != nil else {
            throw .invalidTensor(path: path, tensor: name, reason: "entry is not an object")
        }
        guard let dtypeName = value["dtype"]?.stringValue else {
            throw .invalidTensor(path: path, tensor: name, reason: "missing or non-string 'dtype'")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .unknownDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard let shapeValues = value["shape"]?.arrayValue else {
            throw .invalidTensor(path: path, tensor: name, reason: "missing or non-array 'shape'")
        }
        guard shapeValues.count <= SafetensorsFile.maxRank else {
            throw .invalidTensor(path: path, tensor: name, reason: "shape has \(shapeValues.count) dimensions (the limit is \(SafetensorsFile.maxRank))")
        }
        var shape: [Int] = []
        shape.reserveCapacity(shapeValues.count)
        for dimension in shapeValues {
            guard let size = dimension.intValue, size >= 0 else {
                throw .invalidTensor(path: path, tensor: name, reason: "shape has a value that is not a non-negative integer")
            }
            shape.append(size)
        }
        guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
              let begin = offsets[0].intValue, let end = offsets[1].intValue, begin >= 0, end >= begin else {
            throw .invalidTensor(path: path, tensor: name, reason: "'data_offsets' must be two integers [begin, end] with begin <= end")
        }
        return try sizedEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end, path: path)
    }

    /// The entry once its values have their types: its byte count must be what shape and dtype need.
    static func sizedEntry(name: String, dtype: DType, shape: [Int], begin: Int, end: Int,
                           path: String) throws(CheckpointError) -> (TensorInfo, Range<Int>) {
        var bits = dtype.bitWidth
        for size in shape {
            let (product, overflow) = bits.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw .invalidTensor(path: path, tensor: name, reason: "shape \(shape) is too large (overflow)")
            }
            bits = product
        }
        guard bits % 8 == 0 else {
            throw .invalidTensor(path: path, tensor: name, reason: "shape \(shape) of \(dtype.rawValue) is not a whole number of bytes")
        }
        guard bits / 8 == end - begin else {
            throw .invalidTensor(path: path, tensor: name, reason: "shape \(shape) of \(dtype.rawValue) needs \(bits / 8) bytes but data_offsets span \(end - begin)")
        }
        return (TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: end - begin), begin..<end)
    }

    /// Recognises the two files most often saved under a weights name by mistake.
    static func rejectKnownImpostors(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        let prefix = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<min(bytes.count, 512)]), as: UTF8.self)
        if prefix.hasPrefix("version https://git-lfs") { throw .gitLFSPointer(path: path) }
        let trimmed = prefix.drop { $0.isWhitespace }.lowercased()
        if trimmed.hasPrefix("<!doctype html") || trimmed.hasPrefix("<html") { throw .htmlPage(path: path) }
    }
}
