/// What pairing removed from tensor names so that the two checkpoints meet: training wrappers
/// (``TrainingWrappers``) and prefixes found by ``PrefixSearch``, per side; or, when the search
/// found several strippings that pair equally many tensors, those candidates (none applied).
///
/// Model prefixes a task model adds (`bert.`, `model.`, `base_model.model.`, see
/// ``ParameterNames/modelPrefixes``) are part of the canonical name and not listed here.
public struct PrefixStripping: Sendable, Equatable, Encodable {
    /// One way to make the sides meet: remove `base` from the front of base names and
    /// `finetuned` from the front of fine-tuned names (either may be empty).
    public struct Candidate: Sendable, Hashable, Encodable {
        public var base: String
        public var finetuned: String
        /// Tensors this stripping pairs that were not paired otherwise.
        public var pairs: Int

        enum CodingKeys: String, CodingKey { case base, finetuned, pairs }
    }

    /// Removed from base names, most tensors first (`module.`, `_fsdp_wrapped_module.`, a found prefix).
    public var base: [String] = []
    /// Removed from fine-tuned names, most tensors first.
    public var finetuned: [String] = []
    /// The prefix search's tie: two or more strippings pair equally many tensors, so none was
    /// applied (a name map pairs them explicitly). Empty when there was no tie.
    public var ambiguous: [Candidate] = []

    public init(base: [String] = [], finetuned: [String] = [], ambiguous: [Candidate] = []) {
        self.base = base
        self.finetuned = finetuned
        self.ambiguous = ambiguous
    }

    public var isEmpty: Bool { base.isEmpty && finetuned.isEmpty && ambiguous.isEmpty }

    /// The human report's line ("pairing: stripped 'module.' from the fine-tune's names"), or nil
    /// when nothing was stripped and nothing was ambiguous.
    public var line: String? {
        if !ambiguous.isEmpty {
            let options = ambiguous.prefix(3).map(\.described).joined(separator: " or ")
            return "pairing: ambiguous, \(options) would pair \(ambiguous[0].pairs) tensors each; none applied (pair them with a name map)"
        }
        var parts: [String] = []
        if !base.isEmpty { parts.append("\(PrefixStripping.quoted(base)) from the base's names") }
        if !finetuned.isEmpty { parts.append("\(PrefixStripping.quoted(finetuned)) from the fine-tune's names") }
        return parts.isEmpty ? nil : "pairing: stripped " + parts.joined(separator: " and ")
    }

    static func quoted(_ prefixes: [String]) -> String {
        prefixes.map { "'\($0)'" }.joined(separator: ", ")
    }

    enum CodingKeys: String, CodingKey {
        case base = "stripped_from_base", finetuned = "stripped_from_finetuned", ambiguous
    }
}

extension PrefixStripping.Candidate {
    /// "stripping 'encoder.' from the fine-tune".
    var described: String {
        var sides: [String] = []
        if !base.isEmpty { sides.append("'\(base)' from the base") }
        if !finetuned.isEmpty { sides.append("'\(finetuned)' from the fine-tune") }
        return "stripping " + sides.joined(separator: " and ")
    }
}
