import CKernels
import Foundation

extension BertRunner {
    /// Back-propagates the logit gradients `seed` (`[batch.count, numLabels]`) of the last
    /// ``forward(_:)`` and writes each example's gradient of the chosen parameters to
    /// `grads[b * layout.total ..< (b + 1) * layout.total]`.
    ///
    /// Only input gradients are propagated (no weight-matrix gradient is ever formed), and only
    /// down to the lowest layer holding a chosen parameter. Parameter gradients are summed over each
    /// example's own rows, so the batch yields per-example gradients exactly.
    func backward(seed: UnsafePointer<Float>, layout: GradientLayout, into grads: UnsafeMutablePointer<Float>,
                  workspace w: BackwardWorkspace) {
        let n = batch.rows, b = batch.count, h = hidden, inter = intermediate
        let stride = layout.total
        grads.initialize(repeating: 0, count: b * stride)
        w.reserve(rows: n, batch: b, hidden: h, intermediate: inter, maxLength: batch.maxLength, embedding: embeddingSize)
        headBackward(seed: seed, layout: layout, into: grads, workspace: w)
        guard layout.lowestLayer < numLayers else { return }
        // The top layer's output is each example's first row (``forward(_:)``): dX starts compact.
        let dX = w.dX.pointer
        BLAS.linearBackward(w.dPooled.pointer, rows: b, outFeatures: h, weight: model.pooler.weight.pointer, inFeatures: h, into: dX)

        for l in Swift.stride(from: numLayers - 1, through: max(layout.lowestLayer, 0), by: -1) {
            guard layerBackward(l, dX: dX, layout: layout, into: grads, workspace: w) else { break }
        }
        if layout.lowestLayer == -1 {
            embeddingsBackward(dX: dX, layout: layout, into: grads, workspace: w)
        }
    }

    /// Adds each example's column sums of `source` (its own rows) to parameter `p`'s gradient.
    private func perExampleSum(_ p: BertParameter, _ source: UnsafePointer<Float>, cols: Int, ld: Int,
                               layout: GradientLayout, grads: UnsafeMutablePointer<Float>, rows batch: PackedBatch) {
        guard let off = layout.offsets[p] else { return }
        let stride = layout.total
        for e in 0..<batch.count {
            let g = grads + e * stride + off
            for r in batch.offsets[e]..<batch.offsets[e + 1] {
                let row = source + r * ld
                for j in 0..<cols { g[j] += row[j] }
            }
        }
    }

    /// Classifier and pooler: their bias gradients, and the gradient of the pooled [CLS] vector
    /// before its activation in `w.dPooled`.
    private func headBackward(seed: UnsafePointer<Float>, layout: GradientLayout, into grads: UnsafeMutablePointer<Float>,
                              workspace w: BackwardWorkspace) {
        let b = batch.count, h = hidden, stride = layout.total
        if let off = layout.offsets[.classifierBias] {
            for e in 0..<b { (grads + e * stride + off).update(from: seed + e * numLabels, count: numLabels) }
        }
        BLAS.linearBackward(seed, rows: b, outFeatures: numLabels, weight: model.classifier.weight.pointer, inFeatures: h, into: w.dPooled.pointer)
        for i in 0..<(b * h) { w.dPooled.pointer[i] *= headGrad.pointer[i] }
        if let off = layout.offsets[.poolerBias] {
            for e in 0..<b { (grads + e * stride + off).update(from: w.dPooled.pointer + e * h, count: h) }
        }
    }

