import ArgumentParser
import CheckpointKit
import Foundation

extension FisherKind: ExpressibleByArgument {}
extension FisherParameterSet: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}
extension TaskDataFormat: ExpressibleByArgument {}

/// `ckpt fisher`: `compute` (the default: `ckpt fisher MODEL --data FILE -o FISHER`) and `merge`.
/// A command with its own positional argument cannot also have subcommands, hence the split.
struct FisherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fisher",
        abstract: "Diagonal Fisher information of LayerNorm/bias parameters, computed natively.",
        discussion: """
        `ckpt fisher MODEL --data FILE -o FISHER` runs `compute` (see `ckpt fisher compute --help`). \
        Split across machines: `--shard K/N` computes the examples whose 0-based index is K mod N \
        into a shard file (`--shard` implies `--reproducible`), and `ckpt fisher merge PART... -o FISHER` \
        adds the N shard files into exactly the file one run with `--reproducible` writes (see docs/scale-out.md).
        """,
        subcommands: [FisherComputeCommand.self, FisherMergeCommand.self],
        defaultSubcommand: FisherComputeCommand.self)
}

/// `ckpt fisher [compute] MODEL --data FILE -o FISHER.safetensors`: diagonal Fisher information of
/// the LayerNorm and/or bias parameters of an encoder classifier or a decoder language model, from
/// per-example gradients.
struct FisherComputeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compute",
        abstract: "Compute a Fisher file (the default of `ckpt fisher`).",
        discussion: """
        MODEL is a Hugging Face directory of a sequence classifier: BERT, MiniLM, ELECTRA, RoBERTa, \
        XLM-RoBERTa or DistilBERT (config.json, weights, tokenizer.json or vocab.txt; WordPiece, \
        byte-level BPE or Unigram tokenizers). Gradients of log p(y|x) are taken one example \
        at a time (the forward runs batched); the Fisher is the mean of their squares. A checkpoint \
        without a head takes --num-labels N --seed S (fresh head, as FISH does). With --from-grads, a \
        file of squared-gradient sums from another framework is turned into a Fisher file instead.

        Split across machines: `--shard K/N` runs the examples whose index (0-based, among the \
        examples used) is K mod N and writes a shard file of exact float64 sums; \
        `ckpt fisher merge PART... -o FISHER` adds the N shard files into exactly the file one run \
        with `--reproducible` writes (`--shard` implies `--reproducible`; a default run uses OpenBLAS, \
        is about 2x faster and agrees within float32 rounding; see docs/scale-out.md).
        """)

    @Argument(help: "Model directory (optional with --from-grads; then used to check the names).")
    var model: String?

    @Option(help: "Task data: GLUE-style .tsv, .csv or .jsonl (text columns, or input_ids in JSONL). Decoders: JSONL lines of input_ids (+ labels), text, or prompt + completion (the prompt masked).")
    var data: String?

    @Option(name: [.short, .customLong("output")], help: "Fisher file to write (safetensors).")
    var output: String

    @Option(help: "empirical (gold label), expected (sum over labels weighted by p; encoders) or sampled (next tokens drawn from the model; decoders).")
    var kind: FisherKind = .empirical

    @Option(help: "Decoders, --kind sampled: draws per example.")
    var draws: Int = 1

    @Option(help: "Decoders, --kind sampled: JSONL of the drawn tokens to use ({\"draws\": [[...], ...]} per example).")
    var drawsFile: String?

    @Option(help: ArgumentHelp("Decoders: BF16/F16 weight matrices kept in the mapped file and decoded per GEMM panel (panels), widened to an F32 copy at load (widen, faster), or panels above 512 MiB of F32 (auto).", valueName: "auto|panels|widen"))
    var halfPrecision: HalfPrecisionChoice = .auto

    @Option(help: "layernorm (alias norm), bias or both.")
    var params: FisherParameterSet = .layernorm

    @Option(help: "Number of examples (the first N; default 1024). With --from-grads: how many examples the sums cover.")
    var samples: Int?

    @Option(help: "Truncate each example to this many tokens.")
    var maxLength: Int = 128

    @Option(help: "Examples per batch.")
    var batchSize: Int = 32

    @Option(help: "Text column (default: sentence1/question1/question/premise with their pair column, or sentence, text).")
    var textColumn: String?

    @Option(help: "Second text column of a pair (\"\" for none).")
    var textPairColumn: String?

    @Option(help: "Label column.")
    var labelColumn: String = "label"

    @Option(help: "Label names in class order, for labels written as words (e.g. entailment,not_entailment).")
    var labelNames: String?

    @Option(help: "Data format when the file name does not tell: tsv, csv, jsonl.")
    var format: TaskDataFormat?

    @Option(help: "Labels of a fresh head for a checkpoint without one.")
    var numLabels: Int?

    @Option(help: "Seed of the fresh head's initialisation (decoders: of the sampled kind's draws).")
    var seed: UInt64 = 0

    @Option(help: "Squared-gradient sums (safetensors) saved by another framework.")
    var fromGrads: String?

    @Option(help: ArgumentHelp("Run only shard K of N (0 <= K < N): the examples whose 0-based index is K mod N; -o then writes a shard file for `ckpt fisher merge`. Implies --reproducible.", valueName: "K/N"))
    var shard: String?

    @Flag(help: "Bitwise reproducible: dense layers on row-deterministic kernels, so batching changes no bit and the result equals `ckpt fisher merge` of any --shard split (slower; the default uses OpenBLAS and agrees within float32 rounding).")
    var reproducible = false

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    func validate() throws {
        if fromGrads == nil {
            guard model != nil else { throw ValidationError("Missing expected argument '<model>' (or use --from-grads)") }
            guard data != nil else { throw ValidationError("Missing --data FILE (or use --from-grads)") }
        } else if data != nil {
            throw ValidationError("--from-grads replaces --data: give one of them")
        }
        if shard != nil, fromGrads != nil { throw ValidationError("--shard splits a computed run; --from-grads computes nothing") }
        if reproducible, fromGrads != nil { throw ValidationError("--reproducible changes how gradients are computed; --from-grads computes nothing") }
        try FlagAdvice.validating {
            if let shard { _ = try FisherShard(parsing: shard) }
            // With --from-grads, --samples is the count the sums cover, not examples to read.
            if let samples, fromGrads != nil { try FisherOptions.checkSampleCount(samples) }
            try FisherOptions(samples: fromGrads == nil ? samples : nil, maxLength: maxLength, batchSize: batchSize).validate()
            if let numLabels { try BertEncoder.checkFreshHead(numLabels: numLabels) }
        }
    }

    func run() throws {
        try runReportingFailures { try runFisher() }
    }

    private func runFisher() throws {
        let start = Date()
        var computeSeconds: Double? = nil
        let result: FisherResult
        if let fromGrads {
            var tensors: [TensorInfo]? = nil
            if let model {
                tensors = try CheckpointOpener.open(model).tensors
            }
            result = try FisherFile.fromGradientSums(path: fromGrads, samples: samples, modelTensors: tensors, modelPath: model)
        } else if let model, let data, DecoderConfig.decoderModelType(directory: model) != nil {
            if shard != nil || reproducible {
                throw ValidationError("--shard and --reproducible run on encoder classifiers only; the decoder engine has no shard mode yet")
            }
            (result, computeSeconds) = try runDecoderFisher(model: model, data: data)
        } else {
            let model = self.model!, data = self.data!
            if kind == .sampled { throw ValidationError("--kind sampled is for decoder language models; an encoder's --kind expected is exact") }
            let encoder = try BertEncoder(directory: model, freshHead: numLabels.map { ($0, seed) })
            if let numLabels, !encoder.headIsFresh, numLabels != encoder.numLabels {
                throw ValidationError("\(model) has a classification head with \(encoder.numLabels) labels; --num-labels \(numLabels) contradicts it")
            }
            let dataset = try TaskDataset.load(path: data, options: TaskDatasetOptions(
                textColumn: textColumn, textPairColumn: textPairColumn, labelColumn: labelColumn, format: format,
                limit: samples ?? 1024))
            let tokenizer: (any TextTokenizer)?
            if dataset.textColumn == nil {
                tokenizer = nil
            } else {
                tokenizer = try TokenizerLoader.load(directory: model)
            }
            let estimator = FisherEstimator(model: encoder, tokenizer: tokenizer, options: FisherOptions(
                kind: kind, parameters: params, samples: samples ?? 1024, maxLength: maxLength, batchSize: batchSize,
                labelNames: labelNames.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } },
                reproducible: reproducible || shard != nil))
            let computeStart = Date()
            if let shard {
                try runShard(estimator, dataset: dataset, shard: try FisherShard(parsing: shard), start: start)
                return
            }
            var r = try estimator.run(dataset: dataset, progress: Progress.reporter(start: computeStart))
            computeSeconds = Date().timeIntervalSince(computeStart)
            if encoder.headIsFresh { r.metadata["seed"] = String(seed) }
            Progress.finish()
            result = r
        }
        try FisherFile.write(result, to: output)
        let elapsed = Date().timeIntervalSince(start)
        let samples = result.samples ?? 0
        if json {
            try printJSON(FisherReport(result, output: output, seconds: elapsed, computeSeconds: computeSeconds))
            return
        }
        let described = ["layernorm": "LayerNorm", "bias": "bias", "both": "LayerNorm and bias"][params.rawValue] ?? params.rawValue
        let what = fromGrads != nil ? "Fisher from squared-gradient sums \(fromGrads!)" : "\(kind.rawValue) Fisher of the \(described) parameters"
        print("wrote \(output): \(what), \(samples) examples, \(result.tensors.count) tensors, \(result.entryCount) entries, \(String(format: "%.1f", elapsed)) s" +
              (computeSeconds.map { String(format: " (%.1f examples/s)", Double(samples) / max($0, 1e-9)) } ?? ""))
        let width = max(6, result.tensors.map(\.name.count).max() ?? 6)
        print("tensor".padding(toLength: width, withPad: " ", startingAt: 0) + "  entries          sum          max")
        for t in result.tensors {
            print(t.name.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: "  %7d  %11.4e  %11.4e", t.values.count, t.sum, t.max))
        }
    }

    /// `--shard K/N`: this shard's exact sums to a shard file, and a one-line summary.
    private func runShard(_ estimator: FisherEstimator, dataset: TaskDataset, shard: FisherShard, start: Date) throws {
        let computeStart = Date()
        var part = try estimator.run(dataset: dataset, shard: shard, progress: Progress.reporter(start: computeStart))
        let computeSeconds = Date().timeIntervalSince(computeStart)
        if estimator.model.headIsFresh { part.metadata["seed"] = String(seed) }
        Progress.finish()
        try FisherShardFile.write(part, to: output)
        let samples = part.metadata["samples"] ?? "?"
        let seconds = Date().timeIntervalSince(start)
        if json {
            let fisher = FisherResult(tensors: part.shardTensors, metadata: part.metadata.merging(["samples": String(part.shardSamples)]) { $1 })
            var report = FisherReport(fisher, output: output, seconds: seconds, computeSeconds: computeSeconds)
            report.format = FisherShardResult.Key.formatName
            try printJSON(report)
            return
        }
        print("wrote \(output): shard \(shard) of the \(kind.rawValue) Fisher, \(part.shardSamples) of \(samples) examples, " +
              "\(part.names.count) tensors, \(String(format: "%.1f", seconds)) s; merge all \(shard.count) with `ckpt fisher merge`")
    }
}
