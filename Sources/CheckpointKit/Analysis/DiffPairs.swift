/// The pairs of one diff and the reason each pair was not compared, if any: the identities of
/// all of the diff's ``TensorDifference`` values, stored once.
final class DiffPairs: Sendable {
    let pairs: [TensorPair]
    /// Pair index -> why it was not compared; most pairs have no entry.
    let problems: [Int: String]

    init(pairs: [TensorPair], problems: [Int: String]) {
        self.pairs = pairs
        self.problems = problems
    }
}
