import Foundation

/// The one way CheckpointKit writes JSON: every command's `--json` report, JSON held in safetensors
/// metadata, and (through ``JSONOrderedObject``) safetensors headers. ``JSONValue`` only reads.
///
/// One configuration of Foundation's `JSONEncoder`, so that every document agrees:
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

    /// The encoder every JSON document goes through.
    static func encoder(_ layout: Layout) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = layout == .report ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                                     : [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// A report as pretty-printed UTF-8 JSON with sorted keys (no trailing newline).
    public static func report<T: Encodable>(_ value: T) throws -> Data {
        try encoder(.report).encode(value)
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
            return try encoder(.compact).encode(value)
        } catch {
            preconditionFailure("JSONOutput.compact: \(T.self) did not encode: \(error)")
        }
    }
}
