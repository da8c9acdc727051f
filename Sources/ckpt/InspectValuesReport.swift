import CheckpointKit
import Foundation

/// The `ckpt inspect --values` part of the terminal report: a verdict line (NaN / Inf found or
/// not), then one row per tensor with its NaN, Inf and zero counts and min / max / mean / std of
/// the finite values.
struct InspectValuesReport {
    var values: ValuesSummary

    var lines: [String] {
        let v = values
        var lines = ["", "Values (\(Format.bytes(v.bytesRead)) read in \(String(format: "%.2f", v.seconds)) s; std is the population std, over finite values)"]
        let damaged = v.damaged
        if damaged.isEmpty {
            lines.append("  no NaN or Inf in any tensor")
        } else {
            let nan = damaged.map(\.nan).reduce(0, +), inf = damaged.map(\.infinite).reduce(0, +)
            let names = damaged.prefix(3).map(\.name).joined(separator: ", ") + (damaged.count > 3 ? " and \(damaged.count - 3) more" : "")
            lines.append("  warning: \(nan) NaN and \(inf) Inf in \(damaged.count) tensor\(damaged.count == 1 ? "" : "s"): \(names)")
        }
        let width = min(60, v.tensors.map(\.name.count).max() ?? 10)
        let headers = ["numel", "nan", "inf", "zeros", "min", "max", "mean", "std"]
        lines.append("  " + Format.pad("tensor", width) + "  " + headers.map { Format.padLeft($0, 11) }.joined(separator: " "))
        for t in v.tensors {
            if let problem = t.problem {
                lines.append("  " + Format.pad(t.name, width) + "  " + problem)
                continue
            }
            let cells = [Format.count(t.count), Format.count(t.nan), Format.count(t.infinite), Format.count(t.zeros)]
                + [t.min, t.max, t.mean, t.std].map { $0.map(NumberText.short) ?? "-" }
            lines.append("  " + Format.pad(t.name, width) + "  " + cells.map { Format.padLeft($0, 11) }.joined(separator: " "))
        }
        return lines
    }
}
