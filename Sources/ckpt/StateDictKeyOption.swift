import ArgumentParser
import CheckpointKit

/// `--key NAME`: which top-level entry of a PyTorch training checkpoint (`.pt`/`.pth`/`.ckpt`
/// written by `torch.save({"model": ..., "optimizer": ..., "epoch": 3})`) is the state dict. Shared
/// by every command that opens checkpoints; other formats ignore it.
struct StateDictKeyOption: ParsableArguments {
    @Option(help: ArgumentHelp("In a PyTorch training checkpoint, read the state dict under this top-level key (default: the one dict of tensors, if there is exactly one; else every tensor, named by its path).", valueName: "NAME"))
    var key: String?

    /// Opens `path` with the key, and says on standard error which state dict was picked when
    /// the reader chose one itself.
    func open(_ path: String) throws -> any Checkpoint {
        noteKey(of: try CheckpointOpener.open(path, options: .init(key: key)), path)
    }

    /// Opens a base and its fine-tune side by side (``CheckpointOpener/openAll(_:options:)``), the
    /// fine-tune as ``open(_:onto:)`` does; the base's error comes first when both fail.
    func open(base: String, finetuned: String) throws -> (base: any Checkpoint, finetuned: any Checkpoint) {
        let both = try CheckpointOpener.openAll([base, finetuned], options: .init(key: key))
        let baseCheckpoint = noteKey(of: both[0], base)
        return (baseCheckpoint, try PEFTImport.merged(noteKey(of: both[1], finetuned), onto: baseCheckpoint))
    }

    private func noteKey(of checkpoint: any Checkpoint, _ path: String) -> any Checkpoint {
        if key == nil, let picked = checkpoint.metadata["state_dict_key"] {
            printError("ckpt: note: \(path): reading the state dict under key '\(picked)' (--key NAME reads another entry)")
        }
        return checkpoint
    }

    /// Opens `path` as a fine-tune of `base`: a PEFT adapter directory reads as `base` with the
    /// adapter merged in; anything else opens as ``open(_:)`` does.
    func open(_ path: String, onto base: any Checkpoint) throws -> any Checkpoint {
        try PEFTImport.merged(try open(path), onto: base)
    }
}
