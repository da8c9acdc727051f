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
        let target = finetuned.map { FinetunedSide(patch: patch, base: base, finetuned: $0) }
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

/// The fine-tune a patch should reproduce, and where it keeps each touched tensor.
private struct FinetunedSide {
    let patch: PatchFile
    let base: any Checkpoint
    let finetuned: any Checkpoint
    let alignment: CheckpointAlignment
    var pairOfBase: [String: TensorPair] = [:]
    var finetunedByName: [String: TensorInfo] = [:]
    /// Holds a fine-tuned tensor rearranged into the base's element order.
    let transposed = ScratchBuffer()

    init(patch: PatchFile, base: any Checkpoint, finetuned: any Checkpoint) {
        self.patch = patch
        self.base = base
        self.finetuned = finetuned
        var renames: [String: String] = [:]
        for tensor in patch.tensors where tensor.storage != .new { renames[tensor.record.finetunedName] = tensor.name }
        alignment = CheckpointAlignment(base: base, finetuned: finetuned, renames: renames)
        for pair in alignment.pairs { pairOfBase[pair.base.name] = pair }
        for tensor in finetuned.tensors { finetunedByName[tensor.name] = tensor }
    }

    /// How the patched `result` of `tensor` differs from the fine-tune, or nil if it equals it.
    func difference(of tensor: PatchFile.Tensor, result: UnsafeRawBufferPointer) throws -> PatchVerification.Difference? {
        if tensor.storage == .new {
            guard let info = finetunedByName[tensor.name] else {
                return .init(tensor: tensor.name, reason: "the fine-tune has no tensor of this name")
            }
            if info.dtype != tensor.values.dtype || info.shape != tensor.values.shape {
                return .init(tensor: tensor.name, reason: "the fine-tune has \(info.dtype.rawValue) \(info.shape), the patch \(tensor.values.dtype.rawValue) \(tensor.values.shape)")
            }
            let same = try finetuned.withBytes(of: info) { PatchBytes.equal($0, result) }
            return same ? nil : .init(tensor: tensor.name, reason: "values differ")
        }
        guard let pair = pairOfBase[tensor.name] else {
            return .init(tensor: tensor.name, reason: "the fine-tune has no tensor for it (looked for '\(tensor.record.finetunedName)')")
        }
        let resultDType = tensor.storage == .dense ? tensor.values.dtype : (base.tensor(named: tensor.name)?.dtype ?? tensor.values.dtype)
        if pair.finetuned.dtype != resultDType {
            return .init(tensor: tensor.name, reason: "the result is \(resultDType.rawValue), the fine-tune's '\(pair.finetuned.name)' is \(pair.finetuned.dtype.rawValue)")
        }
        let same = try finetuned.withBytes(of: pair.finetuned) { f -> Bool in
            if pair.isDirect { return PatchBytes.equal(f, result) }
            let out = transposed.bytes(f.count)
            guard pair.copyFinetunedInBaseOrder(f, into: out) else { return false }
            return PatchBytes.equal(UnsafeRawBufferPointer(out), result)
        }
        return same ? nil : .init(tensor: tensor.name, reason: "the result differs from the fine-tune's '\(pair.finetuned.name)'")
    }

    /// Tensors the fine-tune changed that the patch does not carry (information only).
    func changesNotInPatch() throws -> [String] {
        let touched = Set(patch.tensors.map(\.name))
        var names: [String] = []
        for pair in alignment.pairs where !touched.contains(pair.base.name) && pair.isDirect && pair.problem == nil {
            let differs = try base.withBytes(of: pair.base) { b in
                try finetuned.withBytes(of: pair.finetuned) { f in pair.base.dtype != pair.finetuned.dtype || !PatchBytes.equal(b, f) }
            }
            if differs { names.append(pair.base.name) }
        }
        return names
    }
}
