import ArgumentParser
import CheckpointKit
import Foundation

extension DifferenceMetric: ExpressibleByArgument {}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what fine-tuning changed, tensor by tensor and group by group.",
        discussion: """
        Pairs the tensors of BASE and FINETUNED by parameter (across model prefixes such as \
        `bert.`, training wrappers such as `module.` and `_orig_mod.`, legacy gamma/beta names, \
        tf_model.h5 kernels, which are transposed, and KerasHub .weights.h5 variables, named as \
        keras-hub's Hugging Face converters name them), then \
        computes for each pair, in double precision: L2 norms, relative change \
        ||ft - base|| / ||base||, mean and max absolute change, cosine, and how many elements \
        changed bitwise. The report names the fine-tuning regime (LayerNorm-only, bias-only, last \
        k layers, full, ...), ranks tensors, components, bias types and layers, and shows a \
        layer x component table. Tensors are streamed one at a time: memory stays flat whatever \
        the checkpoints' size. NaN and Inf values in either checkpoint are reported first (a \
        warning line, `problems` in --json, red in --html); every number is computed over the \
        pairs whose two values are finite and says how many were left out. A fine-tune saved in \
        another dtype is compared with the base converted to it as PyTorch converts it, and an F32 \
        fine-tune holding only BF16 (or F16) values with the base rounded to that dtype (the \
        regime line says so; raw_* in --json and --csv compare with the base as stored).
        """)

    @Argument(help: "The base (pretrained) checkpoint: a .safetensors file, an index, an .h5 file, a PyTorch .bin/.pt/.pth, or a model directory.")
    var base: String

    @Argument(help: "The fine-tuned checkpoint, in any format ckpt reads, or a PEFT adapter directory (read as BASE with the adapter merged).")
    var finetuned: String

    @OptionGroup var stateDict: StateDictKeyOption

    @Flag(help: "Print a JSON document instead of the report.")
    var json = false

    @Option(help: ArgumentHelp("Also write one CSV row per tensor to FILE.", valueName: "FILE"))
    var csv: String?

    @Option(help: ArgumentHelp("Also write a self-contained HTML report (heatmap, rankings) to FILE.", valueName: "FILE"))
    var html: String?

    @Flag(name: .customLong("exit-code"), help: "Exit 0 if the checkpoints are identical, 1 if they differ, 2 on any error.")
    var exitCodeMode = false

    @Option(help: ArgumentHelp("Rank tensors and groups by relative change or by mean absolute change.", valueName: "relative|mean-abs"))
    var metric: DifferenceMetric = .relative

    @Option(help: ArgumentHelp("Number of tensors in the top list.", valueName: "N"))
    var top = 10

    @Option(help: ArgumentHelp("Extra pairings: a JSON object {\"finetuned name\": \"base name\"} or lines 'FINETUNED_NAME BASE_NAME'.", valueName: "FILE"))
    var map: String?

    /// Whether a command line asks for `diff --exit-code`, in which every failure, usage errors
    /// included, exits with status 2 (as `diff` and `h5diff` do).
    static func exitCodeModeRequested(in arguments: [String]) -> Bool {
        arguments.dropFirst().first == "diff" && arguments.contains("--exit-code")
    }

    func validate() throws {
        guard top >= 0 else { throw ValidationError("--top must be 0 or more") }
    }

    func run() throws {
        guard exitCodeMode else {
            try runReportingFailures { try compare() }
            return
        }
        do {
            try compare()
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("ckpt: \(FlagAdvice.message(for: error))")
            throw ExitCode(2)
        }
    }

    private func compare() throws {
        let renames = try map.map { try CheckpointAlignment.loadRenames(path: $0) } ?? [:]
        let (baseCheckpoint, finetunedCheckpoint) = try stateDict.open(base: base, finetuned: finetuned)
        let progress = standardErrorIsTerminal ? ProgressLine(label: "diff") : nil
        var onProgress: (@Sendable (CheckpointDiff.Progress) -> Void)?
        if let progress { onProgress = { progress.update($0) } }
        let diff = try CheckpointDiff(base: baseCheckpoint, finetuned: finetunedCheckpoint, renames: renames,
                                      progress: onProgress)
        progress?.clear()
        let document = DiffDocument(diff: diff, metric: metric)
        KeptUntilExit.keep(baseCheckpoint, finetunedCheckpoint, diff, document)
        if let csv { try DiffCSV.write(diff, to: csv) }
        if let html { try DiffHTMLReport(document: document, top: top).write(to: html) }
        if json {
            try printJSON(document)
        } else {
            print(DiffTerminalReport(document: document, top: top).text)
        }
        if exitCodeMode {
            throw ExitCode(diff.isIdentical ? ExitStatus.success : ExitStatus.different)
        }
    }
}
