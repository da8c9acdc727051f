#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The hot loop of `ckpt diff`: one pass over the raw bytes of a base tensor and its fine-tuned
/// counterpart (already in the same element order) that produces every sum ``DifferenceSums``
/// holds.
///
/// Pairs of F32, F16 and BF16 (same or mixed) are read straight from the (unaligned, little-endian)
/// file bytes 8 lanes at a time and reduced in `Float` SIMD registers. Each lane sums at most
/// ``flushInterval`` / 8 terms before the partial sums are added into `Double`, which keeps the
/// relative error of a tensor's sums near `Float` rounding of single products (about 1e-7) rather
/// than growing with the tensor's size. The products base x fine-tuned (for the cosine) are summed
/// in `Double` lanes directly: their sum can cancel (nearly orthogonal tensors), and cancellation
/// would magnify any `Float` rounding. Other floating-point types (the FP8 family) are first
/// decoded into `Float` blocks; F64, integers and booleans go through an exact `Double` loop.
///
/// A ``blockSize``-element block whose `Float` sums come out non-finite (a NaN or infinity in the
/// data, or values so large their squares overflow `Float`) is recomputed in `Double`, which also
/// counts the NaN and infinite elements on each side. Finite data never pays for that check.
///
/// The SIMD loads read elements in host byte order: the kernel assumes a little-endian host, as
/// the file formats do (x86-64 and ARM64 both are).
public enum DifferenceKernel {
    /// Elements per block: the unit of decoding, of the non-finite check, and of scratch buffers.
    public static let blockSize = 4096
    /// Elements after which the `Float` lane sums are added into `Double`.
    static let flushInterval = 256

    /// Accumulates `count` elements of `base` (stored as `baseType`) against `finetuned` (stored as
    /// `finetunedType`), both row-major in the same element order.
    ///
    /// Both types must be ``DType/isDecodable`` and both buffers must hold `count` elements.
    public static func accumulate(base: UnsafeRawBufferPointer, _ baseType: DType,
                                  finetuned: UnsafeRawBufferPointer, _ finetunedType: DType,
                                  count: Int, scratch: DifferenceScratch) -> DifferenceSums {
        precondition(baseType.isDecodable && finetunedType.isDecodable)
        precondition(base.count * 8 >= count * baseType.bitWidth && finetuned.count * 8 >= count * finetunedType.bitWidth)
        var sums = DifferenceSums()
        guard count > 0, let b = base.baseAddress, let f = finetuned.baseAddress else { return sums }
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
                block = core(UnsafeRawPointer(baseFloats.baseAddress!), F32Lanes.self,
                             UnsafeRawPointer(finetunedFloats.baseAddress!), F32Lanes.self, count: n)
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
        return sums
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
    }

    /// Dispatches to the specialised loop for the pair of loaders.
    static func lanes(_ b: UnsafeRawPointer, _ baseType: LaneType, _ f: UnsafeRawPointer, _ finetunedType: LaneType, count: Int) -> DifferenceSums {
        switch (baseType, finetunedType) {
        case (.f32, .f32): return core(b, F32Lanes.self, f, F32Lanes.self, count: count)
        case (.f16, .f16): return core(b, F16Lanes.self, f, F16Lanes.self, count: count)
        case (.bf16, .bf16): return core(b, BF16Lanes.self, f, BF16Lanes.self, count: count)
        case (.f32, .f16): return core(b, F32Lanes.self, f, F16Lanes.self, count: count)
        case (.f32, .bf16): return core(b, F32Lanes.self, f, BF16Lanes.self, count: count)
        case (.f16, .f32): return core(b, F16Lanes.self, f, F32Lanes.self, count: count)
        case (.bf16, .f32): return core(b, BF16Lanes.self, f, F32Lanes.self, count: count)
        case (.f16, .bf16): return core(b, F16Lanes.self, f, BF16Lanes.self, count: count)
        case (.bf16, .f16): return core(b, BF16Lanes.self, f, F16Lanes.self, count: count)
        }
    }

