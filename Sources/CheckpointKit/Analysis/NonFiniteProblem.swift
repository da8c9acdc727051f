/// A tensor that holds NaN or infinite values on one side of a diff: the first thing the reports
/// say, because such a checkpoint is broken whatever its other numbers show (a fine-tune that
/// diverged, a bad conversion). The diff's numbers leave these entries out
/// (``DifferenceSums/nonFinite``); this says where they are.
public struct NonFiniteProblem: Sendable, Encodable {
    /// Which checkpoint holds the values.
    public enum Side: String, Sendable, Encodable {
        case base
        case finetuned

        /// The word the reports use.
        public var label: String { self == .base ? "base" : "fine-tune" }
    }

    public var side: Side
    /// The canonical parameter name (as the diff's `tensors` list it).
    public var tensor: String
    /// The name as stored in that side's checkpoint.
    public var storedName: String
    public var nan: Int
    public var inf: Int

    enum CodingKeys: String, CodingKey {
        case side, tensor, nan, inf
        case storedName = "stored_name"
    }

    /// Every side of every compared pair that holds NaN or infinity, base first, in the diff's order.
    public static func list(_ diff: CheckpointDiff) -> [NonFiniteProblem] {
        var base: [NonFiniteProblem] = []
        var finetuned: [NonFiniteProblem] = []
        for t in diff.tensors {
            guard let s = t.sums else { continue }
            if s.baseNaN + s.baseInfinite > 0 {
                base.append(NonFiniteProblem(side: .base, tensor: t.name, storedName: t.baseName, nan: s.baseNaN, inf: s.baseInfinite))
            }
            if s.finetunedNaN + s.finetunedInfinite > 0 {
                finetuned.append(NonFiniteProblem(side: .finetuned, tensor: t.name, storedName: t.finetunedName,
                                                  nan: s.finetunedNaN, inf: s.finetunedInfinite))
            }
        }
        return base + finetuned
    }

    /// One warning line for the reports, nil when neither side holds a non-finite value:
    /// "fine-tune holds 1 NaN in 1 tensor: encoder.layer.3.output.LayerNorm.weight; base holds none".
    /// The fine-tune comes first (it is usually the broken one); at most `names` tensors are named.
    public static func warningLine(_ problems: [NonFiniteProblem], names: Int = 3) -> String? {
        guard !problems.isEmpty else { return nil }
        return [Side.finetuned, .base].map { side in
            sentence(side, problems.filter { $0.side == side }, names: names)
        }.joined(separator: "; ")
    }

    /// "fine-tune holds 2 NaN and 1 Inf in 2 tensors: a, b" or "base holds none".
    static func sentence(_ side: Side, _ problems: [NonFiniteProblem], names: Int) -> String {
        guard !problems.isEmpty else { return "\(side.label) holds none" }
        let nan = problems.map(\.nan).reduce(0, +), inf = problems.map(\.inf).reduce(0, +)
        let values = [nan > 0 ? "\(nan) NaN" : nil, inf > 0 ? "\(inf) Inf" : nil].compactMap { $0 }.joined(separator: " and ")
        var list = problems.prefix(names).map(\.tensor).joined(separator: ", ")
        if problems.count > names { list += " and \(problems.count - names) more" }
        return "\(side.label) holds \(values) in \(problems.count) tensor\(problems.count == 1 ? "" : "s"): \(list)"
    }
}
