import ArgumentParser
import CheckpointKit

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
        subcommands: [InspectCommand.self, PatchCommand.self, ApplyCommand.self, VerifyCommand.self,
                      FisherCommand.self, MaskCommand.self])
}

enum CkptVersion {
    static let string = "0.1.0"
}
