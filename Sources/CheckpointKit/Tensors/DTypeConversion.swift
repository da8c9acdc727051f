import CKernels
import Glibc

/// Converts tensor elements from one float dtype to another exactly as PyTorch's
/// `tensor.to(dtype)` does on a CPU, bit for bit, so that a fine-tune saved in another precision
/// can be compared with (and patched from) its base converted the same way.
///
/// What PyTorch does, and so what this does (checked against PyTorch for every 16- and 8-bit
/// pattern and ~800,000 F32/F64 patterns by `DTypeConversionTests`, expected values from
/// `fixtures/make_precision_fixtures.py`):
/// - Narrowing rounds to nearest, ties to even. F16 and the IEEE-like FP8 E5M2 overflow to
///   infinity; FP8 E4M3 ("FN", no infinity) saturates at ±448, infinities included; the FNUZ types
///   turn overflow, infinities and NaN into their one NaN (0x80) and lose the sign of zero.
/// - F64 goes through F32 first (two roundings, as PyTorch's copy kernels do).
/// - Widening is exact.
/// - NaN: F32 to BF16 gives 0xFFFF (PyTorch's vectorised rounding), F16 and FP8 to BF16 give
///   0x7FC0; to F16 (and from F16 to F32) the sign and top payload bits stay, made quiet (the x86
///   F16C instructions); to FP8 the format's NaN with the sign. F64 to BF16 with a NaN in the
///   tensor is refused: PyTorch gives 0xFFFF or 0x7FC0 depending on where in the tensor it is.
/// - E8M0 is never a target (PyTorch rounds into it by a rule of its own), the packed F4/F6 types,
///   C64, integers and booleans are never converted.
public enum DTypeConversion {
    /// A conversion ckpt does not reproduce exactly, refused rather than approximated.
    public struct Unsupported: CategorizedError, CustomStringConvertible, Sendable {
        public var path: String
        public var tensor: String
        public var from: DType
        public var to: DType
        public var reason: String
        public var category: FailureCategory { .badInput }
        public var description: String {
            "\(path): tensor '\(tensor)': converting \(from.rawValue) to \(to.rawValue) is not supported: \(reason)"
        }
    }

    static let sources: Set<DType> = [.f64, .f32, .f16, .bf16, .f8E4M3, .f8E5M2, .f8E4M3FNUZ, .f8E5M2FNUZ, .f8E8M0]
    static let targets: Set<DType> = [.f64, .f32, .f16, .bf16, .f8E4M3, .f8E5M2, .f8E4M3FNUZ, .f8E5M2FNUZ]

    /// Why `from` cannot be converted to `to`, or nil when it can (NaN aside, see ``convert``).
    public static func refusal(from: DType, to: DType) -> String? {
        if from == to { return nil }
        if !from.isFloatingPoint || !to.isFloatingPoint { return "only float dtypes are converted" }
        if !sources.contains(from) { return "\(from.rawValue) values are not decoded" }
        if to == .f8E8M0 { return "PyTorch rounds into F8_E8M0 by its own rule, which ckpt does not reproduce" }
        if !targets.contains(to) { return "\(to.rawValue) is not written by ckpt" }
        return nil
    }

    /// Whether a base stored as `from` is converted to `to` before it is compared with (or patched
    /// into) a fine-tune stored as `to`: both float dtypes, different, and a conversion ckpt
    /// reproduces.
    public static func converts(from: DType, to: DType) -> Bool {
        from != to && from.isFloatingPoint && to.isFloatingPoint && refusal(from: from, to: to) == nil
    }

    /// The dtype a `base` tensor is converted to before it is compared with (or patched into) a
    /// fine-tune stored as `finetuned`: `finetuned` when ``converts(from:to:)``, else nil (same
    /// dtypes, or a conversion refused: such pairs compare widened values). The one rule diff, patch
    /// and shape pairing share.
    public static func target(from base: DType, to finetuned: DType) -> DType? {
        converts(from: base, to: finetuned) ? finetuned : nil
    }

    /// Whether every value of `from` is a value of `to` (the conversion loses nothing).
    public static func isWidening(from: DType, to: DType) -> Bool {
        let rank: [DType: (exponent: Int, mantissa: Int)] = [
            .f64: (11, 52), .f32: (8, 23), .bf16: (8, 7), .f16: (5, 10),
            .f8E5M2: (5, 2), .f8E4M3: (4, 3), .f8E5M2FNUZ: (5, 2), .f8E4M3FNUZ: (4, 3),
        ]
        if from == to { return true }
        if from == .f8E8M0 { return to == .f32 || to == .f64 || to == .bf16 }
        guard let a = rank[from], let b = rank[to] else { return false }
        return a.exponent <= b.exponent && a.mantissa <= b.mantissa && !(b.exponent == a.exponent && to.isFNUZ != from.isFNUZ)
    }

