import CheckpointKit
import Foundation

/// `ckpt diff --html FILE`: one self-contained page (inline CSS and SVG, no scripts, no external
/// resources) that can be mailed or attached to an experiment log.
///
/// From the top: a red warning when either side holds NaN or infinity; the regime line and headline
/// findings; a layer x component heatmap coloured by
/// the metric with a legend (exact numbers on hover through SVG `<title>`), plus a strip for the
/// parameters outside the layers; the component, bias-type and layer rankings as bar charts; the
/// top tensors; what is only on one side; mismatches.
struct DiffHTMLReport {
    var document: DiffDocument
    var top: Int

    func write(to path: String) throws {
        try AtomicFile(destination: path).write { sink in try sink.write(html) }
    }

    var html: String {
        let diff = document.diff
        let groups = document.groups
        let metric = document.metric
        var body = ""
        body += "<h1>What fine-tuning changed</h1>\n"
        body += "<p class=paths><b>base</b> \(esc(diff.basePath)) <span class=fmt>\(esc(diff.baseFormat.rawValue))</span><br>"
        body += "<b>fine-tune</b> \(esc(diff.finetunedPath)) <span class=fmt>\(esc(diff.finetunedFormat.rawValue))</span></p>\n"
        if let warning = NonFiniteProblem.warningLine(document.problems) {
            body += "<div class=problem>\(esc(warning))</div>\n"
        }
        body += "<div class=regime>\(esc(document.regime.line))</div>\n"
        if let pairing = diff.stripping.line { body += "<p class=paths>\(esc(pairing))</p>\n" }
        let overall = groups.overall
        body += "<div class=stats>"
        body += stat("tensor pairs", Format.count(diff.tensors.count))
        body += stat("parameters changed", "\(Format.count(overall.changed)) of \(Format.count(overall.numel))")
        body += stat("overall relative change", NumberText.short(overall.relativeChange))
        body += stat("overall mean |Δ|", NumberText.short(overall.meanAbsDelta))
        body += stat("max |Δ|", NumberText.short(overall.maxAbsDelta))
        if overall.nonFinite > 0 { body += stat("NaN/Inf left out", Format.count(overall.nonFinite)) }
        body += "</div>\n"
        let findings = DiffHighlights(document: document).sentences
        if !findings.isEmpty {
            body += "<ul class=findings>" + findings.map { "<li>\(esc($0))</li>" }.joined() + "</ul>\n"
        }
        body += "<h2>Layer × component: \(esc(metric.label))</h2>\n"
        body += heatmap(groups, metric)
        body += "<h2>Rankings by \(esc(metric.label))</h2>\n<div class=rankings>"
        body += barChart("Components", groups.byComponent, metric, note: "which part of the network moved most", label: \.componentLabel)
        body += barChart("Bias types", groups.byBiasType, metric, note: "BitFit's question: which biases moved most")
        body += barChart("Layers", groups.byLayer, metric, note: "how change spreads over depth", label: { "layer \($0.name)" })
        body += barChart("Kinds", groups.byKind, metric, note: "LayerNorm vs bias vs weight matrix vs embedding")
        body += "</div>\n"
        body += topTable(metric)
        body += oneSided("Only in base", diff.onlyInBase)
        body += oneSided("Only in fine-tune", diff.onlyInFinetuned)
        body += shapeChanges(diff.tensors)
        let mismatched = diff.tensors.filter { $0.problem != nil || $0.baseDType != $0.finetunedDType }
        if !mismatched.isEmpty {
            body += "<h2>Shape / dtype mismatches</h2><ul>"
            for t in mismatched {
                let what = t.problem ?? "dtype \(t.baseDType.rawValue) in base vs \(t.finetunedDType.rawValue) in fine-tune (compared as values)"
                body += "<li><code>\(esc(t.name))</code>: \(esc(what))</li>"
            }
            body += "</ul>\n"
        }
        body += "<p class=foot>ckpt \(CkptVersion.string) · \(Format.bytes(diff.bytesCompared)) compared in \(String(format: "%.2f", diff.seconds)) s · all sums in double precision</p>\n"
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>ckpt diff: \(esc(document.regime.line))</title>
        <style>\(DiffHTMLReport.css)</style>
        </head><body>
        \(body)</body></html>

        """
    }

    static let css = """
    body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d1d1f;margin:24px auto;max-width:1240px;padding:0 20px;background:#fff}
    h1{font-size:24px;margin:0 0 6px}h2{font-size:18px;margin:30px 0 10px;border-bottom:1px solid #e3e3e8;padding-bottom:4px}
    h3{font-size:15px;margin:0 0 2px}.note{color:#6e6e73;font-size:12px;margin:0 0 8px}
    .paths{color:#444;margin:0 0 12px;word-break:break-all}.fmt{background:#eef;border-radius:4px;padding:0 5px;font-size:12px;color:#335}
    .problem{font-size:16px;font-weight:600;color:#fff;background:#c62828;border-left:5px solid #8e0000;padding:10px 14px;margin:10px 0}
    .regime{font-size:17px;font-weight:600;background:#fff7e6;border-left:5px solid #e8890c;padding:10px 14px;margin:10px 0}
    .stats{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.stat{background:#f5f5f7;border-radius:8px;padding:8px 14px;min-width:130px}
    .stat .v{font-size:18px;font-weight:600}.stat .k{font-size:12px;color:#6e6e73}
    .findings{margin:8px 0;padding-left:20px}.findings li{margin:2px 0}
    .rankings{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:18px 36px}
    .bars{width:100%;border-collapse:collapse}.bars td{padding:2px 6px;font-size:13px;white-space:nowrap}
    .bars td.l{text-align:right;color:#333;width:1%}.bars td.n{text-align:right;font-variant-numeric:tabular-nums;width:1%;color:#333}
    .track{background:#f0f0f3;border-radius:3px;height:14px;width:100%;min-width:200px}.fill{background:#d9480f;height:14px;border-radius:3px}
    .fill.zero{background:none}
    table.top{border-collapse:collapse;width:100%;font-size:13px}table.top th,table.top td{padding:4px 8px;border-bottom:1px solid #ececf0;text-align:right;font-variant-numeric:tabular-nums}
    table.top th{background:#f5f5f7;position:sticky;top:0}table.top td.name,table.top th.name{text-align:left;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
    code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
    .foot{color:#8e8e93;font-size:12px;margin-top:30px}
    svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
    """

    private func stat(_ key: String, _ value: String) -> String {
        "<div class=stat><div class=v>\(esc(value))</div><div class=k>\(esc(key))</div></div>"
    }

    // MARK: heatmap

    private func heatmap(_ groups: DifferenceGroups, _ metric: DifferenceMetric) -> String {
        let columns = groups.layerComponents
        let layers = groups.byLayer.compactMap(\.layer)
        let outside = groups.byComponent.filter { !($0.component?.isInsideLayer ?? true) }
        // The scale spans the layer cells; the strip outside the layers (an untouched embedding
        // matrix, a pooler right under a new head) is clamped to it rather than stretching it.
        let scaled = groups.cells.isEmpty ? outside : groups.cells
        let scale = ColorScale(values: scaled.filter { $0.changed > 0 }.map { $0.value(of: metric) })
        var cell: [String: DifferenceGroup] = [:]
        for group in groups.cells { cell[group.name] = group }

        let cellWidth = 104, cellHeight = layers.count > 24 ? 22 : 30, left = 78, topMargin = 44
        let gridWidth = max(columns.count, 1) * cellWidth
        let stripTop = topMargin + layers.count * cellHeight + (layers.isEmpty ? 0 : 44)
        let stripHeight = outside.isEmpty ? 0 : cellHeight + 40
        let legendTop = stripTop + stripHeight + 16
        let width = left + max(gridWidth, outside.count * cellWidth) + 20
        let height = legendTop + 58
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"layer by component heatmap\">\n"
        if !layers.isEmpty {
            for (i, component) in columns.enumerated() {
                let x = left + i * cellWidth + cellWidth / 2
                let (upper, lower) = component.names.heading
                svg += "<text x=\"\(x)\" y=\"\(topMargin - 22)\" text-anchor=\"middle\" font-size=\"11\" fill=\"#6e6e73\">\(esc(upper))</text>"
                svg += "<text x=\"\(x)\" y=\"\(topMargin - 8)\" text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\" fill=\"#333\">\(esc(lower))</text>\n"
            }
            for (row, layer) in layers.enumerated() {
                let y = topMargin + row * cellHeight
                svg += "<text x=\"\(left - 8)\" y=\"\(y + cellHeight / 2 + 4)\" text-anchor=\"end\" font-size=\"12\" fill=\"#333\">layer \(layer)</text>\n"
                for (i, component) in columns.enumerated() {
                    guard let group = cell["\(layer) \(component.rawValue)"] else { continue }
                    svg += heatCell(group, x: left + i * cellWidth, y: y, width: cellWidth, height: cellHeight,
                                    scale: scale, metric: metric, title: "layer \(layer) · \(component.names.label)")
                }
            }
            svg += "<text x=\"\(left)\" y=\"\(topMargin + layers.count * cellHeight + 16)\" font-size=\"11\" fill=\"#6e6e73\">layer 0 is the bottom of the stack (next to the embeddings)</text>\n"
        }
        if !outside.isEmpty {
            svg += "<text x=\"\(left)\" y=\"\(stripTop - 8)\" font-size=\"12\" font-weight=\"600\" fill=\"#333\">outside the layers</text>\n"
            for (i, group) in outside.enumerated() {
                let x = left + i * cellWidth
                svg += heatCell(group, x: x, y: stripTop, width: cellWidth, height: cellHeight, scale: scale, metric: metric, title: group.componentLabel)
                let (upper, lower) = group.component?.names.heading ?? ("", group.name)
                svg += "<text x=\"\(x + cellWidth / 2)\" y=\"\(stripTop + cellHeight + 14)\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">\(esc(upper.isEmpty ? lower : upper))</text>"
                if !upper.isEmpty {
                    svg += "<text x=\"\(x + cellWidth / 2)\" y=\"\(stripTop + cellHeight + 27)\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">\(esc(lower))</text>"
                }
                svg += "\n"
            }
        }
        svg += legend(scale, metric, x: left, y: legendTop)
        svg += "</svg>\n"
        return "<div class=heat>\(svg)</div>\n"
    }

    private func heatCell(_ group: DifferenceGroup, x: Int, y: Int, width: Int, height: Int, scale: ColorScale,
                          metric: DifferenceMetric, title: String) -> String {
        let value = group.value(of: metric)
        let unchanged = group.changed == 0
        let fill = unchanged ? "#f2f2f4" : scale.color(value)
        let ink = unchanged ? "#a0a0a8" : (scale.isDark(value) ? "#ffffff" : "#1d1d1f")
        let label = unchanged ? "·" : NumberText.short(value)
        let tip = "\(title)\nrelative change \(NumberText.short(group.relativeChange))\nmean |Δ| \(NumberText.short(group.meanAbsDelta))\nmax |Δ| \(NumberText.short(group.maxAbsDelta))\nchanged \(Format.count(group.changed)) of \(Format.count(group.numel)) (\(group.tensorCount) tensor\(group.tensorCount == 1 ? "" : "s"))"
        return "<g><title>\(esc(tip))</title><rect x=\"\(x + 1)\" y=\"\(y + 1)\" width=\"\(width - 2)\" height=\"\(height - 2)\" rx=\"3\" fill=\"\(fill)\"/>"
            + "<text x=\"\(x + width / 2)\" y=\"\(y + height / 2 + 4)\" text-anchor=\"middle\" font-size=\"12\" fill=\"\(ink)\">\(esc(label))</text></g>\n"
    }

    private func legend(_ scale: ColorScale, _ metric: DifferenceMetric, x: Int, y: Int) -> String {
        let width = 360, height = 12
        var svg = "<defs><linearGradient id=\"ramp\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">"
        for (i, stop) in ColorScale.stops.enumerated() {
            svg += "<stop offset=\"\(Double(i) / Double(ColorScale.stops.count - 1))\" stop-color=\"\(stop)\"/>"
        }
        svg += "</linearGradient></defs>\n"
        svg += "<text x=\"\(x)\" y=\"\(y + 10)\" font-size=\"12\" fill=\"#333\">\(esc(metric.label))\(scale.isLogarithmic ? " (log scale)" : "")</text>\n"
        let barY = y + 18
        svg += "<rect x=\"\(x)\" y=\"\(barY)\" width=\"\(width)\" height=\"\(height)\" fill=\"url(#ramp)\" rx=\"2\"/>\n"
        for tick in scale.ticks {
            let tx = x + Int(Double(width) * scale.position(tick))
            svg += "<line x1=\"\(tx)\" x2=\"\(tx)\" y1=\"\(barY + height)\" y2=\"\(barY + height + 4)\" stroke=\"#555\"/>"
            svg += "<text x=\"\(tx)\" y=\"\(barY + height + 16)\" text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">\(esc(NumberText.short(tick)))</text>\n"
        }
        let swatchX = x + width + 30
        svg += "<rect x=\"\(swatchX)\" y=\"\(barY)\" width=\"22\" height=\"\(height)\" fill=\"#f2f2f4\" stroke=\"#ddd\" rx=\"2\"/>"
        svg += "<text x=\"\(swatchX + 28)\" y=\"\(barY + 10)\" font-size=\"11\" fill=\"#333\">· unchanged (bitwise)</text>\n"
        return svg
    }

    // MARK: rankings

    private func barChart(_ title: String, _ list: [DifferenceGroup], _ metric: DifferenceMetric, note: String,
                          label: (DifferenceGroup) -> String = { $0.name }) -> String {
        guard !list.isEmpty else { return "" }
        let ranked = DifferenceGroups.ranked(list, by: metric)
        let maximum = ranked.map { $0.value(of: metric) }.filter(\.isFinite).max() ?? 0
        var html = "<div><h3>\(esc(title))</h3><p class=note>\(esc(note))</p><table class=bars>"
        for group in ranked {
            let value = group.value(of: metric)
            let share = value.isInfinite && value > 0 ? 1 : (maximum > 0 && value.isFinite ? max(0, min(1, value / maximum)) : 0)
            let tip = "\(label(group)): relative change \(NumberText.short(group.relativeChange)), mean |Δ| \(NumberText.short(group.meanAbsDelta)), changed \(Format.count(group.changed)) of \(Format.count(group.numel))"
            html += "<tr title=\"\(esc(tip))\"><td class=l>\(esc(label(group)))</td>"
            html += "<td><div class=track><div class=\"fill\(share == 0 ? " zero" : "")\" style=\"width:\(String(format: "%.1f", share * 100))%\"></div></div></td>"
            html += "<td class=n>\(esc(NumberText.short(value)))\(value.isInfinite ? " <span class=note>(base all zeros)</span>" : "")</td></tr>"
        }
        return html + "</table></div>\n"
    }

    private func topTable(_ metric: DifferenceMetric) -> String {
        guard top > 0 else { return "" }
        let ranked = DiffTerminalReport.topTensors(document.diff.tensors, by: metric, count: top)
        var html = "<h2>Top \(top) tensors by \(esc(metric.label))</h2>\n<table class=top><tr><th>#</th><th class=name>tensor</th><th>numel</th><th>relative change</th><th>mean |Δ|</th><th>max |Δ|</th><th>cosine</th><th>changed</th></tr>\n"
        for (i, t) in ranked.enumerated() {
            html += "<tr><td>\(i + 1)</td><td class=name>\(esc(t.name))</td><td>\(Format.count(t.numel))</td><td>\(NumberText.short(t.relativeChange))</td>"
            html += "<td>\(NumberText.short(t.meanAbsDelta))</td><td>\(NumberText.short(t.maxAbsDelta))</td>"
            html += "<td>\(t.cosine.map { String(format: "%.6f", $0) } ?? "-")</td><td>\(NumberText.percent(t.changed ?? 0, of: t.numel))</td></tr>\n"
        }
        return html + "</table>\n"
    }

    /// Resized tensors (compared on their shared rows) and replaced heads (new tensors).
    private func shapeChanges(_ tensors: [TensorDifference]) -> String {
        func shape(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
        var html = ""
        let resized = tensors.filter { $0.shapeChange != nil && $0.shapeChange != .replacedHead }
        if !resized.isEmpty {
            html += "<h2>Resized, compared on the shared rows (\(resized.count))</h2><ul>"
            for t in resized {
                html += "<li><code>\(esc(t.name))</code> \(shape(t.baseShape)) -> \(shape(t.finetunedShape)): \(esc(t.shapeChange!.summary))</li>"
            }
            html += "</ul>\n"
        }
        let replaced = tensors.filter { $0.shapeChange == .replacedHead }
        if !replaced.isEmpty {
            html += "<h2>Replaced heads, new tensors (\(replaced.count))</h2><ul>"
            for t in replaced {
                html += "<li><code>\(esc(t.name))</code> \(t.finetunedDType.rawValue) \(shape(t.baseShape)) -> \(shape(t.finetunedShape))</li>"
            }
            html += "</ul>\n"
        }
        return html
    }

    private func oneSided(_ title: String, _ tensors: [TensorInfo]) -> String {
        guard !tensors.isEmpty else { return "" }
        var html = "<h2>\(esc(title)) (\(tensors.count))</h2><ul>"
        for t in tensors {
            html += "<li><code>\(esc(t.name))</code> \(t.dtype.rawValue) [\(t.shape.map(String.init).joined(separator: ", "))]</li>"
        }
        return html + "</ul>\n"
    }

    private func esc(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }
}
