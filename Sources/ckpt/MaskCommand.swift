import ArgumentParser
import CheckpointKit
import Foundation

extension MaskScope: ExpressibleByArgument {}

/// `ckpt mask FISHER... --keep P -o MASK.safetensors`: the entries with the largest Fisher values.
struct MaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mask",
        abstract: "Choose the top entries by Fisher value; write a U8 mask (1 = keep) and show where they sit.",
        discussion: """
        --keep P keeps P% of the entries (of all entries in the files, per tensor or per layer with \
        --scope); --count K keeps K entries per scope group. Ties break by tensor name, then index. \
        Several Fisher files (tasks, data folds) need --union or --intersect.
        """)

    @Argument(help: "Fisher file(s) written by `ckpt fisher`.")
    var fisher: [String]

    @Option(help: "Percentage of entries to keep.")
    var keep: Double?

    @Option(help: "Number of entries to keep (per scope group).")
    var count: Int?

    @Option(name: [.short, .customLong("output")], help: "Mask file to write (safetensors, U8).")
    var output: String

    @Option(help: "global, tensor or layer.")
    var scope: MaskScope = .global

    @Flag(help: "Keep an entry any file's mask keeps.")
    var union = false

    @Flag(help: "Keep an entry only if every file's mask keeps it.")
    var intersect = false

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    func validate() throws {
        // The library checks the file count, the kept share and the combination; an empty file
        // list is reported first, as a missing argument.
        guard fisher.isEmpty || (keep == nil) != (count == nil) else { throw ValidationError("Give exactly one of --keep P and --count K") }
        try FlagAdvice.validating { try options.validate(fileCount: fisher.count) }
        if union && intersect { throw ValidationError("--union and --intersect exclude each other") }
    }

    /// The mask options the flags describe (valid once `validate()` passed).
    private var options: MaskOptions {
        MaskOptions(selection: keep.map { .percent($0) } ?? .count(count ?? 0), scope: scope,
                    combination: fisher.count <= 1 ? .single : (union ? .union : (intersect ? .intersect : .single)))
    }

    func run() throws {
        try runReportingFailures { try runMask() }
    }

    private func runMask() throws {
        let fishers = try fisher.map { try FisherFile.read(path: $0) }
        let mask = try FisherMask.select(fishers, sources: fisher, options: options)
        try mask.write(to: output)
        if json {
            try printJSON(MaskReport(mask, output: output))
            return
        }
        let kept = mask.keptCount, total = mask.totalCount
        print("wrote \(output): kept \(kept) of \(total) entries (\(String(format: "%.2f", 100 * Double(kept) / Double(max(total, 1))))%), scope \(scope.rawValue)"
              + (fisher.count > 1 ? ", \(options.combination.rawValue) of \(fisher.count) files" : ""))
        table("component", mask.perComponent, kept: kept)
        table("layer", mask.perLayer, kept: kept)
    }

    private func table(_ title: String, _ rows: [MaskCount], kept: Int) {
        let width = max(title.count, rows.map(\.name.count).max() ?? 0)
        print("")
        print(title.padding(toLength: width, withPad: " ", startingAt: 0) + "      kept     total   kept%  share")
        for r in rows {
            print(r.name.padding(toLength: width, withPad: " ", startingAt: 0)
                  + String(format: "  %8d  %8d  %5.1f%%  %5.1f%%", r.kept, r.total, r.keptPercent, 100 * Double(r.kept) / Double(max(kept, 1))))
        }
    }
}
