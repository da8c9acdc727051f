import Glibc

/// The temporary file a rehearsal helper writes its ``HDF5RehearsalReport`` to: made empty and
/// private (mode 0600, `mkstemp`) by the caller, named to the helper through its environment, read
/// by the caller once the helper has exited, and removed when this value goes away. A file rather
/// than a pipe: the caller only polls the helper's exit (``ChildProcess/wait(seconds:)``), and a
/// helper writing a report larger than a pipe holds would block until its time limit.
final class HDF5ReportFile {
    let path: String
    private let fd: Int32

    /// Nil when no temporary file can be made (the caller then reads the file in process).
    init?() {
        let directory = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((directory + "/ckpt-hdf5-rehearsal-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { return nil }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        self.fd = fd
        path = String(cString: template)
    }

    deinit {
        unlink(path)
        close(fd)
    }

    /// What the helper wrote: nil if nothing, or more than ``HDF5RehearsalReport/maxBytes``.
    func contents() -> [UInt8]? {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size > 0, status.st_size <= HDF5RehearsalReport.maxBytes else { return nil }
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let count = bytes[done...].withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(done)) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return nil }
            done += count
        }
        return bytes
    }
}
