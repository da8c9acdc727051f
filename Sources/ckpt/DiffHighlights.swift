import CheckpointKit
import Foundation

/// The handful of sentences a reader looks for first in a diff: which component, bias type and
/// layer changed most under the chosen metric, and by how much more than the runner-up. Shared by
/// the terminal and HTML reports.
struct DiffHighlights {
    var sentences: [String] = []

    init(document: DiffDocument) {
        let metric = document.metric
        let groups = document.groups
        if let s = DiffHighlights.leader("component", groups.byComponent.filter { $0.component?.isInsideLayer ?? false }, metric,
                                         label: \.componentLabel) {
            sentences.append(s)
        }
        if let s = DiffHighlights.leader("bias type", groups.byBiasType, metric) { sentences.append(s) }
        if groups.byLayer.count > 1, let s = DiffHighlights.leader("layer", groups.byLayer, metric) { sentences.append(s) }
    }

    /// "component changed most: output LayerNorm (relative change 0.125), 1.90x the next
    /// (attention-output LayerNorm)". Groups whose base is all zeros have an infinite relative
    /// change; they are named apart rather than ranked first.
    static func leader(_ what: String, _ groups: [DifferenceGroup], _ metric: DifferenceMetric,
                       label: (DifferenceGroup) -> String = \.name) -> String? {
        let ranked = DifferenceGroups.ranked(groups.filter { $0.value(of: metric).isFinite }, by: metric)
        let zeroBase = groups.filter { $0.value(of: metric).isInfinite }.map(label)
        let note = zeroBase.isEmpty ? "" : "; \(zeroBase.joined(separator: ", ")) left out: base all zeros, relative change infinite"
        guard let first = ranked.first, first.value(of: metric) > 0 else { return nil }
        let value = first.value(of: metric)
        var sentence = "\(what) changed most: \(label(first)) (\(metric.label) \(NumberText.short(value)))"
        if ranked.count > 1 {
            let second = ranked[1]
            let next = second.value(of: metric)
            if next > 0 {
                sentence += ", \(String(format: "%.2f", value / next))x the next (\(label(second)))"
            } else {
                sentence += ", the only one that changed"
            }
        }
        return sentence + note
    }
}

extension DifferenceGroup {
    /// How the reports name a group of ``DifferenceGroups/byComponent``: its component's label
    /// (`attention-output LayerNorm`), the one vocabulary of the terminal and HTML reports.
    var componentLabel: String { component?.names.label ?? name }
}

extension Component {
    /// Whether the component occurs inside transformer layers (a column of the layer table).
    var isInsideLayer: Bool {
        switch self {
        case .query, .key, .value, .fusedQKV, .attentionOutput, .attentionLayerNorm, .intermediate,
             .intermediateGate, .output, .outputLayerNorm:
            return true
        default:
            return false
        }
    }
}

/// Number formats of the diff reports.
extension NumberText {
    /// Three significant digits: "0.123", "3.45e-05", "0", "inf".
    static func short(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        if x == 0 { return "0" }
        let magnitude = abs(x)
        if magnitude >= 0.01 && magnitude < 1000 { return String(format: "%.3g", x) }
        return String(format: "%.2e", x)
    }

    /// Optional numbers: "-" when absent.
    static func short(_ x: Double?) -> String { x.map { short($0) } ?? "-" }

    /// A share as a percentage with one decimal: "98.4%".
    static func percent(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "-" : String(format: "%.1f%%", Double(part) / Double(whole) * 100)
    }
}
