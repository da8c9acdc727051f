import Foundation

/// Checks a patch against a base and, optionally, the fine-tune it should reproduce: `ckpt verify`.
///
/// With a fine-tune, every tensor of it is checked, never only those the patch holds: a patch that
/// leaves out a changed or resized tensor (a selection without the new embedding rows) does not
/// reproduce the fine-tune, and the answer names that tensor.
public enum PatchVerifier {
    public static func verify(patch: PatchFile, base: any Checkpoint, finetuned: (any Checkpoint)? = nil) throws -> PatchVerification {
        let applier = PatchApplier(base: base, patch: patch)
        let compatibility = try applier.compatibility()
        var report = PatchVerification(patch: patch.path, base: base.path, finetuned: finetuned?.path,
                                       applies: compatibility.isApplicable && compatibility.baseMatches,
                                       problems: compatibility.messages, tensorsChecked: 0, resultMismatches: [],
                                       reproduces: nil, differences: [], notInPatch: [])
        report.finetunedTensors = finetuned?.tensors.count
        report.checkedInPatch = finetuned == nil ? nil : 0
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
                guard let target else { return }
                report.checkedInPatch = (report.checkedInPatch ?? 0) + 1
                if let difference = try target.difference(of: tensor, result: result) { differences.append(difference) }
            }
        }
        if let target {
            for name in unusable {
                differences.append(.init(tensor: name, reason: "cannot be applied to this base"))
            }
            let untouched = try target.checkUntouched()
            report.checkedAgainstBase = untouched.checked
            differences += untouched.differences
            report.differences = differences
            report.reproduces = differences.isEmpty && report.resultMismatches.isEmpty && unusable.isEmpty
            report.notInPatch = untouched.changed
            report.comparedOnSharedRows = untouched.sharedRowsOnly
        }
        return report
    }
}
