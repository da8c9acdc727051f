import Foundation

/// Opens whatever a user points at: a safetensors file, a sharded index, an HDF5 file, a PyTorch
/// (`torch.save` zip) file, a Hugging Face model directory, or a PEFT adapter directory (read alone:
/// its own tensors; ``PEFTImport`` merges it onto a base). The reader is chosen by the file's content (magic bytes, header
/// shape), not by its extension, so a renamed file still opens and an impostor gets a message that
/// says what it really is.
public enum CheckpointOpener {
    /// The weight files looked for in a model directory, most preferred first.
    public static let directoryCandidates = [
        "model.safetensors.index.json", "model.safetensors",
        "tf_model.h5", "model.weights.h5", "model.h5",
        "pytorch_model.bin.index.json", "pytorch_model.bin",
    ]

    /// How to read what is opened.
    public struct Options: Sendable, Equatable {
        /// The top-level entry of a PyTorch training checkpoint to read as the state dict (`model`,
        /// `state_dict`); nil reads the whole file, or its one obvious state dict. Other formats
        /// ignore it.
        public var key: String?

        public init(key: String? = nil) { self.key = key }
    }

    public static func open(_ path: String, options: Options = Options()) throws -> any Checkpoint {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.cannotOpen(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue { return try openDirectory(path, options: options) }
        return try openFile(path, options: options)
    }

    /// Opens several checkpoints at once, one thread each: a base and its fine-tune are read
    /// side by side (two 100,000-tensor headers parse in the time of one). Throws the error of the
    /// first path, in the order given, that fails.
    public static func openAll(_ paths: [String], options: Options = Options()) throws -> [any Checkpoint] {
        let results = [Result<any Checkpoint, any Error>](parallelMapping: paths.count, minimumParallelCount: 2) { index in
            Result { try open(paths[index], options: options) }
        }
        return try results.map { try $0.get() }
    }

    /// Picks the weights of a model directory.
    static func openDirectory(_ path: String, options: Options) throws -> any Checkpoint {
        let directory = path.hasSuffix("/") ? path : path + "/"
        if PEFTAdapter.isAdapterDirectory(path) { return try PEFTAdapter(path: path) { try openFile($0, options: options) } }
        for name in directoryCandidates {
            let candidate = directory + name
            if FileManager.default.fileExists(atPath: candidate) { return try openFile(candidate, options: options) }
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let indexes = entries.filter { $0.hasSuffix(".safetensors.index.json") }.sorted()
        if indexes.count == 1 { return try openFile(directory + indexes[0]) }
        let singles = entries.filter { $0.hasSuffix(".safetensors") }.sorted()
        if singles.count == 1 { return try openFile(directory + singles[0]) }
        let h5 = entries.filter { $0.hasSuffix(".h5") }.sorted()
        if h5.count == 1 { return try openFile(directory + h5[0]) }
        if indexes.count + singles.count + h5.count > 1 {
            throw CheckpointError.unrecognizedFormat(path: path, reason: "several weight files and no index; name one of: \((indexes + singles + h5).joined(separator: ", "))")
        }
        throw CheckpointError.noWeights(path: path)
    }

    /// Opens `path` as one safetensors file, whatever its name (a mask file, which no other format
    /// may stand in for).
    public static func openSafetensors(_ path: String) throws(CheckpointError) -> any Checkpoint {
        try SafetensorsFile(path: path)
    }

    static func openFile(_ path: String, options: Options = Options()) throws -> any Checkpoint {
        let openPyTorch = { @Sendable (shard: String) throws(CheckpointError) -> any Checkpoint in try PyTorchFile(path: shard, key: options.key) }
        if path.hasSuffix(".bin.index.json") || path.hasSuffix(".pt.index.json") {
            return try ShardedSafetensors(indexPath: path, format: .shardedPyTorch, openShard: openPyTorch)
        }
        if path.hasSuffix(".json") { return try ShardedSafetensors(indexPath: path) }
        if try HDF5Probe.isHDF5(path: path) { return try HDF5Probe.open(path) }
        if path.hasSuffix(".h5") || path.hasSuffix(".hdf5") || path.hasSuffix(".keras") {
            let file = try MappedFile(path: path)
            try SafetensorsHeader.rejectKnownImpostors(file.bytes, path: path)
            throw CheckpointError.unrecognizedFormat(path: path, reason: "not an HDF5 file (no HDF5 signature)")
        }
        let mapped = try MappedFile(path: path)
        let probe = withExtendedLifetime(mapped) { PyTorchFile.probe(mapped.bytes, path: path) }
        switch probe {
        case .zip: return try openPyTorch(path)
        case .legacy: throw CheckpointError.legacyPyTorch(path: path)
        case nil: return try SafetensorsFile(path: path)
        }
    }
}
