import CKernels
import Foundation

/// Runs `BertForSequenceClassification` (or an ``EncoderArchitecture`` sibling) in eval mode (no dropout) on packed batches and keeps
/// what the backward pass needs: normalized LayerNorm inputs and inverse deviations, the QKV
/// projections, the attention probabilities, GELU derivatives and the pooler output.
///
/// Buffers grow to the largest batch seen and are reused; one runner is not thread-safe.
final class BertRunner {
    let model: BertEncoder
    let hidden: Int
    let intermediate: Int
    let embeddingSize: Int
    let heads: Int
    let headSize: Int
    let numLayers: Int
    let numLabels: Int
    let eps: Float

    // Saved activations.
    let embXhat = ScratchBuffer()
    let embRstd = ScratchBuffer()
    let qkv: [ScratchBuffer]
    let probs: [ScratchBuffer]
    let attXhat: [ScratchBuffer]
    let attRstd: [ScratchBuffer]
    let geluGrad: [ScratchBuffer]
    let outXhat: [ScratchBuffer]
    let outRstd: [ScratchBuffer]
    let pooled = ScratchBuffer()
    /// Derivative of the head's activation at each entry of `pooled`.
    let headGrad = ScratchBuffer()
    let logits = ScratchBuffer()
    /// Start of each example's `heads x L x L` probabilities in `probs[l]`.
    var probOffsets: [Int] = []

    // Forward temporaries.
    let x = ScratchBuffer()
    let ctx = ScratchBuffer()
    let tmp = ScratchBuffer()
    let h1 = ScratchBuffer()
    let act = ScratchBuffer()

    var batch = PackedBatch()
    /// ``PackedBatch/firstRows`` of `batch`: the rows the top layer keeps after its attention.
    var top = PackedBatch()

    init(model: BertEncoder) {
        self.model = model
        let c = model.config
        hidden = c.hiddenSize
        intermediate = c.intermediateSize
        embeddingSize = c.embeddingSize
        heads = c.numAttentionHeads
        headSize = c.headSize
        numLayers = c.numHiddenLayers
        numLabels = model.numLabels
        eps = c.layerNormEps
        func perLayer() -> [ScratchBuffer] { (0..<c.numHiddenLayers).map { _ in ScratchBuffer() } }
        qkv = perLayer(); probs = perLayer(); attXhat = perLayer(); attRstd = perLayer()
        geluGrad = perLayer(); outXhat = perLayer(); outRstd = perLayer()
    }

    private func reserve(for batch: PackedBatch) {
        let n = batch.rows, b = batch.count, h = hidden
        var probTotal = 0
        probOffsets = []
        for i in 0..<b {
            probOffsets.append(probTotal)
            probTotal += heads * batch.length(i) * batch.length(i)
        }
        let wide = max(h, embeddingSize)
        for s in [x, ctx, tmp, h1] { s.reserve(n * wide) }
        embXhat.reserve(n * embeddingSize)
        embRstd.reserve(n)
        act.reserve(n * intermediate)
        for l in 0..<numLayers {
            qkv[l].reserve(n * 3 * h)
            probs[l].reserve(probTotal)
            attXhat[l].reserve(n * h); outXhat[l].reserve(n * h)
            attRstd[l].reserve(n); outRstd[l].reserve(n)
            geluGrad[l].reserve(n * intermediate)
        }
        pooled.reserve(b * h)
        headGrad.reserve(b * h)
        logits.reserve(b * numLabels)
    }

