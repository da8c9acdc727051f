/// Several tensors' differences pooled: a component across layers, a layer, a kind, a bias type.
///
/// Pooling adds the sums, so a group's relative change is sqrt(sum delta^2) / sqrt(sum base^2) over
/// its tensors (a norm over the concatenated tensors, not an average of ratios) and its mean
/// absolute change is sum |delta| / sum numel. Pairs holding a NaN or an infinity are left out of
/// every number (``nonFinite`` says how many), so a group's numbers are always finite.
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
    /// Largest |delta| of any finite pair in the group.
    public var maxAbsDelta: Double = 0
    /// Pairs left out because a side holds NaN or infinity (counted in ``numel`` too).
    public var nonFinite = 0
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
        guard let sums = tensor.sums else { return }
        add(sums, name: tensor.name)
    }

    /// Pools a compared tensor's sums, under its canonical `name`.
    mutating func add(_ sums: DifferenceSums, name: String) {
        tensorCount += 1
        numel += sums.count
        baseSquares += sums.baseSquares
        deltaSquares += sums.deltaSquares
        absoluteDelta += sums.absoluteDelta
        maxAbsDelta = Swift.max(maxAbsDelta, sums.maxAbsoluteDelta)
        nonFinite += sums.nonFinite
        changed += sums.changed
        tensors.append(name)
    }

    public var baseL2: Double { baseSquares.squareRoot() }
    public var deltaL2: Double { deltaSquares.squareRoot() }
    public var relativeChange: Double { TensorDifference.relativeChange(deltaSquares: deltaSquares, baseSquares: baseSquares) }
    public var meanAbsDelta: Double { numel == nonFinite ? 0 : absoluteDelta / Double(numel - nonFinite) }

    public func value(of metric: DifferenceMetric) -> Double {
        switch metric {
        case .relative: return relativeChange
        case .meanAbs: return meanAbsDelta
        }
    }
}
