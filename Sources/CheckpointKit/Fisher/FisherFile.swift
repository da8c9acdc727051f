import Foundation

/// Reading and writing Fisher files: safetensors with one F32 tensor per parameter, keyed by the
/// model's own names, and `__metadata__` `format` = `ckpt-fisher`.
public enum FisherFile {
    /// Writes `result` (values rounded to F32) atomically.
    public static func write(_ result: FisherResult, to path: String) throws {
        var metadata = result.metadata
        metadata["format"] = "ckpt-fisher"
        try FisherFileWriter.write(result.tensors.map {
            FisherFileWriter.Entry(name: $0.name, shape: $0.shape, payload: .f32($0.values.map { Float($0) }))
        }, metadata: metadata, to: path)
    }

    /// Reads a Fisher file (any floating-point dtype). Refuses negative or non-finite values.
    public static func read(path: String) throws -> FisherResult {
        let file = try CheckpointOpener.openSafetensors(path)
        var tensors: [FisherTensor] = []
        for info in file.tensors {
            guard info.dtype.isFloatingPoint, info.dtype.isDecodable else {
                throw FisherError.invalidFisherFile(path: path, reason: "tensor '\(info.name)' has dtype \(info.dtype.rawValue); a Fisher file holds floating-point tensors")
            }
            let values = try TensorDecoder.doubles(of: info, in: file)
            if let bad = values.first(where: { !$0.isFinite || $0 < 0 }) {
                throw FisherError.invalidFisherFile(path: path, reason: "tensor '\(info.name)' holds \(bad); Fisher values are finite and non-negative")
            }
            tensors.append(FisherTensor(name: info.name, shape: info.shape, values: values))
        }
        guard !tensors.isEmpty else { throw FisherError.invalidFisherFile(path: path, reason: "no tensors") }
        return FisherResult(tensors: tensors, metadata: file.metadata)
    }

    /// Turns a safetensors file of squared-gradient sums saved by another framework into a Fisher:
    /// every tensor divided by the number of examples (`samples`, or the file's `samples` metadata).
    ///
    /// - Parameter modelTensors: the model's own tensors; when given, every name must be one of
    ///   them with the same shape.
    public static func fromGradientSums(path: String, samples: Int?, modelTensors: [TensorInfo]? = nil,
                                        modelPath: String? = nil) throws -> FisherResult {
        let sums = try read(path: path)
        guard let n = samples ?? sums.metadata["samples"].flatMap({ Int($0) }) else {
            throw FisherError.invalidFisherFile(path: path, reason: "no 'samples' in the file's metadata", remedy: .stateSampleCount)
        }
        if let samples {
            try FisherOptions.checkSampleCount(samples)
        } else if n < 1 {
            throw FisherError.invalidFisherFile(path: path, reason: "metadata 'samples' is \(n); the number of examples summed must be positive",
                                                remedy: .stateSampleCount)
        }
        if let modelTensors {
            let shapes = Dictionary(modelTensors.map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
            let missing = sums.tensors.filter { shapes[$0.name] == nil }.map(\.name)
            if !missing.isEmpty {
                let example = modelTensors.first { $0.name.hasSuffix("LayerNorm.weight") }?.name ?? modelTensors.first?.name ?? ""
                throw FisherError.namesMismatch(path: path, reason: "\(missing.count) tensor(s) are not in the model \(modelPath ?? ""), e.g. '\(missing[0])' (the model has names like '\(example)')")
            }
            for t in sums.tensors where shapes[t.name]! != t.shape {
                throw FisherError.namesMismatch(path: path, reason: "'\(t.name)' has shape \(t.shape), the model's is \(shapes[t.name]!)")
            }
        }
        let tensors = sums.tensors.map { FisherTensor(name: $0.name, shape: $0.shape, values: $0.values.map { $0 / Double(n) }) }
        var metadata = sums.metadata
        metadata["format"] = "ckpt-fisher"
        metadata["samples"] = String(n)
        metadata["kind"] = sums.metadata["kind"] ?? "from-grads"
        metadata["source"] = (path as NSString).lastPathComponent
        if let modelPath { metadata["model"] = modelPath }
        metadata["params"] = sums.metadata["params"] ?? "custom"
        return FisherResult(tensors: tensors, metadata: metadata)
    }
}
