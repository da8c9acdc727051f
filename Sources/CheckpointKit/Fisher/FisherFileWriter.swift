/// Writes Fisher, Fisher shard and mask files (F32, F64 or U8 tensors plus `__metadata__`) through the shared
/// ``SafetensorsWriter`` (atomic, header padded to a multiple of 8).
enum FisherFileWriter {
    enum Payload {
        case f32([Float])
        /// Shard files' exact sums.
        case f64([Double])
        case u8([UInt8])

        var elementCount: Int {
            switch self {
            case let .f32(v): return v.count
            case let .f64(v): return v.count
            case let .u8(v): return v.count
            }
        }
    }

    struct Entry {
        var name: String
        var shape: [Int]
        var payload: Payload
    }

    static func write(_ entries: [Entry], metadata: [String: String], to path: String) throws {
        var names = Set<String>()
        var writer = SafetensorsWriter(metadata: metadata)
        for entry in entries {
            precondition(names.insert(entry.name).inserted, "duplicate tensor name \(entry.name)")
            precondition(entry.shape.reduce(1, *) == entry.payload.elementCount, "shape \(entry.shape) does not match \(entry.payload.elementCount) values")
            switch entry.payload {
            case let .f32(values):
                writer.entries.append(littleEndian(entry, dtype: .f32, values.map(\.bitPattern)))
            case let .f64(values):
                writer.entries.append(littleEndian(entry, dtype: .f64, values.map(\.bitPattern)))
            case let .u8(values):
                writer.entries.append(SafetensorsWriter.Entry(name: entry.name, dtype: .u8, shape: entry.shape, data: values))
            }
        }
        try writer.write(to: path)
    }

    /// A writer entry of `bits` (the values' bit patterns) stored little-endian.
    private static func littleEndian<T: FixedWidthInteger>(_ entry: Entry, dtype: DType, _ bits: [T]) -> SafetensorsWriter.Entry {
        SafetensorsWriter.Entry(name: entry.name, dtype: dtype, shape: entry.shape) { consume in
            let littleEndian = bits.map(\.littleEndian)
            try littleEndian.withUnsafeBytes { try consume($0) }
        }
    }
}
