import ArgumentParser
import CheckpointKit
import Foundation

/// The exit codes of `ckpt` (documented in man/ckpt.1).
enum ExitStatus {
    /// Success, and for `diff --exit-code` / `verify`: no difference.
    static let success: Int32 = 0
    /// `diff --exit-code`: the checkpoints differ; `verify`: the patch does not reproduce the fine-tune.
    static let different: Int32 = 1
    /// Internal error (a bug in ckpt).
    static let internalError: Int32 = 70
}

extension FailureCategory {
    /// The exit status of a failure of this category (man/ckpt.1, EXIT STATUS).
    var exitCode: Int32 {
        switch self {
        case .badInput: return 2
        case .mismatch: return 3
        case .io: return 4
        }
    }
}

/// Runs a command body and turns library errors into one line on stderr and the documented exit
/// code, instead of ArgumentParser's generic "Error:" output.
func runReportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch let error as CategorizedError {
        printError("ckpt: \(FlagAdvice.message(for: error))")
        throw ExitCode(error.category.exitCode)
    } catch {
        printError("ckpt: internal error: \(error)")
        throw ExitCode(ExitStatus.internalError)
    }
}

/// Flushes standard output and returns why writing it failed, or nil if it did not. Reports go
/// out through stdio (`print`), which drops write errors: without this check a report redirected
/// to a file on a full disk or over the file size limit (`ulimit -f`) would be cut short while
/// `ckpt` exits 0. `fflush(NULL)` returns EOF when any earlier, buffered write failed as well.
func standardOutputFailure() -> String? {
    errno = 0
    guard fflush(nil) != 0 else { return nil }
    return errno == 0 ? "a write failed" : CheckpointError.writeReason(errno: errno)
}

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Whether standard error is a terminal (progress lines are only drawn there).
var standardErrorIsTerminal: Bool { isatty(2) != 0 }
