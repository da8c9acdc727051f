import Foundation
import Glibc

/// Which parameters a task patch keeps: the `--select` language of `ckpt patch`.
///
/// A specification is a comma-separated list of terms:
///
/// | term | keeps |
/// | --- | --- |
/// | `layernorm` | LayerNorm (and RMSNorm) weights and biases |
/// | `bias` | every bias vector, LayerNorm biases included (BitFit) |
/// | `bias:TYPE,TYPE...` | the biases of those BitFit types (`query`, `key`, `value`, `attention_output`, `attention_layernorm`, `intermediate`, `output`, `output_layernorm`, `embeddings_layernorm`, `pooler`, `head`, ...) |
/// | `layers:last=N` | every tensor of the last N transformer layers |
/// | `head` | task-head tensors (`classifier`, `qa_outputs`, `score`, ...) |
/// | `mask:FILE` | the entries a mask file marks 1 (a safetensors file of BOOL/U8 tensors, as `ckpt mask` writes) |
/// | `include:GLOB` | tensors whose name matches the shell pattern |
/// | `exclude:GLOB` | removes matching tensors from everything else |
/// | `all` | every tensor |
///
/// Terms (and several `--select` options) combine as a union; excludes subtract from it. A list of
/// bias types or globs goes on until the next term keyword (`bias:query,key,head` is the bias types
/// query and key plus the `head` term). When every term is an `exclude`, they subtract from the
/// default, `layernorm,bias,head`. Tensors that only the fine-tune has (a new task head) are always
/// kept whole unless an `exclude` removes them.
public struct PatchSelection: Sendable, Equatable, CustomStringConvertible {
    public enum Term: Sendable, Equatable {
        case all
        case layerNorm
        /// Bias vectors; an empty list means every bias type.
        case bias(types: [String])
        case lastLayers(Int)
        case head
        case mask(path: String)
        case include(String)
        case exclude(String)
    }

    public var terms: [Term]

    /// What `ckpt patch` keeps without `--select`.
    public static let defaultSpec = "layernorm,bias,head"
    public static let defaultTerms: [Term] = [.layerNorm, .bias(types: []), .head]

    /// The words that start a new term.
    static let keywords: Set<String> = ["all", "layernorm", "bias", "head"]
    static let prefixed: Set<String> = ["bias", "layers", "mask", "include", "exclude"]

    public init(terms: [Term]) {
        self.terms = terms
    }

    /// Parses the values of every `--select` option; no value means the default.
    public init(specs: [String]) throws(PatchError) {
        var terms: [Term] = []
        for spec in specs { terms += try PatchSelection.parse(spec) }
        if terms.isEmpty || terms.allSatisfy({ if case .exclude = $0 { return true } else { return false } }) {
            terms = PatchSelection.defaultTerms + terms
        }
        self.terms = terms
    }

    static func parse(_ spec: String) throws(PatchError) -> [Term] {
        let tokens = spec.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
        guard tokens.contains(where: { !$0.isEmpty }) else {
            throw .invalidSelection(spec: spec, reason: "empty selection")
        }
        var terms: [Term] = []
        /// Whether the last term takes a list that a bare token extends.
        var openList = false
        for token in tokens {
            if token.isEmpty { throw .invalidSelection(spec: spec, reason: "empty term (two commas in a row?)") }
            let colon = token.firstIndex(of: ":")
            let head = colon.map { String(token[..<$0]) } ?? token
            let argument = colon.map { String(token[token.index(after: $0)...]) }
            if let argument, prefixed.contains(head) {
                switch head {
                case "bias":
                    let type = try validBiasType(argument, spec: spec)
                    terms.append(.bias(types: [type]))
                    openList = true
                case "layers":
                    guard argument.hasPrefix("last="), let n = Int(argument.dropFirst(5)), n >= 1 else {
                        throw .invalidSelection(spec: spec, reason: "'\(token)': expected layers:last=N with N >= 1")
                    }
                    terms.append(.lastLayers(n))
                    openList = false
                case "mask":
                    guard !argument.isEmpty else { throw .invalidSelection(spec: spec, reason: "mask: needs a file name") }
                    terms.append(.mask(path: argument))
                    openList = false
                case "include", "exclude":
                    guard !argument.isEmpty else { throw .invalidSelection(spec: spec, reason: "\(head): needs a name pattern") }
                    terms.append(head == "include" ? .include(argument) : .exclude(argument))
                    openList = true
                default:
                    break
                }
                continue
            }
            if colon == nil, keywords.contains(token) {
                switch token {
                case "all": terms.append(.all)
                case "layernorm": terms.append(.layerNorm)
                case "bias": terms.append(.bias(types: []))
                default: terms.append(.head)
                }
                openList = false
                continue
            }
            if openList, let last = terms.last {
                switch last {
                case let .bias(types) where !types.isEmpty:
                    let type = try validBiasType(token, spec: spec)
                    terms[terms.count - 1] = .bias(types: types + [type])
                    continue
                case .include:
                    terms.append(.include(token))
                    continue
                case .exclude:
                    terms.append(.exclude(token))
                    continue
                default:
                    break
                }
            }
            throw .invalidSelection(spec: spec, reason: "unknown term '\(token)' (expected layernorm, bias, bias:TYPE,..., layers:last=N, head, mask:FILE, include:GLOB, exclude:GLOB or all)")
        }
        return terms
    }

