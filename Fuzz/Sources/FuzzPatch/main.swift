import CheckpointKit
import FuzzCommon

/// Arbitrary bytes as a task patch, read and applied to the tiny BERT fixture base.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPatch(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let path = FuzzInput.write(start, count, name: "task.patch")
    do {
        let patch = try PatchFile(path: path)
        let applier = PatchApplier(base: try FuzzPatchBase.base(), patch: patch)
        try applier.apply(to: FuzzInput.scratchPath("out.safetensors"))
    } catch {
        FuzzInput.requireTyped(error)
    }
    return 0
}

enum FuzzPatchBase {
    nonisolated(unsafe) static var cached: (any Checkpoint)?

    /// The committed tiny BERT base, found from this source file.
    static func base() throws -> any Checkpoint {
        if let cached { return cached }
        let root = #filePath.components(separatedBy: "/Fuzz/")[0]
        let base = try CheckpointOpener.open(root + "/fixtures/tiny-bert/base")
        cached = base
        return base
    }
}
