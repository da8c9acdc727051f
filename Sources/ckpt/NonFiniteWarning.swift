import CheckpointKit

/// The standard-error warning of `ckpt patch` and `ckpt apply` when a patch carries NaN or
/// infinite values. They are carried bit for bit (a NaN is a value, and a patch must reproduce
/// its fine-tune exactly), but the model they end up in is broken there, and the user should
/// hear so before using it.
enum NonFiniteWarning {
    /// The warning for `patch`, nil when every stored value is finite. `what` says where the
    /// values go ("copied into the patch", "written to OUT").
    static func message(for patch: PatchFile, what: String) -> String? {
        var names: [String] = []
        var nan = 0, inf = 0
        for tensor in patch.tensors {
            // The stored values, and a resized tensor's added rows (values of the same dtype).
            let stats = [patch.withValues(of: tensor) { TensorValueStats(tensor.values, bytes: $0) }]
                + (tensor.rows.map { rows in [patch.withRows(of: tensor) { TensorValueStats(rows, bytes: $0) }] } ?? [])
            let found = stats.reduce((nan: 0, inf: 0)) { ($0.nan + $1.nan, $0.inf + $1.infinite) }
            guard found.nan + found.inf > 0 else { continue }
            names.append(tensor.name)
            nan += found.nan
            inf += found.inf
        }
        return format(names: names, nan: nan, inf: inf, what: what)
    }

    /// The warning for every tensor of `checkpoint` (a PEFT adapter file), nil when all are finite.
    static func message(for checkpoint: any Checkpoint, what: String) throws -> String? {
        var names: [String] = []
        var nan = 0, inf = 0
        for tensor in checkpoint.tensors where tensor.dtype.isDecodable {
            let stats = try checkpoint.withBytes(of: tensor) { TensorValueStats(tensor, bytes: $0) }
            guard stats.nan + stats.infinite > 0 else { continue }
            names.append(tensor.name)
            nan += stats.nan
            inf += stats.infinite
        }
        return format(names: names, nan: nan, inf: inf, what: what)
    }

    /// The one wording of the warning, nil when `names` is empty.
    static func format(names: [String], nan: Int, inf: Int, what: String) -> String? {
        guard !names.isEmpty else { return nil }
        let values = [nan > 0 ? "\(nan) NaN" : nil, inf > 0 ? "\(inf) Inf" : nil].compactMap { $0 }.joined(separator: " and ")
        let list = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? " and \(names.count - 3) more" : "")
        return "ckpt: warning: \(values) in \(names.count) tensor\(names.count == 1 ? "" : "s") (\(list)) \(what) bit for bit: "
            + "the fine-tune is broken there"
    }
}
