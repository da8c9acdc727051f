import Foundation

/// Opens whatever a user points at: a safetensors file, a sharded index, an HDF5 file, or a
/// Hugging Face model directory. The reader is chosen by the file's content (magic bytes, header
/// shape), not by its extension, so a renamed file still opens and an impostor gets a message that
/// says what it really is.
public enum CheckpointOpener {
    /// The weight files looked for in a model directory, most preferred first.
    public static let directoryCandidates = [
        "model.safetensors.index.json", "model.safetensors",
        "tf_model.h5", "model.weights.h5", "model.h5",
    ]

    public static func open(_ path: String) throws -> any Checkpoint {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointError.cannotOpen(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue { return try openDirectory(path) }
        return try openFile(path)
    }

    /// Picks the weights of a model directory.
    static func openDirectory(_ path: String) throws -> any Checkpoint {
        let directory = path.hasSuffix("/") ? path : path + "/"
        for name in directoryCandidates {
            let candidate = directory + name
            if FileManager.default.fileExists(atPath: candidate) { return try openFile(candidate) }
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
        if entries.contains("pytorch_model.bin") {
            throw CheckpointError.unrecognizedFormat(path: path, reason: "only pytorch_model.bin (pickle) found; convert it to safetensors first (transformers: save_pretrained(..., safe_serialization=True))")
        }
        throw CheckpointError.noWeights(path: path)
    }

    /// Opens `path` as one safetensors file, whatever its name (a mask file, which no other format
    /// may stand in for).
    public static func openSafetensors(_ path: String) throws(CheckpointError) -> any Checkpoint {
        try SafetensorsFile(path: path)
    }

    static func openFile(_ path: String) throws -> any Checkpoint {
        if path.hasSuffix(".json") { return try ShardedSafetensors(indexPath: path) }
        if try HDF5Probe.isHDF5(path: path) { return try HDF5Probe.open(path) }
        if path.hasSuffix(".h5") || path.hasSuffix(".hdf5") || path.hasSuffix(".keras") {
            let file = try MappedFile(path: path)
            try SafetensorsHeader.rejectKnownImpostors(file.bytes, path: path)
            throw CheckpointError.unrecognizedFormat(path: path, reason: "not an HDF5 file (no HDF5 signature)")
        }
        return try SafetensorsFile(path: path)
    }
}
