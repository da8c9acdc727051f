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
        // Order is part of the format (metadata first with sorted keys, tensors in data order,
        // each as dtype, shape, data_offsets): scripts/apply_patch.py writes the same bytes.
        var header = JSONOrderedObject()
        if !metadata.isEmpty {
            var members = JSONOrderedObject()
            for key in metadata.keys.sorted() { members.append(key, metadata[key]!) }
            header.append("__metadata__", members)
        }
        var offset = 0
        for entry in entries {
            var tensor = JSONOrderedObject()
            tensor.append("dtype", entry.dtype.rawValue)
            tensor.append("shape", entry.shape)
            tensor.append("data_offsets", [offset, offset + entry.byteCount])
            header.append(entry.name, tensor)
            offset += entry.byteCount
        }
        var bytes = header.bytes
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