    /// Elements per block of the conversion's intermediate `Float` buffer.
    static let block = 4096

    /// Converts `count` elements of `source` (stored as `from`) into `target` (as `to`).
    /// - Throws: ``Unsupported`` (with `path` and `tensor` filled in) for a refused pair of dtypes
    ///   or an F64 NaN on its way to BF16.
    public static func convert(_ source: UnsafeRawBufferPointer, from: DType, to: DType, count: Int,
                               into target: UnsafeMutableRawBufferPointer, path: String, tensor: String) throws(Unsupported) {
        if let reason = refusal(from: from, to: to) {
            throw Unsupported(path: path, tensor: tensor, from: from, to: to, reason: reason)
        }
        let inWidth = from.bitWidth / 8, outWidth = to.bitWidth / 8
        precondition(source.count >= count * inWidth && target.count >= count * outWidth)
        guard count > 0, let src = source.baseAddress, let dst = target.baseAddress else { return }
        if from == to {
            memcpy(dst, src, count * inWidth)
            return
        }
        if to == .f64 {
            widenToDouble(src, from: from, count: count, into: dst)
            return
        }
        try withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { floats throws(Unsupported) in
            var start = 0
            while start < count {
                let n = min(block, count - start)
                let values = UnsafeMutableBufferPointer(rebasing: floats[0..<n])
                let hadNaN = floatsOf(src + start * inWidth, from: from, count: n, into: values)
                if hadNaN, from == .f64, to == .bf16 {
                    throw Unsupported(path: path, tensor: tensor, from: from, to: to,
                                      reason: "the tensor holds NaN, which PyTorch converts to 0xFFFF or 0x7FC0 depending on its position")
                }
                narrow(values, from: from, to: to, into: dst + start * outWidth)
                start += n
            }
        }
    }

    /// The source values as `Float` the way PyTorch sees them on the way to a narrower type:
    /// F64 rounded to F32, FP8 NaNs with PyTorch's bit patterns. Returns whether a NaN was seen
    /// (checked only for F64, the one source where it matters).
    private static func floatsOf(_ src: UnsafeRawPointer, from: DType, count: Int, into out: UnsafeMutableBufferPointer<Float>) -> Bool {
        switch from {
        case .f64:
            var nan = false
            for i in 0..<count {
                let d = Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                if d.isNaN { nan = true }
                out[i] = Float(d)
            }
            return nan
        case .f32:
            memcpy(out.baseAddress!, src, count * 4)
        case .f16, .bf16:
            TensorDecoder.decode(UnsafeRawBufferPointer(start: src, count: count * 2), as: from, into: out)
        default:
            let table = torchTable(from)
            let bytes = src.assumingMemoryBound(to: UInt8.self)
            for i in 0..<count { out[i] = table[Int(bytes[i])] }
        }
        return false
    }

    /// `Float` values rounded into `to` (not F64).
    private static func narrow(_ values: UnsafeMutableBufferPointer<Float>, from: DType, to: DType, into dst: UnsafeMutableRawPointer) {
        let n = values.count
        switch to {
        case .f32:
            memcpy(dst, values.baseAddress!, n * 4)
        case .f16:
            ckpt_round_f32(values.baseAddress!, CKPT_LANE_F16, 0, dst, Int64(n))
        case .bf16:
            ckpt_round_f32(values.baseAddress!, CKPT_LANE_BF16, from == .f32 || from == .f64 ? 0xFFFF : 0x7FC0, dst, Int64(n))
        default:
            let format = MiniFloat(to)
            let bytes = dst.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { bytes[i] = format.encode(values[i]) }
        }
    }

    /// Exact widening to F64 (NaN made quiet, as the hardware conversion from F32 does).
    private static func widenToDouble(_ src: UnsafeRawPointer, from: DType, count: Int, into dst: UnsafeMutableRawPointer) {
        for start in stride(from: 0, to: count, by: block) {
            let n = min(block, count - start)
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { floats in
                _ = floatsOf(src + start * (from.bitWidth / 8), from: from, count: n, into: floats)
                for i in 0..<n {
                    dst.storeBytes(of: Double(floats[i]).bitPattern.littleEndian, toByteOffset: 8 * (start + i), as: UInt64.self)
                }
            }
        }
    }

