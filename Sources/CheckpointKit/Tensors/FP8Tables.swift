/// Lookup tables for the 8-bit float formats, built once from each format's definition.
enum FP8Tables {
    static let e4m3: [Float] = (0..<256).map { decodeMiniFloat(UInt8($0), exponentBits: 4, mantissaBits: 3, bias: 7, style: .finiteNaNAllOnes) }
    static let e5m2: [Float] = (0..<256).map { decodeMiniFloat(UInt8($0), exponentBits: 5, mantissaBits: 2, bias: 15, style: .ieee) }
    static let e4m3fnuz: [Float] = (0..<256).map { decodeMiniFloat(UInt8($0), exponentBits: 4, mantissaBits: 3, bias: 8, style: .fnuz) }
    static let e5m2fnuz: [Float] = (0..<256).map { decodeMiniFloat(UInt8($0), exponentBits: 5, mantissaBits: 2, bias: 16, style: .fnuz) }
    /// E8M0: an unsigned power of two, 2^(bits - 127); 0xFF is NaN.
    static let e8m0: [Float] = (0..<256).map { $0 == 255 ? .nan : Float(sign: .plus, exponent: $0 - 127, significand: 1) }

    static func table(for dtype: DType) -> [Float] {
        switch dtype {
        case .f8E4M3: return e4m3
        case .f8E5M2: return e5m2
        case .f8E4M3FNUZ: return e4m3fnuz
        case .f8E5M2FNUZ: return e5m2fnuz
        case .f8E8M0: return e8m0
        default: preconditionFailure("\(dtype) is not an 8-bit float")
        }
    }

    enum SpecialValues {
        /// IEEE-like: all-ones exponent is infinity (mantissa 0) or NaN.
        case ieee
        /// OCP E4M3 "FN": no infinities; only S.1111.111 is NaN.
        case finiteNaNAllOnes
        /// "FNUZ": no infinities, no negative zero; 0x80 is the only NaN.
        case fnuz
    }

    static func decodeMiniFloat(_ byte: UInt8, exponentBits: Int, mantissaBits: Int, bias: Int, style: SpecialValues) -> Float {
        let sign: Float = byte & 0x80 != 0 ? -1 : 1
        let exponentMask = (1 << exponentBits) - 1
        let mantissaMask = (1 << mantissaBits) - 1
        let exponent = Int(byte >> mantissaBits) & exponentMask
        let mantissa = Int(byte) & mantissaMask
        switch style {
        case .ieee where exponent == exponentMask:
            return mantissa == 0 ? sign * .infinity : .nan
        case .finiteNaNAllOnes where exponent == exponentMask && mantissa == mantissaMask:
            return .nan
        case .fnuz where byte == 0x80:
            return .nan
        default:
            break
        }
        let scale = Float(1 << mantissaBits)
        if exponent == 0 {
            return sign * Float(mantissa) / scale * Float(sign: .plus, exponent: 1 - bias, significand: 1)
        }
        return sign * (1 + Float(mantissa) / scale) * Float(sign: .plus, exponent: exponent - bias, significand: 1)
    }
}
