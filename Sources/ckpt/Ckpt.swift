import ArgumentParser
import CheckpointKit
import Foundation

@main
struct Ckpt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ckpt",
        abstract: "Inspect, diff, patch and score transformer checkpoints.",
        discussion: """
        Reads safetensors (single or sharded), Hugging Face tf_model.h5, Keras 2 .h5 and Keras 3 \
        .weights.h5 files, PyTorch pytorch_model.bin / .pt / .pth files (single or sharded; never \
        unpickled into code), or a Hugging Face model directory. See `man ckpt` for exit codes.
        """,
        version: CkptVersion.string,
        subcommands: [InspectCommand.self, DiffCommand.self, PatchCommand.self, ApplyCommand.self, VerifyCommand.self,
                      FisherCommand.self, MaskCommand.self, RehearseHDF5Command.self])

    /// ArgumentParser's `main`, except that under `diff --exit-code` a usage error exits with 2
    /// (as `diff` does) rather than ArgumentParser's 64: scripts test that mode's status alone.
    ///
    /// SIGXFSZ is ignored first: by default, writing past the file size limit (`ulimit -f`) kills
    /// the process with no message and leaves the temporary output behind. Ignored, the write fails
    /// with EFBIG instead, and the usual path reports it (exit 4) and removes the temporary file.
    ///
    /// A run that produced its result (exit 0, or 1 for "different") then checks that standard
    /// output was written in full: see ``reportStandardOutputFailure()``.
    static func main() {
        signal(SIGXFSZ, SIG_IGN)
        RehearseHDF5Command.useThisBinaryAsHelper()
        RehearseHDF5Command.runIfHelperCommandLine(CommandLine.arguments)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if DiffCommand.exitCodeModeRequested(in: CommandLine.arguments), !(error is ExitCode),
               exitCode(for: error) != .success {
                printError(fullMessage(for: error))
                Foundation.exit(2)
            }
            if let code = error as? ExitCode, code.rawValue == ExitStatus.success || code.rawValue == ExitStatus.different {
                reportStandardOutputFailure()
            }
            exit(withError: error)
        }
        reportStandardOutputFailure()
    }

    /// Exits with one line and status 4 (2 under `diff --exit-code`, where every error is 2) when
    /// standard output could not be written in full, so that a report cut short by a full disk
    /// never passes for a complete one.
    static func reportStandardOutputFailure() {
        guard let reason = standardOutputFailure() else { return }
        printError("ckpt: \(CheckpointError.writeFailed(path: "standard output", reason: reason))")
        Foundation.exit(DiffCommand.exitCodeModeRequested(in: CommandLine.arguments) ? 2 : FailureCategory.io.exitCode)
    }
}

enum CkptVersion {
    static let string = "0.1.0"
}
