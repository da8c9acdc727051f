import CKernels
import Glibc

/// The hot loop of `ckpt diff`: one pass over the raw bytes of a base tensor and its fine-tuned
/// counterpart (already in the same element order) that produces every sum ``DifferenceSums``
/// holds.
///
/// Pairs of F32, F16 and BF16 (same or mixed) are read straight from the (unaligned, little-endian)
/// file bytes 8 lanes at a time by a C kernel chosen at run time (AVX2/FMA/F16C or portable, same
/// results) and reduced in `Float` SIMD registers. Each lane sums at most
/// ``flushInterval`` / 8 terms before the partial sums are added into `Double`, which keeps the
/// relative error of a tensor's sums near `Float` rounding of single products (about 1e-7) rather
/// than growing with the tensor's size. The products base x fine-tuned (for the cosine) are summed
/// in `Double` lanes directly: their sum can cancel (nearly orthogonal tensors), and cancellation
/// would magnify any `Float` rounding. Other floating-point types (the FP8 family) are first
/// decoded into `Float` blocks; F64, integers and booleans go through an exact `Double` loop.
///
/// A ``blockSize``-element block whose `Float` sums come out non-finite (a NaN or infinity in the
/// data, or values so large their squares overflow `Float`) is recomputed in `Double`, which also
/// counts the NaN and infinite elements on each side and leaves pairs holding one out of the sums
/// (``DifferenceSums/nonFinite``). Finite data never pays for that check.
///
/// The SIMD loads read elements in host byte order: the kernel assumes a little-endian host, as
/// the file formats do (x86-64 and ARM64 both are).
public enum DifferenceKernel {
    /// Elements per block: the unit of decoding, of the non-finite check, and of scratch buffers.
    public static let blockSize = 4096
    /// Elements after which the `Float` lane sums are added into `Double` (a constant of the C kernel).
    static let flushInterval = 256

    /// Accumulates `count` elements of `base` (stored as `baseType`) against `finetuned` (stored as
    /// `finetunedType`), both row-major in the same element order.
    ///
    /// Both types must be ``DType/isDecodable`` and both buffers must hold `count` elements.
    public static func accumulate(base: UnsafeRawBufferPointer, _ baseType: DType,
                                  finetuned: UnsafeRawBufferPointer, _ finetunedType: DType,
                                  count: Int, scratch: DifferenceScratch) -> DifferenceSums {
        var sums = DifferenceSums()
        accumulate(base: base, baseType, finetuned: finetuned, finetunedType, count: count, scratch: scratch, into: &sums)
        return sums
    }

    /// Adds `count` elements to running `sums`, one ``blockSize`` block at a time: a tensor fed in
    /// pieces whose bounds are multiples of ``blockSize`` gets the same sums, bit for bit, as the
    /// whole tensor in one call.
    static func accumulate(base: UnsafeRawBufferPointer, _ baseType: DType, finetuned: UnsafeRawBufferPointer, _ finetunedType: DType,
                           count: Int, scratch: DifferenceScratch, into sums: inout DifferenceSums) {
        precondition(baseType.isDecodable && finetunedType.isDecodable)
        precondition(base.count * 8 >= count * baseType.bitWidth && finetuned.count * 8 >= count * finetunedType.bitWidth)
        guard count > 0, let b = base.baseAddress, let f = finetuned.baseAddress else { return }
        let baseWidth = baseType.bitWidth / 8
        let finetunedWidth = finetunedType.bitWidth / 8
        let path = Path(baseType, finetunedType)
        var start = 0
        while start < count {
            let n = Swift.min(blockSize, count - start)
            let rawBase = UnsafeRawBufferPointer(start: b + start * baseWidth, count: n * baseWidth)
            let rawFinetuned = UnsafeRawBufferPointer(start: f + start * finetunedWidth, count: n * finetunedWidth)
            var block: DifferenceSums
            switch path {
            case let .lanes(baseLanes, finetunedLanes):
                block = lanes(rawBase.baseAddress!, baseLanes, rawFinetuned.baseAddress!, finetunedLanes, count: n)
            case .widened:
                let baseFloats = UnsafeMutableBufferPointer(rebasing: scratch.baseFloats[0..<n])
                let finetunedFloats = UnsafeMutableBufferPointer(rebasing: scratch.finetunedFloats[0..<n])
                TensorDecoder.decode(rawBase, as: baseType, into: baseFloats)
                TensorDecoder.decode(rawFinetuned, as: finetunedType, into: finetunedFloats)
                block = lanes(UnsafeRawPointer(baseFloats.baseAddress!), .f32,
                              UnsafeRawPointer(finetunedFloats.baseAddress!), .f32, count: n)
                if baseType == finetunedType {
                    block.changed = countDifferingElements(rawBase, rawFinetuned, width: baseWidth, count: n)
                }
            case .exact:
                block = exact(rawBase, baseType, rawFinetuned, finetunedType, count: n, scratch: scratch)
            }
            if !block.isFinite, path != .exact {
                block = exact(rawBase, baseType, rawFinetuned, finetunedType, count: n, scratch: scratch)
            }
            sums.merge(block)
            start += n
        }
    }

