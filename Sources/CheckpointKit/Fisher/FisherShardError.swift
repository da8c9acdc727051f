/// What can be wrong with a split Fisher run or with the parts given to a merge. Each case renders as
/// one line naming the file(s); nothing is written when one is thrown.
public enum FisherShardError: Error, CustomStringConvertible, Equatable, CategorizedError {
    /// A shard specification that is not `K/N` with `0 <= K < N`.
    case invalidShard(String, reason: String)
    /// A file that is not a readable Fisher shard file.
    case invalidPart(path: String, reason: String)
    /// No part was given to merge.
    case noParts
    /// Two parts of different runs: `what` (model, kind, data file, ...) differs.
    case partsDiffer(what: String, path: String, value: String, otherPath: String, otherValue: String)
    /// The same shard given twice.
    case duplicateShard(FisherShard, path: String, otherPath: String)
    /// Shards missing from the set (at most a few are listed).
    case missingShards([Int], count: Int)
    /// The merge's output is one of its inputs.
    case outputIsInput(path: String)

    public var category: FailureCategory {
        switch self {
        case .partsDiffer: return .mismatch
        default: return .badInput
        }
    }

    public var description: String {
        switch self {
        case let .invalidShard(text, reason):
            return "invalid shard '\(text)': \(reason)"
        case let .invalidPart(path, reason):
            return "\(path): not a Fisher shard file: \(reason)"
        case .noParts:
            return "no Fisher shard file given"
        case let .partsDiffer(what, path, value, otherPath, otherValue):
            return "\(otherPath): part of another run: its \(what) is \(otherValue), \(path)'s is \(value)"
        case let .duplicateShard(shard, path, otherPath):
            return "\(otherPath): shard \(shard) is also given as \(path)"
        case let .missingShards(missing, count):
            let listed = missing.prefix(8).map { "\($0)/\(count)" }.joined(separator: ", ")
            return "missing shard\(missing.count == 1 ? "" : "s") \(listed)\(missing.count > 8 ? " and \(missing.count - 8) more" : "") of \(count)"
        case let .outputIsInput(path):
            return "\(path): the output is one of the shard files to merge"
        }
    }
}
