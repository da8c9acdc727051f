import Foundation

/// The shared state of one diff pass: the queue of work items, the differences, progress and the
/// first error. Every mutable field is guarded by `lock`.
final class DiffRun: @unchecked Sendable {
    let plan: DiffPlan
    let start: Date
    let progress: (@Sendable (CheckpointDiff.Progress) -> Void)?
    private let lock = NSLock()
    private var next = 0
    /// One difference per pair, in plan order, built before the run; a pair's sums are filled in
    /// as soon as its last item finishes, so no per-item sums outlive their pair (128 bytes and
    /// more an item, 1,000,000 of them for a million-tensor header).
    private(set) var differences: [TensorDifference]
    /// Sums of finished items whose pair still has items running, by item index: a split pair's
    /// sums are merged in element order whatever order its items finish in.
    private var pendingSums: [Int: ItemSums] = [:]
    /// F32 pairs whose fine-tune holds only BF16 (or F16) values and whose base does not -> their
    /// sums against the base rounded to that dtype (``HalfPrecisionRounding``); used only when
    /// they explain a tensor.
    private(set) var roundedSums: [Int: (sums: DifferenceSums, dtype: DType)] = [:]
    private(set) var firstError: Error?
    private var remainingItems: [Int]
    private var tensorsDone = 0
    private var bytesDone = 0

    init(plan: DiffPlan, start: Date, progress: (@Sendable (CheckpointDiff.Progress) -> Void)?) {
        self.plan = plan
        self.start = start
        self.progress = progress
        remainingItems = plan.itemsOfPair.map(\.count)
        tensorsDone = remainingItems.filter { $0 == 0 }.count
        var problems: [Int: String] = [:]
        for (index, verdict) in plan.verdicts.enumerated() {
            if case let .notCompared(problem) = verdict { problems[index] = problem }
            if case let .bytesOnly(problem) = verdict { problems[index] = problem }
        }
        // Every difference reads its names, role and shapes from the one shared pair list.
        let pairs = DiffPairs(pairs: plan.pairs, problems: problems)
        differences = (0..<plan.pairs.count).map { TensorDifference(pairs: pairs, index: $0) }
    }

    /// A finished work item's results, handed to ``finish(_:)`` with the rest of its batch.
    private struct Finished {
        var item: Int
        var sums: ItemSums
        var bytesEqual: Bool?
    }

    /// What comparing one work item's elements gave: the sums (against the converted base for a
    /// converted pair), those against the base as stored for a converted pair, and an F32 pair's
    /// ``HalfPrecisionRounding`` check.
    struct ItemSums {
        var sums = DifferenceSums()
        var raw: DifferenceSums?
        var rounding: HalfPrecisionRounding.Merge?
    }

    /// Most items a worker takes in one go, and the bytes (both sides) after which a batch stops
    /// growing: a checkpoint of 100,000 one-element tensors is 100,000 items, and taking and
    /// finishing them one lock at a time left the two workers waiting on each other.
    static let batchItems = 256
    static let batchBytes = 1 << 20

    /// Takes batches of work items until none is left or a worker failed.
    func work(base: any Checkpoint, finetuned: any Checkpoint) {
        let scratch = DifferenceScratch()
        var finished: [Finished] = []
        finished.reserveCapacity(DiffRun.batchItems)
        // Pairs are read in place: a copied `TensorPair` costs a dozen reference counts.
        plan.pairs.withUnsafeBufferPointer { pairs in
            while let batch = take() {
                finished.removeAll(keepingCapacity: true)
                do {
                    for index in batch {
                        finished.append(try run(index, pairs: pairs, base: base, finetuned: finetuned, scratch: scratch))
                    }
                } catch {
                    fail(error)
                    return
                }
                finish(finished)
            }
        }
    }

    /// Compares one work item.
    private func run(_ index: Int, pairs: UnsafeBufferPointer<TensorPair>, base: any Checkpoint, finetuned: any Checkpoint,
                     scratch: DifferenceScratch) throws -> Finished {
        let item = plan.items[index]
        if case .bytesOnly = plan.verdicts[item.pair] {
            let equal = try compareBytes(pairs[item.pair], base: base, finetuned: finetuned)
            return Finished(item: index, sums: ItemSums(), bytesEqual: equal)
        }
        let sums = try accumulate(pairs[item.pair], conversion: plan.conversions[item.pair], elements: item.elements,
                                  base: base, finetuned: finetuned, scratch: scratch)
        return Finished(item: index, sums: sums, bytesEqual: nil)
    }

