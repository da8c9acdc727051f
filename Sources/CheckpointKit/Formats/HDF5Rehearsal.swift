import Glibc

/// Reads an HDF5 file's structure once in a separate, freshly started process (the helper), with
/// a time limit, before ``HDF5File`` reads it in the calling process.
///
/// Why: libhdf5 1.10 trusts what it reads. FuzzHDF5 found files on which it loops forever (a
/// zero-size global heap entry, now also refused by the guarded file driver) and files on which it
/// frees an uninitialised pointer (a group whose link messages do not decode) and so kills the
/// process. Nothing a checkpoint holds may crash or hang ckpt, and neither a crash nor an endless
/// loop inside a C library can be stopped from within the process. So the helper does everything
/// that parses the file's structure: the group walk, the attributes, and the reads of chunked and
/// compact datasets (chunk indexes and filters). If it is killed by a signal or runs out of time,
/// the file is refused with a bad-input error. Otherwise the caller takes what the helper found
/// from its report (``HDF5RehearsalReport``, decoded strictly: it is untrusted input) or, without a
/// well-formed one, repeats the same deterministic work in process, where it now finishes.
/// Contiguous datasets, one checked `pread` each, are not rehearsed, so the cost is starting the
/// helper plus the metadata walk.
///
/// Why a fresh process and not a fork: after `fork` in a multithreaded process only
/// async-signal-safe calls are allowed, and a lock another thread held at that moment (malloc, the
/// Swift runtime, Dispatch) would stay locked in the child, which could then hang until its time
/// limit and have a good file reported malformed. The helper is started with `posix_spawn`.
///
/// The helper is a program that, run as `EXECUTABLE ARGUMENTS... SECONDS PATH`, calls
/// ``rehearseInThisProcess(path:timeLimitSeconds:)``. The `ckpt` command line sets ``helper`` at
/// startup to its own binary and its hidden `_rehearse-hdf5` subcommand; the FuzzHDF5 target to
/// itself. **Without a helper** (``helper`` is nil, the default for other programs using the
/// library), or when the helper cannot be started (no processes or memory left, the executable
/// missing), the file is read in process without a rehearsal: a file on which libhdf5 crashes or
/// loops then crashes or hangs the calling process. Programs that open untrusted HDF5 files should
/// set a helper.
public enum HDF5Rehearsal {
    /// A program that rehearses HDF5 files: run as `executable arguments... SECONDS PATH`.
    public struct Helper: Sendable, Equatable {
        public var executable: String
        public var arguments: [String]

        public init(executable: String, arguments: [String] = []) {
            self.executable = executable
            self.arguments = arguments
        }
    }

    /// The program each ``HDF5File`` opening starts to rehearse its file; nil reads without a
    /// rehearsal. Set it once, before files are opened.
    nonisolated(unsafe) public static var helper: Helper?
    /// Seconds the helper may take before it is killed and the file refused. The structure of a
    /// 90 MB tf_model.h5 reads in about 20 ms; decompressing large gzip-chunked datasets takes
    /// longer. The fuzz targets lower it below libFuzzer's own timeout. 0: no limit.
    nonisolated(unsafe) public static var timeLimitSeconds: UInt32 = 60

    /// The helper's exit status when the file opened and every rehearsed read finished.
    static let finished: Int32 = 0
    /// The helper's exit status when libhdf5 or ckpt reported an error: the caller will meet the
    /// same error in process and report it with its message.
    static let reportedError: Int32 = 3

    /// glibc malloc settings for the helper: no per-thread cache, and every block malloc hands out
    /// filled with 0x5a (and every freed one with 0xa5). Why: the libhdf5 crash FuzzHDF5 found
    /// (`free` of a pointer it never initialised) depends on what the heap held before. A fresh
    /// helper's heap is not the caller's, and with glibc's defaults the helper read the file
    /// cleanly in 3 runs of 10 where the caller would then crash (and `ckpt inspect` crashed 3
    /// times in 20). With these, uninitialised memory always holds the pattern, never a usable
    /// pointer or a zero, and the helper died on that file in 30 runs of 30. (The tcache hands out
    /// blocks without filling them, hence `tcache_count=0`.) The cost is a `memset` per allocation,
    /// in a process that only walks metadata.
    static let helperMallocTunables = "glibc.malloc.tcache_count=0:glibc.malloc.perturb=165"

    /// True in the helper process once ``rehearseInThisProcess(path:timeLimitSeconds:)`` started:
    /// ``run(_:_:)`` then does the rehearsal itself and ends the process with its outcome.
    nonisolated(unsafe) private static var rehearsesHere = false

