/// Reads the fields of an ``HDF5RehearsalReport``, little-endian, each checked against the bytes
/// left; every read answers nil past the end or on a value no helper writes.
struct HDF5ReportReader {
    /// The storage kinds in the order of their one-byte codes.
    static let storageCodes: [HDF5.Storage] = [.contiguous, .chunked, .compact, .otherFiles]

    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isAtEnd: Bool { position == bytes.count }

    mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        guard bytes.count - position >= MemoryLayout<T>.size else { return nil }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + MemoryLayout<T>.size)])) }
        position += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    /// A list's count, which can be no more than the bytes left (every item takes at least one).
    mutating func count() -> Int? {
        guard let value = integer(UInt32.self), Int(value) <= bytes.count - position else { return nil }
        return Int(value)
    }

    mutating func string() -> String? {
        guard let length = count() else { return nil }
        defer { position += length }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<(position + length)]), as: UTF8.self)
    }

    mutating func strings() -> [String]? {
        guard let count = count() else { return nil }
        var values: [String] = []
        for _ in 0..<count {
            guard let value = string() else { return nil }
            values.append(value)
        }
        return values
    }

    /// Consumes `expected` if the bytes at the position are exactly it.
    mutating func expect(_ expected: [UInt8]) -> Bool {
        guard bytes.count - position >= expected.count,
              bytes[position..<(position + expected.count)].elementsEqual(expected) else { return false }
        position += expected.count
        return true
    }

    /// One dataset, with its byte count computed from dtype and shape (overflow refused) and its
    /// memory type one ``HDF5/read(_:as:into:_:)`` accepts (a size it has no type for would trap).
    mutating func entry() -> HDF5File.Entry? {
        guard let name = string(), let dtypeName = string(), let dtype = DType(rawValue: dtypeName),
              var byteCount = dtype.byteWidth, let rank = integer(UInt8.self), Int(rank) <= HDF5File.maxRank else { return nil }
        var shape: [Int] = []
        for _ in 0..<rank {
            guard let size = integer(UInt64.self), let dimension = Int(exactly: size) else { return nil }
            let (product, overflow) = byteCount.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            byteCount = product
            shape.append(dimension)
        }
        guard let memoryType = memoryType(),
              let storageCode = integer(UInt8.self), Int(storageCode) < Self.storageCodes.count,
              let hasExtent = integer(UInt8.self), hasExtent <= 1,
              let offset = integer(UInt64.self), let size = integer(UInt64.self) else { return nil }
        return HDF5File.Entry(info: TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: byteCount),
                              memoryType: memoryType, storage: Self.storageCodes[Int(storageCode)],
                              extent: hasExtent == 1 ? (offset, size) : nil)
    }

    private mutating func memoryType() -> HDF5MemoryType? {
        guard let tag = integer(UInt8.self), let size = integer(UInt8.self), let signed = integer(UInt8.self), signed <= 1 else { return nil }
        switch (tag, size, signed) {
        case (0, 1, _), (0, 2, _), (0, 4, _), (0, 8, _): return .integer(size: Int(size), signed: signed == 1)
        case (1, 4, 0), (1, 8, 0): return .ieeeFloat(size: Int(size))
        case (2, 0, 0): return .ownTypeLittleEndian
        case (3, 0, 0): return .ownType
        default: return nil
        }
    }
}
