/// An object of a checkpoint file that is not read as a tensor (an HDF5 string dataset, a soft
/// link), and why.
public struct SkippedObject: Sendable, Equatable {
    /// The object's path in the file.
    public var name: String
    public var reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
}
