/// The additive bias a PEFT `BEFT` adapter stores for one `nn.Linear` (`beft_bias`, shape
/// `[1, out_features]`): peft adds it to the base layer's output (forward) or to the base bias
/// (`merge`), in F32. The delta is the fine-tune's bias minus the base's, rounded to F32 (what
/// `ft.bias - base.bias` gives in torch). An additive float delta is not bit-exact in general: where
/// the fine-tune's value is far smaller than the base's (a bias trained to near 0) the sum's F32
/// spacing is the base's, so `base + delta` misses the fine-tune's value by up to about one ULP of
/// the larger of the two, which is many ULP of the small value. (Trying the delta's F32 neighbours
/// made no element of all-MiniLM-L6-v2's BitFit fine-tune exact that the plain difference missed.)
/// The distance is reported in ULP of the fine-tune's value and as an absolute value.
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

    /// The deltas and the largest distance, in F32 ULP and absolute, between `base[i] + delta[i]` and
    /// `finetuned[i]` (0 ULP: the merged bias is the fine-tune's bit for bit, up to the sign of a
    /// zero). Both arrays hold finite values and have the same count.
    static func deltas(base: [Float], finetuned: [Float]) -> (deltas: [Float], accuracy: Accuracy) {
        var deltas = [Float](repeating: 0, count: base.count)
        var accuracy = Accuracy()
        for i in base.indices {
            let delta = finetuned[i] - base[i], merged = base[i] + delta
            deltas[i] = delta
            accuracy.maxULP = max(accuracy.maxULP, ulpDistance(merged, finetuned[i]))
            accuracy.maxAbsoluteError = max(accuracy.maxAbsoluteError, abs(Double(merged) - Double(finetuned[i])))
        }
        return (deltas, accuracy)
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
