import Foundation
import XCTest

/// What a test needs from the machine, and the one place a test may decide not to run.
///
/// Conventions (README, "Tests"):
/// - A root-only test calls `TestEnvironment.requireRoot(_:)` first (mounting a tmpfs, for example).
/// - A slow test (more than about ten seconds) says `Slow:` in its class's doc comment and calls
///   `TestEnvironment.slow()`; `CKPT_SKIP_SLOW=1` skips it in a quick local run.
/// - Under `CKPT_TEST_STRICT=1`, which `scripts/dev.sh test` (so CI) sets, nothing is skipped:
///   a test that would skip fails with its reason instead.
enum TestEnvironment {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Whether a skip is a failure (`CKPT_TEST_STRICT=1`).
    static var strict: Bool { environment["CKPT_TEST_STRICT"] == "1" }

    /// A test that cannot run here: a skip, or under `CKPT_TEST_STRICT=1` a failure.
    struct CannotRun: Error, CustomStringConvertible {
        var description: String
    }

    static func cannotRun(_ reason: String) -> Error {
        strict ? CannotRun(description: "\(reason) (CKPT_TEST_STRICT=1: not skipped)") : XCTSkip(reason)
    }

    /// For tests that mount file systems: skips (or fails, when strict) unless the process is root.
    static func requireRoot(_ what: String) throws {
        guard geteuid() == 0 else { throw cannotRun("\(what) needs root") }
    }

    /// For slow tests: skips them when `CKPT_SKIP_SLOW=1` (never under `CKPT_TEST_STRICT=1`).
    static func slow() throws {
        if environment["CKPT_SKIP_SLOW"] == "1", !strict { throw XCTSkip("slow test; unset CKPT_SKIP_SLOW to run it") }
    }
}