    /// The next batch: consecutive items up to ``batchItems`` of them or ``batchBytes`` (at least one).
    private func take() -> Range<Int>? {
        lock.lock()
        defer { lock.unlock() }
        guard firstError == nil, next < plan.items.count else { return nil }
        let first = next
        var bytes = 0
        while next < plan.items.count, next - first < DiffRun.batchItems, next == first || bytes < DiffRun.batchBytes {
            bytes += plan.items[next].bytes
            next += 1
        }
        return first..<next
    }

    private func fail(_ error: Error) {
        lock.lock()
        if firstError == nil { firstError = error }
        lock.unlock()
    }

    /// Records a batch of finished items under one lock, and reports progress once.
    private func finish(_ batch: [Finished]) {
        lock.lock()
        defer { lock.unlock() }
        for done in batch {
            let item = plan.items[done.item]
            bytesDone += item.bytes
            remainingItems[item.pair] -= 1
            if remainingItems[item.pair] == 0 { tensorsDone += 1 }
            if let equal = done.bytesEqual {
                differences[item.pair].bytesEqual = equal
            } else if plan.itemsOfPair[item.pair].count == 1 {
                // The common case, a pair of one item: no detour through the dictionary.
                setSums(ofPair: item.pair, CollectionOfOne(done.sums))
            } else {
                pendingSums[done.item] = done.sums
                if remainingItems[item.pair] == 0 {
                    setSums(ofPair: item.pair, plan.itemsOfPair[item.pair].map { (pendingSums.removeValue(forKey: $0)!) })
                }
            }
        }
        guard let progress else { return }
        progress(CheckpointDiff.Progress(tensorsDone: tensorsDone, tensorCount: plan.pairs.count, bytesDone: bytesDone,
                                         bytesTotal: plan.totalBytes, elapsed: Date().timeIntervalSince(start)))
    }

    /// Merges the sums of a numeric pair's items, given in element order, into its difference.
    /// Called with `lock` held.
    private func setSums<Items: Sequence>(ofPair pair: Int, _ items: Items) where Items.Element == ItemSums {
        var sums = DifferenceSums()
        var raw = DifferenceSums()
        var rounding = HalfPrecisionRounding.Merge()
        for item in items {
            sums.merge(item.sums)
            raw.merge(item.raw ?? DifferenceSums())
            rounding.merge(item.rounding)
        }
        if let rounded = rounding.result { roundedSums[pair] = rounded }
        differences[pair].sums = sums
        if let conversion = plan.conversions[pair] {
            differences[pair].conversion = conversion
            differences[pair].rawSums = raw
        }
    }