    static func validBiasType(_ name: String, spec: String) throws(PatchError) -> String {
        guard Component.biasTypes.contains(name) else {
            throw .invalidSelection(spec: spec, reason: "unknown bias type '\(name)' (known: \(Component.biasTypes.joined(separator: ", ")))")
        }
        return name
    }

    /// The selection written back as one specification that parses to the same terms.
    public var description: String {
        terms.map { term -> String in
            switch term {
            case .all: return "all"
            case .layerNorm: return "layernorm"
            case let .bias(types) where types.isEmpty: return "bias"
            case let .bias(types):
                // A keyword inside the list would end it when read back: put the one that can be a
                // keyword (`head`) first, where it is read as the list's first type.
                let ordered = types.filter { PatchSelection.keywords.contains($0) } + types.filter { !PatchSelection.keywords.contains($0) }
                return "bias:" + ordered.joined(separator: ",")
            case let .lastLayers(n): return "layers:last=\(n)"
            case .head: return "head"
            case let .mask(path): return "mask:\(path)"
            case let .include(glob): return "include:\(glob)"
            case let .exclude(glob): return "exclude:\(glob)"
            }
        }.joined(separator: ",")
    }

    /// The mask files the selection names.
    public var maskPaths: [String] {
        terms.compactMap { if case let .mask(path) = $0 { return path } else { return nil } }
    }
}

/// What the selection keeps of one tensor.
public enum ElementChoice: Equatable {
    case none
    case all
    /// One byte per element in the base tensor's layout, non-zero = keep.
    case elements([UInt8])

    public var isNone: Bool { self == .none }
}

/// Evaluates a ``PatchSelection`` against a pair of checkpoints: layer count, names, mask files.
public struct SelectionEvaluator {
    public let selection: PatchSelection
    /// Number of transformer layers of the base (highest layer index + 1).
    public let layerCount: Int
    private var masks: [String: [MaskSource]] = [:]

    /// One mask tensor that applies to a base tensor.
    struct MaskSource {
        var file: any Checkpoint
        var tensor: TensorInfo
        /// The mask is stored transposed relative to the base tensor (rows x columns as stored).
        var transpose: (rows: Int, columns: Int)?
    }

    public init(selection: PatchSelection, alignment: CheckpointAlignment, base: [TensorInfo]) throws {
        self.selection = selection
        var layers = 0
        for tensor in base {
            if let layer = ParameterNames.role(of: tensor.name, dtype: tensor.dtype).layer { layers = max(layers, layer + 1) }
        }
        layerCount = layers
        for path in selection.maskPaths {
            try loadMask(path: path, alignment: alignment)
        }
    }