    /// Back-propagates through encoder layer `l`: `dX` holds the gradient of its output on entry and
    /// of its input on return. Returns false when no layer below needs a gradient. Above its
    /// attention the top layer has each example's first row only (``BertRunner/top``): there `dX`
    /// is compact on entry, and the gradient of the context is spread back to every row.
    private func layerBackward(_ l: Int, dX: UnsafeMutablePointer<Float>, layout: GradientLayout,
                               into grads: UnsafeMutablePointer<Float>, workspace w: BackwardWorkspace) -> Bool {
        let n = batch.rows, h = hidden, inter = intermediate, stride = layout.total
        let isTop = l == numLayers - 1, upper = isTop ? top : batch, m = upper.rows
        func perExampleSum(_ p: BertParameter, _ source: UnsafePointer<Float>, cols: Int, ld: Int, rows: PackedBatch) {
            self.perExampleSum(p, source, cols: cols, ld: ld, layout: layout, grads: grads, rows: rows)
        }
        let layer = model.layers[l]
        // Output LayerNorm: dX is the gradient of the layer output.
        layerNormBackward(dX, width: h, xhat: outXhat[l].pointer, rstd: outRstd[l].pointer, weight: layer.outputNorm.weight.pointer,
                          output: w.dA.pointer, grads: grads, stride: stride,
                          weightOffset: layout.offsets[.outputNorm(layer: l, bias: false)],
                          biasOffset: layout.offsets[.outputNorm(layer: l, bias: true)], rows: upper)
        let dA = w.dA.pointer  // gradient of output.dense output and of h1 (residual)
        perExampleSum(.outputBias(layer: l), dA, cols: h, ld: h, rows: upper)
        BLAS.linearBackward(dA, rows: m, outFeatures: h, weight: layer.output.weight.pointer, inFeatures: inter, into: w.dInter.pointer)
        let dI = w.dInter.pointer, gg = geluGrad[l].pointer
        for i in 0..<(m * inter) { dI[i] *= gg[i] }
        perExampleSum(.intermediateBias(layer: l), dI, cols: inter, ld: inter, rows: upper)
        // dH1 = dA + dI W_i
        w.dH1.pointer.update(from: dA, count: m * h)
        BLAS.linearBackward(dI, rows: m, outFeatures: inter, weight: layer.intermediate.weight.pointer, inFeatures: h, into: w.dH1.pointer, accumulate: true)
        // Attention-output LayerNorm.
        layerNormBackward(w.dH1.pointer, width: h, xhat: attXhat[l].pointer, rstd: attRstd[l].pointer, weight: layer.attentionNorm.weight.pointer,
                          output: dA, grads: grads, stride: stride,
                          weightOffset: layout.offsets[.attentionNorm(layer: l, bias: false)],
                          biasOffset: layout.offsets[.attentionNorm(layer: l, bias: true)], rows: upper)
        perExampleSum(.attentionOutputBias(layer: l), dA, cols: h, ld: h, rows: upper)
        let needsQKV = layout.offsets[.queryBias(layer: l)] != nil || layout.offsets[.keyBias(layer: l)] != nil
            || layout.offsets[.valueBias(layer: l)] != nil
        if l == layout.lowestLayer && !needsQKV { return false }
        // dH1 is free now: the top layer's compact context gradient goes there before it is spread.
        BLAS.linearBackward(dA, rows: m, outFeatures: h, weight: layer.attentionOutput.weight.pointer, inFeatures: h,
                            into: isTop ? w.dH1.pointer : w.dCtx.pointer)
        if isTop { spreadFirstRows(w.dH1.pointer, into: w.dCtx.pointer, width: h) }
        attentionBackward(layer: l, dCtx: w.dCtx.pointer, dQKV: w.dQKV.pointer, workspace: w)
        perExampleSum(.queryBias(layer: l), w.dQKV.pointer, cols: h, ld: 3 * h, rows: batch)
        perExampleSum(.keyBias(layer: l), w.dQKV.pointer + h, cols: h, ld: 3 * h, rows: batch)
        perExampleSum(.valueBias(layer: l), w.dQKV.pointer + 2 * h, cols: h, ld: 3 * h, rows: batch)
        if l == layout.lowestLayer { return false }
        // Gradient of the layer input: residual + through Q, K, V.
        if isTop { spreadFirstRows(dA, into: dX, width: h) } else { dX.update(from: dA, count: n * h) }
        BLAS.linearBackward(w.dQKV.pointer, rows: n, outFeatures: 3 * h, weight: layer.qkv.weight.pointer, inFeatures: h, into: dX, accumulate: true)
        return true
    }