    /// Whether the caller takes what the helper found from its report (``HDF5RehearsalReport``)
    /// instead of walking the file again in process. FuzzHDF5 turns it off for every other input,
    /// so that the walk in process still runs where the fuzzer watches it (leaks, sanitizer
    /// reports), not only in the helper, whose failures merely refuse the file.
    nonisolated(unsafe) public static var usesReports = true

    /// The environment variable that tells the helper where to write its report (the caller's
    /// temporary file).
    static let reportVariable = "CKPT_HDF5_REHEARSAL_REPORT"

    /// Runs `rehearsal` in the helper process (``HDF5File`` passes the work to repeat there) and
    /// throws if the helper crashed or ran out of time. A helper that trapped in Swift code
    /// (SIGILL, SIGTRAP) met a bug in ckpt, not a bad file: the caller repeats the same work in
    /// process and traps there, with Swift's message, as it would have without the rehearsal.
    ///
    /// Returns the helper's report (``HDF5RehearsalReport``, still to be decoded) when it finished
    /// and wrote one; nil when there is none (no helper, an error the caller will meet in process,
    /// a helper that writes none): the caller then reads the structure in process.
    @discardableResult
    static func run(_ path: String, _ rehearsal: () throws -> Void) throws(CheckpointError) -> [UInt8]? {
        if rehearsesHere {
            do {
                try rehearsal()
                _exit(finished)
            } catch {
                _exit(reportedError)
            }
        }
        let seconds = timeLimitSeconds
        guard let helper else { return nil }
        let report = usesReports ? HDF5ReportFile() : nil
        var environment = ["GLIBC_TUNABLES": helperMallocTunables]
        // Empty when there is no report file: a value inherited from the caller's environment
        // must not name a file for the helper to overwrite.
        environment[reportVariable] = report?.path ?? ""
        guard let child = ChildProcess(helper.executable, arguments: helper.arguments + [String(seconds), path],
                                       environment: environment) else { return nil }
        let outcome = child.wait(seconds: seconds)
        try judge(outcome, path: path, seconds: seconds)
        return outcome == .exited(finished) ? report?.contents() : nil
    }

    /// In the helper: writes `report` where the caller asked (``reportVariable``), if it did.
    /// Nothing is reported on failure: the caller then reads the file in process.
    static func writeReport(_ report: [UInt8]) {
        guard rehearsesHere, let path = getenv(reportVariable) else { return }
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var written = 0
        while written < report.count {
            let count = report[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return }
            written += count
        }
    }

    /// The helper's side: reads `path` as ``HDF5File`` does, with the same rehearsal, and exits
    /// with status 0 (read), 3 (an ordinary error, reported by the caller when it repeats the
    /// work), or dies of the signal that killed it. Default signal actions (no crash handler, the
    /// Swift runtime's backtracer included, runs in the helper), no core file, and an alarm after
    /// `timeLimitSeconds` so that a helper whose caller died does not loop forever.
    public static func rehearseInThisProcess(path: String, timeLimitSeconds: UInt32) -> Never {
        for signalNumber in [SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGTRAP, SIGALRM] {
            signal(signalNumber, SIG_DFL)
        }
        var noCoreFile = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCoreFile)
        alarm(timeLimitSeconds)
        rehearsesHere = true
        do {
            _ = try HDF5File(path: path)
        } catch {
            _exit(reportedError)
        }
        _exit(finished)
    }

    /// Turns how the helper ended into nothing (the caller reads the file) or the file's refusal.
    static func judge(_ outcome: ChildProcess.Outcome, path: String, seconds: UInt32) throws(CheckpointError) {
        switch outcome {
        case .exited(finished), .exited(reportedError), .unknown, .signaled(SIGILL), .signaled(SIGTRAP):
            return
        case .exited(let code):
            throw .hdf5(path: path, object: "", operation: "reading the file's structure (the child process reading it exited with status \(code)); the file is malformed")
        case .timedOut, .signaled(SIGALRM):
            throw .hdf5(path: path, object: "", operation: "reading the file's structure (libhdf5 did not finish in \(seconds) s; it can loop forever on a damaged file); the file is malformed")
        case .signaled(let signalNumber):
            throw .hdf5(path: path, object: "", operation: "reading the file's structure (libhdf5 crashed with signal \(signalNumber) in the child process reading it); the file is malformed")
        }
    }
}
