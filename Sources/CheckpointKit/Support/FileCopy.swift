import Glibc

/// The one place bytes go from file to file: inside the kernel (`sendfile`, no trip through user
/// memory) where it can, through a bounded buffer where the kernel refuses, plus the write loop
/// every writer ends in. Used by ``FileSink`` (runs of untouched tensors) and by writers that
/// modify a copy in place (HDF5). A source is only ever opened read-only.
enum FileCopy {
    /// Largest buffer of the fallback copy, in bytes.
    static let fallbackChunkSize = 8 << 20

    /// What failed, with `errno`; callers turn it into a ``CheckpointError`` naming their paths.
    enum Failure: Error {
        case read(errno: Int32)
        case write(errno: Int32)
        /// The source has fewer bytes than asked for; `remaining` were not copied.
        case sourceEnded(remaining: Int)
    }

    /// Appends `count` bytes of `source`, starting at byte `offset`, at the current position of
    /// `destination`. Returns early only by throwing.
    static func copy(from source: Int32, offset: Int, count: Int, to destination: Int32) throws(Failure) {
        var position = off_t(offset)
        var remaining = count
        while remaining > 0 {
            let n = sendfile(destination, source, &position, min(remaining, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP {
                    try copyThroughBuffer(from: source, offset: Int(position), count: remaining, to: destination)
                    return
                }
                throw .write(errno: errno)
            }
            if n == 0 { throw .sourceEnded(remaining: remaining) }
            remaining -= n
        }
    }

    /// The user-space fallback of ``copy(from:offset:count:to:)``: `pread` then ``writeAll(_:to:)``.
    private static func copyThroughBuffer(from source: Int32, offset: Int, count: Int, to destination: Int32) throws(Failure) {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, min(count, fallbackChunkSize)), alignment: 64)
        defer { chunk.deallocate() }
        var done = 0
        while done < count {
            let n = pread(source, chunk.baseAddress, min(chunk.count, count - done), off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .read(errno: errno)
            }
            if n == 0 { throw .sourceEnded(remaining: count - done) }
            try writeAll(UnsafeRawBufferPointer(rebasing: chunk[0..<n]), to: destination)
            done += n
        }
    }

    /// Writes all of `bytes` to `destination`, retrying short writes and interruptions.
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to destination: Int32) throws(Failure) {
        var done = 0
        while done < bytes.count {
            let n = write(destination, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .write(errno: errno)
            }
            done += n
        }
    }

    /// Replaces the contents of `destination` (created if missing) with those of `source`, which
    /// must be another file (truncating the destination would destroy it). Errors name `source`
    /// for reading and, for writing, `shown`: the file the user asked for when `destination` is
    /// the temporary file of an ``AtomicFile`` (default: `destination` itself).
    static func copyContents(of source: String, to destination: String, reportingAs shown: String? = nil) throws(CheckpointError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .cannotOpen(path: source, reason: String(cString: strerror(errno))) }
        defer { close(input) }
        var sourceInfo = stat(), destinationInfo = stat()
        guard fstat(input, &sourceInfo) == 0 else { throw .cannotOpen(path: source, reason: String(cString: strerror(errno))) }
        if stat(destination, &destinationInfo) == 0,
           sourceInfo.st_dev == destinationInfo.st_dev, sourceInfo.st_ino == destinationInfo.st_ino {
            throw .writeFailed(path: shown ?? destination, reason: "it is the source file \(source) itself")
        }
        let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw .writeFailed(path: shown ?? destination, reason: CheckpointError.writeReason(errno: errno)) }
        defer { close(output) }
        do {
            try copy(from: input, offset: 0, count: Int(sourceInfo.st_size), to: output)
        } catch {
            switch error {
            case let .read(code): throw .cannotOpen(path: source, reason: "read: \(String(cString: strerror(code)))")
            case let .write(code): throw .writeFailed(path: shown ?? destination, reason: CheckpointError.writeReason(errno: code))
            case let .sourceEnded(remaining): throw .cannotOpen(path: source, reason: "read: the file ended \(remaining) bytes early")
            }
        }
    }
}
