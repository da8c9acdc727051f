/// Appends the fields of an ``HDF5RehearsalReport``, little-endian.
struct HDF5ReportWriter {
    var bytes: [UInt8] = []

    mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    mutating func count(_ value: Int) { integer(UInt32(value)) }

    mutating func string(_ value: String) {
        count(value.utf8.count)
        bytes += value.utf8
    }

    mutating func strings(_ values: [String]) {
        count(values.count)
        for value in values { string(value) }
    }

    /// One dataset: name, dtype, shape, memory type, storage, extent.
    mutating func entry(_ entry: HDF5File.Entry) {
        string(entry.info.name)
        string(entry.info.dtype.rawValue)
        integer(UInt8(entry.info.shape.count))
        for size in entry.info.shape { integer(UInt64(size)) }
        switch entry.memoryType {
        case let .integer(size, signed): bytes += [0, UInt8(size), signed ? 1 : 0]
        case let .ieeeFloat(size): bytes += [1, UInt8(size), 0]
        case .ownTypeLittleEndian: bytes += [2, 0, 0]
        case .ownType: bytes += [3, 0, 0]
        }
        integer(HDF5ReportReader.storageCodes.firstIndex(of: entry.storage).map(UInt8.init) ?? 0)
        integer(UInt8(entry.extent == nil ? 0 : 1))
        integer(entry.extent?.offset ?? 0)
        integer(entry.extent?.size ?? 0)
    }
}
