import Foundation

/// Rotary position embeddings as transformers' Llama applies them (`rotate_half`): dimension `i`
/// of a head is paired with `i + d/2` and the pair is rotated by `position * inverseFrequency[i]`
/// radians. The rotation is orthogonal, so its backward pass is the rotation by minus the angle.
struct RotaryEmbedding: Sendable, Equatable {
    /// `rope_type`: `default`, or `llama3` (Llama 3.1's frequency-dependent stretch).
    enum Scaling: Sendable, Equatable {
        case none
        /// `factor`, `low_freq_factor`, `high_freq_factor`, `original_max_position_embeddings`.
        case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Double)
    }

    var theta: Double
    var scaling: Scaling
    /// Rotated dimensions per head (the head size).
    var dimension: Int

    /// Radians per position for each pair, as transformers' `_compute_default_rope_parameters` and
    /// `_compute_llama3_parameters` compute them.
    var inverseFrequencies: [Double] {
        let half = dimension / 2
        let base = (0..<half).map { 1 / Foundation.pow(theta, Double(2 * $0) / Double(dimension)) }
        guard case let .llama3(factor, low, high, context) = scaling else { return base }
        let lowWavelength = context / low, highWavelength = context / high
        return base.map { f in
            let wavelength = 2 * Double.pi / f
            if wavelength < highWavelength { return f }
            if wavelength > lowWavelength { return f / factor }
            let smooth = (context / wavelength - low) / (high - low)
            return (1 - smooth) * f / factor + smooth * f
        }
    }

    /// `[positions, dimension / 2]` cosines and sines.
    func table(positions: Int) -> (cos: [Float], sin: [Float]) {
        let frequencies = inverseFrequencies, half = dimension / 2
        var c = [Float](repeating: 0, count: positions * half), s = c
        for t in 0..<positions {
            for i in 0..<half {
                // transformers multiplies in float32; so do we, to round the angle the same way.
                let angle = Double(Float(t) * Float(frequencies[i]))
                c[t * half + i] = Float(Foundation.cos(angle))
                s[t * half + i] = Float(Foundation.sin(angle))
            }
        }
        return (c, s)
    }

    /// Rotates `heads` heads of each of `rows` rows in place (`stride` Floats between rows); `inverse`
    /// rotates back (the backward pass of a rotation).
    static func rotate(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, heads: Int, dimension d: Int,
                       cos: [Float], sin: [Float], inverse: Bool = false) {
        let half = d / 2
        for t in 0..<rows {
            for h in 0..<heads {
                let p = x + t * stride + h * d
                for i in 0..<half {
                    let c = cos[t * half + i], s = inverse ? -sin[t * half + i] : sin[t * half + i]
                    let a = p[i], b = p[i + half]
                    p[i] = a * c - b * s
                    p[i + half] = b * c + a * s
                }
            }
        }
    }
}
