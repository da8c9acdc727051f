/// One shard's part of a Fisher run: the exact sums of its examples' squared gradients, how many
/// examples it summed, and what identifies the run, so that ``FisherMerge`` can refuse parts of
/// different runs and add the rest into exactly what one run over all the examples gives.
public struct FisherShardResult {
    public var shard: FisherShard
    /// Examples this shard summed.
    public var shardSamples: Int
    /// Parameter names and entry counts, in the order of ``sums``.
    public var names: [String]
    public var counts: [Int]
    /// Exact sums, normalized.
    var sums: FisherExactSums
    /// The `__metadata__` of the Fisher file the whole run writes (`samples` counts every shard's
    /// examples), so that a merge writes the same bytes as one run.
    public var metadata: [String: String]
    /// Fingerprints of what a Fisher depends on beyond the metadata: ``Key/model``, ``Key/data``,
    /// ``Key/inputs``.
    public var fingerprints: [String: String]

    /// Metadata keys of a shard file beyond the one-run metadata.
    public enum Key {
        public static let format = "format"
        public static let formatName = "ckpt-fisher-shard"
        public static let shard = "shard"
        public static let shardSamples = "shard_samples"
        /// SHA-256 of config.json and of every tensor (name, dtype, shape, bytes) of the model.
        public static let model = "model_sha256"
        /// SHA-256 of the data file's bytes.
        public static let data = "data_sha256"
        /// SHA-256 of every example the run uses as the model sees it (token ids, token types,
        /// label): the tokenizer, text columns, label names and token limit all show here.
        public static let inputs = "inputs_sha256"
        static let fingerprints = [model, data, inputs]
    }

    /// The shard's own values: its sums divided by its own example count (what the shard alone
    /// estimates), for summaries.
    public var shardTensors: [FisherTensor] {
        FisherExactSums.tensors(sums, names: names, counts: counts, examples: max(shardSamples, 1))
    }
}
