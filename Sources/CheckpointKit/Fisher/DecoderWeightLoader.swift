import Foundation

/// Reads a decoder's weights by canonical name (model prefixes such as `transformer.` and `model.`
/// and training wrappers such as `module.` removed), transposes GPT-2's `Conv1D` weights from
/// `(in, out)` to `[out, in]`, and records each norm and bias vector it reads as a
/// ``DecoderParameter`` under the checkpoint's own name.
final class DecoderWeightLoader {
    typealias Linear = DecoderModel.Linear
    let config: DecoderConfig
    let checkpoint: any Checkpoint
    /// canonical name -> tensor
    var byName: [String: TensorInfo] = [:]
    var parameters: [DecoderParameter] = []
    /// Whether BF16/F16 matrices stay in the file mapping (``HalfPrecisionGEMM``).
    let panels: Bool

    init(config: DecoderConfig, checkpoint: any Checkpoint, panels: Bool = false) {
        self.config = config
        self.checkpoint = checkpoint
        self.panels = panels
        for tensor in checkpoint.tensors {
            let unwrapped = TrainingWrappers.strip(tensor.name)?.name ?? tensor.name
            let name = ParameterNames.canonicalize(unwrapped).name
            if byName[name] == nil { byName[name] = tensor }
        }
    }

    func tensor(_ canonical: String) throws -> TensorInfo {
        guard let tensor = byName[canonical] else { throw FisherError.missingTensor(path: checkpoint.path, tensor: canonical) }
        return tensor
    }

