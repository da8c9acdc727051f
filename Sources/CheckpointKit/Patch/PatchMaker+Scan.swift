import CKernels
import Glibc

extension PatchMaker {
    /// The scan of one pair: the entries the patch keeps, and the accounting.
    struct Scan {
        var indices: [Int] = []
        var row: ShareRow
        var measured = true
        /// Every entry of a tensor whose dtype changes, or of a packed dtype that changed, is kept.
        var wholeTensor = false
    }

    func scan(_ pair: TensorPair, choice: ElementChoice, base b: UnsafeRawBufferPointer, finetuned f: UnsafeRawBufferPointer,
              decodeScratch: (ScratchBuffer, ScratchBuffer), collectIndices: Bool, indexLimit: Int = .max) throws -> Scan {
        var scan = Scan(row: ShareRow(group: pair.base.name))
        scan.measured = pair.base.dtype.isDecodable && pair.finetuned.dtype.isDecodable
        if pair.base.dtype == pair.finetuned.dtype, let width = pair.base.dtype.byteWidth {
            scanElements(pair, choice: choice, width: width, base: b, finetuned: f, decodeScratch: decodeScratch,
                         collectIndices: collectIndices, indexLimit: indexLimit, into: &scan)
        } else if pair.base.dtype == pair.finetuned.dtype {
            try scanPacked(pair, choice: choice, base: b, finetuned: f, into: &scan)
        } else {
            try scanConverted(pair, choice: choice, base: b, finetuned: f, decodeScratch: decodeScratch, into: &scan)
        }
        scan.row.changedTensors = scan.row.changedEntries > 0 ? 1 : 0
        return scan
    }