    /// Runs the kernel over `elements` of one pair, a reordered side (a transposed TF kernel)
    /// block by block (``ReorderedBlocks``). With a `conversion`, the base is first converted to
    /// that dtype (the fine-tune's) and compared with the fine-tune in one dtype, and the sums
    /// against the base as stored are kept as `raw`. An F32 pair is also checked for a rounding
    /// through BF16 or F16 (``HalfPrecisionRounding``).
    private func accumulate(_ pair: TensorPair, conversion: DType?, elements: Range<Int>, base: any Checkpoint, finetuned: any Checkpoint,
                            scratch: DifferenceScratch) throws -> ItemSums {
        let baseWidth = pair.base.dtype.bitWidth / 8
        let finetunedWidth = pair.finetuned.dtype.bitWidth / 8
        // Each side's compared rows start at its own row (KerasHub RoBERTa's position table vs
        // Hugging Face's); 0 for every other pair.
        let first = pair.shapeChange?.firstElements ?? (base: 0, finetuned: 0)
        let baseElements = elements.lowerBound + first.base..<elements.upperBound + first.base
        let finetunedElements = elements.lowerBound + first.finetuned..<elements.upperBound + first.finetuned
        return try base.withBytes(of: pair.base) { baseBytes in
            try finetuned.withBytes(of: pair.finetuned) { finetunedBytes in
                var sums = DifferenceSums()
                var raw = DifferenceSums()
                // Only an embedding table counts rows, and it is never reordered.
                let rows = EmbeddingRows.counts(pair) ? EmbeddingRows.Chunk(base: baseBytes, finetuned: finetunedBytes, pair: pair, elements: elements) : nil
                let roundedThrough = HalfPrecisionRounding.applies(pair, conversion: conversion) ? HalfPrecisionRounding.candidate(finetunedBytes) : nil
                var rounding = roundedThrough.map { _ in HalfPrecisionRounding.Merge() }
                if ReorderedBlocks.applies(to: pair) {
                    try ReorderedBlocks.forEach(pair, elements: elements, base: baseBytes, finetuned: finetunedBytes, scratch: scratch) { b, f, count in
                        try compare(b, f, count: count, pair, conversion: conversion, basePath: base.path, scratch: scratch, sums: &sums, raw: &raw)
                        // Block sums are not kept apart (they run into the pair's, bit for bit as unblocked).
                        if let roundedThrough {
                            rounding?.add(HalfPrecisionRounding.check(base: b, finetuned: f, count: count, through: roundedThrough,
                                                                      scratch: scratch, stored: nil, rows: nil))
                        }
                    }
                } else {
                    var b = slice(baseBytes, baseElements, width: baseWidth)
                    var f = slice(finetunedBytes, finetunedElements, width: finetunedWidth)
                    if pair.baseLayout != .identity { b = reorder(b, pair.baseLayout, width: baseWidth, scratch: scratch) }
                    if pair.finetunedLayout != .identity { f = reorder(f, pair.finetunedLayout, width: finetunedWidth, scratch: scratch) }
                    try compare(b, f, count: elements.count, pair, conversion: conversion, basePath: base.path, scratch: scratch, sums: &sums, raw: &raw)
                    sums.changedRows = rows?.changed(changedInChunk: sums.changed) ?? 0
                    // A checked pair has no conversion, so `sums` are this chunk's against the stored base.
                    if let roundedThrough {
                        rounding?.add(HalfPrecisionRounding.check(base: b, finetuned: f, count: elements.count, through: roundedThrough,
                                                                  scratch: scratch, stored: sums, rows: rows))
                    }
                }
                if plan.baseIsMapped { MappedPages.release(slice(baseBytes, baseElements, width: baseWidth)) }
                if plan.finetunedIsMapped { MappedPages.release(slice(finetunedBytes, finetunedElements, width: finetunedWidth)) }
                return ItemSums(sums: sums, raw: conversion == nil ? nil : raw, rounding: rounding)
            }
        }
    }

    /// Adds `count` elements of `b` and `f` (same element order) to `sums`; with a `conversion`,
    /// adds them to `raw` as stored and to `sums` with `b` converted to the fine-tune's dtype.
    private func compare(_ b: UnsafeRawBufferPointer, _ f: UnsafeRawBufferPointer, count: Int, _ pair: TensorPair, conversion: DType?,
                         basePath: String, scratch: DifferenceScratch, sums: inout DifferenceSums, raw: inout DifferenceSums) throws {
        guard let conversion else {
            DifferenceKernel.accumulate(base: b, pair.base.dtype, finetuned: f, pair.finetuned.dtype, count: count, scratch: scratch, into: &sums)
            return
        }
        DifferenceKernel.accumulate(base: b, pair.base.dtype, finetuned: f, pair.finetuned.dtype, count: count, scratch: scratch, into: &raw)
        let converted = scratch.conversionBuffer(byteCount: count * conversion.bitWidth / 8)
        try DTypeConversion.convert(b, from: pair.base.dtype, to: conversion, count: count, into: converted, path: basePath, tensor: pair.base.name)
        DifferenceKernel.accumulate(base: UnsafeRawBufferPointer(converted), conversion, finetuned: f, conversion, count: count, scratch: scratch,
                                    into: &sums)
    }

    private func slice(_ bytes: UnsafeRawBufferPointer, _ elements: Range<Int>, width: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[(elements.lowerBound * width)..<(elements.upperBound * width)])
    }

    private func reorder(_ bytes: UnsafeRawBufferPointer, _ layout: ElementLayout, width: Int, scratch: DifferenceScratch) -> UnsafeRawBufferPointer {
        let buffer = scratch.reorderingBuffer(byteCount: bytes.count)
        layout.toPyTorch(bytes, width: width, into: buffer)
        return UnsafeRawBufferPointer(buffer)
    }

    private func compareBytes(_ pair: TensorPair, base: any Checkpoint, finetuned: any Checkpoint) throws -> Bool {
        try base.withBytes(of: pair.base) { b in
            try finetuned.withBytes(of: pair.finetuned) { f in
                b.count == f.count && (b.count == 0 || memcmp(b.baseAddress!, f.baseAddress!, b.count) == 0)
            }
        }
    }
}
