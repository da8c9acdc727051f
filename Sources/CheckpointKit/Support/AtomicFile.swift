import Glibc
import Foundation

/// Writes a file so that the destination holds either its old content or the complete new one,
/// never a partial file: data goes to a temporary file in the same directory, is fsync'ed, and is
/// renamed over the destination; the directory is fsync'ed after the rename. A failure (full disk,
/// file size limit, permissions, a thrown error from the producer) removes the temporary file.
///
/// A process killed with SIGKILL (or by a power cut) cannot remove its temporary file: a
/// `.ckpt-tmp-XXXXXX` file may be left beside the destination, while the destination itself keeps
/// its old content. The next write into the same directory removes such leftovers once they are
/// older than ``staleTemporaryAge`` (a running write keeps its file's modification time fresh).
public struct AtomicFile {
    /// The name every temporary file starts with; six `mkstemp` characters follow.
    public static let temporaryPrefix = ".ckpt-tmp-"
    /// Age (since last modification) after which a temporary file of ours is taken for the leftover
    /// of a killed run and removed by the next write into its directory.
    public static let staleTemporaryAge: TimeInterval = 3600

    /// The final path.
    public let destination: String

    public init(destination: String) {
        self.destination = destination
    }

    /// Directory holding `destination` ("." for a bare file name).
    public var directory: String {
        guard let slash = destination.lastIndex(of: "/") else { return "." }
        let dir = String(destination[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// Creates the temporary file, lets `produce` write it through a ``FileSink`` (or, for writers
    /// that need a path, such as libhdf5, by path), then publishes it.
    ///
    /// - Parameter beforePublish: runs after the data is durable and before the rename, with the
    ///   temporary path: the place to re-read and verify the output.
    public func write<R>(_ produce: (_ sink: FileSink) throws -> R,
                         beforePublish: (_ temporaryPath: String) throws -> Void = { _ in }) throws -> R {
        AtomicFile.removeStaleTemporaries(in: directory)
        let template = directory + "/" + AtomicFile.temporaryPrefix + "XXXXXX"
        var chars = Array(template.utf8CString)
        let fd = chars.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw CheckpointError.writeFailed(path: destination, reason: "cannot create a temporary file in \(directory): \(String(cString: strerror(errno)))")
        }
        let temporaryPath = String(decoding: chars.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var published = false
        defer {
            if !published { unlink(temporaryPath) }
        }
        let sink = FileSink(descriptor: fd, path: destination, temporaryPath: temporaryPath)
        let result: R
        do {
            result = try produce(sink)
            try sink.flush()
            guard fsync(fd) == 0 else { throw CheckpointError.writeFailed(path: destination, reason: "fsync: \(CheckpointError.writeReason(errno: errno))") }
            close(fd)
        } catch {
            close(fd)
            throw error
        }
        _ = chmod(temporaryPath, 0o644 & ~currentUmask())
        try beforePublish(temporaryPath)
        guard rename(temporaryPath, destination) == 0 else {
            throw CheckpointError.writeFailed(path: destination, reason: "rename: \(String(cString: strerror(errno)))")
        }
        published = true
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
        return result
    }

    /// Removes, best effort, the regular files in `directory` that this user owns, that are named
    /// exactly like our temporary files, and that were last modified more than `age` seconds ago.
    /// Returns the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: String, olderThan age: TimeInterval = staleTemporaryAge) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        let cutoff = Date().timeIntervalSince1970 - age
        var removed: [String] = []
        for name in names where isTemporaryName(name) {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid(),
                  Double(info.st_mtim.tv_sec) < cutoff else { continue }
            if unlink(path) == 0 { removed.append(name) }
        }
        return removed
    }

    /// Whether `name` is `.ckpt-tmp-` followed by exactly six `mkstemp` characters.
    static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix(temporaryPrefix) else { return false }
        let suffix = name.utf8.dropFirst(temporaryPrefix.utf8.count)
        return suffix.count == 6 && suffix.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    private func currentUmask() -> mode_t {
        let mask = umask(0o022)
        umask(mask)
        return mask
    }
}
