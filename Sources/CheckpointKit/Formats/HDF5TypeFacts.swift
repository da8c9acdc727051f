/// What a dataset's on-disk element type is, as far as mapping it to a ``DType`` needs.
struct HDF5TypeFacts: Equatable {
    enum Kind: Equatable {
        case integer(signed: Bool)
        case float(HDF5FloatLayout)
        /// An enumeration over an integer of `baseSize` bytes (h5py stores `bool` as the enum
        /// `{FALSE: 0, TRUE: 1}` over int8).
        case enumeration(baseSize: Int, members: [String: Int64])
        /// Uninterpreted bytes (numpy `|V2`: Keras 3 stores bfloat16 so, with attribute `dtype`).
        case opaque
        /// Anything else, named for messages ("string", "compound", ...).
        case other(String)
    }

    var kind: Kind
    /// Size of one element in bytes.
    var size: Int
    /// Significant bits, and where they start inside the element.
    var precision: Int
    var bitOffset: Int
    var bigEndian: Bool
}
