/// A diagonal Fisher: one tensor per parameter plus the `__metadata__` of the file.
public struct FisherResult: Sendable {
    public var tensors: [FisherTensor]
    /// `format` = `ckpt-fisher`, `kind`, `samples`, `data`, `model`, `params`, `max_length`, ...
    public var metadata: [String: String]

    public init(tensors: [FisherTensor], metadata: [String: String]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public var samples: Int? { metadata["samples"].flatMap { Int($0) } }
    public var entryCount: Int { tensors.reduce(0) { $0 + $1.values.count } }
}
