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
        let process = Process()
        process.executableURL = binary
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
