/// Everything that can go wrong making, reading, applying or verifying a task patch. Each case
/// names the file and, where there is one, the tensor, so the one-line message is enough.
public enum PatchError: Error, CustomStringConvertible, Equatable {
    /// A selection specification (the command line's `--select`) that does not parse.
    case invalidSelection(spec: String, reason: String)
    /// A mask file (selection `mask:FILE`) that cannot be used.
    case invalidMask(path: String, tensor: String?, reason: String)
    /// The file is a valid safetensors file but not a ckpt patch.
    case notAPatch(path: String, reason: String)
    /// A patch written by a newer ckpt.
    case unsupportedVersion(path: String, version: String)
    /// The patch breaks the format (missing or inconsistent metadata, entries, indices).
    case invalidPatch(path: String, tensor: String?, reason: String)
    /// The patch's data does not match its own checksums: modified or damaged after it was written.
    case corruptPatch(path: String, tensor: String?, reason: String)
    /// The patch names a tensor that the base does not have.
    case tensorMissingFromBase(patch: String, base: String, tensor: String)
    /// A tensor of the base is not the one the patch was made from (or cannot take the patch).
    /// `remedy` is ``ErrorRemedy/applyAnyway`` when only the bytes differ and forcing would apply it.
    case baseMismatch(patch: String, base: String, tensor: String?, reason: String, remedy: ErrorRemedy? = nil)
    /// Base and fine-tune disagree on a tensor the selection keeps.
    case pairMismatch(base: String, finetuned: String, tensor: String, reason: String)
    /// The output path is one of the inputs.
    case outputIsInput(output: String, input: String)
    /// The applied result does not match the patch's result fingerprint.
    case resultMismatch(path: String, tensor: String, reason: String)
    /// A combination the implementation does not handle (yet).
    case unsupported(path: String, reason: String)

    public var description: String {
        func named(_ tensor: String?) -> String { tensor.map { ": tensor '\($0)'" } ?? "" }
        switch self {
        case let .invalidSelection(spec, reason):
            return "invalid selection '\(spec)': \(reason)"
        case let .invalidMask(path, tensor, reason):
            return "\(path): mask\(named(tensor)): \(reason)"
        case let .notAPatch(path, reason):
            return "\(path): not a ckpt patch: \(reason)"
        case let .unsupportedVersion(path, version):
            return "\(path): ckpt-patch version \(version) is not supported (this ckpt reads versions 1 to \(PatchFormat.version)); upgrade ckpt"
        case let .invalidPatch(path, tensor, reason):
            return "\(path): invalid patch\(named(tensor)): \(reason)"
        case let .corruptPatch(path, tensor, reason):
            return "\(path): corrupt patch\(named(tensor)): \(reason)"
        case let .tensorMissingFromBase(patch, base, tensor):
            return "\(patch): the patch changes tensor '\(tensor)', which the base \(base) does not have (a patch for another model?)"
        case let .baseMismatch(patch, base, tensor, reason, _):
            return "\(patch): made for another base than \(base)\(named(tensor)): \(reason)"
        case let .pairMismatch(base, finetuned, tensor, reason):
            return "\(finetuned): tensor '\(tensor)' cannot be patched against \(base): \(reason)"
        case let .outputIsInput(output, input):
            return "\(output): the output is the input \(input); write to another path"
        case let .resultMismatch(path, tensor, reason):
            return "\(path): tensor '\(tensor)': the result does not match the patch's result fingerprint: \(reason)"
        case let .unsupported(path, reason):
            return "\(path): \(reason)"
        }
    }
}

extension PatchError: CategorizedError {
    public var category: FailureCategory {
        switch self {
        case .tensorMissingFromBase, .baseMismatch, .pairMismatch: return .mismatch
        default: return .badInput
        }
    }

    public var remedy: ErrorRemedy? {
        if case let .baseMismatch(_, _, _, _, remedy) = self { return remedy }
        return nil
    }
}