    /// The tensor as `[Float]` of `shape`; `transposed`: stored as the transpose of a 2-D `shape`.
    func load(_ canonical: String, _ shape: [Int], transposed: Bool = false) throws -> [Float] {
        let tensor = try self.tensor(canonical)
        let stored = transposed ? [shape[1], shape[0]] : shape
        guard tensor.shape == stored else {
            throw FisherError.wrongShape(path: checkpoint.path, tensor: tensor.name, expected: stored, actual: tensor.shape)
        }
        let values = try TensorDecoder.floats(of: tensor, in: checkpoint)
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw FisherError.nonFiniteWeight(path: checkpoint.path, tensor: tensor.name, index: bad)
        }
        guard transposed else { return values }
        return [Float](unsafeUninitializedCapacity: values.count) { out, count in
            values.withUnsafeBytes { ElementTransposition.transpose($0, rows: shape[1], columns: shape[0], width: 4, into: UnsafeMutableRawBufferPointer(out)) }
            count = values.count
        }
    }

    /// Loads a vector and records it as a parameter; returns its index in ``parameters``.
    func vector(_ canonical: String, _ count: Int, kind: DecoderParameter.Kind) throws -> (FloatStorage, Int) {
        let values = try load(canonical, [count])
        parameters.append(DecoderParameter(name: try tensor(canonical).name, kind: kind, count: count))
        return (FloatStorage(values), parameters.count - 1)
    }

    func norm(_ prefix: String) throws -> DecoderModel.Norm {
        let (weight, w) = try vector(prefix + ".weight", config.hiddenSize, kind: .normWeight)
        guard config.architecture.hasLayerNorm else { return .init(weight: weight, bias: nil, weightParameter: w, biasParameter: nil) }
        let (bias, b) = try vector(prefix + ".bias", config.hiddenSize, kind: .normBias)
        return .init(weight: weight, bias: bias, weightParameter: w, biasParameter: b)
    }

    /// Several projections of the same input stacked into one (their weights' rows and biases
    /// concatenated); `biased` says which of them have a bias (all or none).
    func stacked(_ prefixes: [String], outs: [Int], in inF: Int, biased: Bool, transposed: Bool = false) throws -> Linear {
        var biases: [FloatStorage] = []
        var parts: [(parameter: Int, offset: Int, count: Int)] = []
        var offset = 0
        let weight = try matrix(prefixes.map { $0 + ".weight" }, outs: outs, in: inF, transposed: transposed)
        for (prefix, out) in zip(prefixes, outs) {
            if biased {
                let (bias, index) = try vector(prefix + ".bias", out, kind: .bias)
                biases.append(bias)
                parts.append((index, offset, out))
            }
            offset += out
        }
        return Linear(weight: weight, bias: biased ? (biases.count == 1 ? biases[0] : FloatStorage(concatenating: biases)) : nil,
                      outFeatures: offset, inFeatures: inF, biasParts: parts)
    }

    /// The matrices `names` (`[out, in]`, or stored `(in, out)` when `transposed`) stacked by rows:
    /// left in the mapping when ``panels`` and all are BF16/F16, else widened to one F32 copy.
    func matrix(_ names: [String], outs: [Int], in inF: Int, transposed: Bool = false) throws -> DecoderWeight {
        let total = outs.reduce(0, +)
        if panels, let blocks = try mappedBlocks(names, outs: outs, in: inF, transposed: transposed) {
            return DecoderWeight(checkpoint: checkpoint, blocks: blocks, out: total, in: inF)
        }
        let parts = try zip(names, outs).map { FloatStorage(try load($0, [$1, inF], transposed: transposed)) }
        return DecoderWeight(parts.count == 1 ? parts[0] : FloatStorage(concatenating: parts), out: total, in: inF)
    }

    /// The matrices as blocks of the file mapping, checked for shape and non-finite values; nil when
    /// one of them is not BF16/F16.
    private func mappedBlocks(_ names: [String], outs: [Int], in inF: Int, transposed: Bool) throws -> [DecoderWeight.Block]? {
        var blocks: [DecoderWeight.Block] = []
        var offset = 0
        for (name, out) in zip(names, outs) {
            let tensor = try self.tensor(name)
            guard tensor.dtype == .bf16 || tensor.dtype == .f16 else { return nil }
            let stored = transposed ? [inF, out] : [out, inF]
            guard tensor.shape == stored else {
                throw FisherError.wrongShape(path: checkpoint.path, tensor: tensor.name, expected: stored, actual: tensor.shape)
            }
            let base = try checkpoint.withBytes(of: tensor) { raw throws -> UnsafeRawPointer? in
                if let bad = HalfPrecisionGEMM.firstNonFinite(raw, dtype: tensor.dtype) {
                    throw FisherError.nonFiniteWeight(path: checkpoint.path, tensor: tensor.name, index: bad)
                }
                return raw.baseAddress
            }
            guard let base else { return nil }
            blocks.append(.init(base: base, dtype: tensor.dtype, offset: offset, rows: out, transposed: transposed))
            offset += out
        }
        return blocks
    }

    /// GPT-2 block `l`: `Conv1D` weights are stored `(in, out)`.
    func gpt2Layer(_ l: Int) throws -> DecoderModel.Layer {
        let h = config.hiddenSize, inter = config.intermediateSize, p = "h.\(l)."
        return DecoderModel.Layer(
            attentionNorm: try norm(p + "ln_1"),
            qkv: try stacked([p + "attn.c_attn"], outs: [3 * h], in: h, biased: true, transposed: true),
            attentionOutput: try stacked([p + "attn.c_proj"], outs: [h], in: h, biased: true, transposed: true),
            mlpNorm: try norm(p + "ln_2"),
            up: try stacked([p + "mlp.c_fc"], outs: [inter], in: h, biased: true, transposed: true),
            down: try stacked([p + "mlp.c_proj"], outs: [h], in: inter, biased: true, transposed: true))
    }

    /// Llama/Mistral/Qwen2 layer `l`.
    func llamaLayer(_ l: Int) throws -> DecoderModel.Layer {
        let c = config, h = c.hiddenSize, inter = c.intermediateSize, p = "layers.\(l)."
        let q = c.numHeads * c.headSize, kv = c.numKeyValueHeads * c.headSize
        return DecoderModel.Layer(
            attentionNorm: try norm(p + "input_layernorm"),
            qkv: try stacked([p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"], outs: [q, kv, kv], in: h, biased: c.qkvBias),
            attentionOutput: try stacked([p + "self_attn.o_proj"], outs: [h], in: q, biased: c.outputBias),
            mlpNorm: try norm(p + "post_attention_layernorm"),
            up: try stacked([p + "mlp.gate_proj", p + "mlp.up_proj"], outs: [inter, inter], in: h, biased: c.mlpBias),
            down: try stacked([p + "mlp.down_proj"], outs: [h], in: inter, biased: c.mlpBias))
    }
}
