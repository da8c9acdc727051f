import ArgumentParser
import CheckpointKit

// Temporary root on the `fisher` branch: lists only `fisher` and `mask`. The root command on main
// replaces this file and adds FisherCommand/MaskCommand to its subcommands.
struct Ckpt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ckpt",
        abstract: "Checkpoint tools for fine-tuning.",
        subcommands: [FisherCommand.self, MaskCommand.self])
}

Ckpt.main()
