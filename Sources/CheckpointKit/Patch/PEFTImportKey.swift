/// What one tensor of a PEFT adapter file does to the base, read from its name: peft saves
/// `base_model.model.` + the module's name in the model + the adapter parameter, with the adapter
/// name removed (`peft/utils/save_and_load.py`, `get_peft_model_state_dict`).
enum PEFTImportKey: Equatable, Sendable {
    /// `<module>.lora_A.weight`, (r, in).
    case loraA(module: String)
    /// `<module>.lora_B.weight`, (out, r).
    case loraB(module: String)
    /// `<module>.lora_B.bias` (`lora_bias=True`): added to the module's bias, times the scaling.
    case loraBias(module: String)
    /// `<module>.lora_embedding_A`, (r, vocabulary).
    case embeddingA(module: String)
    /// `<module>.lora_embedding_B`, (dim, r).
    case embeddingB(module: String)
    /// `<module>.beft_bias`, (1, out): added to the module's bias.
    case beftBias(module: String)
    /// A whole tensor that replaces the model's: an `LN_TUNING` copy
    /// (`<module>.ln_tuning_layers.<param>`), a `modules_to_save` module, a bias saved with
    /// `bias="all"`, an embedding saved with the adapter (`<module>.base_layer.weight`).
    case replacement(tensor: String)

    static let prefix = "base_model.model."

    /// Suffixes of the adapter parameters, and what each one is.
    static let suffixes: [(String, @Sendable (String) -> PEFTImportKey)] = [
        (".lora_A.weight", { .loraA(module: $0) }), (".lora_B.weight", { .loraB(module: $0) }),
        (".lora_B.bias", { .loraBias(module: $0) }),
        (".lora_embedding_A", { .embeddingA(module: $0) }), (".lora_embedding_B", { .embeddingB(module: $0) }),
        (".beft_bias", { .beftBias(module: $0) }),
    ]

    /// Reads `name`, a tensor of the adapter file `path`.
    init(_ name: String, path: String) throws(PEFTAdapterError) {
        guard name.hasPrefix(Self.prefix) else {
            throw .invalidTensor(path: path, tensor: name, reason: "not under base_model.model. (a prompt-learning adapter?); ckpt merges LORA, LN_TUNING and BEFT adapters")
        }
        let rest = String(name.dropFirst(Self.prefix.count))
        for (suffix, make) in Self.suffixes where rest.hasSuffix(suffix) && rest.count > suffix.count {
            self = make(String(rest.dropLast(suffix.count)))
            return
        }
        var parts = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        parts.removeAll { $0 == "ln_tuning_layers" || $0 == "base_layer" }
        if let unknown = parts.first(where: Self.isAdapterParameter) {
            throw .invalidTensor(path: path, tensor: name, reason: "'\(unknown)' is an adapter parameter ckpt does not merge")
        }
        self = .replacement(tensor: parts.joined(separator: "."))
    }

    /// A path component that names an adapter's own parameter rather than a module of the model
    /// (`lora_magnitude_vector`, `ia3_l`, a wrapper's `modules_to_save` / `token_adapter`).
    static func isAdapterParameter(_ component: String) -> Bool {
        ["lora_", "ia3_", "beft_", "ln_tuning"].contains { component.hasPrefix($0) }
            || ["modules_to_save", "original_module", "token_adapter", "trainable_tokens_delta"].contains(component)
    }
}
