/// The additive bias a PEFT `BEFT` adapter stores for one `nn.Linear` (`beft_bias`, shape
/// `[1, out_features]`): peft adds it to the base layer's output (forward) or to the base bias
/// (`merge`), in F32. An additive float delta is not bit-exact in general, so each element's delta
/// is chosen so that `base + delta`, rounded to F32 as peft computes it, lands on the fine-tune's
/// value where some F32 delta does, and as near as one gets otherwise; the remaining distance is
/// reported in units in the last place (ULP) of F32 and as an absolute value. The ULP count is
/// large where the fine-tune's value is far smaller than the base's (a bias trained to near 0): the
/// sum's F32 spacing is then the base's, so the absolute error stays at about one ULP of the base.
public enum PEFTBiasDelta {
    /// How far merged biases (base + delta) are from the fine-tune's.
    public struct Accuracy: Sendable, Equatable {
        /// The largest distance in F32 ULP of the fine-tune's value.
        public var maxULP = 0
        /// The largest |base + delta - fine-tune|.
        public var maxAbsoluteError: Double = 0

        mutating func merge(_ other: Accuracy) {
            maxULP = max(maxULP, other.maxULP)
            maxAbsoluteError = max(maxAbsoluteError, other.maxAbsoluteError)
        }
    }

    /// Neighbours of the plain difference tried on each side before settling for the nearest.
    static let searchSteps = 8

    /// The deltas and the largest distance, in F32 ULP and absolute, between `base[i] + delta[i]` and
    /// `finetuned[i]` (0: the merged bias is the fine-tune's bit for bit, up to the sign of a zero).
    /// Both arrays hold finite values and have the same count.
    static func deltas(base: [Float], finetuned: [Float]) -> (deltas: [Float], accuracy: Accuracy) {
        var deltas = [Float](repeating: 0, count: base.count)
        var accuracy = Accuracy()
        for i in base.indices {
            let (delta, distance) = bestDelta(base: base[i], target: finetuned[i])
            deltas[i] = delta
            accuracy.maxULP = max(accuracy.maxULP, distance)
            accuracy.maxAbsoluteError = max(accuracy.maxAbsoluteError, abs(Double(base[i] + delta) - Double(finetuned[i])))
        }
        return (deltas, accuracy)
    }

    /// The delta nearest to `target - base` whose F32 sum with `base` is closest to `target`.
    static func bestDelta(base: Float, target: Float) -> (Float, Int) {
        let plain = target - base
        var best = (plain, ulpDistance(base + plain, target))
        var up = plain, down = plain
        for _ in 0..<searchSteps where best.1 > 0 {
            up = up.nextUp
            down = down.nextDown
            for candidate in [up, down] where candidate.isFinite {
                let distance = ulpDistance(base + candidate, target)
                if distance < best.1 { best = (candidate, distance) }
            }
        }
        return best
    }

    /// How many F32 values lie between `a` and `b` (+0 and -0 count as one value).
    static func ulpDistance(_ a: Float, _ b: Float) -> Int {
        abs(ordinal(a) - ordinal(b))
    }

    /// A float's position on the number line of F32 values, with both zeros at 0.
    static func ordinal(_ x: Float) -> Int {
        let magnitude = Int(x.bitPattern & 0x7fff_ffff)
        return x.sign == .minus ? -magnitude : magnitude
    }
}
