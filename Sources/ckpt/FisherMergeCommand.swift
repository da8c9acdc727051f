import ArgumentParser
import CheckpointKit
import Foundation

/// `ckpt fisher merge PART... -o FISHER`: adds the shard files of a split run into the Fisher file
/// one run over all the examples writes, bit for bit.
struct FisherMergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge the shard files of `ckpt fisher --shard K/N` into one Fisher file.",
        discussion: """
        Give all N shard files of one run, in any order. The result is byte for byte what one run \
        over all the examples writes. Parts of different runs (model, data file, tokenized examples, \
        kind, parameter set, token limit, head, seed, number of examples or of shards) are refused, \
        naming what differs, as are a shard given twice and missing shards; nothing is written then.
        """)

    @Argument(help: "Shard files written by `ckpt fisher --shard K/N`.")
    var parts: [String]

    @Option(name: [.short, .customLong("output")], help: "Fisher file to write (safetensors).")
    var output: String

    @Flag(help: "Print a JSON summary on stdout.")
    var json = false

    func run() throws {
        try runReportingFailures { try merge() }
    }

    private func merge() throws {
        let start = Date()
        guard !parts.isEmpty else { throw FisherShardError.noParts }
        let target = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
        if let same = parts.first(where: { URL(fileURLWithPath: $0).standardizedFileURL.resolvingSymlinksInPath().path == target }) {
            throw FisherShardError.outputIsInput(path: same)
        }
        let read = try parts.map { try FisherShardFile.read(path: $0) }
        let result = try FisherMerge.merge(read, paths: parts)
        try FisherFile.write(result, to: output)
        let seconds = Date().timeIntervalSince(start)
        if json {
            try printJSON(FisherReport(result, output: output, seconds: seconds, computeSeconds: nil))
            return
        }
        print("wrote \(output): \(result.metadata["kind"] ?? "") Fisher merged from \(parts.count) shard\(parts.count == 1 ? "" : "s"), " +
              "\(result.samples ?? 0) examples, \(result.tensors.count) tensors, \(result.entryCount) entries")
    }
}
