import Foundation

/// A parameter mask chosen by Fisher value.
public struct FisherMask: Sendable {
    public var tensors: [MaskTensor]
    public var options: MaskOptions
    /// The Fisher files the mask was chosen from.
    public var sources: [String]

    public var keptCount: Int { tensors.reduce(0) { $0 + $1.keptCount } }
    public var totalCount: Int { tensors.reduce(0) { $0 + $1.keep.count } }

    /// Chooses the entries with the largest Fisher values; ties go to the smaller tensor name, then
    /// the smaller index, so the mask is deterministic. Several files (same names and shapes) are
    /// masked one by one and combined by union or intersection.
    public static func select(_ fishers: [FisherResult], sources: [String], options: MaskOptions) throws(FisherError) -> FisherMask {
        try options.validate(fileCount: fishers.count)
        let first = fishers[0]
        let shapes = first.tensors.map { ($0.name, $0.shape) }
        for (i, other) in fishers.enumerated().dropFirst() {
            let otherShapes = Dictionary(other.tensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
            let firstNames = Set(shapes.map(\.0))
            if let missing = shapes.first(where: { otherShapes[$0.0] == nil }) {
                throw .namesMismatch(path: sources[i], reason: "no tensor '\(missing.0)', which \(sources[0]) has")
            }
            if let extra = other.tensors.first(where: { !firstNames.contains($0.name) }) {
                throw .namesMismatch(path: sources[i], reason: "tensor '\(extra.name)' is not in \(sources[0])")
            }
            for (name, shape) in shapes where otherShapes[name]! != shape {
                throw .namesMismatch(path: sources[i], reason: "'\(name)' has shape \(otherShapes[name]!), in \(sources[0]) \(shape)")
            }
        }
        var combined: [[UInt8]]? = nil
        for fisher in fishers {
            let byName = Dictionary(fisher.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let ordered = shapes.map { byName[$0.0]! }
            let mask = selectOne(ordered, options: options)
            if var current = combined {
                for t in 0..<current.count {
                    for j in 0..<current[t].count {
                        current[t][j] = options.combination == .union ? (current[t][j] | mask[t][j]) : (current[t][j] & mask[t][j])
                    }
                }
                combined = current
            } else {
                combined = mask
            }
        }
        let tensors = zip(first.tensors, combined!).map { MaskTensor(name: $0.name, shape: $0.shape, keep: $1) }
        return FisherMask(tensors: tensors, options: options, sources: sources)
    }

    private static func selectOne(_ tensors: [FisherTensor], options: MaskOptions) -> [[UInt8]] {
        var mask = tensors.map { [UInt8](repeating: 0, count: $0.values.count) }
        // Groups of (tensor index) sharing one budget.
        var groups: [[Int]] = []
        switch options.scope {
        case .global: groups = [Array(tensors.indices)]
        case .tensor: groups = tensors.indices.map { [$0] }
        case .layer:
            var order: [String] = []
            var members: [String: [Int]] = [:]
            for (i, t) in tensors.enumerated() {
                let layer = MaskGroups.layer(of: t.name)
                if members[layer] == nil { order.append(layer) }
                members[layer, default: []].append(i)
            }
            groups = order.map { members[$0]! }
        }
        for group in groups {
            let names = group.map { tensors[$0].name }
            // Sort tensors of the group by name so that ties break by name, then index.
            let byName = zip(group, names).sorted { $0.1 < $1.1 }.map(\.0)
            var entries: [(value: Double, tensor: Int, index: Int)] = []
            for (rank, t) in byName.enumerated() {
                for (j, v) in tensors[t].values.enumerated() { entries.append((v, rank, j)) }
            }
            let n = entries.count
            let k: Int
            switch options.selection {
            case let .percent(p):
                let raw = Int((p / 100 * Double(n)).rounded())
                k = p > 0 ? min(n, max(raw, 1)) : 0
            case let .count(c): k = min(n, c)
            }
            guard k > 0 else { continue }
            entries.sort { a, b in
                if a.value != b.value { return a.value > b.value }
                if a.tensor != b.tensor { return a.tensor < b.tensor }
                return a.index < b.index
            }
            for e in entries.prefix(k) { mask[byName[e.tensor]][e.index] = 1 }
        }
        return mask
    }

    // MARK: Where the kept entries sit

    public var perTensor: [MaskCount] {
        tensors.map { MaskCount(name: $0.name, kept: $0.keptCount, total: $0.keep.count) }
    }

    /// Kept counts per component (embeddings / attention-output / output LayerNorm weight and bias,
    /// biases by type), in first-seen order.
    public var perComponent: [MaskCount] { group(by: MaskGroups.component(of:)) }

    /// Kept counts per layer (embeddings, layer 0, ..., pooler, classifier).
    public var perLayer: [MaskCount] { group(by: MaskGroups.layer(of:)) }

    private func group(by key: (String) -> String) -> [MaskCount] {
        var order: [String] = []
        var counts: [String: MaskCount] = [:]
        for t in tensors {
            let k = key(t.name)
            if counts[k] == nil {
                order.append(k)
                counts[k] = MaskCount(name: k, kept: 0, total: 0)
            }
            counts[k]!.kept += t.keptCount
            counts[k]!.total += t.keep.count
        }
        return order.map { counts[$0]! }
    }

    /// The `__metadata__` of the mask file.
    public var metadata: [String: String] {
        var m: [String: String] = [
            "format": "ckpt-mask",
            "scope": options.scope.rawValue,
            "sources": JSONOutput.compact(sources),
            "combine": options.combination.rawValue,
            "kept": String(keptCount),
            "total": String(totalCount),
        ]
        switch options.selection {
        case let .percent(p):
            m["keep"] = "\(p.compactDescription)%"
        case let .count(k):
            m["keep"] = String(k)
            m["count"] = String(k)
        }
        return m
    }

    /// Writes the mask: one U8 tensor per parameter (1 = keep), atomically.
    public func write(to path: String) throws {
        try FisherFileWriter.write(tensors.map { FisherFileWriter.Entry(name: $0.name, shape: $0.shape, payload: .u8($0.keep)) },
                                   metadata: metadata, to: path)
    }
}
