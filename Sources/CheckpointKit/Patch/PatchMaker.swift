import Crypto

/// Makes a task patch from a base and a fine-tune: `ckpt patch`.
public struct PatchMaker {
    public let base: any Checkpoint
    public let finetuned: any Checkpoint
    public let selection: PatchSelection
    public let alignment: CheckpointAlignment
    let evaluator: SelectionEvaluator

    /// - Parameter renames: explicit fine-tuned name -> base name pairs (`--map`).
    public init(base: any Checkpoint, finetuned: any Checkpoint, selection: PatchSelection,
                renames: [String: String] = [:]) throws {
        self.base = base
        self.finetuned = finetuned
        self.selection = selection
        alignment = CheckpointAlignment(base: base, finetuned: finetuned, renames: renames)
        evaluator = try SelectionEvaluator(selection: selection, alignment: alignment, base: base.tensors)
    }

    /// Gives `body` the base tensor's bytes and the fine-tuned tensor's bytes in the base's element
    /// order (TF kernels transposed).
    func withAlignedBytes<R>(_ pair: TensorPair, scratch: ScratchBuffer,
                             _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R {
        try base.withBytes(of: pair.base) { b in
            try finetuned.withBytes(of: pair.finetuned) { f in
                if pair.isDirect { return try body(b, f) }
                let out = scratch.bytes(f.count)
                guard pair.copyFinetunedInBaseOrder(f, into: out) else {
                    throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                                  reason: "transposed layout of packed dtype \(pair.finetuned.dtype.rawValue) is not supported")
                }
                return try body(b, UnsafeRawBufferPointer(out))
            }
        }
    }

