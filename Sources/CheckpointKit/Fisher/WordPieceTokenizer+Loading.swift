import Foundation

extension WordPieceTokenizer {
    /// Loads the tokenizer of a Hugging Face model directory: `tokenizer.json` (WordPiece model,
    /// `BertNormalizer` settings, added tokens) if present, otherwise `vocab.txt` with
    /// `do_lower_case`, `strip_accents` and `tokenize_chinese_chars` from `tokenizer_config.json`.
    public static func load(directory: String) throws(FisherError) -> WordPieceTokenizer {
        let json = directory + "/tokenizer.json"
        if FileManager.default.fileExists(atPath: json) { return try load(tokenizerJSON: json) }
        let vocab = directory + "/vocab.txt"
        if FileManager.default.fileExists(atPath: vocab) {
            return try load(vocabTxt: vocab, config: directory + "/tokenizer_config.json")
        }
        throw .missingTokenizer(directory: directory)
    }

    /// Loads `vocab.txt` (one token a line, id = line number) with the options of a
    /// `tokenizer_config.json` if that file exists.
    public static func load(vocabTxt path: String, config configPath: String? = nil) throws(FisherError) -> WordPieceTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidTokenizer(path: path, reason: "cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .invalidTokenizer(path: path, reason: "not UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        var options = BertNormalizerOptions()
        var unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]"
        if let configPath, let configData = FileManager.default.contents(atPath: configPath) {
            let config: JSONValue
            do { config = try JSONValue.parse(Array(configData)) } catch {
                throw .invalidTokenizer(path: configPath, reason: "JSON: \(error)")
            }
            if case let .bool(b)? = config["do_lower_case"] { options.lowercase = b }
            if case let .bool(b)? = config["strip_accents"] { options.stripAccents = b }
            if case let .bool(b)? = config["tokenize_chinese_chars"] { options.handleChineseChars = b }
            unk = config["unk_token"]?.stringValue ?? unk
            cls = config["cls_token"]?.stringValue ?? cls
            sep = config["sep_token"]?.stringValue ?? sep
            pad = config["pad_token"]?.stringValue ?? pad
        }
        do {
            return try WordPieceTokenizer(vocabulary: lines, normalizer: options, unknownToken: unk, clsToken: cls, sepToken: sep, padToken: pad)
        } catch let error {
            throw relabel(error, path: path)
        }
    }

    /// Loads a `tokenizers` `tokenizer.json` whose model is WordPiece.
    public static func load(tokenizerJSON path: String) throws(FisherError) -> WordPieceTokenizer {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .invalidTokenizer(path: path, reason: "cannot read the file")
        }
        let root: JSONValue
        do { root = try JSONValue.parse(Array(data)) } catch {
            throw .invalidTokenizer(path: path, reason: "JSON: \(error)")
        }
        guard let model = root["model"], model.objectValue != nil else {
            throw .invalidTokenizer(path: path, reason: "no 'model' object")
        }
        let modelType = model["type"]?.stringValue ?? "WordPiece"
        guard modelType == "WordPiece" else {
            throw .invalidTokenizer(path: path, reason: "model type is \(modelType), only WordPiece (BERT) is supported; give pre-tokenized input_ids in a JSONL data file instead")
        }
        guard let vocabMembers = model["vocab"]?.objectValue else {
            throw .invalidTokenizer(path: path, reason: "model.vocab is not an object")
        }
        var maxId = -1
        for member in vocabMembers {
            guard let id = member.value.intValue, id >= 0 else {
                throw .invalidTokenizer(path: path, reason: "vocabulary id of '\(member.key)' is not a non-negative integer")
            }
            maxId = max(maxId, id)
        }
        guard maxId < 10_000_000 else { throw .invalidTokenizer(path: path, reason: "vocabulary id \(maxId) is too large") }
        var vocabulary = [String](repeating: "", count: maxId + 1)
        for member in vocabMembers { vocabulary[member.value.intValue!] = member.key }

        var options = BertNormalizerOptions()
        if let normalizer = root["normalizer"], normalizer != .null {
            guard normalizer["type"]?.stringValue == "BertNormalizer" else {
                throw .invalidTokenizer(path: path, reason: "normalizer is \(normalizer["type"]?.stringValue ?? "?"), only BertNormalizer is supported")
            }
            if case let .bool(b)? = normalizer["clean_text"] { options.cleanText = b }
            if case let .bool(b)? = normalizer["handle_chinese_chars"] { options.handleChineseChars = b }
            if case let .bool(b)? = normalizer["strip_accents"] { options.stripAccents = b }
            if case let .bool(b)? = normalizer["lowercase"] { options.lowercase = b }
        } else {
            options = BertNormalizerOptions(cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: false)
        }
        if let pre = root["pre_tokenizer"], pre != .null, pre["type"]?.stringValue != "BertPreTokenizer" {
            throw .invalidTokenizer(path: path, reason: "pre_tokenizer is \(pre["type"]?.stringValue ?? "?"), only BertPreTokenizer is supported")
        }
        var cls = "[CLS]", sep = "[SEP]"
        if let post = root["post_processor"], post != .null {
            switch post["type"]?.stringValue {
            case "BertProcessing"?:
                cls = post["cls"]?.arrayValue?.first?.stringValue ?? cls
                sep = post["sep"]?.arrayValue?.first?.stringValue ?? sep
            case "TemplateProcessing"?:
                let single = post["single"]?.arrayValue ?? []
                let names = single.compactMap { $0["SpecialToken"]?["id"]?.stringValue }
                if names.count == 2 { cls = names[0]; sep = names[1] }
            default:
                break
            }
        }
        var added: [(String, Int32)] = []
        for token in root["added_tokens"]?.arrayValue ?? [] {
            guard let content = token["content"]?.stringValue, let id = token["id"]?.intValue else { continue }
            if case .bool(true)? = token["normalized"] { continue }
            added.append((content, Int32(id)))
        }
        let unk = model["unk_token"]?.stringValue ?? "[UNK]"
        let prefix = model["continuing_subword_prefix"]?.stringValue ?? "##"
        let maxChars = model["max_input_chars_per_word"]?.intValue ?? 100
        do {
            return try WordPieceTokenizer(vocabulary: vocabulary, normalizer: options, unknownToken: unk,
                                          clsToken: cls, sepToken: sep, continuingSubwordPrefix: prefix,
                                          maxInputCharsPerWord: maxChars, addedTokens: added)
        } catch let error {
            throw relabel(error, path: path)
        }
    }

    private static func relabel(_ error: FisherError, path: String) -> FisherError {
        if case let .invalidTokenizer(_, reason) = error { return .invalidTokenizer(path: path, reason: reason) }
        return error
    }
}
