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
    /// Tensor name -> its index in ``infos``: the scanner's duplicate-key check, kept, so a file's
    /// names are hashed once (100,000 of them in a mixture-of-experts header).
    var names: SafetensorsNameIndex

    init(file: MappedFile) throws(CheckpointError) {
        try self.init(bytes: file.bytes, path: file.path)
    }

    /// Parses a safetensors file held in memory (`path` is only used in messages).
    init(bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) {
        let headerSize = try SafetensorsHeader.jsonSize(bytes, path: path)
        self.headerSize = headerSize
        let dataStart = 8 + headerSize
        var scanner = SafetensorsHeaderScanner(json: UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart]), maxDepth: 8,
                                               maxArrayCount: SafetensorsFile.maxRank, dataSize: bytes.count - dataStart)
        do {
            try scanner.scan()
        } catch {
            throw .invalidHeader(path: path, reason: "JSON: \(error)")
        }
        metadata = try SafetensorsHeader.checkDeferred(&scanner, path: path)
        // Moved out of the scanner, so that changing them copies nothing.
        var infos = scanner.infos, ranges = scanner.ranges
        names = scanner.names
        (scanner.infos, scanner.ranges, scanner.names) = ([], [], SafetensorsNameIndex(expectedCount: 0))
        let order = try SafetensorsHeader.dataOrder(infos, ranges, dataStart: dataStart, fileSize: bytes.count, path: path)
        if order.elementsEqual(infos.indices) {
            for index in infos.indices { infos[index].storageIndex = Int32(index) }
            self.fileRanges = ranges.map { (dataStart + $0.lowerBound)..<(dataStart + $0.upperBound) }
        } else {
            var newIndex = [Int](repeating: 0, count: order.count)
            for (index, original) in order.enumerated() { newIndex[original] = index }
            infos = order.map { infos[$0] }
            for index in infos.indices { infos[index].storageIndex = Int32(index) }
            self.fileRanges = order.map { (dataStart + ranges[$0].lowerBound)..<(dataStart + ranges[$0].upperBound) }
            names.renumber(newIndex)
        }
        self.infos = infos
    }

    /// The JSON's size in bytes, from the 8-byte length, once the file is known to hold it and the
    /// JSON to start with `{`.
    static func jsonSize(_ bytes: UnsafeRawBufferPointer, path: String) throws(CheckpointError) -> Int {
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
        let json = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerSize)])
        let firstNonSpace = json.firstIndex { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
        guard let firstNonSpace, json[firstNonSpace] == UInt8(ascii: "{") else {
            throw .invalidHeader(path: path, reason: "header does not start with '{'")
        }
        return headerSize
    }

    /// Checks the members the scanner deferred, in file order (the first failure is the file's
    /// error, as if every member were checked in order: the others passed), filling in their
    /// tensors; returns `__metadata__`.
    static func checkDeferred(_ scanner: inout SafetensorsHeaderScanner, path: String) throws(CheckpointError) -> [String: String] {
        var metadata: [String: String] = [:]
        for member in scanner.deferred {
            let tensor: Int, checked: (TensorInfo, Range<Int>)
            switch member {
            case .metadata(let value):
                metadata = try parseMetadata(value, path: path)
                continue
            case let .entry(index, dtype, shape, begin, end):
                tensor = index
                checked = try checkedEntry(name: scanner.infos[index].name, dtype: dtype, shape: shape, begin: begin, end: end, path: path)
            case let .other(index, value):
                tensor = index
                checked = try parseEntry(name: scanner.infos[index].name, value: value, path: path)
            }
            let (info, span) = checked
            guard span.upperBound <= scanner.dataSize else {
                throw .truncated(path: path, reason: "tensor '\(info.name)' has data offsets \(span.lowerBound)..<\(span.upperBound) but the data section holds only \(scanner.dataSize) bytes")
            }
            scanner.infos[tensor] = info
            scanner.ranges[tensor] = span
        }
        return metadata
    }

    /// The tensors' indices sorted by their data's position (the stable sort of the offsets;
    /// no sort when the header lists them in data order), once the data are known to be
    /// contiguous, without overlap, from the data section's start to the file's end.
    static func dataOrder(_ infos: [TensorInfo], _ ranges: [Range<Int>], dataStart: Int, fileSize: Int,
                          path: String) throws(CheckpointError) -> [Int] {
        var order = Array(infos.indices)
        let key = { (i: Int) in (ranges[i].lowerBound, ranges[i].upperBound) }
        if !zip(order, order.dropFirst()).allSatisfy({ key($0) <= key($1) }) { order.sort { key($0) < key($1) } }
        var expected = dataStart
        for index in order {
            let begin = dataStart + ranges[index].lowerBound
            if begin < expected {
                throw .invalidTensor(path: path, tensor: infos[index].name, reason: "data offsets overlap the previous tensor")
            }
            if begin > expected {
                throw .invalidTensor(path: path, tensor: infos[index].name, reason: "gap of \(begin - expected) bytes before this tensor's data (offsets must be contiguous)")
            }
            expected = dataStart + ranges[index].upperBound
        }
        if expected != fileSize {
            throw .invalidHeader(path: path, reason: "\(fileSize - expected) trailing bytes after the last tensor")
        }
        return order
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
    static func checkedEntry(name: String, dtype dtypeName: SafetensorsHeaderScanner.DTypeName, shape: [Int], begin: Int, end: Int,
                             path: String) throws(CheckpointError) -> (TensorInfo, Range<Int>) {
        guard name.utf8.count <= SafetensorsFile.maxTensorNameBytes else {
            throw .invalidTensor(path: path, tensor: String(name.prefix(64)) + "...", reason: "name is \(name.utf8.count) bytes long (the limit is \(SafetensorsFile.maxTensorNameBytes))")
        }
        let dtype: DType
        switch dtypeName {
        case .known(let type): dtype = type
        case .unknown(let text): throw .unknownDType(path: path, tensor: name, dtype: text)
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
