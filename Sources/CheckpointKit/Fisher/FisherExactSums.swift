import Foundation

/// Exact, order-independent sums of non-negative `Double` terms, one per Fisher entry.
///
/// A Fisher is a sum over examples, and a run split into shards adds the same terms in another
/// order (shard by shard). Floating-point addition is not associative, so plain `Double` sums
/// would make a merged run differ from a single run in the last bits. Here every term is added
/// exactly into a fixed-point integer spanning the whole `Double` range (66 limbs of 32 bits, in
/// units of 2^-1074), so the sum is the exact sum of the terms whatever their order, and its
/// rounding to `Double` (``value(at:)``) is a function of that exact value alone.
///
/// Sums at or above 2^974 saturate to +infinity (divided by at most 2^31 examples they are far
/// beyond the `Float` range the Fisher file stores); a NaN term makes the entry NaN.
struct FisherExactSums {
    /// 64 limbs hold values below 2^974; two more take carries until the saturation check.
    static let limbCount = 66
    static let valueLimbs = 64
    static let limbBits = 32
    static let saturation = 0x1p974
    /// Terms added to each entry between carry propagations: each limb takes at most one piece
    /// below 2^32 per term, so 2^31 terms cannot overflow a 64-bit limb.
    static let termsPerNormalization = 1 << 31

    /// Non-finite state of an entry.
    enum State: UInt8 { case finite = 0, infinite = 1, notANumber = 2 }

    let count: Int
    private(set) var limbs: [UInt64]
    private(set) var states: [UInt8]
    private var termsSinceNormalization = 0

    init(count: Int) {
        self.count = count
        limbs = [UInt64](repeating: 0, count: count * Self.limbCount)
        states = [UInt8](repeating: State.finite.rawValue, count: count)
    }

    /// Adds `term(j)` to every entry `j` of `entries` (one term per entry, e.g. one example's
    /// squared gradient).
    mutating func addRow(_ entries: Range<Int>? = nil, _ term: (Int) -> Double) {
        limbs.withUnsafeMutableBufferPointer { limbs in
            states.withUnsafeMutableBufferPointer { states in
                for j in entries ?? 0..<count {
                    Self.add(term(j), into: limbs.baseAddress! + j * Self.limbCount, state: &states[j])
                }
            }
        }
        termsSinceNormalization += 1
        if termsSinceNormalization >= Self.termsPerNormalization { normalize() }
    }

    /// Adds `other` exactly (a merge of two partial sums).
    mutating func add(_ other: FisherExactSums) {
        precondition(other.count == count, "sums of \(other.count) entries added to \(count)")
        var other = other
        other.normalize()
        for part in 0..<Self.valueLimbs + 2 {
            addRow { j in other.part(part, of: j) }
        }
        for j in 0..<count { states[j] = max(states[j], other.states[j]) }
    }

    /// Propagates carries so that every limb is below 2^32 (the canonical form of the exact value).
    mutating func normalize() {
        limbs.withUnsafeMutableBufferPointer { limbs in
            for j in 0..<count {
                let entry = limbs.baseAddress! + j * Self.limbCount
                var carry: UInt64 = 0
                for i in 0..<Self.limbCount {
                    let v = entry[i] &+ carry
                    entry[i] = v & 0xFFFF_FFFF
                    carry = v >> 32
                }
                // Bounded by 2^64 * 66 limbs; only reachable with a saturated entry.
                if carry != 0 { entry[Self.limbCount - 1] |= 0xFFFF_FFFF }
            }
        }
        termsSinceNormalization = 0
    }

    /// Limb `i` of entry `j` as the exact `Double` it stands for (`limb * 2^(32 i - 1074)`), after
    /// ``normalize()``. Limbs at or above ``valueLimbs`` hold saturated sums and read as infinity.
    func part(_ i: Int, of j: Int) -> Double {
        let limb = limbs[j * Self.limbCount + i]
        guard limb != 0 else { return 0 }
        guard i < Self.valueLimbs else { return .infinity }
        return scalbn(Double(limb), Self.limbBits * i - 1074)
    }

    /// Entry `j`'s nonzero parts, lowest first, after ``normalize()``: they add up exactly to the sum
    /// (infinity or NaN for a saturated or NaN entry).
    func parts(of j: Int) -> [Double] {
        switch State(rawValue: states[j])! {
        case .notANumber: return [.nan]
        case .infinite: return [.infinity]
        case .finite:
            let parts = (0..<Self.limbCount).map { part($0, of: j) }.filter { $0 != 0 }
            return parts.contains(.infinity) ? [.infinity] : parts
        }
    }

    /// Entry `j`'s sum rounded to `Double` (parts added lowest first), after ``normalize()``.
    func value(at j: Int) -> Double {
        parts(of: j).reduce(0, +)
    }

    /// The Fisher from normalized sums: consecutive runs of entries named `names` with `counts`
    /// entries, each sum rounded to `Double` and divided by `examples`.
    static func tensors(_ sums: FisherExactSums, names: [String], counts: [Int], examples: Int) -> [FisherTensor] {
        let n = Double(examples)
        var offset = 0
        return zip(names, counts).map { name, count in
            defer { offset += count }
            return FisherTensor(name: name, shape: [count], values: (offset..<(offset + count)).map { sums.value(at: $0) / n })
        }
    }

    /// Adds one term exactly to an entry's limbs.
    @inline(__always)
    private static func add(_ t: Double, into entry: UnsafeMutablePointer<UInt64>, state: inout UInt8) {
        if t == 0 { return }
        guard t < saturation else {
            state = max(state, t.isNaN ? State.notANumber.rawValue : State.infinite.rawValue)
            return
        }
        guard t > 0 else {  // negative or NaN
            state = State.notANumber.rawValue
            return
        }
        // t = m * 2^(p - 1074) with m below 2^53.
        let bits = t.bitPattern
        let field = Int(bits >> 52)
        let fraction = bits & ((1 << 52) - 1)
        let m = field == 0 ? fraction : fraction | (1 << 52)
        let p = field == 0 ? 0 : field - 1
        let i = p >> 5
        let (high, low) = m.multipliedFullWidth(by: 1 << UInt64(p & 31))
        entry[i] &+= low & 0xFFFF_FFFF
        entry[i + 1] &+= low >> 32
        entry[i + 2] &+= high
    }
}
