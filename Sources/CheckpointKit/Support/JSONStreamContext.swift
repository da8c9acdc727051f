/// What one ``JSONStreamEncoder`` run shares between its nodes: the layout, the sorted member
/// orders it has worked out, and the nodes it has finished with.
///
/// Why: a report writes the same object, with the same keys, for each of its tensors (about 40
/// keys, 100,000 times for a mixture-of-experts `diff --json`). Sorting the keys again for every
/// object was a fifth of the encoding, and a fresh node (a class instance and three arrays) for
/// every value that is not a string or a number (a dtype, a shape, an optional) was most of the
/// rest.
final class JSONStreamContext {
    /// Indented (`--json` reports) or compact.
    let pretty: Bool

    /// Key sequences whose order is kept; a document has a handful of object shapes (a pair with
    /// a resized table adds keys), compared element by element: key strings are mostly the same
    /// literals, whose equality test is one comparison of their bits.
    static let knownOrders = 8
    /// A finished node whose buffer grew beyond this many bytes is let go rather than kept: the
    /// 100 MB array of a large report must not outlive its writing.
    static let spareBufferBytes = 1 << 16

    /// Bytes a streamed document gathers before they go to its output: big enough that a write
    /// costs nothing per tensor, small enough that a report never sits whole in memory.
    static let streamChunkBytes = 1 << 20

    /// Streamed members appended so far (``JSONStreamNode/appendStreamed(_:_:)``): a value whose
    /// encoding changed the count holds one, and stays a node until the document is written.
    var streamedMembers = 0

    private var orders: [(keys: [String], order: [Int])] = []
    private var spare: [JSONStreamNode] = []
    /// Where the finished document goes while it is written (``JSONStreamEncoder/encode(_:to:)``),
    /// nil while values are still being encoded into their parents' buffers.
    private var output: ((UnsafeBufferPointer<UInt8>) -> Void)?

    /// ``streamChunkBytes``, or less in tests that want chunks of a small document.
    let chunkBytes: Int

    init(pretty: Bool, chunkBytes: Int = JSONStreamContext.streamChunkBytes) {
        self.pretty = pretty
        self.chunkBytes = chunkBytes
    }

    /// Writes the document's bytes through `output` from here on, as ``flush(_:)`` hands them over.
    /// (nil: no more).
    func stream(to output: ((UnsafeBufferPointer<UInt8>) -> Void)?) {
        self.output = output
    }

    /// Hands `out` to the output and empties it, when the document is being streamed and `out`
    /// holds a chunk; `force` for the last bytes. Called between members, so that a chunk always
    /// ends on a whole character.
    @inline(__always)
    func flush(_ out: inout [UInt8], force: Bool = false) {
        guard let output, force || out.count >= chunkBytes else { return }
        out.withUnsafeBufferPointer { output($0) }
        out.removeAll(keepingCapacity: true)
    }

    /// The member order for `keys`: a known sequence's, or `sort()`'s, which is then kept.
    func order(of keys: [String], sort: () -> [Int]) -> [Int] {
        for (index, entry) in orders.enumerated() where entry.keys == keys {
            // Most recent first, so the common shape is found at once.
            if index > 0 { orders.swapAt(0, index) }
            return entry.order
        }
        let order = sort()
        if orders.count == JSONStreamContext.knownOrders { orders.removeLast() }
        orders.insert((keys, order), at: 0)
        return order
    }

    /// An empty node at indentation level `depth`: a finished one again, or a new one.
    func node(depth: Int) -> JSONStreamNode {
        guard let node = spare.popLast() else { return JSONStreamNode(context: self, depth: depth) }
        node.depth = depth
        return node
    }

    /// Takes back a node that has been written and that nothing refers to any more.
    func recycle(_ node: JSONStreamNode) {
        guard node.buffer.capacity <= JSONStreamContext.spareBufferBytes else { return }
        node.reset()
        spare.append(node)
    }
}
