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

    /// Same dtype of whole bytes: entry by entry, skipping equal blocks with one memcmp.
    private func scanElements(_ pair: TensorPair, choice: ElementChoice, width: Int, base b: UnsafeRawBufferPointer,
                              finetuned f: UnsafeRawBufferPointer, decodeScratch: (ScratchBuffer, ScratchBuffer),
                              collectIndices: Bool, indexLimit: Int, into scan: inout Scan) {
        func selected(_ i: Int) -> Bool {
            switch choice {
            case .all: return true
            case .none: return false
            case let .elements(mask): return mask[i] != 0
            }
        }
        let decodable = scan.measured
        let bDoubles = decodeScratch.0.doubles(PatchBytes.block)
        let fDoubles = decodeScratch.1.doubles(PatchBytes.block)
        let pb = b.baseAddress, pf = f.baseAddress
        PatchBytes.forEachDifferingBlock(b, f, count: pair.base.elementCount, width: width) { start, end in
            if decodable {
                let count = end - start
                TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: b[(start * width)..<(end * width)]), as: pair.base.dtype,
                                     into: UnsafeMutableBufferPointer(rebasing: bDoubles[0..<count]))
                TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: f[(start * width)..<(end * width)]), as: pair.base.dtype,
                                     into: UnsafeMutableBufferPointer(rebasing: fDoubles[0..<count]))
            }
            for i in start..<end where PatchBytes.differs(pb!, pf!, i, width: width) {
                scan.row.changedEntries += 1
                let keep = selected(i)
                var d2 = 0.0
                if decodable {
                    let d = fDoubles[i - start] - bDoubles[i - start]
                    d2 = d.isFinite ? d * d : 0
                }
                scan.row.sumSquares += d2
                if keep {
                    scan.row.keptEntries += 1
                    scan.row.keptSumSquares += d2
                    if collectIndices && scan.indices.count < indexLimit { scan.indices.append(i) }
                } else {
                    scan.row.droppedSumSquares += d2
                }
            }
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
        var start = 0
        while start < n {
            let end = min(n, start + PatchBytes.block)
            let count = end - start
            TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: b[(start * bw)..<(end * bw)]), as: pair.base.dtype,
                                 into: UnsafeMutableBufferPointer(rebasing: bDoubles[0..<count]))
            TensorDecoder.decode(UnsafeRawBufferPointer(rebasing: f[(start * fw)..<(end * fw)]), as: pair.finetuned.dtype,
                                 into: UnsafeMutableBufferPointer(rebasing: fDoubles[0..<count]))
            for k in 0..<count {
                let x = bDoubles[k], y = fDoubles[k]
                if x == y || (x.isNaN && y.isNaN) { continue }
                scan.row.changedEntries += 1
                let d = y - x
                let d2 = d.isFinite ? d * d : 0
                scan.row.sumSquares += d2
                if choice == .all {
                    scan.row.keptEntries += 1
                    scan.row.keptSumSquares += d2
                } else {
                    scan.row.droppedSumSquares += d2
                }
            }
            start = end
        }
        scan.wholeTensor = choice == .all
    }
}
