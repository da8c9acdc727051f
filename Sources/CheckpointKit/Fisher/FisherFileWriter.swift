import Foundation

/// A minimal safetensors writer for Fisher and mask files: F32 and U8 tensors plus `__metadata__`,
/// the header JSON padded with spaces to a multiple of 8, written through ``AtomicFile``.
///
/// Internal on purpose: it is to be replaced by the shared safetensors writer once that lands.
enum FisherFileWriter {
    enum Payload {
        case f32([Float])
        case u8([UInt8])

        var dtype: String {
            switch self {
            case .f32: return "F32"
            case .u8: return "U8"
            }
        }

        var byteCount: Int {
            switch self {
            case let .f32(v): return v.count * 4
            case let .u8(v): return v.count
            }
        }

        var elementCount: Int {
            switch self {
            case let .f32(v): return v.count
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
        var header = "{"
        header += "\"__metadata__\":{"
        for (i, key) in metadata.keys.sorted().enumerated() {
            if i > 0 { header += "," }
            JSONValue.writeString(key, to: &header)
            header += ":"
            JSONValue.writeString(metadata[key]!, to: &header)
        }
        header += "}"
        var offset = 0
        for entry in entries {
            precondition(names.insert(entry.name).inserted, "duplicate tensor name \(entry.name)")
            precondition(entry.shape.reduce(1, *) == entry.payload.elementCount, "shape \(entry.shape) does not match \(entry.payload.elementCount) values")
            header += ","
            JSONValue.writeString(entry.name, to: &header)
            header += ":{\"dtype\":\"\(entry.payload.dtype)\",\"shape\":[\(entry.shape.map(String.init).joined(separator: ","))],"
            header += "\"data_offsets\":[\(offset),\(offset + entry.payload.byteCount)]}"
            offset += entry.payload.byteCount
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        try AtomicFile(destination: path).write { sink in
            var length = UInt64(headerBytes.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink.write($0) }
            try sink.write(headerBytes)
            for entry in entries {
                switch entry.payload {
                case let .f32(values):
                    let littleEndian = values.map { $0.bitPattern.littleEndian }
                    try littleEndian.withUnsafeBytes { try sink.write($0) }
                case let .u8(values):
                    try sink.write(values)
                }
            }
        }
    }
}