    /// Runs the model; returns the logits, `[batch.count, numLabels]` row-major.
    @discardableResult
    func forward(_ batch: PackedBatch) -> UnsafeMutablePointer<Float> {
        self.batch = batch
        top = batch.firstRows
        reserve(for: batch)
        var n = batch.rows
        let h = hidden
        let x = self.x.pointer
        // Embeddings: word + position (numbered per the architecture) + token type (a zero row for
        // DistilBERT), LayerNorm, and ELECTRA's projection if any.
        let e = embeddingSize
        let embedded = model.embeddingsProjection == nil ? x : tmp.pointer
        let word = model.wordEmbeddings.pointer, position = model.positionEmbeddings.pointer, type = model.tokenTypeEmbeddings.pointer
        let positions = model.config.positions
        for b in 0..<batch.count {
            var nonPadding: Int32 = 0
            for r in batch.offsets[b]..<batch.offsets[b + 1] {
                let id = batch.inputIds[r]
                let t: Int
                switch positions {
                case .sequential: t = r - batch.offsets[b]
                case let .afterPadding(paddingIdx):
                    if id != paddingIdx { nonPadding += 1 }
                    t = Int(id == paddingIdx ? paddingIdx : paddingIdx + nonPadding)
                }
                let w = word + Int(id) * e, p = position + t * e, ty = type + Int(batch.tokenTypeIds[r]) * e
                let row = embedded + r * e
                for j in 0..<e { row[j] = w[j] + p[j] + ty[j] }
            }
        }
        layerNorm(embedded, rows: n, width: e, weight: model.embeddingsNorm.weight.pointer, bias: model.embeddingsNorm.bias.pointer,
                  xhat: embXhat.pointer, rstd: embRstd.pointer, output: embedded)
        if let projection = model.embeddingsProjection {
            BLAS.linear(embedded, rows: n, inFeatures: e, weight: projection.weight.pointer, outFeatures: h, into: x)
            addBias(x, rows: n, cols: h, bias: projection.bias.pointer)
        }

        for l in 0..<numLayers {
            let layer = model.layers[l]
            // Self-attention.
            let qkv = self.qkv[l].pointer
            BLAS.linear(x, rows: n, inFeatures: h, weight: layer.qkv.weight.pointer, outFeatures: 3 * h, into: qkv)
            addBias(qkv, rows: n, cols: 3 * h, bias: layer.qkv.bias.pointer)
            attention(layer: l)
            if l == numLayers - 1 {
                // The head reads the first token only: the rest of the top layer runs on that row of
                // each example (keys and values above still came from every row).
                keepFirstRows(ctx.pointer, width: h)
                keepFirstRows(x, width: h)
                n = top.rows
            }
            // Output projection + residual + LayerNorm.
            BLAS.linear(ctx.pointer, rows: n, inFeatures: h, weight: layer.attentionOutput.weight.pointer, outFeatures: h, into: tmp.pointer)
            addBiasAndResidual(tmp.pointer, rows: n, cols: h, bias: layer.attentionOutput.bias.pointer, residual: x)
            layerNorm(tmp.pointer, rows: n, width: h, weight: layer.attentionNorm.weight.pointer, bias: layer.attentionNorm.bias.pointer,
                      xhat: attXhat[l].pointer, rstd: attRstd[l].pointer, output: h1.pointer)
            // Feed-forward: intermediate + GELU, output + residual + LayerNorm.
            BLAS.linear(h1.pointer, rows: n, inFeatures: h, weight: layer.intermediate.weight.pointer, outFeatures: intermediate, into: act.pointer)
            geluInPlace(act.pointer, rows: n, cols: intermediate, bias: layer.intermediate.bias.pointer, derivative: geluGrad[l].pointer)
            BLAS.linear(act.pointer, rows: n, inFeatures: intermediate, weight: layer.output.weight.pointer, outFeatures: h, into: tmp.pointer)
            addBiasAndResidual(tmp.pointer, rows: n, cols: h, bias: layer.output.bias.pointer, residual: h1.pointer)
            layerNorm(tmp.pointer, rows: n, width: h, weight: layer.outputNorm.weight.pointer, bias: layer.outputNorm.bias.pointer,
                      xhat: outXhat[l].pointer, rstd: outRstd[l].pointer, output: x)
        }

        // The head's dense layer on the first token (row b of x now) and its activation (tanh, GELU or
        // ReLU), then the classifier.
        let b = batch.count
        BLAS.linear(x, rows: b, inFeatures: h, weight: model.pooler.weight.pointer, outFeatures: h, into: pooled.pointer)
        headActivation(pooled.pointer, count: b * h, bias: model.pooler.bias.pointer, cols: h)
        BLAS.linear(pooled.pointer, rows: b, inFeatures: h, weight: model.classifier.weight.pointer, outFeatures: numLabels, into: logits.pointer)
        addBias(logits.pointer, rows: b, cols: numLabels, bias: model.classifier.bias.pointer)
        return logits.pointer
    }

