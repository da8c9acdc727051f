#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads an HDF5 file's structure once in a forked child process, with a time limit, before
/// ``HDF5File`` reads it in the calling process.
///
/// Why: libhdf5 1.10 trusts what it reads. FuzzHDF5 found files on which it loops forever (a
/// zero-size global heap entry, now also refused by the guarded file driver) and files on which it
/// frees an uninitialised pointer (a group whose link messages do not decode) and so kills the
/// process. Nothing a checkpoint holds may crash or hang ckpt, and neither a crash nor an endless
/// loop inside a C library can be stopped from within the process. So the child does everything
/// that parses the file's structure: the group walk, the attributes, and the reads of chunked and
/// compact datasets (chunk indexes and filters). If it is killed by a signal or runs out of time,
/// the file is refused with a bad-input error. Otherwise the caller repeats the same deterministic
/// work in process, where it now finishes. Contiguous datasets, one checked `pread` each, are not
/// rehearsed, so the cost is a `fork` plus the metadata walk: a few milliseconds.
///
/// The fork happens while ``HDF5Library``'s lock is held, so no thread is inside libhdf5 at that
/// moment. If `fork` fails (no processes or memory left), the file is read without a rehearsal.
public enum HDF5Rehearsal {
    /// Whether ``HDF5File`` rehearses each file it opens (on unless a host turns it off).
    nonisolated(unsafe) public static var isEnabled = true
    /// Seconds the child may take before it is killed and the file refused. The structure of a
    /// 90 MB tf_model.h5 reads in about 20 ms; decompressing large gzip-chunked datasets takes
    /// longer. The fuzz targets lower it below libFuzzer's own timeout.
    nonisolated(unsafe) public static var timeLimitSeconds: UInt32 = 60

    /// The child's exit status when the file opened and every rehearsed read finished.
    static let finished: Int32 = 0
    /// The child's exit status when libhdf5 or ckpt reported an error: the caller will meet the
    /// same error in process and report it with its message.
    static let reportedError: Int32 = 3

    /// Points the child's standard error at /dev/null. What dies in the child speaks there
    /// before it dies (glibc's `free(): invalid pointer`, a sanitizer's report), and the user
    /// must see one line, the parent's, naming the file.
    private static func silenceStandardError() {
        let null = open("/dev/null", O_WRONLY)
        guard null >= 0 else { return }
        dup2(null, STDERR_FILENO)
        close(null)
    }

    /// Runs `rehearsal` in a child process and throws if the child crashed or ran out of time.
    /// A child that trapped in Swift code (SIGILL, SIGTRAP) met a bug in ckpt, not a bad file: the
    /// caller repeats the same work in process and traps there, with Swift's message, as it would
    /// have without the rehearsal.
    static func run(_ path: String, _ rehearsal: () throws -> Void) throws(CheckpointError) {
        guard isEnabled else { return }
        let pid = HDF5Library.fork()
        if pid == 0 {
            // Default actions: the child dies of the signal at once, with no crash handler (Swift's
            // backtracer, a sanitizer's) running in it, and the parent reads the signal.
            for signalNumber in [SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP, SIGALRM] {
                signal(signalNumber, SIG_DFL)
            }
            silenceStandardError()
            alarm(timeLimitSeconds)
            let status: Int32
            do {
                try rehearsal()
                status = finished
            } catch {
                status = reportedError
            }
            _exit(status)
        }
        guard pid > 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return }
        }
        let signalNumber = status & 0x7f
        if signalNumber == 0 {
            let code = (status >> 8) & 0xff
            if code == finished || code == reportedError { return }
            throw .hdf5(path: path, object: "", operation: "reading the file's structure (the child process reading it exited with status \(code)); the file is malformed")
        }
        switch signalNumber {
        case SIGALRM:
            throw .hdf5(path: path, object: "", operation: "reading the file's structure (libhdf5 did not finish in \(timeLimitSeconds) s; it can loop forever on a damaged file); the file is malformed")
        case SIGILL, SIGTRAP:
            return
        default:
            throw .hdf5(path: path, object: "", operation: "reading the file's structure (libhdf5 crashed with signal \(signalNumber) in the child process reading it); the file is malformed")
        }
    }
}
