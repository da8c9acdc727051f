import Foundation

/// A JSONL file of pre-tokenized sequences for a causal language model: one object per line with
/// `input_ids` and optionally `labels` (same length; -100 takes no loss, so a prompt is masked by
/// giving its positions -100). Without `labels` every next token is a target. An `attention_mask`, if
/// present, must be all ones: padding is refused rather than guessed at.
public enum DecoderDataset {
    /// Reads the first `limit` examples of `path`. Errors name the file and line.
    public static func load(path: String, limit: Int? = nil) throws(FisherError) -> [DecoderExample] {
        if let format = TaskDataFormat(fileName: path), format != .jsonl {
            throw .cannotReadData(path: path, reason: "a decoder language model reads JSONL of pre-tokenized input_ids (and labels), not \(format.rawValue)")
        }
        var examples: [DecoderExample] = []
        for (line, object) in try lines(path: path, limit: limit ?? TaskDataset.maxExamples) {
            guard let idsValue = object["input_ids"] else {
                let hasText = object["text"] != nil || object["prompt"] != nil
                throw .invalidData(path: path, line: line, reason: hasText
                    ? "text for a decoder: tokenizing text with a byte-level BPE tokenizer is not implemented yet; give pre-tokenized input_ids (and labels, -100 on prompt tokens)"
                    : "no input_ids")
            }
            let ids = try integers(idsValue, key: "input_ids", path: path, line: line, allowIgnored: false)
            guard !ids.isEmpty else { throw .invalidData(path: path, line: line, reason: "input_ids is empty") }
            if let mask = object["attention_mask"], mask != .null {
                let values = try integers(mask, key: "attention_mask", path: path, line: line, allowIgnored: false)
                guard values.allSatisfy({ $0 == 1 }), values.count == ids.count else {
                    throw .invalidData(path: path, line: line, reason: "attention_mask is not all ones for the \(ids.count) input_ids: give each sequence unpadded")
                }
            }
            var labels: [Int32]? = nil
            if let value = object["labels"], value != .null {
                labels = try integers(value, key: "labels", path: path, line: line, allowIgnored: true)
                guard labels!.count == ids.count else {
                    throw .invalidData(path: path, line: line, reason: "labels has \(labels!.count) entries, input_ids \(ids.count)")
                }
            }
            examples.append(DecoderExample(inputIds: ids, labels: labels, line: line))
        }
        guard !examples.isEmpty else { throw .emptyData(path: path) }
        return examples
    }

    /// The JSON objects of the first `limit` non-empty lines, with their line numbers.
    static func lines(path: String, limit: Int) throws(FisherError) -> [(Int, JSONValue)] {
        let bytes: [UInt8]
        do { bytes = try MappedFile.contents(of: path, maxBytes: TaskDataset.maxFileBytes) } catch {
            throw .cannotReadData(path: path, reason: "\(error)")
        }
        var out: [(Int, JSONValue)] = []
        var lineNumber = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if out.count >= limit { break }
            guard raw.count <= TaskDataset.maxLineBytes else { throw TaskDataset.lineTooLong(path: path, line: lineNumber) }
            if raw.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let value: JSONValue
            do { value = try JSONValue.parse(Array(raw)) } catch {
                throw .invalidData(path: path, line: lineNumber, reason: "invalid JSON: \(error)")
            }
            guard value.objectValue != nil else { throw .invalidData(path: path, line: lineNumber, reason: "not a JSON object") }
            out.append((lineNumber, value))
        }
        return out
    }

    /// An array of token ids (non-negative; -100 too where `allowIgnored`).
    static func integers(_ value: JSONValue, key: String, path: String, line: Int, allowIgnored: Bool) throws(FisherError) -> [Int32] {
        guard let array = value.arrayValue else { throw .invalidData(path: path, line: line, reason: "'\(key)' is not an array") }
        var out: [Int32] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let i = element.intValue, let v = Int32(exactly: i), v >= 0 || (allowIgnored && v == DecoderExample.ignored) else {
                throw .invalidData(path: path, line: line, reason: "'\(key)' holds a value that is not a token id\(allowIgnored ? " or -100" : "")")
            }
            out.append(v)
        }
        return out
    }
}
