import Foundation

extension WordPieceTokenizer {
    /// Largest tokenizer file read (`vocab.txt`, `tokenizer.json`, `tokenizer_config.json`), in
    /// bytes; checked before the file is read. BERT's `tokenizer.json` is 466 KB, multilingual
    /// vocabularies a few MB.
    public static let maxFileBytes = 256 << 20
    /// Most tokens a vocabulary may have (the largest real ones have about 250,000).
    public static let maxVocabularySize = 10_000_000
    /// Longest token, in UTF-8 bytes. Matching a word costs up to its length times this.
    public static let maxTokenBytes = 1024
    /// Largest `max_input_chars_per_word` accepted (Hugging Face's default is 100); longer words
    /// become `[UNK]` without being matched.
    public static let maxInputCharsPerWordLimit = 10_000

    /// The contents of a tokenizer file, refused above ``maxFileBytes`` before it is read.
    static func readLimited(_ path: String) throws(FisherError) -> [UInt8] {
        do { return try MappedFile.contents(of: path, maxBytes: maxFileBytes) } catch {
            if case let .cannotOpen(_, reason) = error { throw .invalidTokenizer(path: path, reason: reason) }
            throw .invalidTokenizer(path: path, reason: "cannot read the file")
        }
    }

    /// Refuses vocabularies over the size and token-length limits.
    static func checkLimits(_ vocabulary: [String], path: String) throws(FisherError) {
        guard vocabulary.count <= maxVocabularySize else {
            throw .invalidTokenizer(path: path, reason: "\(vocabulary.count) tokens, over the limit of \(maxVocabularySize)")
        }
        if let long = vocabulary.firstIndex(where: { $0.utf8.count > maxTokenBytes }) {
            throw .invalidTokenizer(path: path, reason: "token \(long) is \(vocabulary[long].utf8.count) bytes long, over the limit of \(maxTokenBytes)")
        }
    }
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
        let data = try readLimited(path)
        guard let text = String(validating: data, as: UTF8.self) else {
            throw .invalidTokenizer(path: path, reason: "not UTF-8")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        try checkLimits(lines, path: path)
        var options = BertNormalizerOptions()
        var unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]"
        if let configPath, FileManager.default.fileExists(atPath: configPath) {
            let configData = try readLimited(configPath)
            let config: JSONValue
            do { config = try JSONValue.parse(configData) } catch {
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
        try load(TokenizerJSON(path: path))
    }

    /// Loads a parsed `tokenizer.json` whose model is WordPiece.
    static func load(_ file: TokenizerJSON) throws(FisherError) -> WordPieceTokenizer {
        let path = file.path, root = file.root, model = file.model
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
        guard maxId < maxVocabularySize else { throw .invalidTokenizer(path: path, reason: "vocabulary id \(maxId) is too large (the limit is \(maxVocabularySize - 1))") }
        var vocabulary = [String](repeating: "", count: maxId + 1)
        for member in vocabMembers { vocabulary[member.value.intValue!] = member.key }
        try checkLimits(vocabulary, path: path)

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
        guard maxChars <= maxInputCharsPerWordLimit else {
            throw .invalidTokenizer(path: path, reason: "max_input_chars_per_word \(maxChars) is over the limit of \(maxInputCharsPerWordLimit)")
        }
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
