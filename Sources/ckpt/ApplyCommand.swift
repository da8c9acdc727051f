import ArgumentParser
import CheckpointKit

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply a task patch to its base: write the task model.",
        discussion: """
        Writes OUT as the base with the patched tensors replaced and the patch's new tensors (a task \
        head) appended, in the base's format: safetensors, in the base's tensor order, dtypes and \
        metadata (a sharded base gives one file; a PyTorch base gives safetensors: nothing writes a \
        pickle). The write is atomic: a temporary file in OUT's \
        directory, fsync, then rename; before the rename every patched tensor of the temporary file is \
        checked against the patch's result fingerprint. The inputs are never modified, and OUT may not \
        be one of them.

        The base must be the one the patch was made for: every tensor the patch touches must hash to \
        the recorded SHA-256 and the base's tensor list (names, dtypes, shapes) must match. Otherwise \
        apply refuses and names the tensor that differs; --force applies anyway (the result of a \
        forced tensor is then not checked).

        PATCH may be a PEFT adapter directory (adapter_config.json + adapter_model.safetensors or .bin): \
        OUT is then the merged model peft's merge_and_unload() gives (LORA, LN_TUNING, BEFT, \
        modules_to_save; DoRA and other methods refused), in the base's tensor order, names and dtypes.

        EXIT STATUS: 0 written; 2 bad input (unreadable or corrupt patch or base, output is an input); \
        3 the patch does not fit this base (another base, a tensor the base lacks); 4 OUT could not be \
        written (full disk, permissions; no partial file is left); 70 internal error.
        """)

    @Argument(help: "The base checkpoint the patch was made from.")
    var base: String

    @Argument(help: "The patch file (from `ckpt patch`), or a PEFT adapter directory (merged as peft's merge_and_unload() does).")
    var patch: String

    @Option(name: .shortAndLong, help: "The checkpoint to write.")
    var output: String

    @Flag(help: "Apply even if the base is not the one the patch was made for.")
    var force = false

    @OptionGroup var stateDict: StateDictKeyOption

    @Flag(help: "Print a JSON report instead of the text one.")
    var json = false

    func run() throws {
        try runReportingFailures {
            let baseCheckpoint = try stateDict.open(base)
            if PEFTImport.isAdapterDirectory(patch) { return try applyAdapter(onto: baseCheckpoint) }
            let patchFile = try PatchFile(path: patch)
            let applier = PatchApplier(base: baseCheckpoint, patch: patchFile)
            let report = try applier.apply(to: output, options: .init(force: force))
            if let warning = NonFiniteWarning.message(for: patchFile, what: "written to \(output)") { printError(warning) }
            if json {
                try printJSON(report)
            } else {
                if baseCheckpoint.format.isPyTorch {
                    printError("ckpt: note: the base is a PyTorch file; \(report.output) is written as safetensors (nothing writes a pickle)")
                }
                print("wrote \(report.output): \(report.tensors) tensors (\(report.replaced) patched, \(report.added) added), \(Format.count(report.bytes)) bytes (\(Format.bytes(report.bytes)))")
                if !report.forced.isEmpty {
                    printError("ckpt: warning: --force: \(report.forced.count) patched tensor\(report.forced.count == 1 ? "" : "s") came from a different base (\(report.forced.prefix(3).joined(separator: ", "))\(report.forced.count > 3 ? ", ..." : "")); their results were not checked")
                }
            }
        }
    }

    /// `ckpt apply BASE ADAPTER_DIR -o OUT`: the merged model peft's `merge_and_unload()` gives.
    func applyAdapter(onto baseCheckpoint: any Checkpoint) throws {
        let report = try PEFTImport.apply(base: baseCheckpoint, adapter: try stateDict.open(patch), to: output)
        if json { return try printJSON(report) }
        print("wrote \(report.output): \(report.tensors) tensors (\(report.changed) changed by the \(report.peftType) adapter, \(report.added) added), \(Format.count(report.bytes)) bytes (\(Format.bytes(report.bytes)))")
    }
}
