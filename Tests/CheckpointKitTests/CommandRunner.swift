import Foundation
import XCTest

/// What one run of the `ckpt` binary printed and returned.
struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the built `ckpt` binary as a user would, for the tests of exit codes, messages and
/// output documents. (`scripts/dev.sh test` builds the binary before the tests run.)
enum CommandRunner {
    /// The binary beside the test bundle, or the debug build of this checkout.
    static var binary: URL? {
        [Bundle.main.bundleURL.appendingPathComponent("ckpt"),
         Fixtures.root.deletingLastPathComponent().appendingPathComponent(".build/debug/ckpt")]
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// Runs `ckpt ARGUMENTS` to completion; skips the test when the binary is not built.
    static func run(_ arguments: [String]) throws -> CommandResult {
        guard let binary else { throw XCTSkip("ckpt binary not built; run `swift build` first") }
        return try execute(binary, arguments)
    }

    /// Runs `ckpt ARGUMENTS` under a file size limit of `blocks` 512-byte blocks, set by
    /// `/bin/sh`'s `ulimit -f` (POSIX counts it in 512-byte blocks) in the shell that then execs
    /// the binary: no root needed, unlike a small tmpfs. The limit holds only for that process.
    /// With `standardOutput`, the binary's standard output goes to that file (under the limit too)
    /// and the result's `stdout` is empty.
    static func run(_ arguments: [String], fileSizeLimitBlocks blocks: Int, standardOutput: String? = nil) throws -> CommandResult {
        guard let binary else { throw XCTSkip("ckpt binary not built; run `swift build` first") }
        let shell = URL(fileURLWithPath: "/bin/sh")
        guard let standardOutput else {
            return try execute(shell, ["-c", "ulimit -f \(blocks) && exec \"$0\" \"$@\"", binary.path] + arguments)
        }
        return try execute(shell, ["-c", "out=$1; shift; ulimit -f \(blocks) && exec \"$0\" \"$@\" >\"$out\"", binary.path, standardOutput] + arguments)
    }

    private static func execute(_ executable: URL, _ arguments: [String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
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
