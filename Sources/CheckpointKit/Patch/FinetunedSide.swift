import Foundation

/// The fine-tune a patch should reproduce, and where it keeps each touched tensor.
struct FinetunedSide {
    let patch: PatchFile
    let base: any Checkpoint
    let finetuned: any Checkpoint
    let alignment: CheckpointAlignment
    var pairOfBase: [String: TensorPair] = [:]
    var finetunedByName: [String: TensorInfo] = [:]
    /// Tensors only the fine-tune has, by the name a patch gives them (wrappers stripped).
    var newByBaseStyleName: [String: TensorInfo] = [:]
    /// Holds a fine-tuned tensor rearranged into the base's element order.
    let transposed = ScratchBuffer()

    /// Patch tensor name -> base name where they differ (``PatchApplier/baseName(of:)``).
    let baseNames: [String: String]

    init(patch: PatchFile, base: any Checkpoint, finetuned: any Checkpoint, baseNames: [String: String] = [:]) {
        self.patch = patch
        self.baseNames = baseNames
        self.base = base
        self.finetuned = finetuned
        var renames: [String: String] = [:]
        for tensor in patch.tensors where tensor.storage != .new { renames[tensor.record.finetunedName] = tensor.name }
        alignment = CheckpointAlignment(base: base, finetuned: finetuned, renames: renames)
        for pair in alignment.pairs { pairOfBase[pair.base.name] = pair }
        for tensor in finetuned.tensors { finetunedByName[tensor.name] = tensor }
        for tensor in alignment.onlyInFinetuned { newByBaseStyleName[alignment.baseStyleName(ofNew: tensor)] = tensor }
    }

