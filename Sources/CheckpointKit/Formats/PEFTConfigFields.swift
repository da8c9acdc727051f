/// Typed access to the members of a parsed `adapter_config.json`, each failure naming the field:
/// the checks behind ``PEFTAdapterSettings``.
struct PEFTConfigFields {
    var root: JSONValue
    var path: String

    /// The member's value, nil when absent or JSON null.
    func value(_ key: String) -> JSONValue? {
        guard let value = root[key], value != .null else { return nil }
        return value
    }

    func fail(_ key: String, _ expected: String) -> PEFTAdapterError {
        .invalidConfig(path: path, reason: "\"\(key)\" is not \(expected)")
    }

    func string(_ key: String) throws(PEFTAdapterError) -> String? {
        guard let value = value(key) else { return nil }
        guard let s = value.stringValue else { throw fail(key, "a string") }
        return s
    }

    func integer(_ key: String) throws(PEFTAdapterError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let i = value.intValue else { throw fail(key, "an integer") }
        return i
    }

    func number(_ key: String) throws(PEFTAdapterError) -> Double? {
        switch value(key) {
        case nil: return nil
        case let .integer(i)?: return Double(i)
        case let .number(d)? where d.isFinite: return d
        default: throw fail(key, "a finite number")
        }
    }

    func bool(_ key: String) throws(PEFTAdapterError) -> Bool? {
        switch value(key) {
        case nil: return nil
        case let .bool(b)?: return b
        default: throw fail(key, "true or false")
        }
    }

    /// A list of strings, or one string (a regular expression, as peft allows for `target_modules`).
    func stringList(_ key: String) throws(PEFTAdapterError) -> [String] {
        switch value(key) {
        case nil: return []
        case let .string(s)?: return [s]
        case let .array(items)?:
            var out: [String] = []
            for item in items {
                guard let s = item.stringValue else { throw fail(key, "a list of strings") }
                out.append(s)
            }
            return out.sorted()
        default: throw fail(key, "a list of strings")
        }
    }

    /// `rank_pattern` / `alpha_pattern`: an object of positive numbers (integers for ranks).
    func pattern(_ key: String, integers: Bool) throws(PEFTAdapterError) -> [PEFTAdapterSettings.PatternEntry] {
        guard let value = value(key) else { return [] }
        guard let members = value.objectValue else { throw fail(key, "an object") }
        var out: [PEFTAdapterSettings.PatternEntry] = []
        for (name, entry) in members {
            guard !name.isEmpty, name.utf8.count <= PEFTAdapterSettings.maxPatternKeyBytes else {
                throw fail(key, "an object with keys of 1 to \(PEFTAdapterSettings.maxPatternKeyBytes) bytes")
            }
            let number: Double
            switch entry {
            case let .integer(i): number = Double(i)
            case let .number(d) where !integers && d.isFinite: number = d
            default: throw fail(key, integers ? "an object of integers" : "an object of numbers")
            }
            guard !integers || (number > 0 && number <= Double(1 << 30)) else { throw fail(key, "an object of ranks from 1 to 2^30") }
            out.append(.init(key: name, value: number))
        }
        return out
    }

    /// The LoRA settings under which the merged weights are not W + scaling·B·A of the saved
    /// factors: refused with the reason (peft 0.21.2 `LoraConfig` field names).
    func refuseLoRAVariants() throws(PEFTAdapterError) {
        if try bool("use_dora") == true {
            throw .unsupportedSetting(path: path, setting: "DoRA (use_dora)", reason: "the merged weight is rescaled column by column by the saved magnitude vector; ckpt merges plain LoRA only")
        }
        for key in ["alora_invocation_tokens", "arrow_config", "use_bdlora", "velora_config", "monteclora_config",
                    "mica", "kasa_config", "layer_replication", "trainable_token_indices", "lora_ga_config", "megatron_config"] {
            if let v = value(key), v != .bool(false), v != .array([]), v != .object([]) {
                throw .unsupportedSetting(path: path, setting: key, reason: "a LoRA variant or model change ckpt does not merge")
            }
        }
        if try bool("use_qalora") == true {
            throw .unsupportedSetting(path: path, setting: "use_qalora", reason: "a LoRA variant ckpt does not merge")
        }
        if let targets = value("target_parameters"), targets != .array([]) {
            throw .unsupportedSetting(path: path, setting: "target_parameters", reason: "LoRA on bare parameters is not merged by ckpt")
        }
        if case let .string(s)? = value("init_lora_weights"), s != "gaussian" {
            throw .unsupportedSetting(path: path, setting: "init_lora_weights \"\(s)\"", reason: "this initialisation rewrites the base weights, so the adapter only applies to the rewritten base; save it converted to plain LoRA (peft path_initial_model_for_weight_conversion)")
        }
    }
}
