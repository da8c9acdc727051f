import CheckpointKit

/// The terminal report of `ckpt inspect TASK.patch`.
struct PatchInspectReport {
    var summary: PatchSummary
    /// List every touched tensor (otherwise the first 20).
    var listTensors: Bool

    var text: String {
        let s = summary
        var lines = [s.path]
        lines.append("  format       \(s.format) version \(s.version)\(s.compressed ? ", zlib-compressed" : "")")
        lines.append("  size         \(Format.count(s.fileSize)) bytes on disk; \(Format.count(s.dataSize)) bytes of data, \(Format.count(s.headerSize)) bytes of header")
        lines.append("  selection    \(s.selection)")
        let c = s.counts
        let resized = c.resized > 0 ? ", \(c.resized) resized" : ""
        let converted = PatchInspectReport.convertedOnly(s.tensors.filter { $0.storage == PatchStorage.converted.label }.count)
        lines.append("  tensors      \(s.tensors.count) touched: \(c.dense) dense, \(c.sparse) sparse, \(c.new) new\(resized)\(converted) (base has \(c.baseTensors))")
        lines.append("  entries      \(Format.count(c.entries)) stored, \(Format.count(c.changed)) changed")
        if let conversions = PatchInspectReport.conversions(s.tensors.compactMap(\.convertedTo)) {
            lines.append("  conversions  \(conversions)")
        }
        lines.append("  base         SHA-256 \(s.baseFingerprint) (manifest)")
        lines.append("  data         SHA-256/64 \(s.dataChecksum)")
        lines.append("")
        lines.append("Tensors (storage, dtype, stored shape, entries, bytes, base -> result SHA-256/64)")
        let shown = listTensors ? s.tensors : Array(s.tensors.prefix(20))
        for t in shown {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            let renamed = t.finetunedName != t.name ? "  (fine-tune: \(t.finetunedName))" : ""
            let reshaped = t.resultShape.map { "  result shape [" + $0.map(String.init).joined(separator: ", ") + "]" } ?? ""
            let converted = t.convertedTo.map { "  (base converted to \($0.rawValue))" } ?? ""
            lines.append("  \(t.name)  \(t.storage) \(t.dtype.rawValue) \(shape)  \(Format.count(t.entries)) entries, \(Format.count(t.bytes)) B  \(t.baseHash ?? "-") -> \(t.resultHash)\(reshaped)\(renamed)\(converted)")
        }
        if shown.count < s.tensors.count {
            lines.append("  ... \(s.tensors.count - shown.count) more (--tensors lists all)")
        }
        return lines.joined(separator: "\n")
    }

    /// "102 base tensors converted to BF16", or nil when the patch converts nothing.
    static func conversions(_ targets: [DType]) -> String? {
        guard !targets.isEmpty else { return nil }
        var counts: [DType: Int] = [:]
        for t in targets { counts[t, default: 0] += 1 }
        let parts = counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) to \($0.key.rawValue)" }
        return "base tensors converted before patching: " + parts.joined(separator: ", ")
    }

    /// ", 77 converted" (tensors stored as the converted base alone), or nothing.
    static func convertedOnly(_ count: Int) -> String {
        count == 0 ? "" : ", \(count) converted"
    }
}