    /// Moves each example's first row of `rows` (`width` floats a row) to row `b`, in place (row `b`
    /// is never after example `b`'s first row, so no row is overwritten before it is moved).
    func keepFirstRows(_ rows: UnsafeMutablePointer<Float>, width: Int) {
        for b in 0..<batch.count where batch.offsets[b] != b {
            (rows + b * width).update(from: rows + batch.offsets[b] * width, count: width)
        }
    }

    /// Spreads row `b` of `compact` to example `b`'s first row of `rows` (zeros elsewhere): the
    /// inverse of ``keepFirstRows(_:width:)`` for a gradient.
    func spreadFirstRows(_ compact: UnsafePointer<Float>, into rows: UnsafeMutablePointer<Float>, width: Int) {
        rows.initialize(repeating: 0, count: batch.rows * width)
        for b in 0..<batch.count { (rows + batch.offsets[b] * width).update(from: compact + b * width, count: width) }
    }

    /// Scaled dot-product attention of every example and head over its own rows; writes `ctx` and
    /// keeps the probabilities.
    private func attention(layer l: Int) {
        let h = hidden, d = headSize, stride = 3 * h
        let qkv = self.qkv[l].pointer, probs = self.probs[l].pointer, ctx = self.ctx.pointer
        let scale = 1 / Float(d).squareRoot()
        for b in 0..<batch.count {
            let o = batch.offsets[b], len = batch.length(b)
            for head in 0..<heads {
                let q = qkv + o * stride + head * d
                let k = q + h, v = q + 2 * h
                let p = probs + probOffsets[b] + head * len * len
                BLAS.gemm(m: len, n: len, k: d, a: q, lda: stride, b: k, ldb: stride, transposeB: true, c: p, ldc: len, alpha: scale)
                ckpt_softmax_rows(p, Int64(len), Int64(len))
                BLAS.gemm(m: len, n: d, k: len, a: p, lda: len, b: v, ldb: stride, c: ctx + o * h + head * d, ldc: h)
            }
        }
    }

    // MARK: Kernels

    private func addBias(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = y + r * cols
            for j in 0..<cols { row[j] += bias[j] }
        }
    }

    private func addBiasAndResidual(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = y + r * cols, res = residual + r * cols
            for j in 0..<cols { row[j] += bias[j] + res[j] }
        }
    }

    /// LayerNorm over each row (biased variance, as torch), keeping `xhat` and `1/sigma`.
    /// `output` may alias `input`.
    private func layerNorm(_ input: UnsafePointer<Float>, rows: Int, width h: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                           xhat: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) {
        ckpt_layer_norm(input, Int64(rows), Int64(h), weight, bias, eps, xhat, rstd, output)
    }

    /// Adds the bias, applies the exact GELU `x * Phi(x)` and stores its derivative
    /// `Phi(x) + x * phi(x)` for the backward pass (CKernels' eight-lane erf and exp: libm's scalar
    /// `erff`/`expf` were a sixth of a run).
    private func geluInPlace(_ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>, derivative: UnsafeMutablePointer<Float>) {
        ckpt_gelu(y, Int64(rows), Int64(cols), bias, derivative)
    }

    /// Adds the bias and applies the architecture's head activation to `count` entries (rows of
    /// `cols`), keeping its derivative in `headGrad`.
    private func headActivation(_ y: UnsafeMutablePointer<Float>, count: Int, bias: UnsafePointer<Float>, cols: Int) {
        let der = headGrad.pointer
        switch model.config.architecture.headActivation {
        case .gelu:
            geluInPlace(y, rows: count / cols, cols: cols, bias: bias, derivative: der)
        case .tanh:
            for i in 0..<count {
                let t = tanhf(y[i] + bias[i % cols])
                y[i] = t
                der[i] = 1 - t * t
            }
        case .relu:
            for i in 0..<count {
                let v = y[i] + bias[i % cols]
                y[i] = max(v, 0)
                der[i] = v > 0 ? 1 : 0
            }
        }
    }
}