    /// How a pair of dtypes is processed.
    enum Path: Equatable {
        /// Read both sides from the file bytes through SIMD loaders.
        case lanes(LaneType, LaneType)
        /// Decode both sides to `Float` blocks first (FP8 formats and other mixes).
        case widened
        /// Decode both sides to `Double` (F64, integers, booleans).
        case exact

        init(_ base: DType, _ finetuned: DType) {
            if let b = LaneType(base), let f = LaneType(finetuned) {
                self = .lanes(b, f)
            } else if base.isFloatingPoint, finetuned.isFloatingPoint, base != .f64, finetuned != .f64 {
                self = .widened
            } else {
                self = .exact
            }
        }
    }

    /// The dtypes with a SIMD loader.
    enum LaneType: Equatable {
        case f32, f16, bf16

        init?(_ dtype: DType) {
            switch dtype {
            case .f32: self = .f32
            case .f16: self = .f16
            case .bf16: self = .bf16
            default: return nil
            }
        }

        var cType: ckpt_lane_type {
            switch self {
            case .f32: CKPT_LANE_F32
            case .f16: CKPT_LANE_F16
            case .bf16: CKPT_LANE_BF16
            }
        }
    }

    /// The SIMD loop over at most a block of elements, in C (`CKernels`) so that one binary carries
    /// an AVX2/FMA/F16C copy and a portable one and uses the first where the CPU has it. Both copies
    /// return the same bits: 8 `Float` lanes per step, fused multiply-adds, elements that do not
    /// fill 8 lanes added in `Double` one by one.
    ///
    /// `changed` compares the stored bit patterns when both sides have the same type, and the
    /// widened `Float` values' bit patterns otherwise.
    static func lanes(_ b: UnsafeRawPointer, _ baseType: LaneType, _ f: UnsafeRawPointer, _ finetunedType: LaneType, count: Int) -> DifferenceSums {
        var c = ckpt_difference_sums()
        ckpt_difference_sums_best(b, baseType.cType, f, finetunedType.cType, Int64(count), &c)
        return DifferenceSums(c)
    }

    /// The reference loop: both sides decoded to `Double`, every sum and count kept exactly as
    /// ``DifferenceSums/add(base:finetuned:)`` defines it.
    static func exact(_ base: UnsafeRawBufferPointer, _ baseType: DType, _ finetuned: UnsafeRawBufferPointer, _ finetunedType: DType,
                      count: Int, scratch: DifferenceScratch) -> DifferenceSums {
        let baseValues = UnsafeMutableBufferPointer(rebasing: scratch.baseDoubles[0..<count])
        let finetunedValues = UnsafeMutableBufferPointer(rebasing: scratch.finetunedDoubles[0..<count])
        TensorDecoder.decode(base, as: baseType, into: baseValues)
        TensorDecoder.decode(finetuned, as: finetunedType, into: finetunedValues)
        var sums = DifferenceSums()
        for i in 0..<count {
            sums.add(base: baseValues[i], finetuned: finetunedValues[i])
        }
        if baseType == finetunedType {
            sums.changed = countDifferingElements(base, finetuned, width: baseType.bitWidth / 8, count: count)
        } else {
            var changed = 0
            for i in 0..<count where baseValues[i].bitPattern != finetunedValues[i].bitPattern { changed += 1 }
            sums.changed = changed
        }
        return sums
    }

    /// Number of elements of `width` bytes whose bytes differ.
    static func countDifferingElements(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, width: Int, count: Int) -> Int {
        guard count > 0, let p = a.baseAddress, let q = b.baseAddress else { return 0 }
        func differing<T: FixedWidthInteger>(_: T.Type) -> Int {
            var n = 0
            for i in 0..<count {
                let offset = i * MemoryLayout<T>.size
                if p.loadUnaligned(fromByteOffset: offset, as: T.self) != q.loadUnaligned(fromByteOffset: offset, as: T.self) { n += 1 }
            }
            return n
        }
        switch width {
        case 1: return differing(UInt8.self)
        case 2: return differing(UInt16.self)
        case 4: return differing(UInt32.self)
        case 8: return differing(UInt64.self)
        default:
            var n = 0
            for i in 0..<count where memcmp(p + i * width, q + i * width, width) != 0 { n += 1 }
            return n
        }
    }
}

extension DifferenceSums {
    /// The same sums as the C kernel returned them.
    init(_ c: ckpt_difference_sums) {
        self.init()
        (count, changed, nanDeltas) = (Int(c.count), Int(c.changed), Int(c.nan_deltas))
        (baseSquares, finetunedSquares, deltaSquares) = (c.base_squares, c.finetuned_squares, c.delta_squares)
        (absoluteDelta, product, maxAbsoluteDelta) = (c.absolute_delta, c.product, c.max_absolute_delta)
        (baseNaN, baseInfinite) = (Int(c.base_nan), Int(c.base_infinite))
        (finetunedNaN, finetunedInfinite) = (Int(c.finetuned_nan), Int(c.finetuned_infinite))
        nonFinite = Int(c.non_finite)
    }
}
