/// One link in a group, as `H5Literate` reports it.
struct HDF5Link {
    enum Kind: Equatable {
        /// A hard link to the object at this file address (an object has one address however many
        /// hard links reach it).
        case hard(address: UInt64)
        case soft
        case external
        case userDefined
    }

    var name: String
    var kind: Kind
}
