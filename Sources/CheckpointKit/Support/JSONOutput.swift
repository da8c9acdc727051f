import Foundation

/// The one way CheckpointKit writes JSON: every command's `--json` report, JSON held in safetensors
/// metadata, and (through ``JSONOrderedObject``) safetensors headers. ``JSONValue`` only reads.
///
/// One convention, so that every document agrees (it is that of the Foundation `JSONEncoder`
/// configured by ``foundationEncoder(_:)``; ``JSONStreamEncoder`` writes the same bytes about ten
/// times faster and is what runs, Foundation only for `Date`, `Data`, `URL` and `Decimal` values):
/// - Non-finite numbers are the strings `"nan"`, `"inf"` and `"-inf"` (JSON has no literal for
///   them, and `null` already means "not computed" in the reports).
/// - Keys are sorted (Foundation on Linux keeps no insertion order, so sorting is the only
///   deterministic order; ``JSONOrderedObject`` covers documents whose order is fixed by a format).
/// - Slashes are not escaped; other escapes are those of Python's
///   `json.dumps(ensure_ascii=False)`, so a Python writer can agree byte for byte.
public enum JSONOutput {
    /// How much whitespace a document gets.
    public enum Layout: Sendable {
        /// Indented, one member per line: what a person reads (`--json`).
        case report
        /// No whitespace at all: metadata values and file headers.
        case compact
    }

    /// The Foundation encoder whose bytes every document matches (the reference of the tests, and
    /// the fallback for values ``JSONStreamEncoder`` leaves to Foundation).
    static func foundationEncoder(_ layout: Layout) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = layout == .report ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                                     : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// A report as pretty-printed UTF-8 JSON with sorted keys (no trailing newline).
    public static func report<T: Encodable>(_ value: T) throws -> Data {
        try encode(value, .report)
    }

    /// ``report(_:)``'s bytes handed to `output` in pieces as they are written (each about 1 MiB
    /// and ending on a whole character; the last may be shorter), so that a large report is never
    /// whole in memory. Nothing is handed over when encoding fails.
    public static func writeReport<T: Encodable>(_ value: T, to output: (UnsafeBufferPointer<UInt8>) -> Void) throws {
        do {
            try JSONStreamEncoder(pretty: true).encode(value, to: output)
        } catch is JSONStreamEncoder.Unsupported {
            let data = try foundationEncoder(.report).encode(value)
            data.withUnsafeBytes { output($0.bindMemory(to: UInt8.self)) }
        }
    }

    /// `value` in `layout`: through ``JSONStreamEncoder``, or Foundation when that declines.
    static func encode<T: Encodable>(_ value: T, _ layout: Layout) throws -> Data {
        do {
            return Data(try JSONStreamEncoder(pretty: layout == .report).encode(value))
        } catch is JSONStreamEncoder.Unsupported {
            return try foundationEncoder(layout).encode(value)
        }
    }

    /// `value` as one line of compact JSON with sorted keys.
    ///
    /// For values whose encoding cannot fail: strings, integers, floating-point numbers (the
    /// non-finite ones become strings), and arrays and objects of them. A value whose own
    /// `encode(to:)` throws is a programming error and traps.
    public static func compact<T: Encodable>(_ value: T) -> String {
        String(decoding: compactBytes(value), as: UTF8.self)
    }

    /// ``compact(_:)`` as UTF-8 bytes.
    public static func compactBytes<T: Encodable>(_ value: T) -> Data {
        do {
            return try encode(value, .compact)
        } catch {
            preconditionFailure("JSONOutput.compact: \(T.self) did not encode: \(error)")
        }
    }
}
