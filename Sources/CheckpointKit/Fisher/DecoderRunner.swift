import Foundation

/// Runs a ``DecoderModel`` on one sequence, keeping what the backward pass needs: each layer's
/// input and norm statistics, its post-rotary queries, keys and values, its attention
/// probabilities and its MLP pre-activations. Memory grows with one sequence's length only.
final class DecoderRunner {
    let model: DecoderModel
    let config: DecoderConfig
    /// Tokens of the sequence last run forward.
    private(set) var rows = 0

    let layerInput: [ScratchBuffer], attentionStats: [ScratchBuffer], qkv: [ScratchBuffer], probabilities: [ScratchBuffer]
    let mlpInput: [ScratchBuffer], mlpStats: [ScratchBuffer], preActivation: [ScratchBuffer]
    let finalInput = ScratchBuffer(), finalStats = ScratchBuffer(), logits = ScratchBuffer()
    let x = ScratchBuffer(), normed = ScratchBuffer(), context = ScratchBuffer(), activated = ScratchBuffer()
    let dx = ScratchBuffer(), dNormed = ScratchBuffer(), dContext = ScratchBuffer(), dQKV = ScratchBuffer()
    let dScores = ScratchBuffer(), dActivated = ScratchBuffer(), dPre = ScratchBuffer()
    /// The decoded panel of a BF16/F16 weight (``HalfPrecisionGEMM``).
    let panel = ScratchBuffer()
    var rotaryTable: (cos: [Float], sin: [Float]) = ([], [])

    /// Offsets of each of the model's parameters in a gradient vector.
    let offsets: [Int]
    let gradientWidth: Int

    init(model: DecoderModel) {
        self.model = model
        config = model.config
        func perLayer() -> [ScratchBuffer] { (0..<model.config.numLayers).map { _ in ScratchBuffer() } }
        (layerInput, attentionStats, qkv, probabilities) = (perLayer(), perLayer(), perLayer(), perLayer())
        (mlpInput, mlpStats, preActivation) = (perLayer(), perLayer(), perLayer())
        var offsets: [Int] = [], total = 0
        for p in model.parameters {
            offsets.append(total)
            total += p.count
        }
        self.offsets = offsets
        gradientWidth = total
    }

    var queryWidth: Int { config.numHeads * config.headSize }
    var keyWidth: Int { config.numKeyValueHeads * config.headSize }
    var qkvWidth: Int { queryWidth + 2 * keyWidth }
    var upWidth: Int { config.architecture == .gpt2 ? config.intermediateSize : 2 * config.intermediateSize }

    private func reserve(_ t: Int) {
        let h = config.hiddenSize, heads = config.numHeads
        for l in 0..<config.numLayers {
            for b in [layerInput[l], mlpInput[l]] { b.reserve(t * h) }
            for b in [attentionStats[l], mlpStats[l]] { b.reserve(2 * t) }
            qkv[l].reserve(t * qkvWidth)
            probabilities[l].reserve(heads * t * t)
            preActivation[l].reserve(t * upWidth)
        }
        for b in [finalInput, x, normed, dx, dNormed] { b.reserve(t * h) }
        finalStats.reserve(2 * t)
        logits.reserve(t * config.vocabSize)
        for b in [context, dContext] { b.reserve(t * queryWidth) }
        dQKV.reserve(t * qkvWidth)
        dScores.reserve(t * t)
        for b in [activated, dActivated] { b.reserve(t * config.intermediateSize) }
        dPre.reserve(t * upWidth)
        if let rotary = config.rotary, rotaryTable.cos.count < t * rotary.dimension / 2 {
            rotaryTable = rotary.table(positions: max(t, 2 * rotaryTable.cos.count / max(rotary.dimension, 1)))
        }
    }

    /// Runs `ids` (positions 0..<count) and returns the logits `[count, vocab]`, valid until the next call.
    func forward(_ ids: [Int32]) -> UnsafeMutablePointer<Float> {
        let t = ids.count, h = config.hiddenSize
        rows = t
        reserve(t)
        let x = self.x.pointer
        for (row, id) in ids.enumerated() {
            model.embeddings.row(Int(id), into: x + row * h)
            if let positions = model.positions {
                for i in 0..<h { x[row * h + i] += positions.pointer[row * h + i] }
            }
        }
        for (l, layer) in model.layers.enumerated() {
            layerInput[l].pointer.update(from: x, count: t * h)
            norm(x, layer.attentionNorm, stats: attentionStats[l].pointer)
            project(normed.pointer, layer.qkv, into: qkv[l].pointer)
            if config.rotary != nil { rotate(qkv[l].pointer, inverse: false) }
            attention(layer: l)
            project(context.pointer, layer.attentionOutput, into: x, accumulate: true)
            mlpInput[l].pointer.update(from: x, count: t * h)
            norm(x, layer.mlpNorm, stats: mlpStats[l].pointer)
            project(normed.pointer, layer.up, into: preActivation[l].pointer)
            activate(preActivation[l].pointer)
            project(activated.pointer, layer.down, into: x, accumulate: true)
        }
        finalInput.pointer.update(from: x, count: t * h)
        norm(x, model.finalNorm, stats: finalStats.pointer)
        HalfPrecisionGEMM.linear(normed.pointer, rows: t, weight: model.lmHead, into: logits.pointer, panel: panel)
        return logits.pointer
    }

