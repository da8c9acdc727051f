import CZlib
import Crypto
import Foundation

/// One group of the "kept and dropped" report: how much of the fine-tune's change (sum of squared
/// deltas) the patch keeps.
public struct ShareRow: Sendable, Encodable, Equatable {
    public var group: String
    /// Tensors of the group that differ from the base.
    public var changedTensors = 0
    /// Entries that differ from the base, and how many of them the patch keeps.
    public var changedEntries = 0
    public var keptEntries = 0
    /// Sum over changed entries of (fine-tuned - base)^2, and its kept and dropped parts.
    public var sumSquares: Double = 0
    public var keptSumSquares: Double = 0
    public var droppedSumSquares: Double = 0

    public init(group: String) { self.group = group }

    /// Share of the group's sum of squared change the patch keeps (1 when nothing changed).
    public var keptShare: Double { sumSquares > 0 ? keptSumSquares / sumSquares : (changedEntries == keptEntries ? 1 : 0) }
    public var droppedShare: Double { sumSquares > 0 ? droppedSumSquares / sumSquares : (changedEntries == keptEntries ? 0 : 1) }

    enum CodingKeys: String, CodingKey {
        case group
        case changedTensors = "changed_tensors"
        case changedEntries = "changed_entries"
        case keptEntries = "kept_entries"
        case sumSquares = "sum_sq_delta"
        case keptSumSquares = "kept_sum_sq_delta"
        case droppedSumSquares = "dropped_sum_sq_delta"
        case keptShare = "kept_share"
        case droppedShare = "dropped_share"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(group, forKey: .group)
        try c.encode(changedTensors, forKey: .changedTensors)
        try c.encode(changedEntries, forKey: .changedEntries)
        try c.encode(keptEntries, forKey: .keptEntries)
        try c.encode(sumSquares, forKey: .sumSquares)
        try c.encode(keptSumSquares, forKey: .keptSumSquares)
        try c.encode(droppedSumSquares, forKey: .droppedSumSquares)
        try c.encode(keptShare, forKey: .keptShare)
        try c.encode(droppedShare, forKey: .droppedShare)
    }

    mutating func add(_ other: ShareRow) {
        changedTensors += other.changedTensors
        changedEntries += other.changedEntries
        keptEntries += other.keptEntries
        sumSquares += other.sumSquares
        keptSumSquares += other.keptSumSquares
        droppedSumSquares += other.droppedSumSquares
    }
}

/// The kept/dropped accounting of a patch, overall and per component and kind.
public struct PatchShares: Sendable, Encodable {
    public var total = ShareRow(group: "total")
    public var byComponent: [ShareRow] = []
    public var byKind: [ShareRow] = []
    /// Changed tensors whose values could not be decoded (packed F4/F6, complex): counted as
    /// entries, not in the sums.
    public var unmeasured: [String] = []

    /// Whether the fine-tune changed entries the patch does not keep.
    public var dropsSomething: Bool { total.changedEntries > total.keptEntries }

    enum CodingKeys: String, CodingKey {
        case total, unmeasured
        case byComponent = "by_component"
        case byKind = "by_kind"
    }
}

/// A touched tensor as the writer plans it.
struct PlannedTensor {
    enum Source {
        case pair(TensorPair, ElementChoice)
        case new(TensorInfo)
    }

    var record: PatchTensorRecord
    var source: Source
    /// The dtype and shape of the stored values (dense: the result tensor; sparse: `.values` dtype).
    var dtype: DType
    var shape: [Int]
    /// Entries stored (dense: numel; sparse: changed entries kept).
    var stored: Int
    /// Entries that differ from the base.
    var changed: Int
    var indexDType: DType

    /// The safetensors entries this tensor occupies: name, dtype, shape.
    var entries: [(name: String, dtype: DType, shape: [Int])] {
        switch record.storage {
        case .dense, .new: return [(record.name, dtype, shape)]
        case .sparse:
            return [(record.name + PatchFormat.indicesSuffix, indexDType, [stored]),
                    (record.name + PatchFormat.valuesSuffix, dtype, [stored])]
        }
    }

    var byteCount: Int {
        entries.reduce(0) { $0 + $1.shape.reduce($1.dtype.bitWidth, *) / 8 }
    }
}

/// What `ckpt patch` will write, worked out in one streaming pass over both checkpoints.
public struct PatchPlan {
    var tensors: [PlannedTensor]
    public var metadata: PatchMetadata
    public var shares: PatchShares
    /// Tensors left out for a reason other than the selection (shape mismatch outside the selection).
    public var notes: [String]
    /// Bytes of tensor data the patch holds (before compression).
    public var dataSize: Int

