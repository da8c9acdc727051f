import CheckpointKit
import Foundation

/// The terminal report of `ckpt diff`: a warning first when either side holds NaN or infinity,
/// the regime line, headline findings, the top tensors, group
/// rankings by component, bias type and layer with bars, the layer x component table, and what
/// could not be paired or compared.
struct DiffTerminalReport {
    var document: DiffDocument
    var top: Int

    var text: String {
        let diff = document.diff
        let groups = document.groups
        let metric = document.metric
        var lines: [String] = []
        if let warning = NonFiniteProblem.warningLine(document.problems) { lines.append("warning    \(warning)") }
        lines.append("base       \(diff.basePath) (\(diff.baseFormat.rawValue))")
        lines.append("fine-tune  \(diff.finetunedPath) (\(diff.finetunedFormat.rawValue))")
        lines.append(document.regime.line)
        if let pairing = diff.stripping.line { lines.append(pairing) }
        let overall = groups.overall
        let changedTensors = diff.tensors.filter { ($0.changed ?? 0) > 0 }.count
        lines.append("compared   \(Format.count(diff.tensors.count)) tensor pairs (\(Format.count(changedTensors)) changed), "
            + "\(Format.count(overall.numel)) parameters (\(Format.count(overall.changed)) changed), "
            + "\(Format.bytes(diff.bytesCompared)) read in \(String(format: "%.2f", diff.seconds)) s")
        if let savedAs = document.regime.savedAs {
            lines.append("precision  every measure and ranking compares the fine-tune with the base converted to \(savedAs.rawValue) "
                + "as PyTorch converts it; --json and --csv also give the raw difference from the stored base (raw_*)")
        }
        if let rounded = document.regime.roundedThrough {
            lines.append("precision  the fine-tune's \(Format.count(diff.tensors.filter { $0.roundedThrough != nil }.count)) F32 tensors that hold only \(rounded.rawValue) values "
                + "are compared with the base rounded to \(rounded.rawValue) as PyTorch rounds it; --json and --csv also give the raw difference from the stored base (raw_*)")
        }
        lines.append("overall    relative change \(NumberText.short(overall.relativeChange)), mean |delta| \(NumberText.short(overall.meanAbsDelta)), max |delta| \(NumberText.short(overall.maxAbsDelta))"
            + (overall.nonFinite > 0 ? " over finite values (\(Format.count(overall.nonFinite)) NaN/Inf left out)" : ""))
        for sentence in DiffHighlights(document: document).sentences { lines.append("finding    \(sentence)") }

        if top > 0 {
            lines.append("")
            lines.append("Top \(top) tensors by \(metric.label)")
            let shown = Self.topTensors(diff.tensors, by: metric, count: top)
            let width = min(60, shown.map(\.name.count).max() ?? 10)
            lines.append("  " + Format.pad("tensor", width) + "  " + ["numel", "rel.change", "mean|d|", "max|d|", "changed"].map { Format.padLeft($0, 10) }.joined(separator: " "))
            for t in shown {
                let cells = [Format.count(t.numel), NumberText.short(t.relativeChange), NumberText.short(t.meanAbsDelta),
                             NumberText.short(t.maxAbsDelta), NumberText.percent(t.changed ?? 0, of: t.numel)]
                lines.append("  " + Format.pad(t.name, width) + "  " + cells.map { Format.padLeft($0, 10) }.joined(separator: " "))
            }
        }
        lines += ranking("Components", groups.byComponent, metric, label: \.componentLabel)
        lines += ranking("Bias types (BitFit)", groups.byBiasType, metric)
        lines += ranking("Layers", groups.byLayer, metric, label: { "layer \($0.name)" })
        lines += layerTable(groups, metric)
        lines += oneSided("Only in base", diff.onlyInBase)
        lines += oneSided("Only in fine-tune", diff.onlyInFinetuned)
        lines += shapeChanges(diff.tensors)
        let mismatched = diff.tensors.filter { $0.problem != nil || $0.baseDType != $0.finetunedDType }
        if !mismatched.isEmpty {
            lines.append("")
            lines.append("Shape / dtype mismatches (\(mismatched.count))")
            for t in mismatched {
                let what = t.problem ?? "dtype \(t.baseDType.rawValue) in base vs \(t.finetunedDType.rawValue) in fine-tune (compared as values)"
                lines.append("  \(t.name): \(what)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The `count` compared tensors with the largest value of `metric`, ties in diff order: small
    /// (value, index) keys are sorted rather than the tensors themselves (each a large value, which
    /// a sort moves many times over at 100,000 tensors).
    static func topTensors(_ tensors: [TensorDifference], by metric: DifferenceMetric, count: Int) -> [TensorDifference] {
        var keys: [(value: Double, index: Int)] = []
        keys.reserveCapacity(tensors.count)
        for (index, tensor) in tensors.enumerated() where tensor.sums != nil {
            keys.append((rankValue(metric.value(of: tensor)), index))
        }
        keys.sort { $0.value != $1.value ? $0.value > $1.value : $0.index < $1.index }
        return keys.prefix(count).map { tensors[$0.index] }
    }

    /// A tensor's value for sorting: never NaN (a NaN would break the order), -1 when not compared.
    static func rankValue(_ value: Double?) -> Double {
        guard let value, !value.isNaN else { return -1 }
        return value
    }

    /// A ranking with proportional bars, largest first.
    private func ranking(_ title: String, _ list: [DifferenceGroup], _ metric: DifferenceMetric,
                         label: (DifferenceGroup) -> String = { $0.name }) -> [String] {
        guard !list.isEmpty else { return [] }
        let ranked = DifferenceGroups.ranked(list, by: metric)
        let maximum = ranked.map { $0.value(of: metric) }.filter(\.isFinite).max() ?? 0
        let width = ranked.map { label($0).count }.max() ?? 10
        var lines = ["", "\(title) by \(metric.label)"]
        for group in ranked {
            let value = group.value(of: metric)
            let cells = Format.padLeft(NumberText.short(value), 9) + "  " + Format.padLeft(NumberText.percent(group.changed, of: group.numel), 6) + " changed  "
            let leftOut = group.nonFinite > 0 ? "  (\(Format.count(group.nonFinite)) NaN/Inf left out)" : ""
            lines.append("  " + Format.pad(label(group), width) + " " + cells + Bar.text(value, maximum: maximum, width: 30) + leftOut)
        }
        return lines
    }

    /// Layers down, components across, the metric in each cell; "." for a cell where nothing changed.
    private func layerTable(_ groups: DifferenceGroups, _ metric: DifferenceMetric) -> [String] {
        let components = groups.layerComponents
        guard !groups.byLayer.isEmpty, !components.isEmpty else { return [] }
        var cell: [String: DifferenceGroup] = [:]
        for group in groups.cells { cell[group.name] = group }
        var lines = ["", "Layer x component, \(metric.label) (. = unchanged)"]
        lines.append("  " + Format.pad("", 9) + components.map { Format.padLeft($0.names.short, 9) }.joined())
        for layer in groups.byLayer.compactMap(\.layer) {
            let row = components.map { component -> String in
                guard let group = cell["\(layer) \(component.rawValue)"] else { return Format.padLeft("", 9) }
                return Format.padLeft(group.changed == 0 ? "." : NumberText.short(group.value(of: metric)), 9)
            }
            lines.append("  " + Format.pad("layer \(layer)", 9) + row.joined())
        }
        return lines
    }

    /// Resized tensors (compared on their shared rows) and replaced heads (new tensors).
    private func shapeChanges(_ tensors: [TensorDifference]) -> [String] {
        let resized = tensors.filter { $0.shapeChange != nil && $0.shapeChange != .replacedHead }
        let replaced = tensors.filter { $0.shapeChange == .replacedHead }
        func shape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
        var lines: [String] = []
        if !resized.isEmpty {
            lines += ["", "Resized, compared on the shared rows (\(resized.count))"]
            for t in resized {
                lines.append("  \(t.name): \(shape(t.baseShape)) -> \(shape(t.finetunedShape)), \(t.shapeChange!.summary), "
                    + "\(Format.count(t.changed ?? 0)) of \(Format.count(t.numel)) shared entries changed")
            }
        }
        if !replaced.isEmpty {
            lines += ["", "Replaced heads, new tensors (\(replaced.count))"]
            for t in replaced {
                lines.append("  \(t.name)  \(t.finetunedDType.rawValue) \(shape(t.baseShape)) -> \(shape(t.finetunedShape))  \(t.role.component.rawValue) \(t.role.kind.rawValue)")
            }
        }
        return lines
    }

    private func oneSided(_ title: String, _ tensors: [TensorInfo]) -> [String] {
        guard !tensors.isEmpty else { return [] }
        var lines = ["", "\(title) (\(tensors.count))"]
        for t in tensors {
            let role = ParameterNames.role(of: t.name, dtype: t.dtype)
            lines.append("  \(t.name)  \(t.dtype.rawValue) [\(t.shape.map(String.init).joined(separator: ", "))]  \(role.component.rawValue) \(role.kind.rawValue)")
        }
        return lines
    }
}