    /// The SIMD loop over at most a block of elements, 8 lanes (one AVX register) per step so that
    /// every accumulator stays in a register. Elements that do not fill 8 lanes are added in
    /// `Double` one by one.
    ///
    /// `changed` compares the loaders' bit patterns when both sides have the same type, and the
    /// widened `Float` values' bit patterns otherwise.
    @inline(__always)
    static func core<B: LaneLoader, F: LaneLoader>(_ b: UnsafeRawPointer, _: B.Type, _ f: UnsafeRawPointer, _: F.Type, count: Int) -> DifferenceSums {
        let sameType = B.self == F.self
        let signMask = SIMD8<UInt32>(repeating: 0x7FFF_FFFF)
        var baseSquares = SIMD4<Double>(), finetunedSquares = SIMD4<Double>(), deltaSquares = SIMD4<Double>()
        var absoluteDelta = SIMD4<Double>(), productLow = SIMD4<Double>(), productHigh = SIMD4<Double>()
        var maxDelta = SIMD8<Float>()
        var changed = SIMD8<Int32>()
        let vectorCount = count & ~7
        var i = 0
        while i < vectorCount {
            let end = Swift.min(vectorCount, i &+ flushInterval)
            var b2 = SIMD8<Float>(), f2 = SIMD8<Float>(), d2 = SIMD8<Float>(), ad = SIMD8<Float>()
            while i < end {
                let (bv, bBits) = B.load(b, i)
                let (fv, fBits) = F.load(f, i)
                let d = fv - bv
                let absD = unsafeBitCast(unsafeBitCast(d, to: SIMD8<UInt32>.self) & signMask, to: SIMD8<Float>.self)
                b2.addProduct(bv, bv)
                f2.addProduct(fv, fv)
                d2.addProduct(d, d)
                ad += absD
                productLow.addProduct(SIMD4<Double>(bv.lowHalf), SIMD4<Double>(fv.lowHalf))
                productHigh.addProduct(SIMD4<Double>(bv.highHalf), SIMD4<Double>(fv.highHalf))
                maxDelta.replace(with: absD, where: maxDelta .< absD)
                let differs = sameType
                    ? bBits .!= fBits
                    : unsafeBitCast(bv, to: SIMD8<UInt32>.self) .!= unsafeBitCast(fv, to: SIMD8<UInt32>.self)
                changed &-= unsafeBitCast(differs, to: SIMD8<Int32>.self)
                i &+= 8
            }
            baseSquares += widen(b2)
            finetunedSquares += widen(f2)
            deltaSquares += widen(d2)
            absoluteDelta += widen(ad)
        }
        var sums = DifferenceSums()
        sums.count = vectorCount
        sums.baseSquares = baseSquares.sum()
        sums.finetunedSquares = finetunedSquares.sum()
        sums.deltaSquares = deltaSquares.sum()
        sums.absoluteDelta = absoluteDelta.sum()
        sums.product = (productLow + productHigh).sum()
        sums.maxAbsoluteDelta = Double(maxDelta.max())
        sums.changed = Int(changed.wrappedSum())
        while i < count {
            let (bv, bBits) = B.loadOne(b, i)
            let (fv, fBits) = F.loadOne(f, i)
            sums.add(base: Double(bv), finetuned: Double(fv))
            let differs = sameType ? bBits != fBits : bv.bitPattern != fv.bitPattern
            if differs { sums.changed += 1 }
            i += 1
        }
        return sums
    }

    /// Adds the two halves of 8 `Float` lanes and widens them to `Double`.
    @inline(__always)
    static func widen(_ v: SIMD8<Float>) -> SIMD4<Double> {
        SIMD4<Double>(v.lowHalf) + SIMD4<Double>(v.highHalf)
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

/// Reads 8 elements of one dtype from unaligned little-endian bytes as `Float` lanes, with the
/// bit patterns that decide whether an element changed.
protocol LaneLoader {
    static func load(_ p: UnsafeRawPointer, _ index: Int) -> (SIMD8<Float>, SIMD8<UInt32>)
    static func loadOne(_ p: UnsafeRawPointer, _ index: Int) -> (Float, UInt32)
}

enum F32Lanes: LaneLoader {
    @inline(__always)
    static func load(_ p: UnsafeRawPointer, _ index: Int) -> (SIMD8<Float>, SIMD8<UInt32>) {
        let bits = p.loadUnaligned(fromByteOffset: 4 &* index, as: SIMD8<UInt32>.self)
        return (unsafeBitCast(bits, to: SIMD8<Float>.self), bits)
    }

    @inline(__always)
    static func loadOne(_ p: UnsafeRawPointer, _ index: Int) -> (Float, UInt32) {
        let bits = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 &* index, as: UInt32.self))
        return (Float(bitPattern: bits), bits)
    }
}

enum F16Lanes: LaneLoader {
    @inline(__always)
    static func load(_ p: UnsafeRawPointer, _ index: Int) -> (SIMD8<Float>, SIMD8<UInt32>) {
        let bits = p.loadUnaligned(fromByteOffset: 2 &* index, as: SIMD8<UInt16>.self)
        let halves = unsafeBitCast(bits, to: SIMD8<Float16>.self)
        return (SIMD8<Float>(halves), SIMD8<UInt32>(truncatingIfNeeded: bits))
    }

    @inline(__always)
    static func loadOne(_ p: UnsafeRawPointer, _ index: Int) -> (Float, UInt32) {
        let bits = UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 &* index, as: UInt16.self))
        return (Float(Float16(bitPattern: bits)), UInt32(bits))
    }
}

enum BF16Lanes: LaneLoader {
    @inline(__always)
    static func load(_ p: UnsafeRawPointer, _ index: Int) -> (SIMD8<Float>, SIMD8<UInt32>) {
        let bits = SIMD8<UInt32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: 2 &* index, as: SIMD8<UInt16>.self)) &<< 16
        return (unsafeBitCast(bits, to: SIMD8<Float>.self), bits)
    }

    @inline(__always)
    static func loadOne(_ p: UnsafeRawPointer, _ index: Int) -> (Float, UInt32) {
        let bits = UInt32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 &* index, as: UInt16.self))) << 16
        return (Float(bitPattern: bits), bits)
    }
}
