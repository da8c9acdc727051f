import Foundation

/// The names an adapter records: the base's directory (`base_model_name_or_path`) and the
/// `task_type` from the fine-tune's `config.json` or head.
extension PEFTExport {
    /// The directory a model was loaded from: `path` itself, or the directory of a weights file.
    static func modelDirectory(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return path }
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// The model's `config.json`, parsed, or nil.
    static func modelConfig(_ path: String) -> JSONValue? {
        let file = modelDirectory(path) + "/config.json"
        guard FileManager.default.fileExists(atPath: file),
              let data = try? MappedFile.contents(of: file, maxBytes: 1 << 20) else { return nil }
        return try? JSONValue.parse(data)
    }

    /// `base_model_name_or_path`: the base's directory as given, which is what peft records (the
    /// `name_or_path` the base was loaded from). A config's `_name_or_path` is not used: it often
    /// names the model the base was itself trained from (all-MiniLM-L6-v2's says
    /// `nreimers/MiniLM-L6-H384-uncased`).
    static func baseModelName(path: String) -> String {
        modelDirectory(path)
    }

    /// peft's `task_type` from the fine-tune's `architectures` (config.json), else from its head's
    /// name; `FEATURE_EXTRACTION` without a head (peft's task types: `peft/utils/peft_types.py`).
    static func taskType(finetuned: String, heads: [String]) -> String? {
        let architectures = modelConfig(finetuned)?["architectures"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let table = [("ForSequenceClassification", "SEQ_CLS"), ("ForTokenClassification", "TOKEN_CLS"),
                     ("ForQuestionAnswering", "QUESTION_ANS"), ("ForCausalLM", "CAUSAL_LM"),
                     ("LMHeadModel", "CAUSAL_LM"), ("ForConditionalGeneration", "SEQ_2_SEQ_LM")]
        for architecture in architectures {
            if let match = table.first(where: { architecture.hasSuffix($0.0) }) { return match.1 }
        }
        if heads.contains("classifier") || heads.contains("score") { return "SEQ_CLS" }
        if heads.contains("qa_outputs") { return "QUESTION_ANS" }
        return heads.isEmpty ? "FEATURE_EXTRACTION" : nil
    }
}