    /// Same dtype of whole bytes: equal blocks are skipped with one memcmp; the entries of the others
    /// go through the `ckpt_scan_block` kernel (bytes compared, squares summed in index order).
    private func scanElements(_ pair: TensorPair, choice: ElementChoice, width: Int, base b: UnsafeRawBufferPointer,
                              finetuned f: UnsafeRawBufferPointer, decodeScratch: (ScratchBuffer, ScratchBuffer),
                              collectIndices: Bool, indexLimit: Int, into scan: inout Scan) {
        let decodable = scan.measured
        let bDoubles = decodeScratch.0.doubles(PatchBytes.block)
        let fDoubles = decodeScratch.1.doubles(PatchBytes.block)
        var found = collectIndices ? [Int](repeating: 0, count: PatchBytes.block) : []
        var sums = ckpt_scan_sums(scan.row)
        Self.withKeepPolicy(choice, count: pair.base.elementCount) { keep, mask in
            PatchBytes.forEachDifferingBlock(b, f, count: pair.base.elementCount, width: width) { start, end in
                let count = end - start
                if decodable {
                    TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: b[(start * width)..<(end * width)]), as: pair.base.dtype,
                                         into: UnsafeMutableBufferPointer(rebasing: bDoubles[0..<count]))
                    TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: f[(start * width)..<(end * width)]), as: pair.base.dtype,
                                         into: UnsafeMutableBufferPointer(rebasing: fDoubles[0..<count]))
                }
                let room = collectIndices ? max(0, min(count, indexLimit - scan.indices.count)) : 0
                found.withUnsafeMutableBufferPointer { out in
                    let written = out.withMemoryRebound(to: Int64.self) { indices in
                        ckpt_scan_block(b.baseAddress! + start * width, f.baseAddress! + start * width, Int64(width),
                                        decodable ? UnsafePointer(bDoubles.baseAddress) : nil,
                                        decodable ? UnsafePointer(fDoubles.baseAddress) : nil, Int64(count),
                                        keep, mask.map { $0 + start }, Int64(start),
                                        room > 0 ? indices.baseAddress : nil, Int64(room), &sums)
                    }
                    scan.indices.append(contentsOf: out[0..<Int(written)])
                }
            }
        }
        sums.store(into: &scan.row)
    }

    /// The kernel's keep policy for `choice`, and the mask's first byte while `body` runs. The kernel
    /// reads one mask byte per entry: a mask shorter than the tensor's `count` entries is a bug.
    private static func withKeepPolicy<R>(_ choice: ElementChoice, count: Int,
                                          _ body: (ckpt_keep, UnsafePointer<UInt8>?) throws -> R) rethrows -> R {
        switch choice {
        case .none: return try body(CKPT_KEEP_NONE, nil)
        case .all: return try body(CKPT_KEEP_ALL, nil)
        case let .elements(mask):
            precondition(mask.count >= count, "a mask of \(mask.count) entries for a tensor of \(count)")
            return try mask.withUnsafeBufferPointer { try body(CKPT_KEEP_MASKED, $0.baseAddress) }
        }
    }

    /// Packed sub-byte dtype: all or nothing.
    private func scanPacked(_ pair: TensorPair, choice: ElementChoice, base b: UnsafeRawBufferPointer,
                            finetuned f: UnsafeRawBufferPointer, into scan: inout Scan) throws {
        let n = pair.base.elementCount
        scan.measured = false
        guard b.count > 0, memcmp(b.baseAddress!, f.baseAddress!, b.count) != 0 else { return }
        scan.row.changedEntries = n
        if case .elements = choice {
            throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                          reason: "a mask cannot select single entries of packed dtype \(pair.base.dtype.rawValue)")
        }
        if choice == .all {
            scan.row.keptEntries = n
            scan.wholeTensor = true
        }
    }

    /// The dtype changes: compare decoded values; the tensor is kept whole or not at all.
    private func scanConverted(_ pair: TensorPair, choice: ElementChoice, base b: UnsafeRawBufferPointer,
                               finetuned f: UnsafeRawBufferPointer, decodeScratch: (ScratchBuffer, ScratchBuffer),
                               into scan: inout Scan) throws {
        guard scan.measured else {
            throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                          reason: "dtype changes from \(pair.base.dtype.rawValue) to \(pair.finetuned.dtype.rawValue) and one of them cannot be decoded")
        }
        if case .elements = choice {
            throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                          reason: "dtype changes from \(pair.base.dtype.rawValue) to \(pair.finetuned.dtype.rawValue); a mask cannot select single entries of it (select the whole tensor)")
        }
        let n = pair.base.elementCount
        let bDoubles = decodeScratch.0.doubles(PatchBytes.block)
        let fDoubles = decodeScratch.1.doubles(PatchBytes.block)
        let bw = pair.base.dtype.byteWidth!, fw = pair.finetuned.dtype.byteWidth!
        var sums = ckpt_scan_sums(scan.row)
        var start = 0
        while start < n {
            let end = min(n, start + PatchBytes.block)
            let count = end - start
            TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: b[(start * bw)..<(end * bw)]), as: pair.base.dtype,
                                 into: UnsafeMutableBufferPointer(rebasing: bDoubles[0..<count]))
            TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: f[(start * fw)..<(end * fw)]), as: pair.finetuned.dtype,
                                 into: UnsafeMutableBufferPointer(rebasing: fDoubles[0..<count]))
            _ = ckpt_scan_block(b.baseAddress! + start * bw, f.baseAddress! + start * fw, 0, bDoubles.baseAddress,
                                fDoubles.baseAddress, Int64(count), choice == .all ? CKPT_KEEP_ALL : CKPT_KEEP_NONE,
                                nil, Int64(start), nil, 0, &sums)
            start = end
        }
        sums.store(into: &scan.row)
        scan.wholeTensor = choice == .all
    }
}

extension ckpt_scan_sums {
    /// The kernel's running sums, started from `row`'s.
    init(_ row: ShareRow) {
        self.init(changed: Int64(row.changedEntries), kept: Int64(row.keptEntries), sum_squares: row.sumSquares,
                  kept_sum_squares: row.keptSumSquares, dropped_sum_squares: row.droppedSumSquares)
    }

    /// Writes the sums back into `row`.
    func store(into row: inout ShareRow) {
        row.changedEntries = Int(changed)
        row.keptEntries = Int(kept)
        row.sumSquares = sum_squares
        row.keptSumSquares = kept_sum_squares
        row.droppedSumSquares = dropped_sum_squares
    }
}
