/// An error that knows which ``FailureCategory`` it belongs to.
public protocol CategorizedError: Error {
    var category: FailureCategory { get }
    /// What the user can do about it besides fixing the input, if anything.
    var remedy: ErrorRemedy? { get }
}

extension CategorizedError {
    public var remedy: ErrorRemedy? { nil }
}
