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
        .weights.h5 files, or a Hugging Face model directory. See `man ckpt` for exit codes.
        """,
        version: CkptVersion.string,
        subcommands: [InspectCommand.self, DiffCommand.self, PatchCommand.self, ApplyCommand.self, VerifyCommand.self,
                      FisherCommand.self, MaskCommand.self])

    /// ArgumentParser's `main`, except that under `diff --exit-code` a usage error exits with 2
    /// (as `diff` does) rather than ArgumentParser's 64: scripts test that mode's status alone.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            if DiffCommand.exitCodeModeRequested(in: CommandLine.arguments), !(error is ExitCode),
               exitCode(for: error) != .success {
                printError(fullMessage(for: error))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}

enum CkptVersion {
    static let string = "0.1.0"
}
