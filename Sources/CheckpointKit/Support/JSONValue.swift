/// A small strict JSON parser for headers that come from untrusted files.
///
/// Foundation's `JSONSerialization` accepts duplicate keys (the last one wins) and has no limits on
/// nesting; a safetensors header with two entries of the same name must be refused, and a hostile
/// header must not be able to recurse without bound. Objects keep their keys in file order.
public enum JSONValue: Equatable, Sendable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// An integer literal that fits in `Int`.
    case integer(Int)
    /// Any other number.
    case number(Double)
    case bool(Bool)
    case null

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(a), .array(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.bool(a), .bool(b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value for `key` if this is an object.
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    public var intValue: Int? { if case let .integer(i) = self { return i } else { return nil } }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { return a } else { return nil } }
    public var objectValue: [(key: String, value: JSONValue)]? {
        if case let .object(o) = self { return o } else { return nil }
    }

    /// Parses `bytes` as one JSON document, allowing surrounding whitespace.
    /// - Parameters:
    ///   - maxDepth: deepest nesting of arrays and objects accepted.
    ///   - maxArrayCount: most elements one array may hold; checked as elements are parsed, so a
    ///     hostile document is refused before the array grows past it.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64, maxArrayCount: Int = .max) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        parser.maxArrayCount = maxArrayCount
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected data after the JSON value") }
        return value
    }

    /// Parses a byte array (convenience for small documents such as index and config files).
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64, maxArrayCount: Int = .max) throws(JSONParseError) -> JSONValue {
        do {
            return try bytes.withUnsafeBytes { buffer in try parse(buffer, maxDepth: maxDepth, maxArrayCount: maxArrayCount) }
        } catch let error as JSONParseError {
            throw error
        } catch {
            throw JSONParseError(offset: 0, message: "\(error)")
        }
    }
}

/// Where and why a JSON document was refused.
public struct JSONParseError: Error, CustomStringConvertible, Equatable {
    /// Byte offset into the document.
    public var offset: Int
    public var message: String
    public var description: String { "\(message) at byte \(offset)" }
}
