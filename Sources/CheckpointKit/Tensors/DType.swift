/// The element types of the safetensors specification, which is also the vocabulary every other
/// reader maps its own types onto (an HDF5 `float16` dataset becomes ``f16``, a Keras 3 dataset with
/// `dtype="bfloat16"` becomes ``bf16``).
///
/// The raw values are the spellings used in safetensors headers.
public enum DType: String, CaseIterable, Sendable, Codable, Hashable {
    /// `DType(rawValue:)` through a table built once: the generated string switch cost about
    /// 120 ns a call, once per tensor of a header (100,000 of them for a mixture-of-experts model).
    static func named(_ name: String) -> DType? { byName[name] }

    private static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// ``named(_:)`` for a name given as its ASCII bytes, without making a `String` for the usual
    /// names (up to 7 bytes, compared as one integer each); a longer one goes through ``named(_:)``.
    static func named(ascii bytes: UnsafeRawBufferPointer) -> DType? {
        guard bytes.count <= 7 else { return named(String(decoding: bytes, as: UTF8.self)) }
        let key = packed(bytes)
        for (candidate, type) in byPackedName where candidate == key { return type }
        return nil
    }

    /// The names of at most 7 bytes, packed by ``packed(_:)``.
    private static let byPackedName: [(key: UInt64, type: DType)] = allCases.compactMap { type in
        var name = type.rawValue
        return name.withUTF8 { $0.count <= 7 ? (packed(UnsafeRawBufferPointer($0)), type) : nil }
    }

    /// Up to 7 bytes, the first in the lowest byte, and their count in the highest.
    private static func packed(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var key = UInt64(bytes.count) << 56
        for (offset, byte) in bytes.enumerated() { key |= UInt64(byte) << (8 * offset) }
        return key
    }

    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case u16 = "U16"
    case i16 = "I16"
    case u32 = "U32"
    case i32 = "I32"
    case u64 = "U64"
    case i64 = "I64"
    case f16 = "F16"
    case bf16 = "BF16"
    case f32 = "F32"
    case f64 = "F64"
    case c64 = "C64"
    case f8E4M3 = "F8_E4M3"
    case f8E5M2 = "F8_E5M2"
    case f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ"
    case f8E5M2FNUZ = "F8_E5M2FNUZ"
    case f4 = "F4"
    case f6E2M3 = "F6_E2M3"
    case f6E3M2 = "F6_E3M2"

    /// Size of one element in bits. Sub-byte types (F4, F6) are packed; a tensor's byte length is
    /// `numel * bitWidth / 8` and must be a whole number of bytes.
    public var bitWidth: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .u16, .i16, .f16, .bf16: return 16
        case .u32, .i32, .f32: return 32
        case .u64, .i64, .f64, .c64: return 64
        }
    }

    /// Size of one element in bytes, or nil for the packed sub-byte types.
    public var byteWidth: Int? { bitWidth % 8 == 0 ? bitWidth / 8 : nil }

    /// Floating-point types hold model parameters; integer and boolean types are buffers, ids and masks.
    public var isFloatingPoint: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64, .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ,
             .f4, .f6E2M3, .f6E3M2:
            return true
        case .bool, .u8, .i8, .u16, .i16, .u32, .i32, .u64, .i64, .c64:
            return false
        }
    }

    /// Whether ``TensorDecoder`` can turn this type into real numbers. The packed F4/F6 types and the
    /// complex C64 are listed and copied but not analysed: their values have no single agreed layout
    /// inside a byte (F4/F6) or no order (C64).
    public var isDecodable: Bool {
        switch self {
        case .f4, .f6E2M3, .f6E3M2, .c64: return false
        default: return true
        }
    }
}
