/// The type libhdf5 converts a dataset's elements to on read, and from on write.
enum HDF5MemoryType: Sendable, Equatable {
    /// The little-endian standard integer type of this size in bytes.
    case integer(size: Int, signed: Bool)
    /// The little-endian IEEE type of this size in bytes (4 or 8).
    case ieeeFloat(size: Int)
    /// The dataset's own type in little-endian byte order (16-bit floats, which have no predefined type).
    case ownTypeLittleEndian
    /// The dataset's own type unchanged (one-byte enums such as h5py's bool; opaque bytes).
    case ownType
}