    /// The 256 values of an 8-bit float as PyTorch widens them to F32, NaNs included: E4M3's
    /// NaN is 0x7FF00000 with its sign, E5M2's is its F16 NaN made quiet, the FNUZ types' and
    /// E8M0's is 0x7F800001.
    static func torchTable(_ dtype: DType) -> [Float] {
        switch dtype {
        case .f8E4M3: return torchE4M3
        case .f8E5M2: return torchE5M2
        case .f8E4M3FNUZ: return torchE4M3FNUZ
        case .f8E5M2FNUZ: return torchE5M2FNUZ
        default: return torchE8M0
        }
    }

    private static func withTorchNaN(_ table: [Float], _ nan: (Int) -> UInt32) -> [Float] {
        table.enumerated().map { $0.element.isNaN ? Float(bitPattern: nan($0.offset)) : $0.element }
    }

    private static let torchE4M3 = withTorchNaN(FP8Tables.e4m3) { 0x7FF0_0000 | (UInt32($0 & 0x80) << 24) }
    private static let torchE5M2 = withTorchNaN(FP8Tables.e5m2) { byte in
        var half = UInt16(byte) << 8 | 0x0200
        var out: Float = 0
        withUnsafeBytes(of: &half) { ckpt_decode_f16($0.baseAddress!, &out, 1) }
        return out.bitPattern
    }
    private static let torchE4M3FNUZ = withTorchNaN(FP8Tables.e4m3fnuz) { _ in 0x7F80_0001 }
    private static let torchE5M2FNUZ = withTorchNaN(FP8Tables.e5m2fnuz) { _ in 0x7F80_0001 }
    private static let torchE8M0 = withTorchNaN(FP8Tables.e8m0) { _ in 0x7F80_0001 }
}

extension DType {
    /// The FNUZ 8-bit floats: no infinities, no negative zero, 0x80 is NaN.
    var isFNUZ: Bool { self == .f8E4M3FNUZ || self == .f8E5M2FNUZ }
}

/// Rounding a `Float` into an 8-bit float format as PyTorch's c10 `Float8_*` types do.
struct MiniFloat {
    let mantissaBits: Int
    let bias: Int
    /// The largest finite value.
    let maxFinite: Double
    let dtype: DType

    init(_ dtype: DType) {
        self.dtype = dtype
        switch dtype {
        case .f8E4M3: (mantissaBits, bias, maxFinite) = (3, 7, 448)
        case .f8E5M2: (mantissaBits, bias, maxFinite) = (2, 15, 57344)
        case .f8E4M3FNUZ: (mantissaBits, bias, maxFinite) = (3, 8, 240)
        default: (mantissaBits, bias, maxFinite) = (2, 16, 57344)
        }
    }

    /// The byte nearest to `x` (ties to even), with the format's overflow and NaN rules.
    func encode(_ x: Float) -> UInt8 {
        let sign: UInt8 = x.sign == .minus ? 0x80 : 0
        let exponentBits = 7 - mantissaBits
        let infinityOrNaN = UInt8((1 << exponentBits) - 1) << mantissaBits
        if x.isNaN {
            switch dtype {
            case .f8E4M3: return sign | 0x7F
            case .f8E5M2: return sign | 0x7F
            default: return 0x80
            }
        }
        let magnitude = Double(x.magnitude)
        let minNormalExponent = 1 - bias
        // The quantum at x's binade (subnormals share the smallest normal binade's).
        let exponent = magnitude == 0 ? minNormalExponent : max(Int(magnitude.exponent), minNormalExponent)
        let quantum = Double(sign: .plus, exponent: exponent - mantissaBits, significand: 1)
        let rounded = (magnitude / quantum).rounded(.toNearestOrEven) * quantum
        if rounded > maxFinite || x.isInfinite {
            switch dtype {
            case .f8E4M3: return sign | 0x7E
            case .f8E5M2: return sign | infinityOrNaN
            default: return 0x80
            }
        }
        if rounded == 0 { return dtype.isFNUZ ? 0 : sign }
        let e = Int(rounded.exponent)
        let bits: Int
        if e < minNormalExponent {
            bits = Int(rounded / Double(sign: .plus, exponent: minNormalExponent - mantissaBits, significand: 1))
        } else {
            let fraction = Int(rounded / Double(sign: .plus, exponent: e - mantissaBits, significand: 1)) - (1 << mantissaBits)
            bits = (e + bias) << mantissaBits | fraction
        }
        return sign | UInt8(bits)
    }
}
