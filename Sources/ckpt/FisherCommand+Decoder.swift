import ArgumentParser
import CheckpointKit
import Foundation

/// `ckpt fisher` on a decoder language model (GPT-2, Llama, Mistral, Qwen2): the decoder engine
/// instead of the encoder one, chosen by the model directory's `config.json`.
extension FisherComputeCommand {
    /// The estimate and its compute time in seconds.
    func runDecoderFisher(model: String, data: String) throws -> (FisherResult, Double) {
        if numLabels != nil { throw ValidationError("--num-labels is for encoder classifiers; \(model) is a decoder language model") }
        if drawsFile != nil, kind != .sampled { throw ValidationError("--draws-file goes with --kind sampled") }
        guard draws >= 1 else { throw ValidationError("--draws must be at least 1") }
        let decoder = try DecoderModel(directory: model, halfPrecision: halfPrecision.weights)
        let estimator = DecoderFisherEstimator(
            model: decoder, options: FisherOptions(kind: kind, parameters: params, samples: samples ?? 1024, maxLength: maxLength, batchSize: batchSize),
            draws: draws, seed: seed, drawsPath: drawsFile)
        let computeStart = Date()
        let result = try estimator.run(dataPath: data, progress: Progress.reporter(start: computeStart))
        let seconds = Date().timeIntervalSince(computeStart)
        Progress.finish()
        return (result, seconds)
    }
}

/// `--half-precision`: how a decoder holds BF16/F16 weight matrices.
enum HalfPrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, panels, widen

    var weights: HalfPrecisionWeights {
        switch self {
        case .auto: .automatic
        case .panels: .panels
        case .widen: .widened
        }
    }
}
