/// Token ids of one encoded example.
public struct TokenizedInput: Sendable, Equatable {
    public var inputIds: [Int32]
    public var tokenTypeIds: [Int32]

    public init(inputIds: [Int32], tokenTypeIds: [Int32]) {
        self.inputIds = inputIds
        self.tokenTypeIds = tokenTypeIds
    }
}
