import Foundation

/// The fine-tune a patch should reproduce, and where it keeps each touched tensor.
struct FinetunedSide {
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
        let resultDType = tensor.storage == .dense ? tensor.values.dtype
            : (tensor.record.conversion ?? base.tensor(named: tensor.name)?.dtype ?? tensor.values.dtype)
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
