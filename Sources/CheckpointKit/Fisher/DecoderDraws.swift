import Foundation

/// The next tokens of the sampled Fisher: for each example, `D` arrays laid out like its `labels`
/// (entry t is the token drawn for position t - 1 to predict; -100 exactly where the example takes
/// no loss, and at t = 0).
///
/// They come from the model itself (``sample(probabilities:positions:length:generator:)``) or from
/// a file, so that another framework can be given the very same tokens: JSONL, one line per
/// example in the data's order, `{"draws": [[...], [...], ...]}`, the same number of draws on
/// every line.
public enum DecoderDraws {
    /// Reads the draws of the first `examples.count` examples and checks them against the examples
    /// (length, masked positions, token range). Returns one array of draws per example.
    public static func load(path: String, examples: [DecoderExample], vocabSize: Int) throws(FisherError) -> [[[Int32]]] {
        let lines = try DecoderDataset.lines(path: path, limit: examples.count)
        guard lines.count == examples.count else {
            throw .invalidData(path: path, line: (lines.last?.0 ?? 0) + 1, reason: "draws for \(lines.count) examples, the data has \(examples.count)")
        }
        var out: [[[Int32]]] = []
        for ((line, object), example) in zip(lines, examples) {
            guard let list = object["draws"]?.arrayValue, !list.isEmpty else {
                throw .invalidData(path: path, line: line, reason: "'draws' is missing or not a non-empty array")
            }
            if let first = out.first, first.count != list.count {
                throw .invalidData(path: path, line: line, reason: "\(list.count) draws, the first line has \(first.count)")
            }
            var draws: [[Int32]] = []
            for value in list {
                let draw = try DecoderDataset.integers(value, key: "draws", path: path, line: line, allowIgnored: true)
                try check(draw, against: example, vocabSize: vocabSize, path: path, line: line)
                draws.append(draw)
            }
            out.append(draws)
        }
        return out
    }

    static func check(_ draw: [Int32], against example: DecoderExample, vocabSize: Int, path: String, line: Int) throws(FisherError) {
        guard draw.count >= example.inputIds.count else {
            throw .invalidData(path: path, line: line, reason: "a draw has \(draw.count) entries, the example \(example.inputIds.count) tokens")
        }
        let positions = Set(example.labelPositions)
        for t in 0..<example.inputIds.count {
            let drawn = draw[t] != DecoderExample.ignored
            guard drawn == positions.contains(t) else {
                throw .invalidData(path: path, line: line, reason: "draw entry \(t) is \(draw[t]); the example \(drawn ? "takes no loss there (-100 expected)" : "takes a loss there (a token expected)")")
            }
            guard draw[t] < vocabSize else {
                throw .invalidData(path: path, line: line, reason: "draw entry \(t) is \(draw[t]), outside the vocabulary (\(vocabSize) tokens)")
            }
        }
    }

    /// One draw: at each label position t, a token from `probabilities` row t - 1 (`[length, vocab]`,
    /// rows summing to 1) by inverse transform of a uniform number from `generator`.
    static func sample(probabilities: [Double], vocabSize: Int, positions: [Int], length: Int, generator: inout NormalGenerator) -> [Int32] {
        var draw = [Int32](repeating: DecoderExample.ignored, count: length)
        for t in positions {
            let u = Double(generator.nextUInt64() >> 11) / 9_007_199_254_740_992.0
            let row = (t - 1) * vocabSize
            var cumulative = 0.0, token = vocabSize - 1
            for k in 0..<vocabSize {
                cumulative += probabilities[row + k]
                if u < cumulative { token = k; break }
            }
            draw[t] = Int32(token)
        }
        return draw
    }
}
