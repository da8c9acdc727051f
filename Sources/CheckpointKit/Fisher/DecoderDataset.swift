import Foundation

/// A JSONL file of a causal language model's examples, one object per line, each one of:
/// - `input_ids`, optionally `labels` (same length; -100 takes no loss, so a prompt is masked by
///   giving its positions -100; without `labels` every next token is a target). An
///   `attention_mask`, if present, must be all ones: padding is refused rather than guessed at.
/// - `text`: tokenized with the model's `tokenizer.json` (its post-processor's special tokens, such
///   as Llama 3's BOS, included); every next token is a target.
/// - `prompt` and `completion`: `prompt + completion` tokenized as one text, the template's leading
///   special tokens and the prompt's tokens labelled -100, as TRL's SFT trainer does
///   (``ByteLevelBPETokenizer/encode(prompt:completion:)``). No EOS is appended (TRL appends the
///   tokenizer's `eos_token`): end the text or completion with it, e.g. `<|endoftext|>`, to score it.
public enum DecoderDataset {
    /// Reads the first `limit` examples of `path`; `tokenizer` is asked for once, at the first line
    /// with text. Errors name the file and line.
    public static func load(path: String, limit: Int? = nil,
                            tokenizer: (() throws(FisherError) -> ByteLevelBPETokenizer)? = nil) throws(FisherError) -> [DecoderExample] {
        if let format = TaskDataFormat(fileName: path), format != .jsonl {
            throw .cannotReadData(path: path, reason: "a decoder language model reads JSONL (input_ids and labels, text, or prompt and completion), not \(format.rawValue)")
        }
        var loaded: ByteLevelBPETokenizer?
        func textTokenizer(line: Int) throws(FisherError) -> ByteLevelBPETokenizer {
            if let loaded { return loaded }
            guard let tokenizer else { throw .invalidData(path: path, line: line, reason: "text needs the model's tokenizer; give pre-tokenized input_ids") }
            loaded = try tokenizer()
            return loaded!
        }
        var examples: [DecoderExample] = []
        for (line, object) in try lines(path: path, limit: limit ?? TaskDataset.maxExamples) {
            let fields = ["input_ids", "text", "prompt"].filter { object[$0] != nil && object[$0] != .null }
            guard fields.count == 1 else {
                throw .invalidData(path: path, line: line, reason: fields.isEmpty
                    ? "no input_ids, text, or prompt and completion"
                    : "\(fields.joined(separator: " and ")) together: give one of input_ids, text, or prompt and completion")
            }
            switch fields[0] {
            case "input_ids": examples.append(try tokenized(object, path: path, line: line))
            default: examples.append(try text(object, isText: fields[0] == "text", path: path, line: line, tokenizer: try textTokenizer(line: line)))
            }
        }
        guard !examples.isEmpty else { throw .emptyData(path: path) }
        return examples
    }

    /// A pre-tokenized line: `input_ids`, optional `labels` and `attention_mask`.
    static func tokenized(_ object: JSONValue, path: String, line: Int) throws(FisherError) -> DecoderExample {
        let ids = try integers(object["input_ids"]!, key: "input_ids", path: path, line: line, allowIgnored: false)
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
        return DecoderExample(inputIds: ids, labels: labels, line: line)
    }

    /// A `text` line, or a `prompt` + `completion` line with the prompt masked.
    static func text(_ object: JSONValue, isText: Bool, path: String, line: Int, tokenizer: ByteLevelBPETokenizer) throws(FisherError) -> DecoderExample {
        func string(_ key: String) throws(FisherError) -> String {
            guard let value = object[key], value != .null else { throw .invalidData(path: path, line: line, reason: "'\(key)' is missing") }
            guard let s = value.stringValue else { throw .invalidData(path: path, line: line, reason: "'\(key)' is not a string") }
            return s
        }
        for key in ["labels", "attention_mask"] where object[key] != nil && object[key] != .null {
            throw .invalidData(path: path, line: line, reason: "'\(key)' goes with input_ids, not with text")
        }
        let ids: [Int32], labels: [Int32]?
        if isText {
            if object["completion"] != nil, object["completion"] != .null { throw .invalidData(path: path, line: line, reason: "'completion' goes with 'prompt', not with 'text'") }
            ids = tokenizer.encode(try string("text"), pair: nil, maxLength: Int.max).inputIds
            labels = nil
        } else {
            guard let (whole, promptCount) = tokenizer.encode(prompt: try string("prompt"), completion: try string("completion")) else {
                throw .invalidData(path: path, line: line, reason: "the prompt's tokens are not a prefix of prompt + completion's (a token straddles the boundary, e.g. a prompt ending in a space): move the boundary between words")
            }
            ids = whole
            labels = whole.indices.map { $0 < promptCount ? DecoderExample.ignored : whole[$0] }
        }
        guard !ids.isEmpty else { throw .invalidData(path: path, line: line, reason: "the text has no tokens") }
        return DecoderExample(inputIds: ids, labels: labels, line: line)
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
