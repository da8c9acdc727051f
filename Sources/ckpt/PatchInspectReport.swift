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
        lines.append("  tensors      \(s.tensors.count) touched: \(c.dense) dense, \(c.sparse) sparse, \(c.new) new\(resized) (base has \(c.baseTensors))")
        lines.append("  entries      \(Format.count(c.entries)) stored, \(Format.count(c.changed)) changed")
        lines.append("  base         SHA-256 \(s.baseFingerprint) (manifest)")
        lines.append("  data         SHA-256/64 \(s.dataChecksum)")
        lines.append("")
        lines.append("Tensors (storage, dtype, stored shape, entries, bytes, base -> result SHA-256/64)")
        let shown = listTensors ? s.tensors : Array(s.tensors.prefix(20))
        for t in shown {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            let renamed = t.finetunedName != t.name ? "  (fine-tune: \(t.finetunedName))" : ""
            let reshaped = t.resultShape.map { "  result shape [" + $0.map(String.init).joined(separator: ", ") + "]" } ?? ""
            lines.append("  \(t.name)  \(t.storage) \(t.dtype.rawValue) \(shape)  \(Format.count(t.entries)) entries, \(Format.count(t.bytes)) B  \(t.baseHash ?? "-") -> \(t.resultHash)\(reshaped)\(renamed)")
        }
        if shown.count < s.tensors.count {
            lines.append("  ... \(s.tensors.count - shown.count) more (--tensors lists all)")
        }
        return lines.joined(separator: "\n")
    }
}
