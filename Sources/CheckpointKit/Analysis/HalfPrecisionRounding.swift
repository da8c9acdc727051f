/// A fine-tune trained or stored in BF16 or F16 and saved as F32, compared with an F32 base.
///
/// Every value of such a fine-tune's tensor is a BF16 (or F16) value, and every tensor training
/// left alone is the base rounded to that dtype as PyTorch rounds it
/// (`base.to(torch.bfloat16).float()`, `base.half().float()`), not the base. Compared with the
/// base as stored, each of those tensors differs in nearly every element, and a LayerNorm-only
/// fine-tune reads as full fine-tuning. So the diff also compares such tensors with the base
/// rounded to that dtype, and uses that comparison when the rounding explains at least one changed
/// element (an element that differs from the stored base but not from the rounded one).
///
/// A BF16 value is an F32 whose low 16 bits are zero. An F16 value is an F32 within F16's range
/// whose low 13 mantissa bits are zero (more for F16's subnormals). Most BF16 values of a
/// weight's range are F16 values too, and a few F16 values can be BF16 values, so the dtype is
/// chosen once a pair, from a sample of its fine-tuned tensor (``candidate(_:)``): BF16 when the
/// sample holds only BF16 values, else F16 when it holds only F16 values. Every chunk of the pair
/// is then checked for that dtype alone (a chunk of five biases may hold BF16 values by chance).
///
/// A tensor trained in F32 holds such values only by accident (each value with odds of 1 in
/// 65,536 for BF16, 1 in 8,192 for F16), so in practice only tensors of special values hold them
/// without a rounding: a freshly initialised LayerNorm's ones and zeros, against a trained base
/// whose values near 1 round to 1. A fine-tuned tensor of one repeated value is therefore never
/// taken as rounded: a rounded tensor holds at least two different values.
///
/// Checked only for F32 pairs compared without a conversion, and cheap where it does not apply:
/// the first block of fine-tuned values holding one that is neither ends the check of its chunk
/// (a fine-tune trained in F32 is found out by its first elements).
enum HalfPrecisionRounding {
    /// The dtypes a fine-tune may have been rounded through, in the order ``candidate(_:)`` tries them.
    static let dtypes: [DType] = [.bf16, .f16]

    /// What one stretch of a pair's elements (a chunk, or a block of a reordered chunk) found.
    enum Check: Sendable {
        /// A fine-tuned value in the stretch is neither a BF16 nor an F16 value: not rounded.
        case notRounded
        /// The fine-tune's values are all values of `dtype`: the sums (and changed rows) against
        /// the base rounded to it, and whether that rounding changed the base (false when the
        /// base's values are values of `dtype` too, where the rounded base is the base).
        case compared(DifferenceSums, rounded: Bool, values: Values, dtype: DType)
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

        /// The values of `count` little-endian F32 elements when every one is a value of `dtype`
        /// (``HalfPrecisionRounding/isExact(_:in:)``), else nil. One pass in blocks of 1,024
        /// values; the first block holding another value ends it.
        static func of(_ bytes: UnsafeRawBufferPointer, count: Int, in dtype: DType) -> Values? {
            guard count > 0, let start = bytes.baseAddress else { return Values.none }
            let first = start.loadUnaligned(as: UInt32.self)
            var differing: UInt32 = 0
            var index = 0
            while index < count {
                let end = Swift.min(count, index + 1024)
                var exact = true
                if dtype == .bf16 {
                    // One mask test a block: a loop without branches, which vectorizes.
                    var low: UInt32 = 0
                    for i in index..<end {
                        let bits = start.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                        low |= bits
                        differing |= bits ^ first
                    }
                    exact = low & 0xFFFF == 0
                } else {
                    for i in index..<end {
                        let bits = start.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                        exact = exact && isExact(bits, in: dtype)
                        differing |= bits ^ first
                    }
                }
                if !exact { return nil }
                index = end
            }
            return differing != 0 ? .varied : .constant(first)
        }
    }

