import Crypto
import Glibc

/// Pairs whose shape changed (``ShapeChange``): a replaced head is kept whole; a resized tensor
/// keeps the selected changes of the rows both sides share plus, under the `resized` term (part of
/// the default selection) or a whole-tensor term, the added rows and the new shape. A resized tensor
/// saved in another dtype (a BF16 fine-tune whose embeddings grew) is compared, like any pair whose
/// dtypes differ, with the base converted to the fine-tune's dtype: the patch records the conversion,
/// and its values and added rows are in that dtype.
extension PatchMaker {
    /// The pair cut down to the rows both sides share: the element prefix the scan of a resized pair
    /// covers (identical on both sides, since the other dimensions are equal).
    static func sharedView(_ pair: TensorPair) -> TensorPair {
        var view = pair
        let rows = pair.shapeChange?.sharedRows ?? 0
        for keyPath in [\TensorPair.base, \TensorPair.finetuned] as [WritableKeyPath<TensorPair, TensorInfo>] {
            view[keyPath: keyPath].shape[0] = rows
            view[keyPath: keyPath].byteCount = view[keyPath: keyPath].elementCount * view[keyPath: keyPath].dtype.bitWidth / 8
        }
        view.shapeChange = nil
        return view
    }

    /// Plans a pair whose shape changed; nil when the selection keeps nothing of it.
    func planShapeChange(_ pair: TensorPair, choice: ElementChoice, scratch: PlanScratch, into planning: inout Planning) throws -> PlannedTensor? {
        guard let change = pair.shapeChange, change != .replacedHead else { return try planReplaced(pair, choice: choice, into: &planning) }
        let keepRows = evaluator.keepsAddedRows(pair, choice: choice)
        guard choice != .none || keepRows else {
            planning.notes.append("\(pair.base.name): \(change.summary), not in the selection (the result keeps the base's \(pair.base.shape))")
            return nil
        }
        // A patch keeps rows by index from row 0 on both sides; an offset pair's rows are not.
        if change.isOffset {
            throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                          reason: "\(change.summary): KerasHub's row 0 is Hugging Face's row \(PositionPaddingRows.offset), which a patch does not carry; exclude this tensor or patch between files of one framework")
        }
        let baseHash = try base.withBytes(of: pair.base) { PatchFormat.hash($0) }
        return try withComparableBytes(pair, scratch: scratch) { compared, b, f in
            let scan = try scanShared(compared, choice: choice, base: b, finetuned: f, decodeScratch: scratch.decode)
            planning.account(scan.row, role: pair.role)
            var tensor = plannedResized(pair, choice: choice, keepRows: keepRows, kept: scan.indices.count, baseHash: baseHash)
            if tensor.record.storage == .dense {
                planning.dataHash.update(bufferPointer: f)
                tensor.record.resultHash = PatchFormat.hash(f)
            } else {
                tensor.record.resultHash = try materializeResized(tensor, base: b, finetuned: f, indices: scan.indices,
                                                                  resultScratch: scratch.result) { planning.dataHash.update(bufferPointer: $0) }
            }
            return tensor
        }
    }

    /// The scan (``scan(_:choice:base:finetuned:decodeScratch:collectIndices:indexLimit:)``) of the
    /// shared rows of a resized pair.
    func scanShared(_ pair: TensorPair, choice: ElementChoice, base b: UnsafeRawBufferPointer, finetuned f: UnsafeRawBufferPointer,
                    decodeScratch: (ScratchBuffer, ScratchBuffer)) throws -> Scan {
        let view = Self.sharedView(pair)
        let bytes = view.base.byteCount
        return try scan(view, choice: choice, base: UnsafeRawBufferPointer(rebasing: b[0..<bytes]),
                        finetuned: UnsafeRawBufferPointer(rebasing: f[0..<bytes]), decodeScratch: decodeScratch, collectIndices: true)
    }

    /// Storage and shapes of a resized tensor: dense (the fine-tune's tensor) when everything is kept
    /// and that is smaller, else `r` (indices and values of the kept entries, then the added rows),
    /// in the fine-tune's dtype. `baseHash` hashes the base tensor as stored.
    func plannedResized(_ stored: TensorPair, choice: ElementChoice, keepRows: Bool, kept: Int, baseHash: String) -> PlannedTensor {
        let pair = PatchMaker.compared(stored)
        let width = pair.base.dtype.byteWidth!
        let shared = pair.shapeChange!.sharedElements
        let indexDType = PatchBytes.indexDType(forCount: shared)
        let resultShape = keepRows ? pair.finetuned.shape : pair.base.shape
        let added = keepRows ? max(0, pair.finetuned.elementCount - shared) : 0
        let sparseBytes = kept * (indexDType.bitWidth / 8 + width) + added * width
        let whole = choice == .all && keepRows && pair.finetuned.byteCount <= sparseBytes
        var rowsShape: [Int]? = nil
        if added > 0 {
            rowsShape = pair.finetuned.shape
            rowsShape![0] = pair.finetuned.shape[0] - pair.shapeChange!.sharedRows
        }
        return PlannedTensor(
            record: PatchTensorRecord(name: pair.base.name, storage: whole ? .dense : .resized, baseHash: baseHash,
                                      resultHash: "", finetunedName: pair.finetuned.name, conversion: PatchMaker.conversion(of: stored)),
            source: whole ? .whole(stored) : .resized(stored, choice, keepRows: keepRows), dtype: pair.base.dtype,
            shape: whole ? pair.finetuned.shape : [kept], stored: whole ? pair.finetuned.elementCount : kept + added,
            changed: kept + added, indexDType: indexDType, resultShape: resultShape, rowsShape: whole ? nil : rowsShape)
    }

    /// A replaced head: the fine-tune's tensor whole, or nothing.
    func planReplaced(_ pair: TensorPair, choice: ElementChoice, into planning: inout Planning) throws -> PlannedTensor? {
        let what = "head replaced (shape \(pair.base.shape) in base vs \(pair.finetuned.shape) in fine-tune)"
        switch choice {
        case .none:
            planning.notes.append("\(pair.base.name): \(what), not in the selection")
            return nil
        case .elements:
            throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                          reason: "\(what): a mask cannot select entries of it (select the whole tensor)")
        case .all:
            let baseHash = try base.withBytes(of: pair.base) { PatchFormat.hash($0) }
            let resultHash = try finetuned.withBytes(of: pair.finetuned) { f in
                planning.dataHash.update(bufferPointer: f)
                return PatchFormat.hash(f)
            }
            let n = pair.finetuned.elementCount
            return PlannedTensor(
                record: PatchTensorRecord(name: pair.base.name, storage: .dense, baseHash: baseHash, resultHash: resultHash,
                                          finetunedName: pair.finetuned.name),
                source: .whole(pair), dtype: pair.finetuned.dtype, shape: pair.finetuned.shape, stored: n, changed: n,
                indexDType: .i32, resultShape: pair.finetuned.shape)
        }
    }

    /// Emits the entries of a resized tensor (indices, values, added rows) and returns the hash of
    /// the result: the base's rows up to the result's row count, the kept entries written over
    /// them, then the added rows. `b` is the base as compared (converted when the patch converts it).
    /// With `hashResult` false (pass 2) only the entries are emitted and "" is returned.
    func materializeResized(_ tensor: PlannedTensor, base b: UnsafeRawBufferPointer, finetuned f: UnsafeRawBufferPointer,
                            indices: [Int], resultScratch: ScratchBuffer, hashResult: Bool = true,
                            emit: (UnsafeRawBufferPointer) throws -> Void) throws -> String {
        guard case let .resized(stored, _, keepRows) = tensor.source else { preconditionFailure("materializeResized is for resized tensors") }
        let pair = PatchMaker.compared(stored)
        let width = pair.base.dtype.byteWidth!
        let sharedBytes = pair.shapeChange!.sharedElements * width
        let indexBytes = PatchBytes.encodeIndices(indices, as: tensor.indexDType)
        let values = PatchBytes.gather(f, indices: indices, width: width)
        try indexBytes.withUnsafeBytes { try emit($0) }
        try values.withUnsafeBytes { try emit($0) }
        let rows = keepRows && f.count > sharedBytes ? UnsafeRawBufferPointer(rebasing: f[sharedBytes...]) : UnsafeRawBufferPointer(start: nil, count: 0)
        if tensor.rowsShape != nil { try emit(rows) }
        guard hashResult else { return "" }
        let resultBytes = (tensor.resultShape ?? pair.base.shape).reduce(width, *)
        let result = resultScratch.bytes(resultBytes)
        let fromBase = min(b.count, resultBytes - rows.count)
        result.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<fromBase]))
        if rows.count > 0 { memcpy(result.baseAddress! + fromBase, rows.baseAddress!, rows.count) }
        indexBytes.withUnsafeBytes { raw in
            values.withUnsafeBytes { v in
                PatchBytes.scatter(values: v, indices: raw, indexDType: tensor.indexDType, count: indices.count, width: width, into: result)
            }
        }
        return PatchFormat.hash(UnsafeRawBufferPointer(result))
    }
}
