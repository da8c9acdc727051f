import Foundation
import Glibc

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
            // Canonical names without training wrappers or a found prefix (the pairing's own names).
            byCanonical[pair.role.canonicalName] = pair
            for name in alignment.pairingNames(pair.base.name) + alignment.pairingNames(pair.finetuned.name) { byCanonical[name] = pair }
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
                try SelectionEvaluator.refusePermuted(p, mask: path, tensor: tensor.name)
            } else if let p = alignment.pairingNames(tensor.name).lazy.compactMap({ byCanonical[$0] }).first {
                pair = p
                // A canonical (PyTorch) name: the mask is in PyTorch's layout.
                if case let .transposed(rows, columns) = p.baseLayout { transpose = (columns, rows) }
                try SelectionEvaluator.refusePermuted(p, mask: path, tensor: tensor.name)
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

    /// A mask in another layout than the base's, where that layout is an axis permutation (a
    /// KerasHub Gemma query kernel against PyTorch's weight): refused rather than read in the
    /// wrong element order; a mask under the base's own name is read as stored.
    static func refusePermuted(_ pair: TensorPair, mask path: String, tensor: String) throws {
        for layout in [pair.baseLayout, pair.finetunedLayout] {
            guard case .permuted = layout else { continue }
            throw PatchError.invalidMask(path: path, tensor: tensor, reason: "the tensor is stored with its axes permuted against this name's layout; name the mask after the base's tensor")
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
        let names = [tensor.name, CheckpointAlignment.pairingName(tensor.name)]
        for term in selection.terms {
            if case let .exclude(glob) = term, names.contains(where: { SelectionEvaluator.matches(glob, $0) }) { return false }
        }
        return true
    }

    /// Whether the rows a resized `pair` gained (and its new shape) are kept: under a whole-tensor
    /// choice, or the `resized` term unless an exclude removes the tensor.
    /// An offset pair (``ShapeChange/isOffset``) has no added rows: the rows only one side has are
    /// Hugging Face's padding rows, not new tokens.
    func keepsAddedRows(_ pair: TensorPair, choice: ElementChoice) -> Bool {
        if pair.shapeChange?.isOffset == true { return false }
        if choice == .all { return true }
        let names = [pair.base.name, pair.finetuned.name, pair.role.canonicalName]
        for term in selection.terms {
            if case let .exclude(glob) = term, names.contains(where: { SelectionEvaluator.matches(glob, $0) }) { return false }
        }
        return selection.terms.contains(.resized)
    }

    func termKeeps(_ term: PatchSelection.Term, role: ParameterRole, names: [String]) -> Bool {
        switch term {
        case .all: return true
        case .layerNorm: return role.kind.isLayerNorm
        case let .bias(types): return role.kind.isBias && (types.isEmpty || types.contains(role.component.biasType))
        case let .lastLayers(n): return role.layer.map { $0 >= layerCount - n } ?? false
        case .head: return role.component == .head
        case let .include(glob): return names.contains { SelectionEvaluator.matches(glob, $0) }
        case .mask, .exclude, .resized: return false
        }
    }

    /// Shell-style pattern match (`*`, `?`, `[...]`); `*` also matches dots.
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }
}