    /// Whether the pair's chunks are checked: F32 on both sides, compared without a conversion.
    static func applies(_ pair: TensorPair, conversion: DType?) -> Bool {
        conversion == nil && pair.base.dtype == .f32 && pair.finetuned.dtype == .f32
    }

    /// Whether the F32 value with these bits is a value of `dtype` (BF16 or F16), which a
    /// rounding to it and back leaves as it is. NaN counts when its payload fits.
    @inline(__always)
    static func isExact(_ bits: UInt32, in dtype: DType) -> Bool {
        if dtype == .bf16 { return bits & 0xFFFF == 0 }
        let exponent = Int((bits >> 23) & 0xFF), mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF { return mantissa & 0x1FFF == 0 }  // infinity, NaN
        if exponent == 0 { return mantissa == 0 }  // zero (F32 subnormals are far below F16's)
        let unbiased = exponent - 127
        if unbiased > 15 || unbiased < -24 { return false }
        // Normal F16 values keep 10 mantissa bits; subnormal ones (2^-24 ... 2^-15) fewer.
        let dropped = unbiased >= -14 ? 13 : 13 + (-14 - unbiased)
        return mantissa & ((1 << UInt32(dropped)) - 1) == 0
    }

    /// Checks `count` F32 elements of each side.
    /// - Parameters:
    ///   - stored: the stretch's sums against the base as stored (changed rows included), when the
    ///     caller has them apart; else they are computed if needed (both sides exact values).
    ///   - rows: for an embedding table, its whole tensors and the chunk's elements, to count the
    ///     rows that differ from the rounded base (``EmbeddingRows``).
    ///   - dtype: the pair's ``candidate(_:)``.
    static func check(base: UnsafeRawBufferPointer, finetuned: UnsafeRawBufferPointer, count: Int, through dtype: DType,
                      scratch: DifferenceScratch, stored: DifferenceSums?, rows: EmbeddingRows.Chunk?) -> Check {
        guard let values = Values.of(finetuned, count: count, in: dtype) else { return .notRounded }
        if isExact(base, count: count, in: dtype) {
            // The rounded base is the base.
            var sums = stored ?? DifferenceKernel.accumulate(base: base, .f32, finetuned: finetuned, .f32, count: count, scratch: scratch)
            if stored == nil { sums.changedRows = rows?.changed(changedInChunk: sums.changed) ?? 0 }
            return .compared(sums, rounded: false, values: values, dtype: dtype)
        }
        let rounded = scratch.conversionBuffer(byteCount: count * 4)
        round(base, count: count, through: dtype, into: rounded)
        var sums = DifferenceKernel.accumulate(base: UnsafeRawBufferPointer(rounded), .f32, finetuned: finetuned, .f32,
                                               count: count, scratch: scratch)
        if let rows {
            sums.changedRows = rows.changed(changedInChunk: sums.changed) { row, length, into in
                round(UnsafeRawBufferPointer(start: row, count: length * 4), count: length, through: dtype, into: into)
            }
        }
        return .compared(sums, rounded: true, values: values, dtype: dtype)
    }

    /// Elements at the start of a fine-tuned tensor that ``candidate(_:)`` reads (16 KB).
    static let sampleElements = 4096

    /// The dtype a pair's chunks are checked for, from the whole fine-tuned F32 tensor's bytes: BF16
    /// when its first ``sampleElements`` values are all BF16 values, else F16 when they are all F16
    /// values, else nil (a fine-tune trained in F32: its first values decide). Only the tensor's
    /// first pages are read: a sample spread over the whole tensor, read again by every chunk of
    /// it, kept pages of the mapping that the chunks had already let go (226 against 130 MB
    /// peak for a BERT-large fine-tune rounded through BF16).
    static func candidate(_ finetuned: UnsafeRawBufferPointer) -> DType? {
        let count = Swift.min(finetuned.count / 4, sampleElements)
        guard count > 0 else { return nil }
        return dtypes.first { Values.of(finetuned, count: count, in: $0) != nil }
    }