    /// How the patched `result` of `tensor` differs from the fine-tune, or nil if it equals it.
    func difference(of tensor: PatchFile.Tensor, result: UnsafeRawBufferPointer) throws -> PatchVerification.Difference? {
        if tensor.storage == .new {
            guard let info = finetunedByName[tensor.name] ?? newByBaseStyleName[tensor.name] else {
                return .init(tensor: tensor.name, reason: "the fine-tune has no tensor of this name")
            }
            if info.dtype != tensor.values.dtype || info.shape != tensor.values.shape {
                return .init(tensor: tensor.name, reason: "the fine-tune has \(info.dtype.rawValue) \(info.shape), the patch \(tensor.values.dtype.rawValue) \(tensor.values.shape)")
            }
            let same = try finetuned.withBytes(of: info) { PatchBytes.equal($0, result) }
            return same ? nil : .init(tensor: tensor.name, reason: "values differ")
        }
        guard let pair = pairOfBase[baseNames[tensor.name] ?? tensor.name] else {
            return .init(tensor: tensor.name, reason: "the fine-tune has no tensor for it (looked for '\(tensor.record.finetunedName)')")
        }
        let resultDType = tensor.storage == .dense ? tensor.values.dtype : (tensor.record.conversion ?? pair.base.dtype)
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

    /// Every tensor of the fine-tune the patch does not hold, checked against the result: one that
    /// pairs with an untouched base tensor must equal it (``untouchedDifference(_:)``); one the base
    /// lacks must be a new tensor of the patch. Returns how many were compared with the base, the
    /// differences, the names of untouched tensors the fine-tune changed (`not_in_patch`), and the
    /// equal tensors compared only over the rows both sides have (`compared_on_shared_rows`).
    func checkUntouched() throws -> (checked: Int, differences: [PatchVerification.Difference], changed: [String], sharedRowsOnly: [PatchVerification.Difference]) {
        let touched = Set(patch.tensors.filter { $0.storage != .new }.map { baseNames[$0.name] ?? $0.name })
        let added = Set(patch.tensors.filter { $0.storage == .new }.map(\.name))
        var checked = 0
        var differences: [PatchVerification.Difference] = []
        var changed: [String] = []
        var sharedRowsOnly: [PatchVerification.Difference] = []
        for pair in alignment.pairs where !touched.contains(pair.base.name) {
            checked += 1
            guard let difference = try untouchedDifference(pair) else {
                if let change = pair.shapeChange, change.isOffset {
                    sharedRowsOnly.append(.init(tensor: pair.base.name, reason: change.summary))
                }
                continue
            }
            differences.append(difference)
            if pair.problem == nil && pair.shapeChange == nil && pair.base.dtype == pair.finetuned.dtype { changed.append(pair.base.name) }
        }
        for tensor in alignment.onlyInFinetuned where !added.contains(tensor.name) && !added.contains(alignment.baseStyleName(ofNew: tensor)) {
            differences.append(.init(tensor: tensor.name, reason: "the fine-tune has it (\(tensor.dtype.rawValue) \(tensor.shape)); the patch does not add it"))
        }
        return (checked, differences, changed, sharedRowsOnly)
    }

    /// How the fine-tune's tensor of an untouched `pair` differs from the base's, which the result
    /// keeps as it is (shape, dtype, bytes in the base's element order), or nil if it is the same.
    /// The one place that says what "the patch leaves this tensor as the base has it" requires.
    func untouchedDifference(_ pair: TensorPair) throws -> PatchVerification.Difference? {
        let name = pair.base.name
        if let change = pair.shapeChange, change.isOffset, pair.problem == nil {
            return try offsetDifference(pair, change)
        }
        if pair.problem != nil || pair.shapeChange != nil {
            let what = pair.shapeChange.map { $0 == .replacedHead ? "a replaced head" : $0.summary } ?? "another shape"
            return .init(tensor: name, reason: "the result keeps the base's shape \(pair.base.shape) but the fine-tune's '\(pair.finetuned.name)' has \(pair.finetuned.shape) (\(what)); the patch does not hold it")
        }
        if pair.base.dtype != pair.finetuned.dtype {
            return .init(tensor: name, reason: "the result keeps the base's \(pair.base.dtype.rawValue) but the fine-tune's '\(pair.finetuned.name)' is \(pair.finetuned.dtype.rawValue); the patch does not hold it")
        }
        let same = try base.withBytes(of: pair.base) { b in
            try finetuned.withBytes(of: pair.finetuned) { f -> Bool in
                if pair.isDirect { return PatchBytes.equal(b, f) }
                let out = transposed.bytes(f.count)
                guard pair.copyFinetunedInBaseOrder(f, into: out) else { return false }
                return PatchBytes.equal(b, UnsafeRawBufferPointer(out))
            }
        }
        return same ? nil : .init(tensor: name, reason: "the fine-tune's '\(pair.finetuned.name)' differs from the base, and the patch does not hold it (the selection left it out)")
    }

    /// An untouched KerasHub RoBERTa position table against Hugging Face's (``PositionPaddingRows``):
    /// the same when the rows both have (Hugging Face's from row 2) hold the same bytes; Hugging
    /// Face's padding rows have no KerasHub counterpart.
    func offsetDifference(_ pair: TensorPair, _ change: ShapeChange) throws -> PatchVerification.Difference? {
        guard pair.base.dtype == pair.finetuned.dtype, pair.isDirect, let width = pair.base.dtype.byteWidth else {
            return .init(tensor: pair.base.name, reason: "the fine-tune's '\(pair.finetuned.name)' is \(pair.finetuned.dtype.rawValue) \(pair.finetuned.shape) (\(change.summary)); the patch does not hold it")
        }
        let first = change.firstElements, bytes = change.sharedElements * width
        let same = try base.withBytes(of: pair.base) { b in
            try finetuned.withBytes(of: pair.finetuned) { f in
                PatchBytes.equal(UnsafeRawBufferPointer(rebasing: b[(first.base * width)..<(first.base * width + bytes)]),
                                 UnsafeRawBufferPointer(rebasing: f[(first.finetuned * width)..<(first.finetuned * width + bytes)]))
            }
        }
        return same ? nil : .init(tensor: pair.base.name, reason: "the fine-tune's '\(pair.finetuned.name)' differs from the base in the rows both have (\(change.summary)), and the patch does not hold it")
    }
}
