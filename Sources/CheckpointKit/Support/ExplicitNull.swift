/// An optional report field that is written as `null` when it has no value, instead of being left
/// out (what synthesised `Encodable` does with optionals). Reports keep a stable set of fields, so
/// a reader can tell "unknown" from "this version does not write it".
@propertyWrapper
public struct ExplicitNull<Wrapped: Encodable & Sendable>: Encodable, Sendable {
    public var wrappedValue: Wrapped?

    public init(wrappedValue: Wrapped?) { self.wrappedValue = wrappedValue }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
