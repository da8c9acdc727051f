/// The `Encoder` ``JSONStreamEncoder`` hands to a value's `encode(to:)`, and its three containers:
/// each writes straight into one ``JSONStreamNode``. The coding path is not tracked (nothing in
/// CheckpointKit reads it while encoding).
struct JSONStreamNodeEncoder: Encoder {
    let node: JSONStreamNode
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.become(.object)
        return KeyedEncodingContainer(JSONStreamKeyedContainer<Key>(node: node))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.become(.array)
        return JSONStreamUnkeyedContainer(node: node)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        JSONStreamSingleValueContainer(node: node)
    }
}

struct JSONStreamKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: JSONStreamNode
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws {
        let start = node.beginMember(key.stringValue)
        node.buffer.append(contentsOf: "null".utf8)
        node.endMember(start)
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try node.appendMember(key.stringValue, value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try node.appendMember(key.stringValue, value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try node.appendMember(key.stringValue, value) }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        let start = node.beginMember(key.stringValue)
        JSONStreamNode.writeFloat(value, into: &node.buffer)
        node.endMember(start)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try node.appendMember(key.stringValue, value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { integer(value, key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try node.appendMember(key.stringValue, value) }

    private func integer<I: FixedWidthInteger>(_ value: I, _ key: Key) {
        let start = node.beginMember(key.stringValue)
        node.buffer.append(contentsOf: value.description.utf8)
        node.endMember(start)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(JSONStreamKeyedContainer<NestedKey>(node: node.nestedNode(key.stringValue, kind: .object)))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        JSONStreamUnkeyedContainer(node: node.nestedNode(key.stringValue, kind: .array))
    }
    mutating func superEncoder() -> any Encoder {
        JSONStreamNodeEncoder(node: node.nestedNode("super", kind: .none))
    }
    mutating func superEncoder(forKey key: Key) -> any Encoder {
        JSONStreamNodeEncoder(node: node.nestedNode(key.stringValue, kind: .none))
    }
}

struct JSONStreamUnkeyedContainer: UnkeyedEncodingContainer {
    let node: JSONStreamNode
    var codingPath: [any CodingKey] { [] }
    var count: Int { node.pieces.count }

    mutating func encodeNil() throws {
        let start = node.beginMember(nil)
        node.buffer.append(contentsOf: "null".utf8)
        node.endMember(start)
    }
    mutating func encode(_ value: Bool) throws { try node.appendMember(nil, value) }
    mutating func encode(_ value: String) throws { try node.appendMember(nil, value) }
    mutating func encode(_ value: Double) throws { try node.appendMember(nil, value) }
    mutating func encode(_ value: Float) throws {
        let start = node.beginMember(nil)
        JSONStreamNode.writeFloat(value, into: &node.buffer)
        node.endMember(start)
    }
    mutating func encode(_ value: Int) throws { try node.appendMember(nil, value) }
    mutating func encode(_ value: Int8) throws { integer(value) }
    mutating func encode(_ value: Int16) throws { integer(value) }
    mutating func encode(_ value: Int32) throws { integer(value) }
    mutating func encode(_ value: Int64) throws { integer(value) }
    mutating func encode(_ value: UInt) throws { integer(value) }
    mutating func encode(_ value: UInt8) throws { integer(value) }
    mutating func encode(_ value: UInt16) throws { integer(value) }
    mutating func encode(_ value: UInt32) throws { integer(value) }
    mutating func encode(_ value: UInt64) throws { integer(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try node.appendMember(nil, value) }

    private func integer<I: FixedWidthInteger>(_ value: I) {
        let start = node.beginMember(nil)
        node.buffer.append(contentsOf: value.description.utf8)
        node.endMember(start)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(JSONStreamKeyedContainer<NestedKey>(node: node.nestedNode(nil, kind: .object)))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        JSONStreamUnkeyedContainer(node: node.nestedNode(nil, kind: .array))
    }
    mutating func superEncoder() -> any Encoder {
        JSONStreamNodeEncoder(node: node.nestedNode(nil, kind: .none))
    }
}

struct JSONStreamSingleValueContainer: SingleValueEncodingContainer {
    let node: JSONStreamNode
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { raw("null") }
    mutating func encode(_ value: Bool) throws { try node.encodeValue(value) }
    mutating func encode(_ value: String) throws { try node.encodeValue(value) }
    mutating func encode(_ value: Double) throws { try node.encodeValue(value) }
    mutating func encode(_ value: Float) throws {
        node.become(.single)
        let start = node.buffer.count
        JSONStreamNode.writeFloat(value, into: &node.buffer)
        node.pieces.append(.bytes(start..<node.buffer.count))
    }
    mutating func encode(_ value: Int) throws { try node.encodeValue(value) }
    mutating func encode(_ value: Int8) throws { try node.encodeValue(Int(value)) }
    mutating func encode(_ value: Int16) throws { try node.encodeValue(Int(value)) }
    mutating func encode(_ value: Int32) throws { try node.encodeValue(Int(value)) }
    mutating func encode(_ value: Int64) throws { try node.encodeValue(Int(value)) }
    mutating func encode(_ value: UInt) throws { raw(value.description) }
    mutating func encode(_ value: UInt8) throws { try node.encodeValue(Int(value)) }
    mutating func encode(_ value: UInt16) throws { try node.encodeValue(Int(value)) }
    mutating func encode(_ value: UInt32) throws { try node.encodeValue(Int(value)) }
    mutating func encode(_ value: UInt64) throws { raw(value.description) }
    mutating func encode<T: Encodable>(_ value: T) throws { try node.encodeValue(value) }

    /// Text that is already JSON (a literal or the digits of an unsigned integer).
    private func raw(_ text: String) {
        node.become(.single)
        let start = node.buffer.count
        node.buffer.append(contentsOf: text.utf8)
        node.pieces.append(.bytes(start..<node.buffer.count))
    }
}
