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
        var sumTensors = sums.tensors
        if let modelTensors {
            sumTensors = try modelNamed(sums.tensors, modelTensors: modelTensors, path: path, modelPath: modelPath)
        }
        let tensors = sumTensors.map { FisherTensor(name: $0.name, shape: $0.shape, values: $0.values.map { $0 / Double(n) }) }
        var metadata = sums.metadata
        metadata["format"] = "ckpt-fisher"
        metadata["samples"] = String(n)
        metadata["kind"] = sums.metadata["kind"] ?? "from-grads"
        metadata["source"] = (path as NSString).lastPathComponent
        if let modelPath { metadata["model"] = modelPath }
        metadata["params"] = sums.metadata["params"] ?? "custom"
        return FisherResult(tensors: tensors, metadata: metadata)
    }

    /// The gradient sums under the model's own names: paired by ``CheckpointAlignment``, so sums
    /// saved by wrapped training code (`module.`, `_orig_mod.`, FSDP) fit the plain model. Every
    /// tensor must pair with a model tensor of the same shape.
    static func modelNamed(_ sums: [FisherTensor], modelTensors: [TensorInfo], path: String, modelPath: String?) throws -> [FisherTensor] {
        let infos = sums.map { TensorInfo(name: $0.name, dtype: .f32, shape: $0.shape, byteCount: 4 * $0.values.count) }
        let alignment = CheckpointAlignment(base: modelTensors, finetuned: infos)
        var modelTensor: [String: TensorInfo] = [:]
        for pair in alignment.pairs { modelTensor[pair.finetuned.name] = pair.base }
        let missing = sums.filter { modelTensor[$0.name] == nil }.map(\.name)
        if !missing.isEmpty {
            let example = modelTensors.first { $0.name.hasSuffix("LayerNorm.weight") }?.name ?? modelTensors.first?.name ?? ""
            throw FisherError.namesMismatch(path: path, reason: "\(missing.count) tensor(s) are not in the model \(modelPath ?? ""), e.g. '\(missing[0])' (the model has names like '\(example)')")
        }
        return try sums.map { tensor in
            let model = modelTensor[tensor.name]!
            guard model.shape == tensor.shape else {
                throw FisherError.namesMismatch(path: path, reason: "'\(tensor.name)' has shape \(tensor.shape), the model's is \(model.shape)")
            }
            return FisherTensor(name: model.name, shape: tensor.shape, values: tensor.values)
        }
    }
}
