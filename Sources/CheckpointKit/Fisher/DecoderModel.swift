import Foundation

/// The weights of a decoder-only language model (GPT-2 or the Llama family), decoded to `Float` in
/// PyTorch's `Linear` orientation `[out, in]`, with the checkpoint's names for its norm and bias
/// vectors (``parameters``), the ones a Fisher estimate can cover.
public final class DecoderModel: @unchecked Sendable {
    /// A projection `y = x W^T + b`; `biasParts` says which ``parameters`` the bias entries belong
    /// to (a fused projection's bias may be one parameter, as GPT-2's `c_attn`, or several).
    struct Linear {
        var weight: DecoderWeight
        var bias: FloatStorage?
        var outFeatures: Int
        var inFeatures: Int
        var biasParts: [(parameter: Int, offset: Int, count: Int)]
    }

    /// A LayerNorm (weight and bias) or RMSNorm (weight); the indices are into ``parameters``.
    struct Norm {
        var weight: FloatStorage
        var bias: FloatStorage?
        var weightParameter: Int
        var biasParameter: Int?
    }

    struct Layer {
        var attentionNorm: Norm
        /// Queries, keys and values stacked: `[(H + 2 KV) * d, hidden]`.
        var qkv: Linear
        var attentionOutput: Linear
        var mlpNorm: Norm
        /// GPT-2's `c_fc`; Llama's gate and up projections stacked, `[2 * intermediate, hidden]`.
        var up: Linear
        var down: Linear
    }

    public let config: DecoderConfig
    /// The directory the model came from.
    public let path: String
    /// Norm weights, LayerNorm biases and projection biases, bottom to top, with the checkpoint's names.
    public let parameters: [DecoderParameter]
    /// Whether the BF16/F16 matrices are read per GEMM panel from the mapped file.
    public let panels: Bool

    let embeddings: DecoderWeight
    /// GPT-2's learned positions `[maxPositions, hidden]`.
    let positions: FloatStorage?
    let layers: [Layer]
    let finalNorm: Norm
    /// `[vocab, hidden]`: the embeddings themselves when tied.
    let lmHead: DecoderWeight

    /// Loads a model directory: `config.json` and the weights ``CheckpointOpener`` finds there
    /// (safetensors, sharded safetensors, PyTorch `.bin`; F32, F16 or BF16). BF16/F16 matrices of a
    /// mapped file stay there and are decoded per GEMM panel when `halfPrecision` says so.
    public convenience init(directory: String, halfPrecision: HalfPrecisionWeights = .automatic) throws {
        let config = try DecoderConfig.load(directory: directory)
        try self.init(config: config, checkpoint: try CheckpointOpener.open(directory), path: directory, halfPrecision: halfPrecision)
    }

    init(config: DecoderConfig, checkpoint: any Checkpoint, path: String, halfPrecision: HalfPrecisionWeights = .automatic) throws {
        self.config = config
        self.path = path
        let loader = DecoderWeightLoader(config: config, checkpoint: checkpoint, panels: halfPrecision.usesPanels(checkpoint))
        let (v, h) = (config.vocabSize, config.hiddenSize)
        let gpt2 = config.architecture == .gpt2
        embeddings = try loader.matrix([gpt2 ? "wte.weight" : "embed_tokens.weight"], outs: [v], in: h)
        positions = gpt2 ? FloatStorage(try loader.load("wpe.weight", [config.maxPositions, h])) : nil
        layers = try (0..<config.numLayers).map { try gpt2 ? loader.gpt2Layer($0) : loader.llamaLayer($0) }
        finalNorm = try loader.norm(gpt2 ? "ln_f" : "norm")
        lmHead = config.tiesWordEmbeddings ? embeddings : try loader.matrix(["lm_head.weight"], outs: [v], in: h)
        parameters = loader.parameters
        panels = loader.panels
    }
}
