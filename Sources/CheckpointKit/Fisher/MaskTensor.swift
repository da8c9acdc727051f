/// The kept entries of one parameter tensor: 1 = keep (tune), 0 = freeze.
public struct MaskTensor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var keep: [UInt8]

    public var keptCount: Int { keep.reduce(0) { $0 + Int($1) } }
}
