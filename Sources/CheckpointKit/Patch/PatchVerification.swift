/// What `ckpt verify` found: whether the patch applies to the base, and whether the result
/// reproduces the fine-tune on every tensor the patch holds.
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
    /// Whether the result equals the fine-tune on every tensor the patch holds (nil without --finetuned).
    public var reproduces: Bool?
    /// Touched tensors where the result and the fine-tune differ.
    public var differences: [Difference]
    /// Tensors where the fine-tune differs from the base but the patch holds nothing (the selection
    /// left them out): information, not a failure.
    public var notInPatch: [String]

    /// Verification passed: it applies, the results match, and (with a fine-tune) it reproduces it.
    public var ok: Bool { applies && resultMismatches.isEmpty && (reproduces ?? true) }

    enum CodingKeys: String, CodingKey {
        case patch, base, finetuned, applies, problems, reproduces, differences, ok
        case tensorsChecked = "tensors_checked"
        case resultMismatches = "result_mismatches"
        case notInPatch = "not_in_patch"
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
    }
}
