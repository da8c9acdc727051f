#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-for-byte file copies, for writers that modify a copy in place (HDF5) instead of streaming a
/// new file. The source is only ever opened read-only.
enum FileCopy {
    /// Size of one read, in bytes.
    static let chunkSize = 1 << 20

    /// Replaces the contents of `destination` (created if missing) with those of `source`, which
    /// must be another file (truncating the destination would destroy it). Errors name `source`
    /// for reading and, for writing, `shown`: the file the user asked for when `destination` is
    /// the temporary file of an ``AtomicFile`` (default: `destination` itself).
    static func copyContents(of source: String, to destination: String, reportingAs shown: String? = nil) throws(CheckpointError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .cannotOpen(path: source, reason: String(cString: strerror(errno))) }
        defer { close(input) }
        var sourceInfo = stat(), destinationInfo = stat()
        if fstat(input, &sourceInfo) == 0, stat(destination, &destinationInfo) == 0,
           sourceInfo.st_dev == destinationInfo.st_dev, sourceInfo.st_ino == destinationInfo.st_ino {
            throw .writeFailed(path: shown ?? destination, reason: "it is the source file \(source) itself")
        }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw .writeFailed(path: shown ?? destination, reason: CheckpointError.writeReason(errno: errno)) }
        defer { close(output) }

        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(input, buffer.baseAddress, chunkSize)
            if count < 0 {
                if errno == EINTR { continue }
                throw .cannotOpen(path: source, reason: "read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return }
            var written = 0
            while written < count {
                let n = write(output, buffer.baseAddress! + written, count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .writeFailed(path: shown ?? destination, reason: CheckpointError.writeReason(errno: errno))
                }
                written += n
            }
        }
    }
}
