/// Adds the shard files of one split Fisher run (`ckpt fisher --shard K/N`) into the Fisher one run
/// over all the examples writes, bit for bit: the sums are exact, so their order does not matter,
/// and the metadata is the one-run metadata every shard carries.
///
/// Parts of different runs are refused, naming what differs: the model, the data file, the
/// tokenized examples, the kind, parameter set, token limit, head and seed, the number of
/// examples or of shards, the tensors; so are a shard given twice and missing shards.
public enum FisherMerge {
    /// Metadata compared between parts, with the words an error uses for each.
    static let compared: [(key: String, what: String)] = [
        (FisherShardResult.Key.model, "model (config.json and weights, SHA-256)"),
        (FisherShardResult.Key.data, "data file (SHA-256)"),
        ("samples", "number of examples"), ("kind", "kind"), ("params", "parameter set"),
        ("max_length", "token limit"), ("num_labels", "number of labels"), ("head", "head"),
        ("seed", "fresh-head seed"), ("likelihood", "likelihood"), ("reproducible", "reproducible mode"),
        (FisherShardResult.Key.inputs, "tokenized examples (tokenizer, columns or label names; SHA-256)"),
    ]

    /// Merges `parts` (read with ``FisherShardFile/read(path:)``; `paths` name them in errors).
    public static func merge(_ parts: [FisherShardResult], paths: [String]) throws(FisherShardError) -> FisherResult {
        guard let first = parts.first else { throw .noParts }
        try checkSameRun(parts, paths: paths)
        try checkComplete(parts, paths: paths)
        var sums = first.sums
        for part in parts.dropFirst() { sums.add(part.sums) }
        sums.normalize()
        let total = parts.reduce(0) { $0 + $1.shardSamples }
        let tensors = FisherExactSums.tensors(sums, names: first.names, counts: first.counts, examples: max(total, 1))
        return FisherResult(tensors: tensors, metadata: first.metadata)
    }

    private static func checkSameRun(_ parts: [FisherShardResult], paths: [String]) throws(FisherShardError) {
        let first = parts[0]
        for (part, path) in zip(parts, paths).dropFirst() {
            func differ(_ what: String, _ a: String, _ b: String) -> FisherShardError {
                .partsDiffer(what: what, path: paths[0], value: a, otherPath: path, otherValue: b)
            }
            if part.shard.count != first.shard.count {
                throw differ("number of shards", "\(first.shard.count) (shard \(first.shard))", "\(part.shard.count) (shard \(part.shard))")
            }
            for (key, what) in compared {
                let a = first.metadata[key] ?? first.fingerprints[key], b = part.metadata[key] ?? part.fingerprints[key]
                if a != b { throw differ(what, a ?? "absent", b ?? "absent") }
            }
            if part.names != first.names || part.counts != first.counts {
                let a = zip(first.names, first.counts).map { "\($0) [\($1)]" }, b = zip(part.names, part.counts).map { "\($0) [\($1)]" }
                let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
                throw differ("tensor \(i)", i < a.count ? a[i] : "absent", i < b.count ? b[i] : "absent")
            }
        }
    }

    private static func checkComplete(_ parts: [FisherShardResult], paths: [String]) throws(FisherShardError) {
        let n = parts[0].shard.count
        var seen: [Int: String] = [:]
        for (part, path) in zip(parts, paths) {
            if let other = seen[part.shard.index] { throw .duplicateShard(part.shard, path: other, otherPath: path) }
            seen[part.shard.index] = path
        }
        let missing = (0..<n).filter { seen[$0] == nil }
        if !missing.isEmpty { throw .missingShards(missing, count: n) }
    }
}
