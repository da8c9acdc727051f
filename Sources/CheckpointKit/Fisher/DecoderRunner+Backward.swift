import Foundation

/// Back-propagates a logit gradient through the decoder to the gradients of its norm and bias
/// parameters.
extension DecoderRunner {
    /// Back-propagates the logit gradient `seed` (`[rows, vocab]`, of the last ``forward(_:)``) and
    /// adds the gradient of every norm and bias parameter to `grad` (laid out by ``offsets``). Only
    /// activation gradients are formed; no weight matrix gradient is.
    func backward(seed: UnsafePointer<Float>, into grad: UnsafeMutablePointer<Double>) {
        let t = rows, h = config.hiddenSize
        let dx = self.dx.pointer
        HalfPrecisionGEMM.linearBackward(seed, rows: t, weight: model.lmHead, into: dNormed.pointer, panel: panel)
        dx.update(repeating: 0, count: t * h)
        normBackward(finalInput.pointer, model.finalNorm, stats: finalStats.pointer, grad: grad)
        for (l, layer) in model.layers.enumerated().reversed() {
            biasGradient(layer.down, dx, grad: grad)
            HalfPrecisionGEMM.linearBackward(dx, rows: t, weight: layer.down.weight, into: dActivated.pointer, panel: panel)
            activationBackward(preActivation[l].pointer)
            biasGradient(layer.up, dPre.pointer, grad: grad)
            HalfPrecisionGEMM.linearBackward(dPre.pointer, rows: t, weight: layer.up.weight, into: dNormed.pointer, panel: panel)
            normBackward(mlpInput[l].pointer, layer.mlpNorm, stats: mlpStats[l].pointer, grad: grad)

            biasGradient(layer.attentionOutput, dx, grad: grad)
            HalfPrecisionGEMM.linearBackward(dx, rows: t, weight: layer.attentionOutput.weight, into: dContext.pointer, panel: panel)
            attentionBackward(layer: l)
            if config.rotary != nil { rotate(dQKV.pointer, inverse: true) }
            biasGradient(layer.qkv, dQKV.pointer, grad: grad)
            HalfPrecisionGEMM.linearBackward(dQKV.pointer, rows: t, weight: layer.qkv.weight, into: dNormed.pointer, panel: panel)
            normBackward(layerInput[l].pointer, layer.attentionNorm, stats: attentionStats[l].pointer, grad: grad)
        }
    }

    /// `dx += ` the input gradient of the norm whose output gradient is in `dNormed`.
    private func normBackward(_ input: UnsafePointer<Float>, _ norm: DecoderModel.Norm, stats: UnsafePointer<Float>, grad: UnsafeMutablePointer<Double>) {
        DecoderNorm.backward(input, rows: rows, width: config.hiddenSize, norm: norm, centered: config.architecture.hasLayerNorm,
                             stats: stats, dy: dNormed.pointer, into: dx.pointer, grad: grad, offsets: offsets)
    }

    /// Adds the column sums of `dy` to the gradients of the projection's bias parameters.
    private func biasGradient(_ linear: DecoderModel.Linear, _ dy: UnsafePointer<Float>, grad: UnsafeMutablePointer<Double>) {
        for part in linear.biasParts {
            let g = grad + offsets[part.parameter]
            for r in 0..<rows {
                let row = dy + r * linear.outFeatures + part.offset
                for i in 0..<part.count { g[i] += Double(row[i]) }
            }
        }
    }

    /// `dPre` from `dActivated`: GPT-2 through `gelu_new`, Llama through `silu(gate) * up`.
    private func activationBackward(_ pre: UnsafePointer<Float>) {
        let n = config.intermediateSize, da = dActivated.pointer, out = dPre.pointer
        for r in 0..<rows {
            if config.architecture == .gpt2 {
                for i in 0..<n { out[r * n + i] = da[r * n + i] * Self.gelu(pre[r * n + i]).derivative }
            } else {
                let gate = pre + r * 2 * n, up = gate + n, dGate = out + r * 2 * n, dUp = dGate + n
                for i in 0..<n {
                    let (s, ds) = Self.silu(Double(gate[i])), g = Double(da[r * n + i])
                    dGate[i] = Float(g * Double(up[i]) * ds)
                    dUp[i] = Float(g * s)
                }
            }
        }
    }

    /// Gradients of the queries, keys and values (keys and values summed over the heads that share
    /// them) from `dContext`, into `dQKV` (queries and keys still rotated).
    private func attentionBackward(layer l: Int) {
        let t = rows, d = config.headSize, w = qkvWidth, group = config.numHeads / config.numKeyValueHeads
        let base = qkv[l].pointer, dBase = dQKV.pointer, ds = dScores.pointer
        dBase.update(repeating: 0, count: t * w)
        for head in 0..<config.numHeads {
            let kv = head / group
            let q = base + head * d, k = base + queryWidth + kv * d, v = base + queryWidth + keyWidth + kv * d
            let p = probabilities[l].pointer + head * t * t, dc = dContext.pointer + head * d
            // dP = dC V^T; dS = P * (dP - sum_j P dP); zero above the diagonal because P is.
            BLAS.gemm(m: t, n: t, k: d, a: dc, lda: queryWidth, b: v, ldb: w, transposeB: true, c: ds, ldc: t)
            for i in 0..<t {
                let pr = p + i * t, dr = ds + i * t
                var dot = 0.0
                for j in 0...i { dot += Double(pr[j]) * Double(dr[j]) }
                for j in 0..<t { dr[j] = j <= i ? Float(Double(pr[j]) * (Double(dr[j]) - dot)) : 0 }
            }
            BLAS.gemm(m: t, n: d, k: t, a: ds, lda: t, b: k, ldb: w, c: dBase + head * d, ldc: w, alpha: scale)
            BLAS.gemm(m: t, n: d, k: t, a: ds, lda: t, transposeA: true, b: q, ldb: w, c: dBase + queryWidth + kv * d, ldc: w, alpha: scale, beta: 1)
            BLAS.gemm(m: t, n: d, k: t, a: p, lda: t, transposeA: true, b: dc, ldb: queryWidth, c: dBase + queryWidth + keyWidth + kv * d, ldc: w, beta: 1)
        }
    }
}