    func norm(_ input: UnsafePointer<Float>, _ norm: DecoderModel.Norm, stats: UnsafeMutablePointer<Float>) {
        DecoderNorm.forward(input, rows: rows, width: config.hiddenSize, norm: norm, epsilon: config.normEpsilon,
                            centered: config.architecture.hasLayerNorm, stats: stats, into: normed.pointer)
    }

    /// `y (+)= x W^T + b`.
    func project(_ input: UnsafePointer<Float>, _ linear: DecoderModel.Linear, into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        HalfPrecisionGEMM.linear(input, rows: rows, weight: linear.weight, into: y, accumulate: accumulate, panel: panel)
        guard let bias = linear.bias?.pointer else { return }
        for r in 0..<rows {
            let row = y + r * linear.outFeatures
            for i in 0..<linear.outFeatures { row[i] += bias[i] }
        }
    }

    /// Rotates the queries and keys of every row (`inverse`: the backward pass).
    func rotate(_ buffer: UnsafeMutablePointer<Float>, inverse: Bool) {
        let d = config.headSize
        RotaryEmbedding.rotate(buffer, rows: rows, stride: qkvWidth, heads: config.numHeads + config.numKeyValueHeads, dimension: d,
                               cos: rotaryTable.cos, sin: rotaryTable.sin, inverse: inverse)
    }

    /// The attention logit scale.
    var scale: Float { config.scalesAttention ? 1 / Float(config.headSize).squareRoot() : 1 }

    /// Causal attention of every head (head `i` reads key/value head `i / (heads / kvHeads)`);
    /// probabilities into `probabilities[l]`, outputs into `context`.
    private func attention(layer l: Int) {
        let t = rows, d = config.headSize, w = qkvWidth, group = config.numHeads / config.numKeyValueHeads
        let base = qkv[l].pointer
        for head in 0..<config.numHeads {
            let kv = head / group
            let q = base + head * d, k = base + queryWidth + kv * d, v = base + queryWidth + keyWidth + kv * d
            let p = probabilities[l].pointer + head * t * t
            BLAS.gemm(m: t, n: t, k: d, a: q, lda: w, b: k, ldb: w, transposeB: true, c: p, ldc: t, alpha: scale)
            for i in 0..<t { Self.causalSoftmax(p + i * t, row: i, count: t) }
            BLAS.gemm(m: t, n: d, k: t, a: p, lda: t, b: v, ldb: w, c: context.pointer + head * d, ldc: queryWidth)
        }
    }

    /// Softmax over entries `0...row` (summed in `Double`); later entries (future tokens) become 0.
    static func causalSoftmax(_ p: UnsafeMutablePointer<Float>, row: Int, count: Int) {
        var m = -Float.infinity
        for j in 0...row { m = max(m, p[j]) }
        var s = 0.0
        for j in 0...row {
            let e = Foundation.exp(Double(p[j] - m))
            p[j] = Float(e)
            s += e
        }
        for j in 0...row { p[j] = Float(Double(p[j]) / s) }
        for j in (row + 1)..<max(count, row + 1) { p[j] = 0 }
    }

    /// GPT-2: `gelu_new(z)`; Llama: `silu(gate) * up`, from `pre` into `activated`.
    private func activate(_ pre: UnsafePointer<Float>) {
        let n = config.intermediateSize, out = activated.pointer
        for r in 0..<rows {
            if config.architecture == .gpt2 {
                for i in 0..<n { out[r * n + i] = Self.gelu(pre[r * n + i]).value }
            } else {
                let gate = pre + r * 2 * n, up = gate + n
                for i in 0..<n { out[r * n + i] = Float(Self.silu(Double(gate[i])).value * Double(up[i])) }
            }
        }
    }

    /// The tanh approximation of GELU (transformers' `gelu_new`) and its derivative, in `Float`
    /// with tanh(u) = 1 - 2 / (1 + e^(2u)): one `expf` instead of libm's double `tanh` (which
    /// calls `expm1`), a third of a GPT-2 example's time before. e^(2u) overflows to +inf for
    /// large u and gives tanh = 1; the absolute error near 0 is about 1e-7, far inside the
    /// float32 rounding of the products around it.
    static func gelu(_ x: Float) -> (value: Float, derivative: Float) {
        let c: Float = 0.7978845608028654, x2 = x * x, u = c * x * (1 + 0.044715 * x2)
        let th = 1 - 2 / (1 + Foundation.exp(2 * u))
        return (0.5 * x * (1 + th), 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * c * (1 + 3 * 0.044715 * x2))
    }

    /// `x * sigmoid(x)` and its derivative.
    static func silu(_ x: Double) -> (value: Double, derivative: Double) {
        let s = 1 / (1 + Foundation.exp(-x))
        return (x * s, s * (1 + x * (1 - s)))
    }
}
