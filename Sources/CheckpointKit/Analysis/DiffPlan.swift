/// What will be done with each pair, and the work items the pairs are cut into.
struct DiffPlan: Sendable {
    enum Verdict: Sendable {
        /// Compared element by element.
        case numeric
        /// Only raw bytes compared (a dtype that cannot be decoded); the problem says so.
        case bytesOnly(String)
        /// Not compared at all (shape mismatch, undecodable mixed dtypes).
        case notCompared(String)
        /// A task head replaced for a new task (``ShapeChange/replacedHead``): reported as a new tensor.
        case replaced
    }

    /// A contiguous range of one pair's elements, processed by one worker in one go.
    struct Item: Sendable {
        var pair: Int
        var elements: Range<Int>
        /// Bytes read from both sides.
        var bytes: Int
    }

    var pairs: [TensorPair]
    var verdicts: [Verdict]
    /// Per pair, the dtype the base is converted to before it is compared (the fine-tune's, when
    /// the dtypes differ and ``DTypeConversion`` reproduces PyTorch's conversion), else nil.
    var conversions: [DType?]
    var items: [Item]
    /// Indices into ``items`` of each pair's items, in element order.
    var itemsOfPair: ItemRanges
    var totalBytes: Int
    var baseIsMapped: Bool
    var finetunedIsMapped: Bool

    init(alignment: CheckpointAlignment, base: any Checkpoint, finetuned: any Checkpoint, chunkElements: Int) {
        pairs = alignment.pairs
        baseIsMapped = base.bytesAreFileMapped
        finetunedIsMapped = finetuned.bytesAreFileMapped
        verdicts = []
        conversions = []
        items = []
        itemsOfPair = ItemRanges()
        itemsOfPair.ends.reserveCapacity(pairs.count)
        verdicts.reserveCapacity(pairs.count)
        items.reserveCapacity(pairs.count)
        totalBytes = 0
        conversions.reserveCapacity(pairs.count)
        let pairs = self.pairs
        // Pairs are read in place, by address: a `TensorPair` handed to a mutating method is
        // copied first (a dozen reference counts).
        pairs.withUnsafeBufferPointer { pairs in
            for index in pairs.indices { plan(pairs.baseAddress! + index, index: index, chunkElements: chunkElements) }
        }
    }

    /// Appends the verdict, the conversion and the work items of pair `index`.
    private mutating func plan(_ pair: UnsafePointer<TensorPair>, index: Int, chunkElements: Int) {
        // A pair's items are the ones appended while it is planned.
        defer { itemsOfPair.ends.append(items.count) }
        var conversion: DType?
        defer { conversions.append(conversion) }
        var bytes = pair.pointee.base.byteCount + pair.pointee.finetuned.byteCount
        if let problem = pair.pointee.problem {
            verdicts.append(.notCompared(problem))
            return
        }
        if pair.pointee.shapeChange == .replacedHead {
            verdicts.append(.replaced)
            return
        }
        guard pair.pointee.base.dtype.isDecodable, pair.pointee.finetuned.dtype.isDecodable else {
            let undecodable = pair.pointee.base.dtype.isDecodable ? pair.pointee.finetuned.dtype : pair.pointee.base.dtype
            if pair.pointee.base.dtype == pair.pointee.finetuned.dtype, pair.pointee.isDirect {
                verdicts.append(.bytesOnly("\(undecodable.rawValue) values are not decoded; only bytes compared"))
                items.append(Item(pair: index, elements: 0..<pair.pointee.base.elementCount, bytes: bytes))
                totalBytes += bytes
            } else {
                verdicts.append(.notCompared("\(undecodable.rawValue) values cannot be compared (\(pair.pointee.base.dtype.rawValue) in base vs \(pair.pointee.finetuned.dtype.rawValue) in fine-tune)"))
            }
            return
        }
        verdicts.append(.numeric)
        conversion = DTypeConversion.target(from: pair.pointee.base.dtype, to: pair.pointee.finetuned.dtype)
        // A resized pair (rows added or removed) is compared on the rows both sides have: the
        // same element prefix of each, since the other dimensions are equal (from each side's
        // first compared row for an offset pair; ``DiffRun`` shifts the ranges).
        let count = pair.pointee.shapeChange.map(\.sharedElements) ?? pair.pointee.base.elementCount
        if pair.pointee.shapeChange != nil { bytes = count * (pair.pointee.base.dtype.bitWidth + pair.pointee.finetuned.dtype.bitWidth) / 8 }
        totalBytes += bytes
        let splittable = pair.pointee.isDirect && baseIsMapped && finetunedIsMapped && chunkElements > 0
        if !splittable || count <= chunkElements {
            items.append(Item(pair: index, elements: 0..<count, bytes: bytes))
            return
        }
        var lower = 0
        while lower < count {
            let upper = min(count, lower + chunkElements)
            let fraction = Double(upper - lower) / Double(count)
            items.append(Item(pair: index, elements: lower..<upper, bytes: Int(Double(bytes) * fraction)))
            lower = upper
        }
    }

    /// The items of each pair: consecutive, so one end index a pair instead of an array of indices
    /// (one heap block a pair fewer: 100,000 of them for a mixture-of-experts checkpoint).
    struct ItemRanges: RandomAccessCollection, Sendable {
        /// Where each pair's items end in ``DiffPlan/items``; they start where the previous pair's end.
        var ends: [Int] = []

        var startIndex: Int { 0 }
        var endIndex: Int { ends.count }

        subscript(pair: Int) -> Range<Int> {
            (pair == 0 ? 0 : ends[pair - 1])..<ends[pair]
        }
    }
}
