import ArgumentParser
import CheckpointKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Say what a checkpoint holds, from its header alone.",
        discussion: """
        Prints the format, tensor and parameter counts, dtypes, metadata, parameters per component \
        and kind, and how many parameters LayerNorm-only tuning, bias-only tuning (BitFit) and \
        last-N-layers tuning would train. Only headers are read: inspecting a multi-gigabyte file \
        takes milliseconds. For a task patch (`ckpt patch`) it lists what the patch holds instead: \
        selection, touched tensors (dense, sparse, new), entries, sizes and fingerprints.
        """)

    @Argument(help: "A .safetensors file, a *.safetensors.index.json, an HDF5 file (.h5), or a model directory.")
    var path: String

    @Flag(help: "Print a JSON document instead of the report.")
    var json = false

    @Flag(help: "Also list every tensor in the report.")
    var tensors = false

    func run() throws {
        try runReportingFailures {
            let checkpoint = try CheckpointOpener.open(path)
            if checkpoint.metadata["format"] == PatchFormat.name {
                // A task patch (`ckpt patch`): say what it holds instead.
                let summary = PatchSummary(try PatchFile(path: checkpoint.path))
                if json {
                    try printJSON(summary)
                } else {
                    print(PatchInspectReport(summary: summary, listTensors: tensors).text)
                }
                return
            }
            let summary = CheckpointSummary(checkpoint)
            if json {
                try printJSON(summary)
            } else {
                print(InspectReport(summary: summary, listTensors: tensors).text)
            }
        }
    }
}

/// The terminal report of `ckpt inspect`.
struct InspectReport {
    var summary: CheckpointSummary
    var listTensors: Bool

    var text: String {
        var lines: [String] = []
        let s = summary
        lines.append(s.path)
        lines.append("  format       \(s.format.rawValue)")
        lines.append("  tensors      \(Format.count(s.tensorCount))")
        let buffers = s.elements - s.parameters
        lines.append("  parameters   \(Format.count(s.parameters))" + (buffers > 0 ? " (+ \(Format.count(buffers)) buffer elements)" : ""))
        lines.append("  size         \(Format.bytes(s.bytes)) of tensor data, \(Format.bytes(s.fileSize)) on disk")
        let dtypeText = s.dtypes.keys.sorted().map { "\($0) \(s.dtypes[$0]!.tensors)" }.joined(separator: ", ")
        lines.append("  dtypes       \(dtypeText) (tensors)")
        if s.layers > 0 { lines.append("  layers       \(s.layers)") }
        for key in s.metadata.keys.sorted() {
            let value = s.metadata[key]!
            lines.append("  metadata     \(key) = \(value.count > 80 ? String(value.prefix(77)) + "..." : value)")
        }
        lines.append("")
        lines.append("Parameters by component")
        for component in Component.allCases {
            guard let n = s.parametersByComponent[component.rawValue] else { continue }
            lines.append("  \(Format.pad(component.names.label, 28)) \(Format.padLeft(Format.count(n), 14))  \(Format.padLeft(Format.percent(fraction(n, s.parameters)), 7))")
        }
        lines.append("")
        lines.append("Parameters by kind")
        for kind in ParameterKind.allCases {
            guard let n = s.parametersByKind[kind.rawValue] else { continue }
            lines.append("  \(Format.pad(kind.rawValue, 28)) \(Format.padLeft(Format.count(n), 14))")
        }
        lines.append("")
        lines.append("Parameter-efficient tuning (share of the \(Format.count(s.baseParameters)) parameters outside heads)")
        for method in s.methods {
            lines.append("  \(Format.pad(InspectReport.label(method.method), 28)) \(Format.padLeft(Format.count(method.parameters), 14))  \(Format.padLeft(Format.percent(method.fraction, digits: 3), 8))")
        }
        if !s.skipped.isEmpty {
            lines.append("")
            lines.append("Not read as tensors")
            for object in s.skipped { lines.append("  \(object.name): \(object.reason)") }
        }
        if listTensors {
            lines.append("")
            lines.append("Tensors")
            for t in s.tensors {
                let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
                lines.append("  \(t.name)  \(t.dtype.rawValue) \(shape)  \(t.component.rawValue) \(t.kind.rawValue)\(t.layer.map { " layer \($0)" } ?? "")")
            }
        }
        return lines.joined(separator: "\n")
    }

    private func fraction(_ n: Int, _ total: Int) -> Double { total == 0 ? 0 : Double(n) / Double(total) }

    static func label(_ method: String) -> String {
        switch method {
        case "layernorm": return "LayerNorm only"
        case "bias": return "bias only (BitFit)"
        case "head": return "task head"
        default:
            if method.hasPrefix("last"), let n = Int(method.dropFirst(4)) { return "last \(n) layer\(n == 1 ? "" : "s")" }
            return method
        }
    }
}

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
        lines.append("  tensors      \(s.tensors.count) touched: \(c.dense) dense, \(c.sparse) sparse, \(c.new) new (base has \(c.baseTensors))")
        lines.append("  entries      \(Format.count(c.entries)) stored, \(Format.count(c.changed)) changed")
        lines.append("  base         SHA-256 \(s.baseFingerprint) (manifest)")
        lines.append("  data         SHA-256/64 \(s.dataChecksum)")
        lines.append("")
        lines.append("Tensors (storage, dtype, stored shape, entries, bytes, base -> result SHA-256/64)")
        let shown = listTensors ? s.tensors : Array(s.tensors.prefix(20))
        for t in shown {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            let renamed = t.finetunedName != t.name ? "  (fine-tune: \(t.finetunedName))" : ""
            lines.append("  \(t.name)  \(t.storage) \(t.dtype.rawValue) \(shape)  \(Format.count(t.entries)) entries, \(Format.count(t.bytes)) B  \(t.baseHash ?? "-") -> \(t.resultHash)\(renamed)")
        }
        if shown.count < s.tensors.count {
            lines.append("  ... \(s.tensors.count - shown.count) more (--tensors lists all)")
        }
        return lines.joined(separator: "\n")
    }
}
