import ArgumentParser
import CheckpointKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Say what a checkpoint holds, from its header alone.",
        discussion: """
        Prints the format, tensor and parameter counts, dtypes, metadata, parameters per component \
        and kind, and how many parameters LayerNorm-only tuning, bias-only tuning (BitFit) and \
        last-N-layers tuning would train. Only headers are read: inspecting a multi-gigabyte file \
        takes milliseconds. For a task patch (`ckpt patch`) it lists what the patch holds instead: \
        selection, touched tensors (dense, sparse, new), entries, sizes and fingerprints.
        """)

    @Argument(help: "A .safetensors file, a *.safetensors.index.json, an HDF5 file (.h5), a PyTorch file (pytorch_model.bin, .pt, .pth) or its .bin.index.json, or a model directory.")
    var path: String

    @OptionGroup var stateDict: StateDictKeyOption

    @Flag(help: "Print a JSON document instead of the report.")
    var json = false

    @Flag(help: "Also list every tensor in the report.")
    var tensors = false

    func run() throws {
        try runReportingFailures {
            let checkpoint = try stateDict.open(path)
            if checkpoint.metadata["format"] == PatchFormat.name {
                // A task patch (`ckpt patch`): say what it holds instead.
                let summary = PatchSummary(try PatchFile(path: checkpoint.path))
                if json {
                    try printJSON(summary)
                } else {
                    print(PatchInspectReport(summary: summary, listTensors: tensors).text)
                }
                return
            }
            let summary = CheckpointSummary(checkpoint)
            if json {
                try printJSON(summary)
            } else {
                print(InspectReport(summary: summary, listTensors: tensors).text)
            }
        }
    }
}
