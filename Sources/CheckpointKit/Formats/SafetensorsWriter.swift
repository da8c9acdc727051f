/// Writes a safetensors file atomically (temporary file, fsync, rename), one tensor at a time so
/// that nothing larger than one tensor is held in memory.
///
/// The header is laid out as the reference writer does: tensors in the order given, contiguous
/// offsets, JSON padded with spaces so the data buffer starts at a multiple of 8 bytes.
public struct SafetensorsWriter {
    /// One tensor to write: its name, dtype, shape, and a closure that produces its bytes.
    public struct Entry {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        /// Calls its argument with the tensor's raw little-endian bytes (exactly the declared size).
        public var bytes: (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

        public init(name: String, dtype: DType, shape: [Int],
                    bytes: @escaping (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// An entry whose data is already in memory.
        public init(name: String, dtype: DType, shape: [Int], data: [UInt8]) {
            self.init(name: name, dtype: dtype, shape: shape) { consume in try data.withUnsafeBytes { try consume($0) } }
        }

        /// Size of the data in bytes implied by dtype and shape.
        public var byteCount: Int { shape.reduce(dtype.bitWidth, *) / 8 }
    }

    public var metadata: [String: String]
    public var entries: [Entry]

    public init(metadata: [String: String] = [:], entries: [Entry] = []) {
        self.metadata = metadata
        self.entries = entries
    }

    /// The header JSON (without the length prefix), padded to make the data start 8-byte aligned.
    public func headerBytes() -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            for (i, key) in metadata.keys.sorted().enumerated() {
                if i > 0 { json += "," }
                JSONValue.writeString(key, to: &json)
                json += ":"
                JSONValue.writeString(metadata[key]!, to: &json)
            }
            json += "}"
            first = false
        }
        var offset = 0
        for entry in entries {
            if !first { json += "," }
            first = false
            JSONValue.writeString(entry.name, to: &json)
            json += ":{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":[\(entry.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + entry.byteCount)]}"
            offset += entry.byteCount
        }
        json += "}"
        var bytes = Array(json.utf8)
        let padding = (8 - (bytes.count % 8)) % 8
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        return bytes
    }

    /// Writes the file to `path` atomically.
    /// - Parameter verify: runs on the complete temporary file before it replaces `path`.
    public func write(to path: String, verify: (String) throws -> Void = { _ in }) throws {
        let header = headerBytes()
        try AtomicFile(destination: path).write({ sink in
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try sink.write($0) }
            try sink.write(header)
            for entry in entries {
                var written = 0
                try entry.bytes { chunk in
                    written += chunk.count
                    try sink.write(chunk)
                }
                guard written == entry.byteCount else {
                    throw CheckpointError.invalidTensor(path: path, tensor: entry.name, reason: "writer produced \(written) bytes, expected \(entry.byteCount)")
                }
            }
        }, beforePublish: verify)
    }
}
