import Glibc

/// A program started with `posix_spawn` (a fresh process: nothing of the caller's threads, locks
/// or heap carries over, unlike `fork`), silent, and waited for with a deadline.
///
/// The child's standard input, output and error are /dev/null: what it prints before it dies
/// (glibc's `free(): invalid pointer`, a sanitizer's report) never reaches the caller's user. It
/// starts with every signal at its default action and none blocked, whatever the caller ignores
/// (ckpt ignores SIGXFSZ) or blocks on the spawning thread.
struct ChildProcess {
    /// How the child ended.
    enum Outcome: Equatable {
        /// It exited with this status.
        case exited(Int32)
        /// A signal killed it.
        case signaled(Int32)
        /// It was still running at the deadline and was killed (SIGKILL).
        case timedOut
        /// It could not be waited for (another part of the program reaped it, or SIGCHLD is
        /// ignored so the kernel did).
        case unknown
    }

    let pid: pid_t

    /// Starts `executable` with `arguments` (after argv[0], the executable itself) and the
    /// caller's environment with `environment`'s variables set. Nil when it cannot be started (no
    /// processes or memory left, no such executable).
    init?(_ executable: String, arguments: [String], environment: [String: String] = [:]) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = ChildProcess.environment(setting: environment).map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        guard posix_spawn(&pid, executable, &actions, &attributes, argv, envp) == 0 else { return nil }
        self.pid = pid
    }

    /// Waits until the child ends, or kills it after `seconds` of wall time (0: no limit). The
    /// child is polled (every 0.1 ms at first, then up to every 2 ms): no thread, signal handler
    /// or descriptor is needed, and a child that ends within milliseconds is seen at most about a
    /// millisecond late.
    func wait(seconds: UInt32) -> Outcome {
        let deadline = ChildProcess.now() + Double(seconds)
        var pause = 100_000  // nanoseconds
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return ChildProcess.outcome(status) }
            if reaped < 0, errno != EINTR { return .unknown }
            if seconds > 0, ChildProcess.now() >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                return .timedOut
            }
            var interval = timespec(tv_sec: 0, tv_nsec: pause)
            nanosleep(&interval, nil)
            pause = min(pause * 2, 2_000_000)
        }
    }

    /// This process's environment as `NAME=value` strings, with `overrides` replacing or adding.
    private static func environment(setting overrides: [String: String]) -> [String] {
        var entries: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            let name = String(text.prefix { $0 != "=" })
            if overrides[name] == nil { entries.append(text) }
            cursor += 1
        }
        return entries + overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// Monotonic seconds.
    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// Decodes a `waitpid` status (the `WIFEXITED`/`WIFSIGNALED` macros, which Swift cannot import).
    private static func outcome(_ status: Int32) -> Outcome {
        let signalNumber = status & 0x7f
        return signalNumber == 0 ? .exited((status >> 8) & 0xff) : .signaled(signalNumber)
    }
}
