/// A fine-tune trained or stored in BF16 and saved as F32, compared with an F32 base.
///
/// Every value of such a fine-tune's tensor is a BF16 value (the low 16 bits of each F32 are zero),
/// and every tensor training left alone is the base rounded to BF16 as PyTorch rounds it
/// (`base.to(torch.bfloat16).float()`), not the base. Compared with the base as stored, each of
/// those tensors differs in nearly every element, and a LayerNorm-only fine-tune reads as full
/// fine-tuning. So the diff also compares such tensors with the base rounded to BF16, and uses
/// that comparison when the rounding explains at least one changed element (an element that
/// differs from the stored base but not from the rounded one).
///
/// A tensor trained in F32 holds BF16 values only by accident (each value with odds of 1 in
/// 65,536), so in practice only tensors of special values hold BF16 values without a rounding to
/// BF16: a freshly initialised LayerNorm's ones and zeros, against a trained base whose values
/// near 1 round to 1. A fine-tuned tensor of one repeated value is therefore never taken as
/// rounded: a rounded tensor holds at least two different values.
///
/// Checked only for F32 pairs compared without a conversion, and cheap where it does not apply:
/// the first fine-tuned value that is not a BF16 value ends the check of its chunk (a fine-tune
/// trained in F32 is found out by its first element).
enum BF16Rounding {
    /// What one stretch of a pair's elements (a chunk, or a block of a reordered chunk) found.
    enum Check: Sendable {
        /// A fine-tuned value in the stretch is not a BF16 value: the pair was not rounded.
        case notBF16
        /// The fine-tune's values are all BF16 values: the sums (and changed rows) against the base
        /// rounded to BF16, and whether that rounding changed the base (false when the base's
        /// values are BF16 values too, where the rounded base is the base).
        case compared(DifferenceSums, rounded: Bool, values: Values)
    }

    /// The fine-tuned values of a stretch or a tensor: none, one value repeated (its bits), or
    /// at least two different values.
    enum Values: Sendable, Equatable {
        case none
        case constant(UInt32)
        case varied

        /// The values of this stretch followed by `other`'s.
        func merged(_ other: Values) -> Values {
            switch (self, other) {
            case (.none, _): return other
            case (_, .none): return self
            case let (.constant(a), .constant(b)) where a == b: return self
            default: return .varied
            }
        }

        /// The values of `count` little-endian F32 elements when every one is a BF16 value (zero
        /// low 16 bits), else nil. One pass in blocks of 1,024 values; the first block holding a
        /// value that is not a BF16 value ends it.
        static func ofBF16(_ bytes: UnsafeRawBufferPointer, count: Int) -> Values? {
            guard count > 0, let start = bytes.baseAddress else { return Values.none }
            let first = start.loadUnaligned(as: UInt32.self)
            var differing: UInt32 = 0
            var index = 0
            while index < count {
                let end = Swift.min(count, index + 1024)
                var low: UInt32 = 0
                for i in index..<end {
                    let bits = start.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                    low |= bits
                    differing |= bits ^ first
                }
                if low & 0xFFFF != 0 { return nil }
                index = end
            }
            return differing != 0 ? .varied : .constant(first)
        }
    }

    /// Whether the pair's chunks are checked: F32 on both sides, compared without a conversion.
    static func applies(_ pair: TensorPair, conversion: DType?) -> Bool {
        conversion == nil && pair.base.dtype == .f32 && pair.finetuned.dtype == .f32
    }

    /// Checks `count` F32 elements of each side.
    /// - Parameters:
    ///   - stored: the stretch's sums against the base as stored (changed rows included), when the
    ///     caller has them apart; else they are computed if needed (both sides BF16 values).
    ///   - rows: for an embedding table, its whole tensors and the chunk's elements, to count the
    ///     rows that differ from the rounded base (``EmbeddingRows``).
    static func check(base: UnsafeRawBufferPointer, finetuned: UnsafeRawBufferPointer, count: Int,
                      scratch: DifferenceScratch, stored: DifferenceSums?, rows: EmbeddingRows.Chunk?) -> Check {
        guard let values = Values.ofBF16(finetuned, count: count) else { return .notBF16 }
        if isBF16(base, count: count) {
            // The rounded base is the base.
            var sums = stored ?? DifferenceKernel.accumulate(base: base, .f32, finetuned: finetuned, .f32, count: count, scratch: scratch)
            if stored == nil { sums.changedRows = rows?.changed(changedInChunk: sums.changed) ?? 0 }
            return .compared(sums, rounded: false, values: values)
        }
        let rounded = scratch.conversionBuffer(byteCount: count * 4)
        round(base, count: count, into: rounded)
        var sums = DifferenceKernel.accumulate(base: UnsafeRawBufferPointer(rounded), .f32, finetuned: finetuned, .f32,
                                               count: count, scratch: scratch)
        if let rows {
            sums.changedRows = rows.changed(changedInChunk: sums.changed) { row, length, into in
                round(UnsafeRawBufferPointer(start: row, count: length * 4), count: length, into: into)
            }
        }
        return .compared(sums, rounded: true, values: values)
    }

