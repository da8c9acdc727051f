import ArgumentParser
import CheckpointKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Say what a checkpoint holds, from its header alone (--values: and what its values look like).",
        discussion: """
        Prints the format, tensor and parameter counts, dtypes, metadata, parameters per component \
        and kind, and how many parameters LayerNorm-only tuning, bias-only tuning (BitFit) and \
        last-N-layers tuning would train. Only headers are read: inspecting a multi-gigabyte file \
        takes milliseconds. For a task patch (`ckpt patch`) it lists what the patch holds instead: \
        selection, touched tensors (dense, sparse, new), entries, sizes and fingerprints. For a PEFT \
        adapter directory (adapter_config.json) it lists the adapter's own tensors, with its settings \
        (peft_type, r, lora_alpha, targets, task type, base model) as metadata. \
        With --values it also reads every value (streamed tensor by tensor, two threads) and \
        reports per tensor the number of NaN, infinite and zero elements and the min, max, mean \
        and standard deviation (population, as numpy's default) of the finite ones: a check for \
        damage that needs no base.
        """)

    @Argument(help: "A .safetensors file, a *.safetensors.index.json, an HDF5 file (.h5), a PyTorch file (pytorch_model.bin, .pt, .pth) or its .bin.index.json, or a model directory.")
    var path: String

    @OptionGroup var stateDict: StateDictKeyOption

    @Flag(help: "Print a JSON document instead of the report.")
    var json = false

    @Flag(help: "Also list every tensor in the report.")
    var tensors = false

    @Flag(help: "Also read the data: per tensor the NaN, Inf and zero counts and min / max / mean / std (population) of the finite values.")
    var values = false

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
            KeptUntilExit.keep(checkpoint, summary)
            let valueSummary = values ? try ValuesSummary(checkpoint) : nil
            if json {
                try printJSON(InspectDocument(summary: summary, values: valueSummary))
            } else {
                var text = InspectReport(summary: summary, listTensors: tensors).text
                if let valueSummary { text += "\n" + InspectValuesReport(values: valueSummary).lines.joined(separator: "\n") }
                print(text)
            }
        }
    }
}

/// `ckpt inspect --json`: the header summary's fields, plus `values` (``ValuesSummary``) with
/// `--values`.
struct InspectDocument: Encodable {
    var summary: CheckpointSummary
    var values: ValuesSummary?

    enum Keys: String, CodingKey { case values }

    func encode(to encoder: Encoder) throws {
        try summary.encode(to: encoder)
        guard let values else { return }
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(values, forKey: .values)
    }
}
