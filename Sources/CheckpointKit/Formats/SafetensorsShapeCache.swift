/// The shapes a safetensors header has already used, so that tensors of one shape share one array:
/// the 100,000 entries of a mixture-of-experts header hold a few dozen shapes, and an array
/// apiece was a heap allocation apiece.
///
/// A direct-mapped table of ``slotCount`` shapes: a shape not found replaces the one in its slot
/// (a header of many shapes costs an allocation per tensor, as before, never more memory).
/// Sharing is invisible to callers: arrays are values.
struct SafetensorsShapeCache {
    static let slotCount = 64
    private var slots = [[Int]?](repeating: nil, count: slotCount)

    /// An array equal to `dimensions`: a cached one, or a copy of exactly its size.
    mutating func shared(_ dimensions: [Int]) -> [Int] {
        var hash = dimensions.count
        for size in dimensions { hash = hash &* 31 &+ size }
        let slot = Int(UInt(bitPattern: hash) % UInt(SafetensorsShapeCache.slotCount))
        if let cached = slots[slot], cached == dimensions { return cached }
        let copy = [Int](unsafeUninitializedCapacity: dimensions.count) { buffer, count in
            _ = buffer.initialize(from: dimensions)
            count = dimensions.count
        }
        slots[slot] = copy
        return copy
    }
}
