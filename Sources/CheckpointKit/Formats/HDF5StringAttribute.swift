/// A string attribute's values.
struct HDF5StringAttribute {
    var values: [String]
    /// A scalar attribute (one value) rather than an array.
    var isScalar: Bool
}
