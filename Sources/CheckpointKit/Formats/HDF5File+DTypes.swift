/// Mapping HDF5 element types to tensor dtypes.
extension HDF5File {
    struct SkipReason: Error { var message: String }

    /// Values of a dataset's `dtype` attribute (ml_dtypes names, as Keras 3 writes them) for types
    /// HDF5 has no element type of: the dataset holds their raw bits as unsigned integers or opaque
    /// bytes of the same width.
    static let declaredDTypes: [String: DType] = [
        "bfloat16": .bf16,
        "float8_e4m3fn": .f8E4M3, "float8_e5m2": .f8E5M2,
        "float8_e4m3fnuz": .f8E4M3FNUZ, "float8_e5m2fnuz": .f8E5M2FNUZ, "float8_e8m0fnu": .f8E8M0,
    ]

    /// The dtype an HDF5 element type maps to, and the memory type that reads it as little-endian
    /// bytes of that dtype. `declared` is the type a `dtype` attribute names, if any.
    static func tensorType(of facts: HDF5TypeFacts, declared: DType?) -> Result<(DType, HDF5MemoryType), SkipReason> {
        let bits = facts.size * 8
        let declared = declared.flatMap { $0.bitWidth == bits ? $0 : nil }
        switch facts.kind {
        case let .integer(signed):
            guard facts.precision == bits, facts.bitOffset == 0 else {
                return .failure(SkipReason(message: "\(facts.precision)-bit integers padded to \(bits) bits"))
            }
            if !signed, let declared {
                return .success((declared, .integer(size: facts.size, signed: false)))
            }
            let dtype: DType
            switch (bits, signed) {
            case (8, true): dtype = .i8
            case (8, false): dtype = .u8
            case (16, true): dtype = .i16
            case (16, false): dtype = .u16
            case (32, true): dtype = .i32
            case (32, false): dtype = .u32
            case (64, true): dtype = .i64
            case (64, false): dtype = .u64
            default: return .failure(SkipReason(message: "\(bits)-bit integers"))
            }
            return .success((dtype, .integer(size: facts.size, signed: signed)))
        case let .float(layout):
            guard facts.precision == bits, facts.bitOffset == 0 else {
                return .failure(SkipReason(message: "\(facts.precision)-bit floats padded to \(bits) bits"))
            }
            switch (bits, layout) {
            case (16, .ieeeHalf): return .success((.f16, .ownTypeLittleEndian))
            case (16, .bfloat16): return .success((.bf16, .ownTypeLittleEndian))
            case (32, .ieeeSingle): return .success((.f32, .ieeeFloat(size: 4)))
            case (64, .ieeeDouble): return .success((.f64, .ieeeFloat(size: 8)))
            default: return .failure(SkipReason(message: "\(bits)-bit floats that are not IEEE 754"))
            }
        case let .enumeration(baseSize, members):
            if baseSize == 1, members == ["FALSE": 0, "TRUE": 1] {
                return .success((.bool, .ownType))
            }
            let names = members.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
            return .failure(SkipReason(message: "enum (\(names.joined(separator: ", "))) that is not h5py's bool"))
        case .opaque:
            guard let declared else {
                return .failure(SkipReason(message: "opaque \(facts.size)-byte elements without a known dtype attribute"))
            }
            return .success((declared, .ownType))
        case let .other(kind):
            return .failure(SkipReason(message: "\(kind) elements"))
        }
    }
}
