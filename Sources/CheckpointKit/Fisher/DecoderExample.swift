/// One pre-tokenized sequence of a causal language model's data, with its targets laid out as
/// transformers lays out `labels`: `labels[t]` is the token position `t - 1` should predict (the
/// shift happens in the loss), -100 where no loss is taken (a prompt, padding); `labels[0]` is
/// never used.
public struct DecoderExample: Sendable, Equatable {
    /// The value of `labels` that takes no loss.
    public static let ignored: Int32 = -100

    public var inputIds: [Int32]
    public var labels: [Int32]
    /// 1-based line of the data file.
    public var line: Int

    public init(inputIds: [Int32], labels: [Int32]? = nil, line: Int) {
        self.inputIds = inputIds
        self.labels = labels ?? inputIds
        self.line = line
    }

    /// Positions `t >= 1` whose label takes a loss.
    public var labelPositions: [Int] {
        labels.indices.dropFirst().filter { labels[$0] != Self.ignored }
    }
}
