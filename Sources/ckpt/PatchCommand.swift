import ArgumentParser
import CheckpointKit
import Foundation

struct PatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patch",
        abstract: "Write a sparse task patch: the entries a fine-tune changed inside a selection.",
        discussion: """
        The patch is a safetensors file (see docs/patch-format.md) holding, per changed tensor, either \
        the whole new tensor or the changed entries' flat indices and new values, whichever is smaller, \
        plus the tensors only the fine-tune has (a new task head), whole. A tensor whose leading \
        dimension changed (tokens added to the embeddings or lm_head) is held as its new shape, the \
        added rows and the changed entries of the shared rows; a task head whose shape changed (a \
        replaced head, 2 -> 3 labels) is held whole. It stores new values, not \
        deltas, so `ckpt apply` reproduces them bit for bit, and fingerprints of the base and of the \
        result, so a patch is never applied to the wrong base unnoticed.

        SELECTION (--select, repeatable; terms separated by commas; they combine as a union):
          layernorm            LayerNorm weights and biases
          bias                 every bias, LayerNorm biases included (BitFit)
          bias:TYPE,...        biases of these types: query, key, value,
                               attention_output, attention_layernorm, intermediate,
                               output, output_layernorm, embeddings_layernorm,
                               pooler, head, ...
          layers:last=N        every tensor of the last N transformer layers
          head                 task-head tensors (classifier, qa_outputs, score, ...),
                               a replaced head whole
          resized              the rows a fine-tune added to embedding and output
                               matrices (new tokens) and their new shape
          mask:FILE            the entries a mask file marks 1 (safetensors of
                               BOOL/U8 tensors named like the parameters, as
                               `ckpt mask` writes)
          include:GLOB         tensors whose name matches the shell pattern
          exclude:GLOB         removes matching tensors from the rest
          all                  every tensor
        The default is layernorm,bias,head,resized. When every term is an exclude, they subtract from the \
        default. Names match by the base's name, the fine-tune's name or the canonical name.

        When the fine-tune changed more than the selection keeps, the report says per component and \
        per kind how much of the squared change (sum of delta^2) the patch keeps and drops.

        FORMAT (--format): `ckpt` (default) writes the patch file above. `peft` writes OUTPUT as a PEFT \
        adapter directory (adapter_config.json, adapter_model.safetensors, and ckpt.json with the \
        fingerprints and the kept share) that `PeftModel.from_pretrained(base, OUTPUT)` loads (peft \
        0.21.2). LayerNorm-only changes become an LN_TUNING adapter (exact copies of the changed \
        LayerNorms); changes to nn.Linear biases (BitFit) a BEFT adapter: the F32 difference fine-tune - \
        base per layer, which peft adds back (not bit-exact: the JSON report's bias_delta_max_ulp and \
        bias_delta_max_abs_error give how far base + delta lands from the fine-tune's bias), with the \
        changed LayerNorms saved whole in modules_to_save. The task head goes in modules_to_save. Without --select every change \
        is checked; a fine-tune that changed anything else (weight matrices, embeddings, a resized \
        vocabulary, BF16/F16 biases) is refused with the nearest --select that works. OUTPUT must not \
        exist or be empty. FINETUNED may be a PEFT adapter directory: it is read as BASE with the adapter merged \
        (LORA, LN_TUNING, BEFT; see `man ckpt-apply`); a LoRA needs --select all.

        EXIT STATUS: 0 written; 2 bad input (unreadable checkpoint, bad --select, bad mask or map); \
        3 base and fine-tune do not match on a selected tensor; 4 the patch could not be written \
        (no partial file is left); 70 internal error.
        """)

    @Argument(help: "The base checkpoint (file, sharded index or model directory).")
    var base: String

    @Argument(help: "The fine-tuned checkpoint.")
    var finetuned: String

    @Option(name: .shortAndLong, help: "The patch file to write (with --format peft: the adapter directory).")
    var output: String

    @Option(help: ArgumentHelp("Output format: ckpt (a patch file) or peft (an LN_TUNING or BEFT adapter directory).", valueName: "FORMAT"))
    var format: PatchOutputFormat = .ckpt

    @Option(name: .customLong("select"), help: ArgumentHelp("What to keep (see SELECTION); repeatable.", valueName: "SPEC"))
    var select: [String] = []

    @Flag(help: "zlib-compress the patch (detected when read).")
    var compress = false

    @Option(name: .customLong("map"), help: ArgumentHelp("Name map: JSON {\"fine-tuned name\": \"base name\"} or lines 'FINETUNED BASE'.", valueName: "FILE"))
    var map: String?

    @OptionGroup var stateDict: StateDictKeyOption

    @Flag(help: "Print a JSON report instead of the text one.")
    var json = false

    func validate() throws {
        if format == .peft && compress { throw ValidationError("--compress does not apply to --format peft") }
    }

    func run() throws {
        try runReportingFailures {
            let selection = try PatchSelection(specs: format == .peft && select.isEmpty ? ["all"] : select)
            let (baseCheckpoint, finetunedCheckpoint) = try stateDict.open(base: base, finetuned: finetuned)
            for input in baseCheckpoint.files + finetunedCheckpoint.files where FileIdentity.same(output, input) {
                throw PatchError.outputIsInput(output: output, input: input)
            }
            let renames = try map.map { try CheckpointAlignment.loadRenames(path: $0) } ?? [:]
            let maker = try PatchMaker(base: baseCheckpoint, finetuned: finetunedCheckpoint, selection: selection, renames: renames)
            let plan = try maker.plan()
            if format == .peft {
                let export = try PEFTExport(maker: maker, plan: plan)
                let written = try export.write(to: output, base: baseCheckpoint.path, finetuned: finetunedCheckpoint.path)
                let report = PEFTExportReport(adapter: output, written: written, config: export.config, shares: plan.shares,
                                              biasAccuracy: export.biasAccuracy)
                if json { try printJSON(report) } else { print(report.text) }
                let adapter = try CheckpointOpener.open(output + "/adapter_model.safetensors")
                if let warning = try NonFiniteWarning.message(for: adapter, what: "copied into the adapter") { printError(warning) }
                return
            }
            var written: PatchFile?
            let size = try maker.write(plan, to: output, compress: compress) { written = $0 }
            let report = PatchCommandReport(patch: output, base: baseCheckpoint.path, finetuned: finetunedCheckpoint.path,
                                            compressed: compress, fileSize: size, plan: plan)
            if json {
                try printJSON(report)
            } else {
                print(report.text)
            }
            if let patch = written, let warning = NonFiniteWarning.message(for: patch, what: "copied into the patch") { printError(warning) }
        }
    }
}

