import CheckpointKit

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
        if Keras3Names.isUnrecognised(format: s.format, names: s.tensors.map(\.name)) {
            lines.append("  family       not recognised: tensors keep their dataset paths (component other)")
        }
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
