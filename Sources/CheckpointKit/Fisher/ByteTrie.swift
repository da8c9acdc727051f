/// A trie over the UTF-8 bytes of vocabulary tokens, for longest-prefix matching.
struct ByteTrie: Sendable {
    /// Child node of (node, byte), keyed `node << 8 | byte`.
    private var children: [Int: Int32] = [:]
    /// Token id ending at each node, or -1.
    private var tokenAt: [Int32] = [-1]

    mutating func insert(_ bytes: [UInt8], id: Int32) {
        guard !bytes.isEmpty else { return }
        var node = 0
        for byte in bytes {
            let key = node << 8 | Int(byte)
            if let child = children[key] {
                node = Int(child)
            } else {
                tokenAt.append(-1)
                let child = tokenAt.count - 1
                children[key] = Int32(child)
                node = child
            }
        }
        tokenAt[node] = id
    }

    /// The end offset and id of the longest token that `bytes[start...]` starts with.
    func longestMatch(_ bytes: [UInt8], from start: Int) -> (Int, Int32)? {
        var node = 0
        var best: (Int, Int32)?
        var i = start
        while i < bytes.count, let child = children[node << 8 | Int(bytes[i])] {
            node = Int(child)
            i += 1
            if tokenAt[node] >= 0 { best = (i, tokenAt[node]) }
        }
        return best
    }
}

extension ByteTrie {
    /// Calls `body(end, id)` for every token that `bytes[start...]` starts with, shortest first.
    func forEachPrefix(_ bytes: [UInt8], from start: Int, _ body: (Int, Int32) -> Void) {
        var node = 0
        var i = start
        while i < bytes.count, let child = children[node << 8 | Int(bytes[i])] {
            node = Int(child)
            i += 1
            if tokenAt[node] >= 0 { body(i, tokenAt[node]) }
        }
    }
}
