import Crypto
import Foundation

/// The fingerprints a shard file carries (see ``FisherShardResult/Key``): computed on every machine
/// from what it actually read, so a merge can tell parts of different runs apart whatever the paths.
enum FisherShardIdentity {
    static func fingerprints(model: BertEncoder, dataPath: String, examples: [FisherEstimator.EncodedExample]) throws -> [String: String] {
        [FisherShardResult.Key.model: try modelFingerprint(directory: model.path),
         FisherShardResult.Key.data: try fileFingerprint(dataPath),
         FisherShardResult.Key.inputs: inputsFingerprint(examples)]
    }

    /// SHA-256 of `config.json` (when the path is a directory) and of every tensor's name, dtype,
    /// shape and bytes, streamed tensor by tensor.
    static func modelFingerprint(directory: String) throws -> String {
        var hasher = SHA256()
        let config = directory + "/config.json"
        if FileManager.default.fileExists(atPath: config) {
            hasher.update(data: try Data(contentsOf: URL(fileURLWithPath: config), options: .alwaysMapped))
        }
        let checkpoint = try CheckpointOpener.open(directory)
        for tensor in checkpoint.tensors {
            hasher.update(data: Array(PatchFormat.manifestLine(tensor).utf8))
            try checkpoint.withBytes(of: tensor) { hasher.update(bufferPointer: $0) }
        }
        return PatchFormat.hex(hasher.finalize())
    }

    static func fileFingerprint(_ path: String) throws -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw FisherError.cannotReadData(path: path, reason: error.localizedDescription)
        }
        var hasher = SHA256()
        hasher.update(data: data)
        return PatchFormat.hex(hasher.finalize())
    }

    static func inputsFingerprint(_ examples: [FisherEstimator.EncodedExample]) -> String {
        var hasher = SHA256()
        for example in examples {
            let header = [Int64(example.input.inputIds.count), Int64(bitPattern: example.label.bitPattern)]
            header.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            example.input.inputIds.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            example.input.tokenTypeIds.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
        return PatchFormat.hex(hasher.finalize())
    }
}
