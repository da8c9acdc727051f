import Glibc

/// Writes a safetensors file, the one writer of the library (`ckpt apply`, `ckpt patch`, Fisher
/// files): header, then every tensor in order, streamed so that nothing larger than one tensor is
/// held in memory. Files are written atomically (temporary file, fsync, rename); a patch's inner
/// file can also be built in memory.
///
/// Each tensor's bytes come from a closure, or, when the entry has a ``StoredLocation``, are copied
/// from that file inside the kernel: a run of such entries that lie back to back in one source file
/// goes out as one copy (`ckpt apply` streams the untouched part of a base this way).
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
        /// Where the same bytes lie in a file, to copy them from there instead of calling ``bytes``
        /// (which remains the fallback when the file cannot be opened, and the in-memory path).
        public var location: StoredLocation?
        /// The bytes are produced by the closure of the nearest entry before this one that is not
        /// itself a continuation, right after that entry's own (one computation yields a sparse
        /// tensor's indices and values). This entry's own closure is never called.
        public var producedByPrevious = false

        public init(name: String, dtype: DType, shape: [Int], location: StoredLocation? = nil,
                    bytes: @escaping (_ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.location = location
            self.bytes = bytes
        }

        /// An entry whose data is already in memory.
        public init(name: String, dtype: DType, shape: [Int], data: [UInt8]) {
            self.init(name: name, dtype: dtype, shape: shape) { consume in try data.withUnsafeBytes { try consume($0) } }
        }

        /// An entry whose bytes the previous entry's closure produces (see ``producedByPrevious``).
        public static func continuation(name: String, dtype: DType, shape: [Int]) -> Entry {
            var entry = Entry(name: name, dtype: dtype, shape: shape) { _ in }
            entry.producedByPrevious = true
            return entry
        }

        /// Size of the data in bytes implied by dtype and shape.
        public var byteCount: Int { shape.reduce(dtype.bitWidth, *) / 8 }
    }

    /// What ``write(to:verify:)`` did.
    public struct Written: Sendable {
        /// Size of the file, in bytes.
        public var bytes: Int
        /// Seconds spent streaming the file into its temporary file (before fsync, `verify` and the
        /// rename).
        public var streamingSeconds: Double
    }

    public var metadata: [String: String]
    public var entries: [Entry]
    /// Testing aid: fail the write as a full disk would once this many bytes were written.
    public var simulatedWriteFailureAfterBytes: Int?

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
    @discardableResult
    public func write(to path: String, verify: (String) throws -> Void = { _ in }) throws -> Written {
        let clock = ContinuousClock()
        let start = clock.now
        var streamingSeconds = 0.0
        let bytes = try AtomicFile(destination: path).write({ sink -> Int in
            let sources = SourceFiles()
            defer { sources.close() }
            let writeBehind = WriteBehind(descriptor: sink.descriptor)
            defer { writeBehind.finish() }
            let limit = simulatedWriteFailureAfterBytes
            func reserve(_ count: Int) throws {
                if let limit, sink.offset + count > limit {
                    throw CheckpointError.writeFailed(path: path, reason: "No space left on device (simulated)")
                }
            }
            try stream(path: path, put: { bytes in
                try reserve(bytes.count)
                try sink.write(bytes)
            }, copy: { location in
                guard let source = sources.descriptor(of: location.file) else { return false }
                try reserve(location.range.count)
                try sink.copy(from: source, offset: location.range.lowerBound, count: location.range.count)
                return true
            }, wrote: {
                writeBehind.wrote(upTo: sink.offset)
            })
            try sink.flush()
            streamingSeconds = (clock.now - start).seconds
            return sink.offset
        }, beforePublish: verify)
        return Written(bytes: bytes, streamingSeconds: streamingSeconds)
    }

    /// The whole file in memory (for the inner file of a compressed patch). Errors name `path`.
    func serialized(path: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(8 + headerBytes().count) { $0 + $1.byteCount })
        try stream(path: path, put: { out.append(contentsOf: $0) }, copy: nil, wrote: {})
        return out
    }

    /// The one writing loop: length prefix, header, then each entry's bytes through `put`, or
    /// through `copy` (which returns false when it cannot) for runs of entries with a location.
    private func stream(path: String, put: (UnsafeRawBufferPointer) throws -> Void,
                        copy: ((StoredLocation) throws -> Bool)?, wrote: () -> Void) throws {
        let header = headerBytes()
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try put($0) }
        try header.withUnsafeBytes { try put($0) }
        var i = 0
        while i < entries.count {
            if let copy, let run = copyableRun(from: i), try copy(run.location) {
                i = run.end
            } else {
                i = try produce(from: i, path: path, put: put)
            }
            wrote()
        }
    }

    /// The longest run of entries from `start` whose locations lie back to back in one file, and
    /// the index after it; nil if entry `start` has no location.
    private func copyableRun(from start: Int) -> (location: StoredLocation, end: Int)? {
        guard var location = entries[start].location, !entries[start].producedByPrevious else { return nil }
        var end = start + 1
        while end < entries.count, !entries[end].producedByPrevious, let next = entries[end].location,
              next.file == location.file, next.range.lowerBound == location.range.upperBound {
            location.range = location.range.lowerBound..<next.range.upperBound
            end += 1
        }
        // A continuation after the run belongs to the last entry's closure: produce that one instead.
        if end < entries.count, entries[end].producedByPrevious { return nil }
        return (location, end)
    }

    /// Calls entry `start`'s closure, which also produces the continuations after it, checks the
    /// byte count, and returns the index after them.
    private func produce(from start: Int, path: String, put: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var end = start + 1
        var expected = entries[start].byteCount
        while end < entries.count, entries[end].producedByPrevious {
            expected += entries[end].byteCount
            end += 1
        }
        var written = 0
        try entries[start].bytes { chunk in
            written += chunk.count
            try put(chunk)
        }
        guard written == expected else {
            throw CheckpointError.invalidTensor(path: path, tensor: entries[start].name, reason: "writer produced \(written) bytes, expected \(expected)")
        }
        return end
    }
}

/// The source files of a write, each opened read-only once, on first use.
private final class SourceFiles {
    private var descriptors: [String: Int32] = [:]

    /// A descriptor of `path`, or nil if it cannot be opened (the writer then calls the closure).
    func descriptor(of path: String) -> Int32? {
        if let known = descriptors[path] { return known >= 0 ? known : nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        descriptors[path] = fd
        return fd >= 0 ? fd : nil
    }

    func close() {
        for fd in descriptors.values where fd >= 0 { _ = Glibc.close(fd) }
        descriptors = [:]
    }
}
