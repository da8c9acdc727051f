/// The measure groups and tensors are ranked by.
public enum DifferenceMetric: String, CaseIterable, Sendable, Codable {
    /// ||ft - base|| / ||base|| (for a group: sqrt(sum delta^2) / sqrt(sum base^2)).
    case relative = "relative"
    /// ||ft - base||_1 / numel (for a group: sum |delta| / sum numel), BitFit's measure.
    case meanAbs = "mean-abs"

    /// A short label for reports.
    public var label: String {
        switch self {
        case .relative: return "relative change"
        case .meanAbs: return "mean |delta|"
        }
    }

    /// The value of this metric for one tensor, nil if the tensor was not compared.
    public func value(of tensor: TensorDifference) -> Double? {
        switch self {
        case .relative: return tensor.relativeChange
        case .meanAbs: return tensor.meanAbsDelta
        }
    }
}

/// Several tensors' differences pooled: a component across layers, a layer, a kind, a bias type.
///
/// Pooling adds the sums, so a group's relative change is sqrt(sum delta^2) / sqrt(sum base^2) over
/// its tensors (a norm over the concatenated tensors, not an average of ratios) and its mean
/// absolute change is sum |delta| / sum numel.
public struct DifferenceGroup: Sendable {
    /// The group's label: a component (`output.LayerNorm`), a kind (`bias`), a bias type
    /// (`query`), a layer index (`3`), or `all`.
    public var name: String
    public var layer: Int?
    public var component: Component?
    public var tensorCount = 0
    public var numel = 0
    public var baseSquares: Double = 0
    public var deltaSquares: Double = 0
    public var absoluteDelta: Double = 0
    /// Largest |delta| of any element in the group (NaN if any difference is NaN).
    public var maxAbsDelta: Double = 0
    /// Elements that changed bitwise.
    public var changed = 0
    /// The canonical names of the group's tensors, in the diff's order.
    public var tensors: [String] = []

    public init(name: String, layer: Int? = nil, component: Component? = nil) {
        self.name = name
        self.layer = layer
        self.component = component
    }

    /// Pools one compared tensor into the group.
    public mutating func add(_ tensor: TensorDifference) {
        guard let sums = tensor.sums, let max = tensor.maxAbsDelta else { return }
        tensorCount += 1
        numel += sums.count
        baseSquares += sums.baseSquares
        deltaSquares += sums.deltaSquares
        absoluteDelta += sums.absoluteDelta
        maxAbsDelta = max.isNaN || maxAbsDelta.isNaN ? .nan : Swift.max(maxAbsDelta, max)
        changed += sums.changed
        tensors.append(tensor.name)
    }

    public var baseL2: Double { baseSquares.squareRoot() }
    public var deltaL2: Double { deltaSquares.squareRoot() }
    public var relativeChange: Double { TensorDifference.relativeChange(deltaSquares: deltaSquares, baseSquares: baseSquares) }
    public var meanAbsDelta: Double { numel == 0 ? 0 : absoluteDelta / Double(numel) }

    public func value(of metric: DifferenceMetric) -> Double {
        switch metric {
        case .relative: return relativeChange
        case .meanAbs: return meanAbsDelta
        }
    }
}

/// A diff's parameters pooled every way the fine-tuning literature looks at them.
///
/// Only compared parameters enter (buffers such as `position_ids` and pairs with a problem do
/// not): one integer buffer's norm would otherwise swamp a component's.
public struct DifferenceGroups: Sendable {
    /// By component, bottom to top (which component changes most: the LayerNorm paper's question).
    public var byComponent: [DifferenceGroup]
    /// By kind: LayerNorm weights and biases, linear biases, weight matrices, embeddings.
    public var byKind: [DifferenceGroup]
    /// By BitFit bias type, biases only (LayerNorm biases included): which biases change most.
    public var byBiasType: [DifferenceGroup]
    /// By transformer layer (how change is spread over depth: layer freezing).
    public var byLayer: [DifferenceGroup]
    /// Layer x component cells, for the heatmap.
    public var cells: [DifferenceGroup]
    /// Every compared parameter.
    public var overall: DifferenceGroup

    public init(_ tensors: [TensorDifference]) {
        let parameters = tensors.filter(\.isParameter)
        var components: [Component: DifferenceGroup] = [:]
        var kinds: [ParameterKind: DifferenceGroup] = [:]
        var biasTypes: [String: DifferenceGroup] = [:]
        var biasOrder: [String: Int] = [:]
        var layers: [Int: DifferenceGroup] = [:]
        var cells: [String: DifferenceGroup] = [:]
        var overall = DifferenceGroup(name: "all")
        for tensor in parameters {
            let role = tensor.role
            overall.add(tensor)
            components[role.component, default: DifferenceGroup(name: role.component.rawValue, component: role.component)].add(tensor)
            kinds[role.kind, default: DifferenceGroup(name: role.kind.rawValue)].add(tensor)
            if let biasType = role.biasType {
                biasTypes[biasType, default: DifferenceGroup(name: biasType, component: role.component)].add(tensor)
                biasOrder[biasType] = Component.allCases.firstIndex(of: role.component)
            }
            if let layer = role.layer {
                layers[layer, default: DifferenceGroup(name: String(layer), layer: layer)].add(tensor)
                let key = "\(layer) \(role.component.rawValue)"
                cells[key, default: DifferenceGroup(name: key, layer: layer, component: role.component)].add(tensor)
            }
        }
        byComponent = components.keys.sorted().map { components[$0]! }
        byKind = kinds.keys.sorted().map { kinds[$0]! }
        byBiasType = biasTypes.keys.sorted { (biasOrder[$0]!, $0) < (biasOrder[$1]!, $1) }.map { biasTypes[$0]! }
        byLayer = layers.keys.sorted().map { layers[$0]! }
        self.cells = cells.values.sorted { ($0.layer!, $0.component!) < ($1.layer!, $1.component!) }
        self.overall = overall
    }

    /// `groups` from the largest to the smallest value of `metric` (NaN last, ties in input order).
    public static func ranked(_ groups: [DifferenceGroup], by metric: DifferenceMetric) -> [DifferenceGroup] {
        groups.enumerated().sorted { a, b in
            let x = a.element.value(of: metric), y = b.element.value(of: metric)
            if x.isNaN != y.isNaN { return y.isNaN }
            if x != y, !x.isNaN { return x > y }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// The components that occur inside layers, bottom to top: the heatmap's columns.
    public var layerComponents: [Component] {
        Array(Set(cells.compactMap(\.component))).sorted()
    }
}