    /// Touched tensors: name, storage, dtype, stored and changed entries.
    public var touched: [(name: String, storage: PatchStorage, dtype: DType, stored: Int, changed: Int)] {
        tensors.map { ($0.record.name, $0.record.storage, $0.dtype, $0.stored, $0.changed) }
    }
}

/// Makes a task patch from a base and a fine-tune: `ckpt patch`.
public struct PatchMaker {
    public let base: any Checkpoint
    public let finetuned: any Checkpoint
    public let selection: PatchSelection
    public let alignment: CheckpointAlignment
    let evaluator: SelectionEvaluator

    /// - Parameter renames: explicit fine-tuned name -> base name pairs (`--map`).
    public init(base: any Checkpoint, finetuned: any Checkpoint, selection: PatchSelection,
                renames: [String: String] = [:]) throws {
        self.base = base
        self.finetuned = finetuned
        self.selection = selection
        alignment = CheckpointAlignment(base: base, finetuned: finetuned, renames: renames)
        evaluator = try SelectionEvaluator(selection: selection, alignment: alignment, base: base.tensors)
    }

    /// Gives `body` the base tensor's bytes and the fine-tuned tensor's bytes in the base's element
    /// order (TF kernels transposed).
    func withAlignedBytes<R>(_ pair: TensorPair, scratch: ScratchBuffer,
                             _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> R) throws -> R {
        try base.withBytes(of: pair.base) { b in
            try finetuned.withBytes(of: pair.finetuned) { f in
                if pair.isDirect { return try body(b, f) }
                let out = scratch.bytes(f.count)
                guard pair.copyFinetunedInBaseOrder(f, into: out) else {
                    throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                                  reason: "transposed layout of packed dtype \(pair.finetuned.dtype.rawValue) is not supported")
                }
                return try body(b, UnsafeRawBufferPointer(out))
            }
        }
    }

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
        let n = pair.base.elementCount
        let sameDType = pair.base.dtype == pair.finetuned.dtype
        func selected(_ i: Int) -> Bool {
            switch choice {
            case .all: return true
            case .none: return false
            case let .elements(mask): return mask[i] != 0
            }
        }
        let decodable = pair.base.dtype.isDecodable && pair.finetuned.dtype.isDecodable
        scan.measured = decodable
        if sameDType, let width = pair.base.dtype.byteWidth {
            let bDoubles = decodeScratch.0.doubles(PatchBytes.block)
            let fDoubles = decodeScratch.1.doubles(PatchBytes.block)
            let pb = b.baseAddress, pf = f.baseAddress
            PatchBytes.forEachDifferingBlock(b, f, count: n, width: width) { start, end in
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
        } else if sameDType {
            // Packed sub-byte dtype: all or nothing.
            scan.measured = false
            if b.count > 0, memcmp(b.baseAddress!, f.baseAddress!, b.count) != 0 {
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
        } else {
            // The dtype changes: compare values.
            guard decodable else {
                throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                              reason: "dtype changes from \(pair.base.dtype.rawValue) to \(pair.finetuned.dtype.rawValue) and one of them cannot be decoded")
            }
            if case .elements = choice {
                throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name,
                                              reason: "dtype changes from \(pair.base.dtype.rawValue) to \(pair.finetuned.dtype.rawValue); a mask cannot select single entries of it (select the whole tensor)")
            }
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
        scan.row.changedTensors = scan.row.changedEntries > 0 ? 1 : 0
        return scan
    }

    /// Pass 1: scans every pair, decides what is stored and how, and computes every fingerprint.
    public func plan() throws -> PatchPlan {
        var planned: [PlannedTensor] = []
        var byComponent: [Component: ShareRow] = [:]
        var byKind: [ParameterKind: ShareRow] = [:]
        var shares = PatchShares()
        var notes: [String] = []
        var dataHash = SHA256()
        let alignedScratch = ScratchBuffer(), resultScratch = ScratchBuffer()
        let decodeScratch = (ScratchBuffer(), ScratchBuffer())
        var counts = PatchCounts()
        counts.baseTensors = base.tensors.count

        for pair in alignment.pairs {
            let choice = try evaluator.choice(for: pair)
            if let problem = pair.problem {
                if choice != .none {
                    throw PatchError.pairMismatch(base: base.path, finetuned: finetuned.path, tensor: pair.base.name, reason: problem)
                }
                notes.append("\(pair.base.name): not compared (\(problem))")
                continue
            }
            let plannedTensor: PlannedTensor? = try withAlignedBytes(pair, scratch: alignedScratch) { b, f in
                // A whole-tensor choice needs the indices only while sparse storage can still be smaller.
                let n = pair.base.elementCount
                let indexDType = PatchBytes.indexDType(forCount: n)
                var indexLimit = Int.max
                if choice == .all, let width = pair.base.dtype.byteWidth {
                    indexLimit = n * width / (indexDType.bitWidth / 8 + width) + 1
                }
                let scan = try self.scan(pair, choice: choice, base: b, finetuned: f, decodeScratch: decodeScratch,
                                         collectIndices: true, indexLimit: indexLimit)
                byComponent[pair.role.component, default: ShareRow(group: pair.role.component.rawValue)].add(scan.row)
                byKind[pair.role.kind, default: ShareRow(group: pair.role.kind.rawValue)].add(scan.row)
                shares.total.add(scan.row)
                if !scan.measured && scan.row.changedEntries > 0 { shares.unmeasured.append(pair.base.name) }
                let kept = scan.row.keptEntries
                guard scan.wholeTensor || kept > 0 else { return nil }
                var storage = PatchStorage.dense
                if !scan.wholeTensor, let width = pair.base.dtype.byteWidth,
                   kept * (indexDType.bitWidth / 8 + width) < n * width {
                    storage = .sparse
                    precondition(scan.indices.count == kept)
                }
                let baseHash = PatchFormat.hash(b)
                var tensor = PlannedTensor(
                    record: PatchTensorRecord(name: pair.base.name, storage: storage, baseHash: baseHash, resultHash: "",
                                              finetunedName: pair.finetuned.name),
                    source: .pair(pair, choice), dtype: storage == .dense ? pair.finetuned.dtype : pair.base.dtype,
                    shape: pair.base.shape, stored: storage == .dense ? n : kept,
                    changed: scan.row.keptEntries, indexDType: indexDType)
                let result = try self.materialize(tensor, base: b, finetuned: f, indices: scan.indices, resultScratch: resultScratch) { bytes in
                    dataHash.update(bufferPointer: bytes)
                }
                tensor.record.resultHash = result
                return tensor
            }
            if let plannedTensor { planned.append(plannedTensor) }
        }
        for tensor in alignment.onlyInFinetuned where evaluator.keepsNewTensor(tensor) {
            let hash = try finetuned.withBytes(of: tensor) { bytes in
                dataHash.update(bufferPointer: bytes)
                return PatchFormat.hash(bytes)
            }
            planned.append(PlannedTensor(
                record: PatchTensorRecord(name: tensor.name, storage: .new, baseHash: nil, resultHash: hash, finetunedName: tensor.name),
                source: .new(tensor), dtype: tensor.dtype, shape: tensor.shape, stored: tensor.elementCount,
                changed: tensor.elementCount, indexDType: .i32))
        }
        for tensor in alignment.onlyInBase {
            notes.append("\(tensor.name): only in the base (kept as it is)")
        }
        // A sparse tensor's entry names must not collide with another touched tensor's.
        var entryNames = Set<String>()
        for tensor in planned {
            for entry in tensor.entries where !entryNames.insert(entry.name).inserted {
                throw PatchError.unsupported(path: finetuned.path, reason: "two patch entries would be called '\(entry.name)' (a tensor name ends in .indices or .values); exclude one of them")
            }
        }
        for tensor in planned {
            switch tensor.record.storage {
            case .dense: counts.dense += 1
            case .sparse: counts.sparse += 1
            case .new: counts.new += 1
            }
            counts.entries += tensor.stored
            counts.changed += tensor.changed
        }
        shares.byComponent = byComponent.keys.sorted().map { byComponent[$0]! }
        shares.byKind = byKind.keys.sorted().map { byKind[$0]! }
        let manifest = PatchFormat.manifest(of: base.tensors)
        let metadata = PatchMetadata(selection: selection.description, tensors: planned.map(\.record),
                                     baseFingerprint: manifest.fingerprint, baseManifest: manifest.digests, counts: counts,
                                     dataChecksum: PatchFormat.hex(dataHash.finalize()).prefix(PatchFormat.tensorHashLength).description)
        return PatchPlan(tensors: planned, metadata: metadata, shares: shares, notes: notes,
                         dataSize: planned.reduce(0) { $0 + $1.byteCount })
    }

    /// Produces the stored bytes of one planned pair tensor, in entry order, and returns the hash of
    /// the result tensor.
    func materialize(_ tensor: PlannedTensor, base b: UnsafeRawBufferPointer, finetuned f: UnsafeRawBufferPointer,
                     indices: [Int], resultScratch: ScratchBuffer,
                     emit: (UnsafeRawBufferPointer) throws -> Void) throws -> String {
        guard case let .pair(pair, choice) = tensor.source else { preconditionFailure("materialize is for pairs") }
        switch tensor.record.storage {
        case .dense where choice == .all || pair.base.dtype != pair.finetuned.dtype || pair.base.dtype.byteWidth == nil:
            try emit(f)
            return PatchFormat.hash(f)
        case .dense:
            // A partial (mask) selection stored dense: the base with the kept entries replaced.
            let width = pair.base.dtype.byteWidth!
            let result = resultScratch.bytes(b.count)
            result.copyMemory(from: b)
            for i in indices { memcpy(result.baseAddress! + i * width, f.baseAddress! + i * width, width) }
            try emit(UnsafeRawBufferPointer(result))
            return PatchFormat.hash(UnsafeRawBufferPointer(result))
        case .sparse:
            let width = pair.base.dtype.byteWidth!
            let indexBytes = PatchBytes.encodeIndices(indices, as: tensor.indexDType)
            let values = PatchBytes.gather(f, indices: indices, width: width)
            try indexBytes.withUnsafeBytes { try emit($0) }
            try values.withUnsafeBytes { try emit($0) }
            let result = resultScratch.bytes(b.count)
            result.copyMemory(from: b)
            for (k, i) in indices.enumerated() {
                memcpy(result.baseAddress! + i * width, values.withUnsafeBytes { $0.baseAddress! } + k * width, width)
            }
            return PatchFormat.hash(UnsafeRawBufferPointer(result))
        case .new:
            preconditionFailure("new tensors have no pair")
        }
    }

    /// Pass 2: writes the planned patch to `path` atomically, and reads it back before it is renamed.
    /// - Returns: the size of the file written.
    @discardableResult
    public func write(_ plan: PatchPlan, to path: String, compress: Bool = false) throws -> Int {
        for input in FileIdentity.inputFiles(of: base) + FileIdentity.inputFiles(of: finetuned) + selection.maskPaths
        where FileIdentity.same(path, input) {
            throw PatchError.outputIsInput(output: path, input: input)
        }
        var entries: [SafetensorsWriter.Entry] = []
        let aligned = ScratchBuffer(), result = ScratchBuffer()
        let decode = (ScratchBuffer(), ScratchBuffer())
        for tensor in plan.tensors {
            switch tensor.source {
            case let .new(info):
                entries.append(SafetensorsWriter.Entry(name: tensor.record.name, dtype: tensor.dtype, shape: tensor.shape) { consume in
                    try self.finetuned.withBytes(of: info) { try consume($0) }
                })
            case let .pair(pair, choice):
                // Every entry of the tensor comes from one materialisation; the first entry's closure
                // makes them all and hands the rest to the following closures.
                let cache = EntryCache()
                let produce: () throws -> Void = {
                    cache.chunks = []
                    _ = try self.withAlignedBytes(pair, scratch: aligned) { b, f in
                        let scan = try self.scan(pair, choice: choice, base: b, finetuned: f, decodeScratch: decode,
                                                 collectIndices: tensor.record.storage != .dense || choice != .all)
                        return try self.materialize(tensor, base: b, finetuned: f, indices: scan.indices, resultScratch: result) { bytes in
                            cache.chunks.append([UInt8](bytes))
                        }
                    }
                }
                for (k, entry) in tensor.entries.enumerated() {
                    entries.append(SafetensorsWriter.Entry(name: entry.name, dtype: entry.dtype, shape: entry.shape) { consume in
                        if k == 0 { try produce() }
                        try cache.chunks[k].withUnsafeBytes { try consume($0) }
                        if k == tensor.entries.count - 1 { cache.chunks = [] }
                    })
                }
            }
        }
        let writer = SafetensorsWriter(metadata: plan.metadata.encoded(), entries: entries)
        let verify: (String) throws -> Void = { temporary in
            do {
                let check = try PatchFile(path: temporary)
                guard check.metadata == plan.metadata else {
                    throw PatchError.invalidPatch(path: path, tensor: nil, reason: "metadata does not read back as written")
                }
            } catch {
                throw PatchError.invalidPatch(path: path, tensor: nil, reason: "the written patch does not read back: \(error)")
            }
        }
        if !compress {
            try writer.write(to: path, verify: verify)
        } else {
            let inner = try writer.serialized(path: path)
            let compressed = try Zlib.compress(inner, path: path)
            let outer = SafetensorsWriter(metadata: [
                PatchFormat.Key.format: PatchFormat.name,
                PatchFormat.Key.version: String(PatchFormat.version),
                PatchFormat.Key.compression: "zlib",
                PatchFormat.Key.innerSize: String(inner.count),
                PatchFormat.Key.innerChecksum: PatchFormat.hash(inner),
            ], entries: [SafetensorsWriter.Entry(name: PatchFormat.compressedTensorName, dtype: .u8, shape: [compressed.count], data: compressed)])
            try outer.write(to: path, verify: verify)
        }
        return (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}

/// Holds the materialised entries of one sparse tensor between its entries' closures.
final class EntryCache {
    var chunks: [[UInt8]] = []
}

extension SafetensorsWriter {
    /// The whole file in memory (for the inner file of a compressed patch).
    func serialized(path: String) throws -> [UInt8] {
        let header = headerBytes()
        var out: [UInt8] = []
        let total = entries.reduce(8 + header.count) { $0 + $1.byteCount }
        out.reserveCapacity(total)
        var length = UInt64(header.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for entry in entries {
            var written = 0
            try entry.bytes { chunk in
                written += chunk.count
                out.append(contentsOf: chunk)
            }
            guard written == entry.byteCount else {
                throw CheckpointError.invalidTensor(path: path, tensor: entry.name, reason: "writer produced \(written) bytes, expected \(entry.byteCount)")
            }
        }
        return out
    }
}

/// zlib (RFC 1950) compression of whole buffers.
enum Zlib {
    static func compress(_ input: [UInt8], path: String) throws -> [UInt8] {
        var bound = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let status = out.withUnsafeMutableBufferPointer { o in
            input.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &bound, i.baseAddress, uLong(input.count), Z_BEST_COMPRESSION)
            }
        }
        guard status == Z_OK else {
            throw CheckpointError.writeFailed(path: path, reason: "zlib compression failed (status \(status))")
        }
        out.removeSubrange(Int(bound)...)
        return out
    }

    /// Inflates `input`, which must decompress to exactly `size` bytes.
    static func decompress(_ input: UnsafeRawBufferPointer, size: Int, path: String) throws(PatchError) -> UnsafeMutableRawBufferPointer {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
        var stream = z_stream()
        var status = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            out.deallocate()
            throw .corruptPatch(path: path, tensor: PatchFormat.compressedTensorName, reason: "zlib cannot start (status \(status))")
        }
        defer { inflateEnd(&stream) }
        // avail_in/avail_out are 32-bit: feed and drain at most 1 GiB at a time.
        let step = 1 << 30
        var inOffset = 0, outOffset = 0
        let inBase = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        let outBase = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
        repeat {
            if stream.avail_in == 0, inOffset < input.count {
                let n = min(step, input.count - inOffset)
                stream.next_in = inBase.map { $0 + inOffset }
                stream.avail_in = uInt(n)
                inOffset += n
            }
            if stream.avail_out == 0, outOffset < size {
                let n = min(step, size - outOffset)
                stream.next_out = outBase.map { $0 + outOffset }
                stream.avail_out = uInt(n)
                outOffset += n
            }
            status = inflate(&stream, Z_NO_FLUSH)
        } while status == Z_OK && (stream.avail_in > 0 || inOffset < input.count) && (stream.avail_out > 0 || outOffset < size)
        if status == Z_OK, stream.avail_out == 0, outOffset == size {
            // Output full: one more call tells whether the stream ends here.
            var probe: UInt8 = 0
            withUnsafeMutablePointer(to: &probe) { p in
                stream.next_out = p
                stream.avail_out = 1
                status = inflate(&stream, Z_NO_FLUSH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == size, Int(stream.total_in) == input.count else {
            out.deallocate()
            let reason = status == Z_STREAM_END
                ? "the zlib stream holds \(stream.total_out) bytes and ends after \(stream.total_in) of \(input.count) bytes; inner_size says \(size)"
                : "the zlib stream is damaged or cut short (zlib status \(status)\(stream.msg.map { ", " + String(cString: $0) } ?? ""))"
            throw .corruptPatch(path: path, tensor: PatchFormat.compressedTensorName, reason: reason)
        }
        return UnsafeMutableRawBufferPointer(rebasing: out[0..<size])
    }
}
