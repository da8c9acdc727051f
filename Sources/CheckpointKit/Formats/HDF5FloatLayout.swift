/// The bit layout of a floating-point type (`H5Tget_fields`, `H5Tget_ebias`), in bits.
struct HDF5FloatLayout: Equatable {
    var signBit: Int
    var exponentBit: Int
    var exponentBits: Int
    var mantissaBit: Int
    var mantissaBits: Int
    var exponentBias: Int
    /// Whether the leading mantissa bit is implied (as in IEEE 754).
    var impliedLeadingBit: Bool

    static let ieeeHalf = HDF5FloatLayout(signBit: 15, exponentBit: 10, exponentBits: 5, mantissaBit: 0, mantissaBits: 10, exponentBias: 15, impliedLeadingBit: true)
    static let ieeeSingle = HDF5FloatLayout(signBit: 31, exponentBit: 23, exponentBits: 8, mantissaBit: 0, mantissaBits: 23, exponentBias: 127, impliedLeadingBit: true)
    static let ieeeDouble = HDF5FloatLayout(signBit: 63, exponentBit: 52, exponentBits: 11, mantissaBit: 0, mantissaBits: 52, exponentBias: 1023, impliedLeadingBit: true)
    /// bfloat16: the top half of an IEEE single.
    static let bfloat16 = HDF5FloatLayout(signBit: 15, exponentBit: 7, exponentBits: 8, mantissaBit: 0, mantissaBits: 7, exponentBias: 127, impliedLeadingBit: true)
}