    /// The embedding projection's bias and the embeddings LayerNorm, from the gradient `dX` of the
    /// lowest layer's input.
    private func embeddingsBackward(dX: UnsafeMutablePointer<Float>, layout: GradientLayout,
                                    into grads: UnsafeMutablePointer<Float>, workspace w: BackwardWorkspace) {
        let n = batch.rows, h = hidden, stride = layout.total
        var dEmbedded: UnsafePointer<Float> = UnsafePointer(dX)
        if let projection = model.embeddingsProjection {
            perExampleSum(.embeddingsProjectionBias, dX, cols: h, ld: h, layout: layout, grads: grads, rows: batch)
            guard layout.offsets[.embeddingsNorm(bias: false)] != nil || layout.offsets[.embeddingsNorm(bias: true)] != nil else { return }
            BLAS.linearBackward(dX, rows: n, outFeatures: h, weight: projection.weight.pointer, inFeatures: embeddingSize, into: w.dA.pointer)
            dEmbedded = UnsafePointer(w.dA.pointer)
        }
        layerNormBackward(dEmbedded, width: embeddingSize, xhat: embXhat.pointer, rstd: embRstd.pointer, weight: model.embeddingsNorm.weight.pointer,
                          output: nil, grads: grads, stride: stride,
                          weightOffset: layout.offsets[.embeddingsNorm(bias: false)],
                          biasOffset: layout.offsets[.embeddingsNorm(bias: true)], rows: batch)
    }

    /// LayerNorm backward for every row: per-example weight/bias gradients, and the input gradient
    /// `rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))` with `dxhat = dy * weight`.
    private func layerNormBackward(_ dy: UnsafePointer<Float>, width h: Int, xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                   weight: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>?,
                                   grads: UnsafeMutablePointer<Float>, stride: Int, weightOffset: Int?, biasOffset: Int?,
                                   rows batch: PackedBatch) {
        for e in 0..<batch.count {
            let r = batch.offsets[e], example = grads + e * stride
            ckpt_layer_norm_backward(dy + r * h, Int64(batch.length(e)), Int64(h), xhat + r * h, rstd + r, weight,
                                     weightOffset.map { example + $0 }, biasOffset.map { example + $0 }, output.map { $0 + r * h })
        }
    }

    /// Attention backward per example and head: from the gradient of the context to the gradients
    /// of Q, K and V (`dQKV`, laid out like the forward `qkv`).
    private func attentionBackward(layer l: Int, dCtx: UnsafePointer<Float>, dQKV: UnsafeMutablePointer<Float>, workspace w: BackwardWorkspace) {
        let h = hidden, d = headSize, stride = 3 * h
        let qkv = self.qkv[l].pointer, probs = self.probs[l].pointer
        let scale = 1 / Float(d).squareRoot()
        let dS = w.dScores.pointer
        for b in 0..<batch.count {
            let o = batch.offsets[b], len = batch.length(b)
            for head in 0..<heads {
                let q = qkv + o * stride + head * d, k = q + h, v = q + 2 * h
                let dq = dQKV + o * stride + head * d, dk = dq + h, dv = dq + 2 * h
                let p = probs + probOffsets[b] + head * len * len
                let dc = dCtx + o * h + head * d
                // dP = dCtx V^T; dV = P^T dCtx
                BLAS.gemm(m: len, n: len, k: d, a: dc, lda: h, b: v, ldb: stride, transposeB: true, c: dS, ldc: len)
                BLAS.gemm(m: len, n: d, k: len, a: p, lda: len, transposeA: true, b: dc, ldb: h, c: dv, ldc: stride)
                // dS = P * (dP - rowsum(dP * P))
                for i in 0..<len {
                    let pr = p + i * len, dr = dS + i * len
                    var dot: Float = 0
                    for j in 0..<len { dot += pr[j] * dr[j] }
                    for j in 0..<len { dr[j] = pr[j] * (dr[j] - dot) }
                }
                // dQ = scale dS K; dK = scale dS^T Q
                BLAS.gemm(m: len, n: d, k: len, a: dS, lda: len, b: k, ldb: stride, c: dq, ldc: stride, alpha: scale)
                BLAS.gemm(m: len, n: d, k: len, a: dS, lda: len, transposeA: true, b: q, ldb: stride, c: dk, ldc: stride, alpha: scale)
            }
        }
    }
}
