import Foundation

/// The per-tensor rows of `ckpt diff --csv FILE`: one header line, then one line per paired tensor
/// in the diff's order, RFC 4180 quoting, numbers with full round-trip precision, empty cells where
/// the pair was not compared. When the dtypes of a pair differ, the measures compare the base
/// converted to the fine-tune's dtype (`converted_to`) and the `raw_*` columns the base as stored.
public enum DiffCSV {
    public static let columns = [
        "name", "base_name", "finetuned_name", "component", "kind", "layer", "bias_type",
        "base_dtype", "finetuned_dtype", "numel", "base_l2", "finetuned_l2", "delta_l2",
        "relative_change", "mean_abs_delta", "max_abs_delta", "cosine", "changed", "identical",
        "base_nan", "base_inf", "finetuned_nan", "finetuned_inf", "transposed", "problem",
        "converted_to", "raw_delta_l2", "raw_relative_change", "raw_mean_abs_delta", "raw_max_abs_delta", "raw_changed",
    ]

    /// The whole table as text.
    public static func text(_ diff: CheckpointDiff) -> String {
        var out = columns.joined(separator: ",") + "\n"
        for t in diff.tensors {
            let raw = t.raw
            let cells: [String] = [
                t.name, t.baseName, t.finetunedName, t.role.component.rawValue, t.role.kind.rawValue,
                t.role.layer.map(String.init) ?? "", t.role.biasType ?? "",
                t.baseDType.rawValue, t.finetunedDType.rawValue, String(t.numel),
                number(t.baseL2), number(t.finetunedL2), number(t.deltaL2),
                number(t.relativeChange), number(t.meanAbsDelta), number(t.maxAbsDelta), number(t.cosine),
                t.changed.map(String.init) ?? "", t.isIdentical ? "true" : "false",
                count(t.sums?.baseNaN), count(t.sums?.baseInfinite), count(t.sums?.finetunedNaN), count(t.sums?.finetunedInfinite),
                t.transposed ? "true" : "false", t.problem ?? "",
                t.conversion?.rawValue ?? "", number(raw.deltaL2), number(raw.relativeChange),
                number(raw.meanAbsDelta), number(raw.maxAbsDelta), raw.changed.map(String.init) ?? "",
            ]
            out += cells.map(quote).joined(separator: ",") + "\n"
        }
        return out
    }

    /// Writes the table to `path` atomically (a reader never sees half a file).
    public static func write(_ diff: CheckpointDiff, to path: String) throws {
        try AtomicFile(destination: path).write { sink in try sink.write(text(diff)) }
    }

    static func number(_ x: Double?) -> String {
        guard let x else { return "" }
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return "\(x)"
    }

    static func count(_ n: Int?) -> String { n.map(String.init) ?? "" }

    static func quote(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
