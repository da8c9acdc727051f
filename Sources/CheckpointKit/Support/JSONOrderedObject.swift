import Foundation

/// A compact JSON object whose members stay in the order they are appended.
///
/// Foundation's `JSONEncoder` on Linux either sorts keys or emits them in hash order, but some
/// documents have an order fixed by their format: a safetensors header lists `__metadata__` first
/// and then the tensors in data order, and `scripts/apply_patch.py` writes the same header byte for
/// byte (docs/patch-format.md). Keys and values are encoded by ``JSONOutput/compact(_:)``, so
/// escaping and numbers follow the one convention; only the braces, colons and commas are added
/// here.
public struct JSONOrderedObject: Sendable {
    private var body: [UInt8] = []
    /// Members appended so far.
    public private(set) var count = 0

    public init() {}

    /// Appends `key: value`, `value` encoded compactly (an object inside it gets sorted keys).
    public mutating func append<T: Encodable>(_ key: String, _ value: T) {
        appendKey(key)
        body.append(contentsOf: JSONOutput.compactBytes(value))
    }

    /// Appends `key: object`, keeping the nested object's own order.
    public mutating func append(_ key: String, _ object: JSONOrderedObject) {
        appendKey(key)
        body.append(contentsOf: object.bytes)
    }

    private mutating func appendKey(_ key: String) {
        if count > 0 { body.append(UInt8(ascii: ",")) }
        body.append(contentsOf: JSONOutput.compactBytes(key))
        body.append(UInt8(ascii: ":"))
        count += 1
    }

    /// The object as UTF-8 JSON: `{`, the members joined by `,`, `}`.
    public var bytes: [UInt8] { [UInt8(ascii: "{")] + body + [UInt8(ascii: "}")] }

    /// The object as a string.
    public var text: String { String(decoding: bytes, as: UTF8.self) }
}
