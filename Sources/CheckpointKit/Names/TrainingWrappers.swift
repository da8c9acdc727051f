/// The path components training code inserts into parameter names by wrapping the model, and their
/// removal, so that a checkpoint saved from a wrapped model pairs with the plain model's.
///
/// PyTorch names a wrapped module's parameters through the wrapper's attribute:
/// `DistributedDataParallel` / `DataParallel` keep the model as `module` (a leading `module.`),
/// `torch.compile` as `_orig_mod`, FSDP (v1) every wrapped submodule as `_fsdp_wrapped_module`, and
/// activation checkpointing (`checkpoint_wrapper`) as `_checkpoint_wrapped_module`; the last two sit
/// mid-path (`model.layers.0._fsdp_wrapped_module.mlp.up_proj.weight`), and wrappers nest
/// (`module._orig_mod.`). fairscale's flattening wrapper used `_fpw_module`. The names were checked
/// against torch 2 by `fixtures/make_prefix_fixtures.py`.
public enum TrainingWrappers {
    /// Components removed wherever they occur: no model names a submodule like this.
    public static let anywhere: Set<Substring> = [
        "_orig_mod", "_fsdp_wrapped_module", "_checkpoint_wrapped_module", "_fpw_module",
    ]
    /// Components removed only at the front (`module` is also an ordinary attribute name inside
    /// models, so only DDP's leading one goes).
    public static let leading: Set<Substring> = ["module"]

    /// `name` without wrapper components, and what was removed (the leading run as written, then
    /// each distinct mid-path component followed by `.`), or nil when the name has none.
    /// Names with `/` (TensorFlow) are left alone.
    public static func strip(_ name: String) -> (name: String, removed: String)? {
        guard mayHaveWrapper(name) else { return nil }
        var parts = name.split(separator: ".", omittingEmptySubsequences: false)
        var removed: [Substring] = []
        // The leading run: DDP's `module` and the anywhere-wrappers, in any nesting.
        while parts.count > 1, leading.contains(parts[0]) || anywhere.contains(parts[0]) {
            removed.append(parts.removeFirst())
        }
        var kept: [Substring] = []
        kept.reserveCapacity(parts.count)
        for (index, part) in parts.enumerated() {
            if index < parts.count - 1, anywhere.contains(part) {
                if !removed.contains(part) { removed.append(part) }
            } else {
                kept.append(part)
            }
        }
        guard !removed.isEmpty else { return nil }
        return (kept.joined(separator: "."), removed.map { $0 + "." }.joined())
    }

    /// A cheap test that lets the common case (no wrapper) skip splitting: every wrapper name
    /// contains `_mod` except DDP's, which starts the name. One pass over the name's bytes (this
    /// runs for every tensor of a checkpoint, 100,000 of them in a mixture-of-experts header).
    static func mayHaveWrapper(_ name: String) -> Bool {
        if let answer = name.utf8.withContiguousStorageIfAvailable({ mayHaveWrapper(bytes: $0) }) { return answer }
        return Array(name.utf8).withUnsafeBufferPointer { mayHaveWrapper(bytes: $0) }
    }

    private static func mayHaveWrapper(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        if bytes.contains(UInt8(ascii: "/")) { return false }
        if bytes.starts(with: "module.".utf8) { return true }
        guard bytes.count >= 4 else { return false }
        for index in 0...(bytes.count - 4) where bytes[index] == UInt8(ascii: "_") {
            if bytes[index + 1] == UInt8(ascii: "m"), bytes[index + 2] == UInt8(ascii: "o"), bytes[index + 3] == UInt8(ascii: "d") {
                return true
            }
        }
        return false
    }
}
