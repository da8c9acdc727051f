/// What `ckpt verify` found: whether the patch applies to the base, and whether the result
/// reproduces the fine-tune on every tensor of the fine-tune: those the patch holds compared with
/// the patched result, the others with the base tensor the result keeps.
public struct PatchVerification: Sendable, Encodable {
    public struct Difference: Sendable, Encodable, Equatable {
        public var tensor: String
        public var reason: String
    }

    public var patch: String
    public var base: String
    public var finetuned: String?
    /// The patch applies to this base without --force.
    public var applies: Bool
    /// Why it does not apply (empty when it does).
    public var problems: [String]
    /// Touched tensors whose result was computed and checked against the result fingerprint.
    public var tensorsChecked: Int
    /// Tensors whose result does not match the patch's result fingerprint.
    public var resultMismatches: [String]
    /// Whether the result equals the fine-tune on every tensor of the fine-tune (nil without a
    /// fine-tune).
    public var reproduces: Bool?
    /// Tensors where the result and the fine-tune differ (held or not), with the reason.
    public var differences: [Difference]
    /// Tensors the fine-tune changed that the patch leaves as the base has them (the selection left
    /// them out); each is also a difference.
    public var notInPatch: [String]
    /// Tensors of the fine-tune; of them, how many the patch holds (compared with the patched result)
    /// and how many it leaves untouched (compared with the base, by name, shape, dtype and bytes).
    /// Nil without a fine-tune.
    public var finetunedTensors: Int? = nil
    public var checkedInPatch: Int? = nil
    public var checkedAgainstBase: Int? = nil
    /// Tensors found equal only over the rows both sides have, with the rows one side lacks: a
    /// KerasHub RoBERTa position table has no rows for Hugging Face's two padding positions, so
    /// "reproduces" holds for the rows a KerasHub model can hold. Empty for most pairs.
    public var comparedOnSharedRows: [Difference] = []

    /// Verification passed: it applies, the results match, and (with a fine-tune) it reproduces it.
    public var ok: Bool { applies && resultMismatches.isEmpty && (reproduces ?? true) }

    enum CodingKeys: String, CodingKey {
        case patch, base, finetuned, applies, problems, reproduces, differences, ok
        case tensorsChecked = "tensors_checked"
        case resultMismatches = "result_mismatches"
        case notInPatch = "not_in_patch"
        case finetunedTensors = "finetuned_tensors", checkedInPatch = "checked_in_patch"
        case checkedAgainstBase = "checked_against_base"
        case comparedOnSharedRows = "compared_on_shared_rows"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(patch, forKey: .patch)
        try c.encode(base, forKey: .base)
        try c.encode(finetuned, forKey: .finetuned)
        try c.encode(ok, forKey: .ok)
        try c.encode(applies, forKey: .applies)
        try c.encode(problems, forKey: .problems)
        try c.encode(tensorsChecked, forKey: .tensorsChecked)
        try c.encode(resultMismatches, forKey: .resultMismatches)
        try c.encode(reproduces, forKey: .reproduces)
        try c.encode(differences, forKey: .differences)
        try c.encode(notInPatch, forKey: .notInPatch)
        try c.encode(finetunedTensors, forKey: .finetunedTensors)
        try c.encode(checkedInPatch, forKey: .checkedInPatch)
        try c.encode(checkedAgainstBase, forKey: .checkedAgainstBase)
        if !comparedOnSharedRows.isEmpty { try c.encode(comparedOnSharedRows, forKey: .comparedOnSharedRows) }
    }
}
