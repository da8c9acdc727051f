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
