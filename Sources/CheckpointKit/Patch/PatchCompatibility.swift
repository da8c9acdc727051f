/// How well a base fits a patch: what `apply` refuses and `verify` reports.
public struct PatchCompatibility: Sendable, Encodable {
    /// Tensors the patch changes that the base does not have.
    public var missing: [String] = []
    /// Tensors the base has but cannot take the patch's values for: tensor and reason.
    public var incompatible: [Problem] = []
    /// Tensors the patch adds that the base already has.
    public var conflicts: [String] = []
    /// Touched tensors whose bytes differ from the base the patch was made for.
    public var differing: [Problem] = []
    /// Whether the base's manifest (names, dtypes, shapes of every tensor) matches.
    public var manifestMatches = true
    /// Tensors of this base that the patch's base did not have (by name, dtype and shape).
    public var unknownBaseTensors: [String] = []
    /// How many tensors of the patch's base this base lacks (or has with another dtype or shape).
    public var absentBaseTensors = 0

    public struct Problem: Sendable, Encodable, Equatable {
        public var tensor: String
        public var reason: String
    }

    /// Problems no `--force` can get past.
    public var isApplicable: Bool { missing.isEmpty && incompatible.isEmpty && conflicts.isEmpty }
    /// Whether the base is exactly the one the patch was made for.
    public var baseMatches: Bool { differing.isEmpty && manifestMatches }

    enum CodingKeys: String, CodingKey {
        case missing, incompatible, conflicts, differing
        case manifestMatches = "manifest_matches"
        case unknownBaseTensors = "unknown_base_tensors"
        case absentBaseTensors = "absent_base_tensors"
    }

    /// One sentence per problem, most important first.
    public var messages: [String] {
        var out: [String] = []
        out += missing.map { "tensor '\($0)': the base does not have it" }
        out += incompatible.map { "tensor '\($0.tensor)': \($0.reason)" }
        out += conflicts.map { "tensor '\($0)': the patch adds it but the base already has it" }
        out += differing.map { "tensor '\($0.tensor)': \($0.reason)" }
        if !manifestMatches {
            out.append(PatchCompatibility.manifestMessage(unknown: unknownBaseTensors, absent: absentBaseTensors))
        }
        return out
    }

    static func manifestMessage(unknown: [String], absent: Int) -> String {
        var parts: [String] = []
        if !unknown.isEmpty {
            let shown = unknown.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
            parts.append("the base has \(unknown.count) tensor\(unknown.count == 1 ? "" : "s") (name, dtype or shape) the patch's base did not: \(shown)\(unknown.count > 3 ? ", ..." : "")")
        }
        if absent > 0 {
            parts.append("it lacks \(absent) tensor\(absent == 1 ? "" : "s") the patch's base had")
        }
        if parts.isEmpty { parts.append("its tensor list (names, dtypes, shapes) differs from the patch's base") }
        return "base manifest differs: " + parts.joined(separator: "; ")
    }
}
