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
/// | `head` | task-head tensors (`classifier`, `qa_outputs`, `score`, ...), a replaced head whole |
/// | `resized` | the rows a fine-tune added to an embedding or output matrix (new tokens) and its new shape |
/// | `mask:FILE` | the entries a mask file marks 1 (a safetensors file of BOOL/U8 tensors, as `ckpt mask` writes) |
/// | `include:GLOB` | tensors whose name matches the shell pattern |
/// | `exclude:GLOB` | removes matching tensors from everything else |
/// | `all` | every tensor |
///
/// Terms (and several `--select` options) combine as a union; excludes subtract from it. A list of
/// bias types or globs goes on until the next term keyword (`bias:query,key,head` is the bias types
/// query and key plus the `head` term). When every term is an `exclude`, they subtract from the
/// default, `layernorm,bias,head,resized`. Tensors that only the fine-tune has (a new task head) are always
/// kept whole unless an `exclude` removes them.
public struct PatchSelection: Sendable, Equatable, CustomStringConvertible {
    public enum Term: Sendable, Equatable {
        case all
        case layerNorm
        /// Bias vectors; an empty list means every bias type.
        case bias(types: [String])
        case lastLayers(Int)
        case head
        /// Rows added to (or removed from) embedding and output matrices: the new shape.
        case resized
        case mask(path: String)
        case include(String)
        case exclude(String)
    }

    public var terms: [Term]

    /// What `ckpt patch` keeps without `--select`.
    public static let defaultSpec = "layernorm,bias,head,resized"
    public static let defaultTerms: [Term] = [.layerNorm, .bias(types: []), .head, .resized]

    /// The words that start a new term.
    static let keywords: Set<String> = ["all", "layernorm", "bias", "head", "resized"]
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
                case "resized": terms.append(.resized)
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
            throw .invalidSelection(spec: spec, reason: "unknown term '\(token)' (expected layernorm, bias, bias:TYPE,..., layers:last=N, head, resized, mask:FILE, include:GLOB, exclude:GLOB or all)")
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
            case .resized: return "resized"
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
