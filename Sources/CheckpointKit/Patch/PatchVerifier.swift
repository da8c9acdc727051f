import Foundation

/// Checks a patch against a base and, optionally, the fine-tune it should reproduce: `ckpt verify`.
public enum PatchVerifier {
    public static func verify(patch: PatchFile, base: any Checkpoint, finetuned: (any Checkpoint)? = nil) throws -> PatchVerification {
        let applier = PatchApplier(base: base, patch: patch)
        let compatibility = try applier.compatibility()
        var report = PatchVerification(patch: patch.path, base: base.path, finetuned: finetuned?.path,
                                       applies: compatibility.isApplicable && compatibility.baseMatches,
                                       problems: compatibility.messages, tensorsChecked: 0, resultMismatches: [],
                                       reproduces: nil, differences: [], notInPatch: [])
        let unusable = Set(compatibility.missing + compatibility.incompatible.map(\.tensor))
        let baseDiffers = Set(compatibility.differing.map(\.tensor))
        let target = finetuned.map { FinetunedSide(patch: patch, base: base, finetuned: $0, baseNames: applier.baseNames) }
        let scratch = ScratchBuffer()
        var differences: [PatchVerification.Difference] = []
        for tensor in patch.tensors where !unusable.contains(tensor.name) {
            if tensor.storage == .new, compatibility.conflicts.contains(tensor.name) { continue }
            try applier.withResult(of: tensor, scratch: scratch) { result in
                report.tensorsChecked += 1
                if !baseDiffers.contains(tensor.name), PatchFormat.hash(result) != tensor.record.resultHash {
                    report.resultMismatches.append(tensor.name)
                }
                if let difference = try target?.difference(of: tensor, result: result) { differences.append(difference) }
            }
        }
        if let target {
            for name in unusable {
                differences.append(.init(tensor: name, reason: "cannot be applied to this base"))
            }
            report.differences = differences
            report.reproduces = differences.isEmpty && report.resultMismatches.isEmpty && unusable.isEmpty
            report.notInPatch = try target.changesNotInPatch()
        }
        return report
    }
}
