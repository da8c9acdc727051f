/// The Fisher diagonal of one parameter tensor.
public struct FisherTensor: Sendable, Equatable {
    /// The name the model file gives the parameter.
    public var name: String
    public var shape: [Int]
    public var values: [Double]

    public init(name: String, shape: [Int], values: [Double]) {
        self.name = name
        self.shape = shape
        self.values = values
    }

    public var sum: Double { values.reduce(0, +) }
    public var max: Double { values.max() ?? 0 }
}