    /// Whether every one of `count` little-endian F32 values is a value of `dtype` (``Values/of(_:count:in:)``).
    static func isExact(_ bytes: UnsafeRawBufferPointer, count: Int, in dtype: DType) -> Bool {
        Values.of(bytes, count: count, in: dtype) != nil
    }

    /// Writes `count` F32 values of `source` rounded to `dtype` (BF16 or F16) as PyTorch rounds
    /// them and widened back to F32 (exact), ``DTypeConversion`` block by block.
    static func round(_ source: UnsafeRawBufferPointer, count: Int, through dtype: DType, into target: UnsafeMutableRawBufferPointer) {
        let block = DTypeConversion.block
        withUnsafeTemporaryAllocation(byteCount: block * 2, alignment: 16) { half in
            var start = 0
            while start < count {
                let n = Swift.min(block, count - start)
                let from = UnsafeRawBufferPointer(rebasing: source[(start * 4)..<((start + n) * 4)])
                let to = UnsafeMutableRawBufferPointer(rebasing: target[(start * 4)..<((start + n) * 4)])
                // F32 -> BF16/F16 -> F32 is never refused (no F64 source, no FP8 target).
                try! DTypeConversion.convert(from, from: .f32, to: dtype, count: n, into: half, path: "", tensor: "")
                try! DTypeConversion.convert(UnsafeRawBufferPointer(half), from: dtype, to: .f32, count: n, into: to, path: "", tensor: "")
                start += n
            }
        }
    }

    /// Checks merged in element order, over a chunk and then over a pair's chunks: the sums
    /// against the rounded base when the whole fine-tuned tensor holds values of one dtype, at
    /// least two different ones, and some of the base does not, else nil.
    struct Merge: Sendable {
        private var notRounded = false
        private var rounded = false
        private var values = Values.none
        private var dtype: DType?
        private var sums = DifferenceSums()

        mutating func add(_ check: Check) {
            switch check {
            case .notRounded: notRounded = true
            case let .compared(stretch, rounded: wasRounded, values: stretchValues, dtype: stretchDType):
                add(rounded: wasRounded, values: stretchValues, dtype: stretchDType, sums: stretch)
            }
        }

        /// Adds a later chunk's merge; nil (a chunk not checked) rules the rounding out.
        mutating func merge(_ other: Merge?) {
            guard let other else {
                notRounded = true
                return
            }
            notRounded = notRounded || other.notRounded
            if let otherDType = other.dtype {
                add(rounded: other.rounded, values: other.values, dtype: otherDType, sums: other.sums)
            }
        }

        /// A stretch of values of `newDType`: stretches of two dtypes rule the rounding out.
        private mutating func add(rounded wasRounded: Bool, values newValues: Values, dtype newDType: DType, sums stretch: DifferenceSums) {
            if let dtype, dtype != newDType { notRounded = true }
            dtype = newDType
            rounded = rounded || wasRounded
            values = values.merged(newValues)
            sums.merge(stretch)
        }

        /// The sums against the rounded base and the dtype rounded through, or nil.
        var result: (sums: DifferenceSums, dtype: DType)? {
            guard !notRounded, rounded, values == .varied, let dtype else { return nil }
            return (sums, dtype)
        }
    }

    /// Switches the candidate pairs (pair index -> sums against the rounded base, and its dtype)
    /// to the rounded comparison when the rounding explains at least one changed element; the sums
    /// against the stored base become the raw sums. Returns whether it did.
    ///
    /// An element equal to the stored base is an exact value on both sides, so equal to the
    /// rounded base too: the rounded comparison's changed elements are a subset of the stored one's.
    @discardableResult
    static func apply(_ candidates: [Int: (sums: DifferenceSums, dtype: DType)], to differences: inout [TensorDifference]) -> Bool {
        let explained = candidates.contains { pair, rounded in
            rounded.sums.changed < (differences[pair].sums?.changed ?? 0)
        }
        guard explained else { return false }
        for (pair, rounded) in candidates {
            differences[pair].rawSums = differences[pair].sums
            differences[pair].sums = rounded.sums
            differences[pair].conversion = rounded.dtype
        }
        return true
    }
}