    /// Like ``withAlignedBytes(_:scratch:_:)``, but a base whose dtype differs from the fine-tune's
    /// (and that ``DTypeConversion`` converts) is handed over converted to the fine-tune's dtype,
    /// with the pair as it is then compared (the base's dtype replaced).
    func withComparableBytes<R>(_ pair: TensorPair, scratch: PlanScratch,
                                _ body: (TensorPair, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R {
        try withAlignedBytes(pair, scratch: scratch.aligned) { b, f in
            guard let target = PatchMaker.conversion(of: pair) else { return try body(pair, b, f) }
            let n = pair.base.elementCount
            let converted = scratch.converted.bytes(n * target.bitWidth / 8)
            try DTypeConversion.convert(b, from: pair.base.dtype, to: target, count: n, into: converted, path: base.path, tensor: pair.base.name)
            return try body(PatchMaker.compared(pair), UnsafeRawBufferPointer(converted), f)
        }
    }

    /// The dtype the base of `pair` is converted to, or nil (``DTypeConversion/target(from:to:)``).
    static func conversion(of pair: TensorPair) -> DType? {
        DTypeConversion.target(from: pair.base.dtype, to: pair.finetuned.dtype)
    }

    /// `pair` as it is compared: with a conversion, the base side in the fine-tune's dtype.
    static func compared(_ pair: TensorPair) -> TensorPair {
        guard let target = conversion(of: pair) else { return pair }
        var out = pair
        out.base.dtype = target
        out.base.byteCount = pair.base.elementCount * target.bitWidth / 8
        return out
    }

    /// Pass 1: scans every pair, decides what is stored and how, and computes every fingerprint.
    public func plan() throws -> PatchPlan {
        var planning = Planning(baseTensors: base.tensors.count)
        let scratch = PlanScratch()
        for pair in alignment.pairs {
            let choice = try evaluator.choice(for: pair)
            if let problem = pair.problem {
                if choice != .none {
                    throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name, reason: problem)
                }
                planning.notes.append("\(pair.base.name): not compared (\(problem))")
                continue
            }
            if pair.shapeChange != nil {
                if let tensor = try planShapeChange(pair, choice: choice, scratch: scratch, into: &planning) { planning.planned.append(tensor) }
                continue
            }
            if let tensor = try planPair(pair, choice: choice, scratch: scratch, into: &planning) {
                planning.planned.append(tensor)
            }
        }
        for tensor in alignment.onlyInFinetuned where evaluator.keepsNewTensor(tensor) {
            let hash = try finetuned.withBytes(of: tensor) { bytes in
                planning.dataHash.update(bufferPointer: bytes)
                return PatchFormat.hash(bytes)
            }
            // The patch format names a new tensor once; it takes the base's style (wrappers stripped).
            let name = alignment.baseStyleName(ofNew: tensor)
            planning.planned.append(PlannedTensor(
                record: PatchTensorRecord(name: name, storage: .new, baseHash: nil, resultHash: hash, finetunedName: name),
                source: .new(tensor), dtype: tensor.dtype, shape: tensor.shape, stored: tensor.elementCount,
                changed: tensor.elementCount, indexDType: .i32))
        }
        for tensor in alignment.onlyInBase {
            planning.notes.append("\(tensor.name): only in the base (kept as it is)")
        }
        return try finish(planning)
    }

    /// What pass 1 has gathered so far.
    struct Planning {
        var planned: [PlannedTensor] = []
        var byComponent: [Component: ShareRow] = [:]
        var byKind: [ParameterKind: ShareRow] = [:]
        var shares = PatchShares()
        var notes: [String] = []
        var dataHash = SHA256()
        var counts = PatchCounts()

        init(baseTensors: Int) { counts.baseTensors = baseTensors }

        mutating func account(_ row: ShareRow, role: ParameterRole) {
            byComponent[role.component, default: ShareRow(group: role.component.rawValue)].add(row)
            byKind[role.kind, default: ShareRow(group: role.kind.rawValue)].add(row)
            shares.total.add(row)
        }
    }

    /// The buffers pass 1 reuses from pair to pair.
    final class PlanScratch {
        let aligned = ScratchBuffer(), result = ScratchBuffer(), converted = ScratchBuffer()
        let decode = (ScratchBuffer(), ScratchBuffer())
    }

    /// Scans one comparable pair, adds it to the accounting, and plans its storage (nil when the
    /// patch keeps nothing of it).
    /// A pair whose dtypes differ is compared against the base converted to the fine-tune's dtype
    /// and is always planned: at least as a converted tensor (storage `c`, no entries).
    func planPair(_ pair: TensorPair, choice: ElementChoice, scratch: PlanScratch, into planning: inout Planning) throws -> PlannedTensor? {
        let conversion = PatchMaker.conversion(of: pair)
        let original = pair
        let originalBaseHash = conversion == nil ? nil : try base.withBytes(of: pair.base) { PatchFormat.hash($0) }
        return try withComparableBytes(pair, scratch: scratch) { pair, b, f in
            // A whole-tensor choice needs the indices only while sparse storage can still be smaller.
            let n = pair.base.elementCount
            let indexDType = PatchBytes.indexDType(forCount: n)
            var indexLimit = Int.max
            if choice == .all, let width = pair.base.dtype.byteWidth {
                indexLimit = n * width / (indexDType.bitWidth / 8 + width) + 1
            }
            let scan = try self.scan(pair, choice: choice, base: b, finetuned: f, decodeScratch: scratch.decode,
                                     collectIndices: true, indexLimit: indexLimit)
            planning.account(scan.row, role: pair.role)
            if !scan.measured && scan.row.changedEntries > 0 { planning.shares.unmeasured.append(pair.base.name) }
            let kept = scan.row.keptEntries
            guard scan.wholeTensor || kept > 0 || conversion != nil else { return nil }
            var storage = PatchStorage.dense
            if !scan.wholeTensor, let width = pair.base.dtype.byteWidth,
               kept * (indexDType.bitWidth / 8 + width) < n * width {
                storage = kept == 0 ? .converted : .sparse
                precondition(scan.indices.count == kept)
            }
            var tensor = PlannedTensor(
                record: PatchTensorRecord(name: pair.base.name, storage: storage, baseHash: originalBaseHash ?? PatchFormat.hash(b), resultHash: "",
                                          finetunedName: pair.finetuned.name, conversion: conversion),
                source: .pair(original, choice), dtype: storage == .dense ? pair.finetuned.dtype : pair.base.dtype,
                shape: pair.base.shape, stored: storage == .dense ? n : (storage == .converted ? 0 : kept),
                changed: scan.row.keptEntries, indexDType: indexDType)
            tensor.record.resultHash = try self.materialize(tensor, base: b, finetuned: f, indices: scan.indices, resultScratch: scratch.result) { bytes in
                planning.dataHash.update(bufferPointer: bytes)
            }
            return tensor
        }
    }

    /// Checks entry names, counts and orders the rows, and makes the metadata.
    func finish(_ planning: Planning) throws -> PatchPlan {
        var planning = planning
        // A sparse tensor's entry names must not collide with another touched tensor's.
        var entryNames = Set<String>()
        for tensor in planning.planned {
            for entry in tensor.entries where !entryNames.insert(entry.name).inserted {
                throw PatchError.unsupported(path: finetuned.path, reason: "two patch entries would be called '\(entry.name)' (a tensor name ends in .indices or .values); exclude one of them")
            }
        }
        for tensor in planning.planned {
            switch tensor.record.storage {
            case .dense: planning.counts.dense += 1
            case .sparse: planning.counts.sparse += 1
            case .new: planning.counts.new += 1
            case .resized: planning.counts.resized += 1
            case .converted: break
            }
            planning.counts.entries += tensor.stored
            planning.counts.changed += tensor.changed
        }
        planning.shares.byComponent = planning.byComponent.keys.sorted().map { planning.byComponent[$0]! }
        planning.shares.byKind = planning.byKind.keys.sorted().map { planning.byKind[$0]! }
        let manifest = PatchFormat.manifest(of: base.tensors)
        let metadata = PatchMetadata(selection: selection.description, tensors: planning.planned.map(\.record),
                                     baseFingerprint: manifest.fingerprint, baseManifest: manifest.digests, counts: planning.counts,
                                     dataChecksum: PatchFormat.hex(planning.dataHash.finalize()).prefix(PatchFormat.tensorHashLength).description,
                                     shapes: planning.planned.reduce(into: [:]) { $0[$1.record.name] = $1.resultShape })
        return PatchPlan(tensors: planning.planned, metadata: metadata, shares: planning.shares, notes: planning.notes,
                         dataSize: planning.planned.reduce(0) { $0 + $1.byteCount })
    }
}