    /// Whether every one of `count` little-endian F32 values has zero low 16 bits. Reads in blocks
    /// of 1,024 values and stops at the first block with a value that is not a BF16 value.
    static func isBF16(_ bytes: UnsafeRawBufferPointer, count: Int) -> Bool {
        guard count > 0, let start = bytes.baseAddress else { return true }
        var index = 0
        while index < count {
            let end = Swift.min(count, index + 1024)
            var low: UInt32 = 0
            for i in index..<end { low |= start.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self) }
            if low & 0xFFFF != 0 { return false }
            index = end
        }
        return true
    }

    /// Writes `count` F32 values of `source` rounded to BF16 as PyTorch rounds them and widened
    /// back to F32 (exact), ``DTypeConversion`` block by block.
    static func round(_ source: UnsafeRawBufferPointer, count: Int, into target: UnsafeMutableRawBufferPointer) {
        let block = DTypeConversion.block
        withUnsafeTemporaryAllocation(byteCount: block * 2, alignment: 16) { half in
            var start = 0
            while start < count {
                let n = Swift.min(block, count - start)
                let from = UnsafeRawBufferPointer(rebasing: source[(start * 4)..<((start + n) * 4)])
                let to = UnsafeMutableRawBufferPointer(rebasing: target[(start * 4)..<((start + n) * 4)])
                // F32 -> BF16 -> F32 is never refused (no F64 source, no FP8 target).
                try! DTypeConversion.convert(from, from: .f32, to: .bf16, count: n, into: half, path: "", tensor: "")
                try! DTypeConversion.convert(UnsafeRawBufferPointer(half), from: .bf16, to: .f32, count: n, into: to, path: "", tensor: "")
                start += n
            }
        }
    }

    /// Checks merged in element order, over a chunk and then over a pair's chunks: the sums
    /// against the rounded base when the whole fine-tuned tensor holds BF16 values, at least two
    /// different ones, and some of the base does not, else nil.
    struct Merge: Sendable {
        private var notBF16 = false
        private var rounded = false
        private var values = Values.none
        private var sums = DifferenceSums()

        mutating func add(_ check: Check) {
            switch check {
            case .notBF16: notBF16 = true
            case let .compared(stretch, rounded: wasRounded, values: stretchValues):
                rounded = rounded || wasRounded
                values = values.merged(stretchValues)
                sums.merge(stretch)
            }
        }

        /// Adds a later chunk's merge; nil (a chunk not checked) rules the rounding out.
        mutating func merge(_ other: Merge?) {
            guard let other else {
                notBF16 = true
                return
            }
            notBF16 = notBF16 || other.notBF16
            rounded = rounded || other.rounded
            values = values.merged(other.values)
            sums.merge(other.sums)
        }

        var result: DifferenceSums? { !notBF16 && rounded && values == .varied ? sums : nil }
    }

    /// Switches the candidate pairs (pair index -> sums against the rounded base) to the rounded
    /// comparison when the rounding explains at least one changed element; the sums against the
    /// stored base become the raw sums. Returns whether it did.
    ///
    /// An element equal to the stored base is a BF16 value on both sides, so equal to the rounded
    /// base too: the rounded comparison's changed elements are a subset of the stored one's.
    @discardableResult
    static func apply(_ candidates: [Int: DifferenceSums], to differences: inout [TensorDifference]) -> Bool {
        let explained = candidates.contains { pair, rounded in
            rounded.changed < (differences[pair].sums?.changed ?? 0)
        }
        guard explained else { return false }
        for (pair, rounded) in candidates {
            differences[pair].rawSums = differences[pair].sums
            differences[pair].sums = rounded
            differences[pair].conversion = .bf16
        }
        return true
    }
}
