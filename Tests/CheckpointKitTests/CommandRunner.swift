import Foundation
import XCTest

/// What one run of the `ckpt` binary printed and returned.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String

    /// Standard output as bytes, for JSON parsers.
    var stdoutData: Data { Data(stdout.utf8) }
}

/// The one way the tests run the built `ckpt` binary as a user would: exit codes, messages,
/// output documents, runs under a file size limit and runs killed mid-write. A test never
/// changes its own working directory; it passes `workingDirectory` to the child instead.
/// (`scripts/dev.sh test` builds the binary before the tests run; a missing binary fails the test.)
enum CommandRunner {
    struct BinaryNotBuilt: Error, CustomStringConvertible {
        var candidates: [String]
        var description: String {
            "ckpt binary not built (looked at \(candidates.joined(separator: ", "))); run `swift build` first"
        }
    }

    /// Where the binary may be: `CKPT_BINARY`, beside the test bundle (the configuration being
    /// tested, debug or release), then this checkout's debug and release builds.
    static var candidates: [URL] {
        let environment = ProcessInfo.processInfo.environment["CKPT_BINARY"].map { [URL(fileURLWithPath: $0)] } ?? []
        return environment + [
            Bundle.main.bundleURL.appendingPathComponent("ckpt"),
            Fixtures.checkout.appendingPathComponent(".build/debug/ckpt"),
            Fixtures.checkout.appendingPathComponent(".build/release/ckpt"),
        ]
    }

    /// The built binary; throws (a failure, not a skip) when there is none.
    static func binary() throws -> URL {
        let all = candidates
        guard let found = all.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw BinaryNotBuilt(candidates: all.map(\.path))
        }
        return found
    }

    /// Runs `ckpt ARGUMENTS` to completion, in `workingDirectory` when given.
    static func run(_ arguments: [String], workingDirectory: URL? = nil) throws -> CommandResult {
        try execute(try binary(), arguments, workingDirectory: workingDirectory)
    }

    /// Runs `ckpt ARGUMENTS` under a file size limit of `blocks` 512-byte blocks, set by
    /// `/bin/sh`'s `ulimit -f` (POSIX counts it in 512-byte blocks) in the shell that then execs
    /// the binary: no root needed, unlike a small tmpfs. The limit holds only for that process.
    /// With `standardOutput`, the binary's standard output goes to that file (under the limit too)
    /// and the result's `stdout` is empty.
    static func run(_ arguments: [String], fileSizeLimitBlocks blocks: Int, standardOutput: String? = nil) throws -> CommandResult {
        let binary = try binary()
        let shell = URL(fileURLWithPath: "/bin/sh")
        guard let standardOutput else {
            return try execute(shell, ["-c", "ulimit -f \(blocks) && exec \"$0\" \"$@\"", binary.path] + arguments)
        }
        return try execute(shell, ["-c", "out=$1; shift; ulimit -f \(blocks) && exec \"$0\" \"$@\" >\"$out\"", binary.path, standardOutput] + arguments)
    }

    /// Starts `ckpt ARGUMENTS` with its output discarded and returns at once, for tests that
    /// signal the running process (the kill loop).
    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs any executable to completion (the Python reference scripts, for example).
    static func execute(_ executable: URL, _ arguments: [String], workingDirectory: URL? = nil,
                        environment: [String: String]? = nil) throws -> CommandResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus,
                             stdout: String(decoding: stdout, as: UTF8.self),
                             stderr: String(decoding: stderr, as: UTF8.self))
    }
}
