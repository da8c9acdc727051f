/// A parsed value written back through ``JSONOutput`` (for example a non-string value in a sharded
/// index's `metadata`, which CheckpointKit keeps as text). Objects come out with sorted keys, as
/// every document ``JSONOutput`` writes.
extension JSONValue: Encodable {
    public func encode(to encoder: Encoder) throws {
        switch self {
        case let .object(members):
            var container = encoder.container(keyedBy: JSONKey.self)
            for (key, value) in members { try container.encode(value, forKey: JSONKey(key)) }
        case let .array(elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(element) }
        case let .string(s): var c = encoder.singleValueContainer(); try c.encode(s)
        case let .integer(i): var c = encoder.singleValueContainer(); try c.encode(i)
        case let .number(d): var c = encoder.singleValueContainer(); try c.encode(d)
        case let .bool(b): var c = encoder.singleValueContainer(); try c.encode(b)
        case .null: var c = encoder.singleValueContainer(); try c.encodeNil()
        }
    }
}
