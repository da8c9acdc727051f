/// Byte-pair merging of one word as `tokenizers` does it: repeatedly the adjacent pair with the lowest
/// merge rank (leftmost on ties) becomes its merged token, until no adjacent pair has a merge.
/// A binary heap of candidate pairs keeps it O(n log n) in the word length, so a long word costs
/// little more than its length.
enum BPEMerger {
    /// `merges[left << 32 | right]` = (rank, merged id).
    static func merge(_ ids: [Int32], _ merges: [Int64: (rank: Int32, id: Int32)]) -> [Int32] {
        guard ids.count > 1 else { return ids }
        var id = ids
        var next = Array(1...ids.count)  // ids.count marks the end
        var prev = Array(-1..<(ids.count - 1))
        var alive = [Bool](repeating: true, count: ids.count)
        var heap = PairHeap()
        func key(_ a: Int32, _ b: Int32) -> Int64 { Int64(a) << 32 | Int64(b) }
        for i in 0..<(ids.count - 1) {
            if let m = merges[key(id[i], id[i + 1])] { heap.push(rank: m.rank, position: i) }
        }
        while let (rank, i) = heap.pop() {
            let j = next[i]
            guard alive[i], j < ids.count, let m = merges[key(id[i], id[j])], m.rank == rank else { continue }
            id[i] = m.id
            alive[j] = false
            next[i] = next[j]
            if next[i] < ids.count { prev[next[i]] = i }
            if prev[i] >= 0, let left = merges[key(id[prev[i]], id[i])] { heap.push(rank: left.rank, position: prev[i]) }
            if next[i] < ids.count, let right = merges[key(id[i], id[next[i]])] { heap.push(rank: right.rank, position: i) }
        }
        var out: [Int32] = []
        var i = 0
        while i < ids.count {
            out.append(id[i])
            i = next[i]
        }
        return out
    }

    /// A min-heap of (rank, position).
    struct PairHeap {
        private var items: [(rank: Int32, position: Int)] = []

        private static func less(_ a: (rank: Int32, position: Int), _ b: (rank: Int32, position: Int)) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.position < b.position
        }

        mutating func push(rank: Int32, position: Int) {
            items.append((rank, position))
            var c = items.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                guard Self.less(items[c], items[p]) else { break }
                items.swapAt(c, p)
                c = p
            }
        }

        mutating func pop() -> (Int32, Int)? {
            guard let top = items.first else { return nil }
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                var p = 0
                while true {
                    let l = 2 * p + 1, r = l + 1
                    var m = p
                    if l < items.count, Self.less(items[l], items[m]) { m = l }
                    if r < items.count, Self.less(items[r], items[m]) { m = r }
                    guard m != p else { break }
                    items.swapAt(p, m)
                    p = m
                }
            }
            return (top.rank, top.position)
        }
    }
}
