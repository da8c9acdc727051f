import Foundation

/// Standard normal numbers from a SplitMix64 stream (Box-Muller), for fresh heads.
struct NormalGenerator {
    private var state: UInt64
    private var spare: Double?

    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next() -> Double {
        if let s = spare { spare = nil; return s }
        let u1 = (Double(nextUInt64() >> 11) + 1) / 9_007_199_254_740_993.0
        let u2 = Double(nextUInt64() >> 11) / 9_007_199_254_740_992.0
        let r = (-2 * Foundation.log(u1)).squareRoot()
        spare = r * Foundation.sin(2 * .pi * u2)
        return r * Foundation.cos(2 * .pi * u2)
    }
}