    mutating func loadMask(path: String, alignment: CheckpointAlignment) throws {
        let file: any Checkpoint
        do {
            file = try CheckpointOpener.openSafetensors(path)
        } catch {
            throw PatchError.invalidMask(path: path, tensor: nil, reason: "\(error)")
        }
        var byBase: [String: TensorPair] = [:]
        var byFinetuned: [String: TensorPair] = [:]
        var byCanonical: [String: TensorPair] = [:]
        for pair in alignment.pairs {
            byBase[pair.base.name] = pair
            byFinetuned[pair.finetuned.name] = pair
            byCanonical[ParameterNames.canonicalize(pair.base.name).name] = pair
            byCanonical[ParameterNames.canonicalize(pair.finetuned.name).name] = pair
        }
        let newNames = Set(alignment.onlyInFinetuned.map(\.name))
        for tensor in file.tensors {
            guard tensor.dtype == .bool || tensor.dtype == .u8 else {
                throw PatchError.invalidMask(path: path, tensor: tensor.name, reason: "dtype \(tensor.dtype.rawValue); a mask holds BOOL or U8 values (1 = keep)")
            }
            var transpose: (Int, Int)?
            let pair: TensorPair
            if let p = byBase[tensor.name] {
                pair = p
            } else if let p = byFinetuned[tensor.name] {
                pair = p
                if case let .transposed(rows, columns) = p.finetunedLayout { transpose = (rows, columns) }
            } else if let p = byCanonical[ParameterNames.canonicalize(tensor.name).name] {
                pair = p
                // A canonical (PyTorch) name: the mask is in PyTorch's layout.
                if case let .transposed(rows, columns) = p.baseLayout { transpose = (columns, rows) }
            } else if newNames.contains(tensor.name) {
                continue // tensors only the fine-tune has are kept whole
            } else {
                throw PatchError.invalidMask(path: path, tensor: tensor.name, reason: "no tensor of the base or the fine-tune has this name (by exact or canonical name)")
            }
            guard tensor.elementCount == pair.base.elementCount else {
                throw PatchError.invalidMask(path: path, tensor: tensor.name, reason: "shape \(tensor.shape) does not fit tensor '\(pair.base.name)' of shape \(pair.base.shape)")
            }
            masks[pair.base.name, default: []].append(MaskSource(file: file, tensor: tensor, transpose: transpose))
        }
    }

    /// What the selection keeps of `pair`.
    public func choice(for pair: TensorPair) throws -> ElementChoice {
        let names = [pair.base.name, pair.finetuned.name, pair.role.canonicalName]
        var whole = false
        for term in selection.terms {
            switch term {
            case let .exclude(glob):
                if names.contains(where: { SelectionEvaluator.matches(glob, $0) }) { return .none }
            default:
                if !whole && termKeeps(term, role: pair.role, names: names) { whole = true }
            }
        }
        if whole { return .all }
        guard let sources = masks[pair.base.name] else { return .none }
        var keep = [UInt8](repeating: 0, count: pair.base.elementCount)
        for source in sources {
            try source.file.withBytes(of: source.tensor) { raw in
                if let (rows, columns) = source.transpose {
                    // stored[r][c] is base[c][r]
                    for r in 0..<rows {
                        for c in 0..<columns where raw[r * columns + c] != 0 { keep[c * rows + r] = 1 }
                    }
                } else {
                    for i in 0..<keep.count where raw[i] != 0 { keep[i] = 1 }
                }
            }
        }
        return keep.contains(1) ? .elements(keep) : .none
    }

    /// Whether a tensor only the fine-tune has is kept (it is, unless excluded).
    public func keepsNewTensor(_ tensor: TensorInfo) -> Bool {
        let names = [tensor.name, ParameterNames.canonicalize(tensor.name).name]
        for term in selection.terms {
            if case let .exclude(glob) = term, names.contains(where: { SelectionEvaluator.matches(glob, $0) }) { return false }
        }
        return true
    }

    func termKeeps(_ term: PatchSelection.Term, role: ParameterRole, names: [String]) -> Bool {
        switch term {
        case .all: return true
        case .layerNorm: return role.kind.isLayerNorm
        case let .bias(types): return role.kind.isBias && (types.isEmpty || types.contains(role.component.biasType))
        case let .lastLayers(n): return role.layer.map { $0 >= layerCount - n } ?? false
        case .head: return role.component == .head
        case let .include(glob): return names.contains { SelectionEvaluator.matches(glob, $0) }
        case .mask, .exclude: return false
        }
    }

    /// Shell-style pattern match (`*`, `?`, `[...]`); `*` also matches dots.
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
