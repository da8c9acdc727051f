import CheckpointKit

/// The report of `ckpt patch`.
struct PatchCommandReport: Encodable {
    struct Tensor: Encodable {
        var name: String
        var storage: String
        var dtype: DType
        var stored: Int
        var changed: Int
    }

    var patch: String
    var base: String
    var finetuned: String
    var selection: String
    var compressed: Bool
    var fileSize: Int
    var dataSize: Int
    var counts: PatchCounts
    var tensors: [Tensor]
    var shares: PatchShares
    var notes: [String]
    /// Per converted tensor, the dtype the base is converted to.
    var conversions: [DType]

    enum CodingKeys: String, CodingKey {
        case patch, base, finetuned, selection, compressed, counts, tensors, shares, notes
        case fileSize = "file_size"
        case dataSize = "data_size"
    }

    init(patch: String, base: String, finetuned: String, compressed: Bool, fileSize: Int, plan: PatchPlan) {
        self.patch = patch
        self.base = base
        self.finetuned = finetuned
        self.compressed = compressed
        self.fileSize = fileSize
        selection = plan.metadata.selection
        dataSize = plan.dataSize
        counts = plan.metadata.counts
        tensors = plan.touched.map { Tensor(name: $0.name, storage: $0.storage.label, dtype: $0.dtype, stored: $0.stored, changed: $0.changed) }
        shares = plan.shares
        notes = plan.notes
        conversions = plan.metadata.tensors.compactMap(\.conversion)
    }

    var text: String {
        var lines: [String] = []
        let c = counts
        lines.append("wrote \(patch): \(Format.count(fileSize)) bytes (\(Format.bytes(fileSize)))\(compressed ? ", zlib-compressed" : "")")
        lines.append("  base         \(base)")
        lines.append("  fine-tune    \(finetuned)")
        lines.append("  selection    \(selection)")
        let resized = c.resized > 0 ? ", \(c.resized) resized" : ""
        let converted = tensors.filter { $0.storage == PatchStorage.converted.label }.count
        lines.append("  tensors      \(c.dense + c.sparse + c.new + c.resized + converted) (\(c.dense) dense, \(c.sparse) sparse, \(c.new) new\(resized)\(PatchInspectReport.convertedOnly(converted)))")
        lines.append("  entries      \(Format.count(c.entries)) stored, \(Format.count(c.changed)) changed; \(Format.count(dataSize)) bytes of data")
        if let conversions = PatchInspectReport.conversions(conversions) {
            lines.append("  conversions  \(conversions) (only entries that differ from the converted base are stored)")
        }
        let s = shares
        lines.append("  kept change  \(Format.count(s.total.keptEntries)) of \(Format.count(s.total.changedEntries)) changed entries, \(Format.percent(s.total.keptShare)) of the sum of squared change")
        if s.dropsSomething {
            lines.append("")
            lines.append("The fine-tune changed more than the selection keeps. Share of sum (fine-tuned - base)^2:")
            lines += PatchCommandReport.table(title: "component", rows: s.byComponent)
            lines.append("")
            lines += PatchCommandReport.table(title: "kind", rows: s.byKind)
            lines.append("")
            lines.append("  total: kept \(Format.percent(s.total.keptShare)), dropped \(Format.percent(s.total.droppedShare)) (\(Format.count(s.total.changedEntries - s.total.keptEntries)) entries left out)")
        }
        if !s.unmeasured.isEmpty {
            lines.append("  not measured (dtype cannot be decoded): \(s.unmeasured.joined(separator: ", "))")
        }
        let skipped = notes.filter { !$0.hasSuffix("(kept as it is)") }
        for note in skipped.prefix(10) { lines.append("  note: \(note)") }
        if skipped.count > 10 { lines.append("  note: ... and \(skipped.count - 10) more") }
        return lines.joined(separator: "\n")
    }

    static func table(title: String, rows: [ShareRow]) -> [String] {
        var lines = ["  \(Format.pad(title, 28)) \(Format.padLeft("changed", 12)) \(Format.padLeft("kept", 12)) \(Format.padLeft("sum sq", 11)) \(Format.padLeft("kept", 8)) \(Format.padLeft("dropped", 8))"]
        for row in rows where row.changedEntries > 0 {
            lines.append("  \(Format.pad(row.group, 28)) \(Format.padLeft(Format.count(row.changedEntries), 12)) \(Format.padLeft(Format.count(row.keptEntries), 12)) \(Format.padLeft(Format.scientific(row.sumSquares), 11)) \(Format.padLeft(Format.percent(row.keptShare, digits: 1), 8)) \(Format.padLeft(Format.percent(row.droppedShare, digits: 1), 8))")
        }
        return lines
    }
}
