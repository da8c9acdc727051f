/// Shard files (`ckpt fisher --shard K/N`): safetensors with, per parameter, an F64 tensor
/// `[entries, P]` whose row holds the entry's exact sum as P float64 parts (each `limb * 2^k`,
/// zero-padded; a row adds up to the float64 sum, +inf or NaN for a saturated or NaN entry), and
/// `__metadata__` `format` = `ckpt-fisher-shard`, `shard` = `K/N`, `shard_samples`, the
/// fingerprints of ``FisherShardResult/Key`` and the metadata of the Fisher file the whole run writes.
public enum FisherShardFile {
    /// At most one part per limb of ``FisherExactSums``.
    static let maxParts = FisherExactSums.limbCount
    /// Entries a shard file may hold (checked before the exact sums, 528 bytes an entry, are
    /// allocated): ten times BERT-large's LayerNorm and bias entries.
    public static let maxEntries = 4_000_000

    /// Writes `result` atomically.
    public static func write(_ result: FisherShardResult, to path: String) throws {
        var metadata = result.metadata.merging(result.fingerprints) { $1 }
        metadata[FisherShardResult.Key.format] = FisherShardResult.Key.formatName
        metadata[FisherShardResult.Key.shard] = result.shard.description
        metadata[FisherShardResult.Key.shardSamples] = String(result.shardSamples)
        var offset = 0
        let entries = zip(result.names, result.counts).map { name, count in
            defer { offset += count }
            let rows = (offset..<(offset + count)).map { result.sums.parts(of: $0) }
            let width = max(1, rows.map(\.count).max() ?? 1)
            let values = rows.flatMap { $0 + [Double](repeating: 0, count: width - $0.count) }
            return FisherFileWriter.Entry(name: name, shape: [count, width], payload: .f64(values))
        }
        try FisherFileWriter.write(entries, metadata: metadata, to: path)
    }

    /// Reads a shard file, checking its metadata and that every part is a non-negative float64
    /// (+inf and NaN mark saturated and NaN entries).
    public static func read(path: String) throws -> FisherShardResult {
        let file = try CheckpointOpener.openSafetensors(path)
        var metadata = file.metadata
        func take(_ key: String) throws(FisherShardError) -> String {
            guard let value = metadata.removeValue(forKey: key) else { throw .invalidPart(path: path, reason: "no '\(key)' in its metadata") }
            return value
        }
        guard try take(FisherShardResult.Key.format) == FisherShardResult.Key.formatName else {
            throw FisherShardError.invalidPart(path: path, reason: "its metadata 'format' is not \(FisherShardResult.Key.formatName)")
        }
        let shard: FisherShard
        do { shard = try FisherShard(parsing: try take(FisherShardResult.Key.shard)) } catch {
            throw FisherShardError.invalidPart(path: path, reason: "metadata 'shard': \(error)")
        }
        guard let shardSamples = Int(try take(FisherShardResult.Key.shardSamples)), shardSamples >= 0,
              let total = metadata["samples"].flatMap({ Int($0) }), (0...TaskDataset.maxExamples).contains(total),
              shard.exampleCount(of: total) == shardSamples else {
            throw FisherShardError.invalidPart(path: path, reason: "metadata 'shard_samples' does not fit shard \(shard) of 'samples' examples")
        }
        var fingerprints: [String: String] = [:]
        for key in FisherShardResult.Key.fingerprints { fingerprints[key] = try take(key) }
        metadata["format"] = "ckpt-fisher"
        let (names, counts, sums) = try readSums(file, path: path)
        return FisherShardResult(shard: shard, shardSamples: shardSamples, names: names, counts: counts, sums: sums,
                                 metadata: metadata, fingerprints: fingerprints)
    }

    /// The parts of every tensor, added back exactly into one set of sums.
    private static func readSums(_ file: any Checkpoint, path: String) throws -> ([String], [Int], FisherExactSums) {
        let infos = file.tensors
        guard !infos.isEmpty else { throw FisherShardError.invalidPart(path: path, reason: "no tensors") }
        for info in infos {
            guard info.dtype == .f64, info.shape.count == 2, (1...maxParts).contains(info.shape[1]) else {
                throw FisherShardError.invalidPart(path: path, reason: "tensor '\(info.name)' is \(info.dtype.rawValue) \(info.shape); shard sums are F64 [entries, 1...\(maxParts)]")
            }
        }
        let entries = infos.reduce(0) { $0 + $1.shape[0] }
        guard entries <= maxEntries else {
            throw FisherShardError.invalidPart(path: path, reason: "\(entries) entries, over the limit of \(maxEntries)")
        }
        var sums = FisherExactSums(count: entries)
        var offset = 0
        for info in infos {
            let values = try TensorDecoder.doubles(of: info, in: file)
            if let bad = values.first(where: { $0 < 0 || $0 == -.infinity }) {
                throw FisherShardError.invalidPart(path: path, reason: "tensor '\(info.name)' holds \(bad); sums of squares are non-negative")
            }
            let width = info.shape[1]
            for part in 0..<width {
                sums.addRow(offset..<(offset + info.shape[0])) { j in values[(j - offset) * width + part] }
            }
            offset += info.shape[0]
        }
        sums.normalize()
        return (infos.map(\.name), infos.map { $0.shape[0] }, sums)
    }
}
