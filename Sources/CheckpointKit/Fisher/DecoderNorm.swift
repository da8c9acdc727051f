import Foundation

/// LayerNorm (`(x - mean) / sqrt(var + eps) * w + b`) and RMSNorm (`x / sqrt(mean(x^2) + eps) * w`),
/// forward and backward, row by row. Row statistics are summed in `Double`; each row keeps its mean
/// (0 for RMSNorm) and reciprocal standard deviation for the backward pass.
enum DecoderNorm {
    /// Normalizes `rows` rows of `width` into `y`, writing `[mean, rstd]` per row into `stats`.
    static func forward(_ x: UnsafePointer<Float>, rows: Int, width: Int, norm: DecoderModel.Norm, epsilon: Float,
                        centered: Bool, stats: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        let w = norm.weight.pointer, b = norm.bias?.pointer
        for r in 0..<rows {
            let row = x + r * width, out = y + r * width
            var mean = 0.0
            if centered {
                for i in 0..<width { mean += Double(row[i]) }
                mean /= Double(width)
            }
            var variance = 0.0
            for i in 0..<width {
                let d = Double(row[i]) - mean
                variance += d * d
            }
            let rstd = 1 / (variance / Double(width) + Double(epsilon)).squareRoot()
            stats[2 * r] = Float(mean)
            stats[2 * r + 1] = Float(rstd)
            for i in 0..<width {
                out[i] = Float((Double(row[i]) - mean) * rstd) * w[i] + (b?[i] ?? 0)
            }
        }
    }

    /// Adds the input gradient to `dx` and the weight (and bias) gradients to `grad` at the norm's
    /// parameter offsets, given the output gradient `dy`.
    static func backward(_ x: UnsafePointer<Float>, rows: Int, width: Int, norm: DecoderModel.Norm, centered: Bool,
                         stats: UnsafePointer<Float>, dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
                         grad: UnsafeMutablePointer<Double>, offsets: [Int]) {
        let w = norm.weight.pointer
        let dw = grad + offsets[norm.weightParameter]
        let db = norm.biasParameter.map { grad + offsets[$0] }
        for r in 0..<rows {
            let row = x + r * width, g = dy + r * width, out = dx + r * width
            let mean = Double(stats[2 * r]), rstd = Double(stats[2 * r + 1])
            var sumG = 0.0, sumGX = 0.0
            for i in 0..<width {
                let xhat = (Double(row[i]) - mean) * rstd
                let gi = Double(g[i])
                dw[i] += gi * xhat
                db?[i] += gi
                let gw = gi * Double(w[i])
                sumG += gw
                sumGX += gw * xhat
            }
            let meanG = centered ? sumG / Double(width) : 0, meanGX = sumGX / Double(width)
            for i in 0..<width {
                let xhat = (Double(row[i]) - mean) * rstd
                out[i] += Float(rstd * (Double(g[i]) * Double(w[i]) - meanG - xhat * meanGX))
            }
        }
    }
}
