import Glibc
import Foundation

/// A buffered writer over a file descriptor, used by ``AtomicFile``. Every failure is a typed
/// ``CheckpointError/writeFailed(path:reason:)`` naming the final destination.
public final class FileSink {
    let descriptor: Int32
    /// The destination the user named (for messages).
    public let path: String
    /// The temporary file being written (for writers that reopen by path).
    public let temporaryPath: String
    private var buffer: [UInt8] = []
    private let capacity = 1 << 20
    /// Bytes written so far (including buffered ones).
    public private(set) var offset = 0

    init(descriptor: Int32, path: String, temporaryPath: String) {
        self.descriptor = descriptor
        self.path = path
        self.temporaryPath = temporaryPath
        buffer.reserveCapacity(capacity)
    }

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        offset += bytes.count
        if buffer.count + bytes.count <= capacity {
            buffer.append(contentsOf: bytes)
            return
        }
        try flush()
        if bytes.count >= capacity {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ string: String) throws {
        try write(Array(string.utf8))
    }

    /// Appends `count` bytes of the open file `source`, starting at `offset`, copied inside the kernel
    /// where it can be (see ``FileCopy``).
    public func copy(from source: Int32, offset: Int, count: Int) throws {
        try flush()
        do {
            try FileCopy.copy(from: source, offset: offset, count: count, to: descriptor)
        } catch {
            throw writeFailure(error)
        }
        self.offset += count
    }

    /// Writes out what is buffered.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            try FileCopy.writeAll(bytes, to: descriptor)
        } catch {
            throw writeFailure(error)
        }
    }

    private func writeFailure(_ failure: FileCopy.Failure) -> CheckpointError {
        switch failure {
        case let .write(code): return .writeFailed(path: path, reason: CheckpointError.writeReason(errno: code))
        case let .read(code): return .writeFailed(path: path, reason: "cannot read the source: \(String(cString: strerror(code)))")
        case let .sourceEnded(remaining): return .writeFailed(path: path, reason: "the source file ended \(remaining) bytes early")
        }
    }
}
