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
        printError("ckpt: \(error)")
        throw ExitCode(Int32(error.category.rawValue))
    } catch {
        printError("ckpt: internal error: \(error)")
        throw ExitCode(ExitStatus.internalError)
    }
}

/// Writes `message` and a newline to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Whether standard error is a terminal (progress lines are only drawn there).
var standardErrorIsTerminal: Bool { isatty(2) != 0 }
