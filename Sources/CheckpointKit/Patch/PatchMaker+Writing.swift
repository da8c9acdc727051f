import Foundation

extension PatchMaker {
    /// Produces the stored bytes of one planned pair tensor, in entry order, and returns the hash of
    /// the result tensor (pass 1), or "" without building the result when `hashResult` is false
    /// (pass 2: pass 1 recorded the hash and the read-back checks the data).
    func materialize(_ tensor: PlannedTensor, base b: UnsafeRawBufferPointer, finetuned f: UnsafeRawBufferPointer,
                     indices: [Int], resultScratch: ScratchBuffer, hashResult: Bool = true,
                     emit: (UnsafeRawBufferPointer) throws -> Void) throws -> String {
        guard case let .pair(stored, choice) = tensor.source else { preconditionFailure("materialize is for pairs") }
        let pair = PatchMaker.compared(stored)
        switch tensor.record.storage {
        case .converted:
            return PatchFormat.hash(b)
        case .dense where choice == .all || pair.base.dtype != pair.finetuned.dtype || pair.base.dtype.byteWidth == nil:
            try emit(f)
            return hashResult ? PatchFormat.hash(f) : ""
        case .dense:
            // A partial (mask) selection stored dense: the base with the kept entries replaced.
            let width = pair.base.dtype.byteWidth!
            let result = resultScratch.bytes(b.count)
            result.copyMemory(from: b)
            for i in indices { memcpy(result.baseAddress! + i * width, f.baseAddress! + i * width, width) }
            try emit(UnsafeRawBufferPointer(result))
            return hashResult ? PatchFormat.hash(UnsafeRawBufferPointer(result)) : ""
        case .sparse:
            let width = pair.base.dtype.byteWidth!
            let indexBytes = PatchBytes.encodeIndices(indices, as: tensor.indexDType)
            let values = PatchBytes.gather(f, indices: indices, width: width)
            try indexBytes.withUnsafeBytes { try emit($0) }
            try values.withUnsafeBytes { try emit($0) }
            guard hashResult else { return "" }
            let result = resultScratch.bytes(b.count)
            result.copyMemory(from: b)
            indexBytes.withUnsafeBytes { raw in
                values.withUnsafeBytes { v in
                    PatchBytes.scatter(values: v, indices: raw, indexDType: tensor.indexDType, count: indices.count, width: width, into: result)
                }
            }
            return PatchFormat.hash(UnsafeRawBufferPointer(result))
        case .new, .resized:
            preconditionFailure("materialize is for pairs of equal shape")
        }
    }

    /// The entry of a tensor stored as the fine-tune holds it (a new tensor, a replaced head),
    /// copied file to file where the fine-tune's reader allows.
    private func wholeEntry(_ tensor: PlannedTensor, _ info: TensorInfo) -> SafetensorsWriter.Entry {
        SafetensorsWriter.Entry(name: tensor.record.name, dtype: tensor.dtype, shape: tensor.shape,
                                location: finetuned.storedLocation(of: info)) { consume in
            try self.finetuned.withBytes(of: info) { try consume($0) }
        }
    }

    /// Pass 2: writes the planned patch to `path` atomically, and reads it back before it is renamed.
    /// `readBack` receives that check's ``PatchFile`` (its mapping stays valid after the rename), so a
    /// caller that looks at the written values need not open and check the file a second time.
    /// - Returns: the size of the file written.
    @discardableResult
    public func write(_ plan: PatchPlan, to path: String, compress: Bool = false,
                      readBack: ((PatchFile) -> Void)? = nil) throws -> Int {
        for input in base.files + finetuned.files + selection.maskPaths
        where FileIdentity.same(path, input) {
            throw PatchError.outputIsInput(output: path, input: input)
        }
        var entries: [SafetensorsWriter.Entry] = []
        let scratch = PlanScratch()
        for tensor in plan.tensors where tensor.record.storage != .converted {
            switch tensor.source {
            case let .new(info):
                entries.append(wholeEntry(tensor, info))
            case let .whole(pair):
                entries.append(wholeEntry(tensor, pair.finetuned))
            case let .resized(pair, choice, _):
                let parts = tensor.entries
                entries.append(SafetensorsWriter.Entry(name: parts[0].name, dtype: parts[0].dtype, shape: parts[0].shape) { consume in
                    _ = try self.withComparableBytes(pair, scratch: scratch) { compared, b, f in
                        let scan = try self.scanShared(compared, choice: choice, base: b, finetuned: f, decodeScratch: scratch.decode)
                        return try self.materializeResized(tensor, base: b, finetuned: f, indices: scan.indices, resultScratch: scratch.result,
                                                           hashResult: false, emit: consume)
                    }
                })
                for entry in parts.dropFirst() {
                    entries.append(.continuation(name: entry.name, dtype: entry.dtype, shape: entry.shape))
                }
            case let .pair(pair, choice):
                // One materialisation produces every entry of the tensor (a sparse tensor's indices
                // then values): the first entry's closure, the rest are its continuations.
                let parts = tensor.entries
                entries.append(SafetensorsWriter.Entry(name: parts[0].name, dtype: parts[0].dtype, shape: parts[0].shape) { consume in
                    _ = try self.withComparableBytes(pair, scratch: scratch) { compared, b, f in
                        let scan = try self.scan(compared, choice: choice, base: b, finetuned: f, decodeScratch: scratch.decode,
                                                 collectIndices: tensor.record.storage != .dense || choice != .all)
                        return try self.materialize(tensor, base: b, finetuned: f, indices: scan.indices, resultScratch: scratch.result,
                                                    hashResult: false, emit: consume)
                    }
                })
                for entry in parts.dropFirst() {
                    entries.append(.continuation(name: entry.name, dtype: entry.dtype, shape: entry.shape))
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
                readBack?(check)
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
