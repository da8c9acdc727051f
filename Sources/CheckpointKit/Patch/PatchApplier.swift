import Foundation
import Glibc

/// Applies a task patch to a base: `ckpt apply`.
///
/// The output is the base with the patched tensors replaced and the patch's new tensors appended,
/// written by the base itself as a modified copy (``Checkpoint/writeModifiedCopy(_:to:verify:)``):
/// safetensors in the base's tensor order, dtypes and metadata by default, an HDF5 base's own file
/// with datasets overwritten. Writes are atomic (temporary file, fsync, rename). Untouched tensors are
/// copied file to file where the base knows where they lie; only one touched tensor is held in memory
/// at a time. Before the rename the temporary file is read back and every touched tensor's SHA-256
/// checked against the patch's result fingerprint.
public struct PatchApplier {
    public struct Options: Sendable {
        /// Apply to a base that is not the one the patch was made for.
        public var force = false
        /// Testing aid: fail the write as a full disk would once this many bytes were written.
        public var simulatedWriteFailureAfterBytes: Int?

        public init(force: Bool = false) {
            self.force = force
        }
    }

    /// What `apply` did.
    public struct Report: Sendable, Encodable {
        public var output: String
        public var base: String
        public var patch: String
        /// Tensors in the output.
        public var tensors: Int
        /// Base tensors replaced, and tensors appended.
        public var replaced: Int
        public var added: Int
        /// Tensors applied with --force to a base whose bytes differ (result not checked).
        public var forced: [String]
        public var bytes: Int
        /// Wall time of the whole apply, and of streaming the output into the temporary file (the
        /// rest is fsync, the read-back check and the rename).
        public var seconds: Double
        public var writeSeconds: Double

        enum CodingKeys: String, CodingKey {
            case output, base, patch, tensors, replaced, added, forced, bytes, seconds
            case writeSeconds = "write_seconds"
        }
    }

    public let base: any Checkpoint
    public let patch: PatchFile

    /// The base tensor each touched tensor of the patch replaces, where its name differs: a base
    /// saved through training wrappers (or without them) pairs by ``CheckpointAlignment``, and the
    /// output keeps the base's names.
    let baseNames: [String: String]

    public init(base: any Checkpoint, patch: PatchFile) {
        self.base = base
        self.patch = patch
        baseNames = PatchApplier.baseNames(base: base, patch: patch)
    }

    /// Patch tensor name -> base tensor name, for the touched tensors whose names differ by
    /// training wrappers or a found prefix only (a `bert.`-prefixed task model is another base).
    static func baseNames(base: any Checkpoint, patch: PatchFile) -> [String: String] {
        let touched = patch.tensors.filter { $0.storage != .new }
        var names = Set<String>()
        for tensor in base.tensors { names.insert(tensor.name) }
        guard touched.contains(where: { !names.contains($0.name) }) else { return [:] }
        let infos = touched.map { TensorInfo(name: $0.name, dtype: $0.values.dtype, shape: [], byteCount: 0) }
        var result: [String: String] = [:]
        let alignment = CheckpointAlignment(base: base.tensors, finetuned: infos)
        for pair in alignment.pairs where pair.base.name != pair.finetuned.name && alignment.differOnlyByWrappers(pair) {
            result[pair.finetuned.name] = pair.base.name
        }
        return result
    }

    /// The name in the base of the tensor `tensor` replaces.
    public func baseName(of tensor: PatchFile.Tensor) -> String {
        baseNames[tensor.name] ?? tensor.name
    }

    /// Compares the base with what the patch records about its base.
    public func compatibility() throws -> PatchCompatibility {
        var result = PatchCompatibility()
        var baseByName: [String: TensorInfo] = [:]
        for tensor in base.tensors { baseByName[tensor.name] = tensor }
        for tensor in patch.tensors {
            if tensor.storage == .new {
                if baseByName[tensor.name] != nil { result.conflicts.append(tensor.name) }
                continue
            }
            guard let info = baseByName[baseName(of: tensor)] else {
                result.missing.append(tensor.name)
                continue
            }
            if let reason = PatchApplier.incompatibility(tensor, base: info, patch: patch) {
                result.incompatible.append(.init(tensor: tensor.name, reason: reason))
                continue
            }
            let hash = try base.withBytes(of: info) { PatchFormat.hash($0) }
            if hash != tensor.record.baseHash {
                result.differing.append(.init(tensor: tensor.name, reason: "its bytes differ from the base the patch was made for (SHA-256 \(hash), the patch expects \(tensor.record.baseHash ?? "-"))"))
            }
        }
        let manifest = PatchFormat.manifest(of: base.tensors)
        if manifest.fingerprint != patch.metadata.baseFingerprint, !matchesUnderPatchNames() {
            result.manifestMatches = false
            var recorded: [Substring: Int] = [:]
            for digest in patch.metadata.manifestDigests { recorded[digest, default: 0] += 1 }
            let ordered = PatchFormat.manifestOrder(base.tensors)
            var matched = 0
            for (k, tensor) in ordered.enumerated() {
                let start = manifest.digests.utf8.index(manifest.digests.startIndex, offsetBy: k * PatchFormat.manifestDigestLength)
                let end = manifest.digests.utf8.index(start, offsetBy: PatchFormat.manifestDigestLength)
                let digest = manifest.digests[start..<end]
                if let n = recorded[digest], n > 0 {
                    recorded[digest] = n - 1
                    matched += 1
                } else {
                    result.unknownBaseTensors.append(tensor.name)
                }
            }
            result.absentBaseTensors = max(0, patch.metadata.counts.baseTensors - matched)
        }
        return result
    }

    /// Whether the base, its tensors named as the patch names them (touched ones by the pairing,
    /// the rest without training wrappers), has the manifest the patch records: a patch made on a
    /// plain base applies to the same base saved through DDP or `torch.compile`.
    func matchesUnderPatchNames() -> Bool {
        guard !baseNames.isEmpty else { return false }
        var patchName: [String: String] = [:]
        for (name, baseName) in baseNames { patchName[baseName] = name }
        let renamed = base.tensors.map { tensor -> TensorInfo in
            var copy = tensor
            copy.name = patchName[tensor.name] ?? TrainingWrappers.strip(tensor.name)?.name ?? tensor.name
            return copy
        }
        return PatchFormat.manifest(of: renamed).fingerprint == patch.metadata.baseFingerprint
    }

    /// Why the base tensor cannot take the patch's data for `tensor`, or nil.
    static func incompatibility(_ tensor: PatchFile.Tensor, base info: TensorInfo, patch: PatchFile) -> String? {
        if let target = tensor.record.conversion, !DTypeConversion.converts(from: info.dtype, to: target) {
            return "the patch converts it to \(target.rawValue), which ckpt cannot do from the base's \(info.dtype.rawValue)"
        }
        let baseDType = tensor.record.conversion ?? info.dtype
        switch tensor.storage {
        case .dense:
            if tensor.values.shape != info.shape && tensor.resultShape != tensor.values.shape {
                return "the patch holds shape \(tensor.values.shape) but the base tensor has shape \(info.shape)"
            }
        case .resized:
            return resizeIncompatibility(tensor, base: info, patch: patch)
        case .sparse:
            if tensor.values.dtype != baseDType {
                return "the patch holds \(tensor.values.dtype.rawValue) values but the base tensor is \(baseDType.rawValue)"
            }
            if let last = patch.lastIndex(of: tensor), last >= info.elementCount {
                return "the patch changes entry \(last) but the base tensor has \(info.elementCount) entries"
            }
        case .new, .converted:
            break
        }
        return nil
    }

    /// Why a resized tensor's data does not fit the base tensor, or nil: same dtype, same trailing
    /// dimensions, indices inside the rows base and result share, added rows = result rows - base rows.
    static func resizeIncompatibility(_ tensor: PatchFile.Tensor, base info: TensorInfo, patch: PatchFile) -> String? {
        guard let shape = tensor.resultShape, shape.count == info.shape.count, !shape.isEmpty, shape.dropFirst() == info.shape.dropFirst() else {
            return "the patch resizes it to \(tensor.resultShape ?? []) but the base tensor has shape \(info.shape)"
        }
        let dtype = tensor.record.conversion ?? info.dtype
        if tensor.values.dtype != dtype {
            return "the patch holds \(tensor.values.dtype.rawValue) values but the base tensor is \(dtype.rawValue)"
        }
        let rowElements = shape.dropFirst().reduce(1, *)
        let shared = min(shape[0], info.shape[0]) * rowElements
        if let last = patch.lastIndex(of: tensor), last >= shared {
            return "the patch changes entry \(last) but the rows the base and the result share hold \(shared) entries"
        }
        let added = max(0, shape[0] - info.shape[0]) * rowElements
        if (tensor.rows?.elementCount ?? 0) != added {
            return "the patch holds \(tensor.rows?.elementCount ?? 0) entries of added rows but \(info.shape) -> \(shape) adds \(added)"
        }
        return nil
    }

    /// Throws the first problem `apply` refuses; returns the tensors let through by `force`.
    func checkApplicable(force: Bool) throws -> Set<String> {
        let c = try compatibility()
        if let name = c.missing.first {
            throw PatchError.tensorMissingFromBase(patch: patch.path, base: base.path, tensor: name)
        }
        if let problem = c.incompatible.first {
            throw PatchError.baseMismatch(patch: patch.path, base: base.path, tensor: problem.tensor, reason: problem.reason)
        }
        if let name = c.conflicts.first {
            throw PatchError.baseMismatch(patch: patch.path, base: base.path, tensor: name, reason: "the patch adds this tensor but the base already has one of that name")
        }
        guard !force else { return Set(c.differing.map(\.tensor)) }
        if let problem = c.differing.first {
            let more = c.differing.count > 1 ? " (\(c.differing.count) tensors differ)" : ""
            throw PatchError.baseMismatch(patch: patch.path, base: base.path, tensor: problem.tensor, reason: problem.reason + more, remedy: .applyAnyway)
        }
        if !c.manifestMatches {
            throw PatchError.baseMismatch(patch: patch.path, base: base.path, tensor: c.unknownBaseTensors.first,
                                          reason: PatchCompatibility.manifestMessage(unknown: c.unknownBaseTensors, absent: c.absentBaseTensors), remedy: .applyAnyway)
        }
        return []
    }

    /// Calls `body` with the result bytes of a touched tensor (base bytes with the patch applied).
    /// The base must have been checked with ``compatibility()``.
    func withResult<R>(of tensor: PatchFile.Tensor, scratch: ScratchBuffer, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        switch tensor.storage {
        case .dense, .new:
            return try patch.withValues(of: tensor, body)
        case .sparse, .resized, .converted:
            return try withScatteredResult(of: tensor, scratch: scratch, body)
        }
    }

    /// The result of a sparse, resized or converted tensor: the base's rows up to the result's row
    /// count (all of them unless resized), converted to the patch's dtype when it records one, the
    /// stored entries written over them, then any added rows (stored in the result's dtype). The
    /// base must have been checked with ``compatibility()``.
    func withScatteredResult<R>(of tensor: PatchFile.Tensor, scratch: ScratchBuffer, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let info = base.tensor(named: baseName(of: tensor)), let width = (tensor.record.conversion ?? info.dtype).byteWidth else {
            throw PatchError.tensorMissingFromBase(patch: patch.path, base: base.path, tensor: tensor.name)
        }
        return try base.withBytes(of: info) { b in
            let out = scratch.bytes((tensor.resultShape ?? info.shape).reduce(width, *))
            let rowBytes = tensor.rows?.byteCount ?? 0
            let fromBase = min(info.elementCount, (out.count - rowBytes) / width)
            if let target = tensor.record.conversion {
                try DTypeConversion.convert(b, from: info.dtype, to: target, count: fromBase, into: out,
                                            path: base.path, tensor: info.name)
            } else {
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[0..<(fromBase * width)]))
            }
            patch.withRows(of: tensor) { rows in
                if rows.count > 0 { UnsafeMutableRawBufferPointer(rebasing: out[(fromBase * width)...]).copyMemory(from: rows) }
            }
            if let indices = tensor.indices {
                patch.withValues(of: tensor) { values in
                    patch.withIndices(of: tensor) { raw in
                        PatchBytes.scatter(values: values, indices: raw, indexDType: indices.dtype, count: indices.elementCount,
                                           width: width, into: out)
                    }
                }
            }
            return try body(UnsafeRawBufferPointer(out))
        }
    }

    /// Writes the patched base to `output`: a modified copy of the base in the base's own way
    /// (``Checkpoint/writeModifiedCopy(_:to:verify:)``: safetensors by default, HDF5 in place of a
    /// copy), read back and checked against the patch's result fingerprints before the rename.
    @discardableResult
    public func apply(to output: String, options: Options = Options()) throws -> Report {
        let start = DispatchTime.now()
        for input in base.files + [patch.path] where FileIdentity.same(output, input) {
            throw PatchError.outputIsInput(output: output, input: input)
        }
        let forced = try checkApplicable(force: options.force)
        try checkEditable()
        let edit = try self.edit(forced: forced, simulatedWriteFailureAfterBytes: options.simulatedWriteFailureAfterBytes)
        let result = try base.writeModifiedCopy(edit, to: output) { temporary in
            try PatchApplier.checkWritten(temporary, output: output, patch: patch, forced: forced, names: baseNames)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return Report(output: output, base: base.path, patch: patch.path, tensors: base.tensors.count + edit.added.count,
                      replaced: edit.replaced.count, added: edit.added.count,
                      forced: forced.sorted(), bytes: result.bytes,
                      seconds: seconds, writeSeconds: result.streamingSeconds ?? seconds)
    }

    /// Refuses what the base's format cannot write into a modified copy (an HDF5 base takes
    /// replacements of existing datasets in their own dtype only).
    func checkEditable() throws {
        let capabilities = base.editCapabilities
        if !capabilities.contains(.addsTensors), let added = patch.tensors.first(where: { $0.storage == .new }) {
            throw PatchError.unsupported(path: patch.path, reason: "the patch adds tensor '\(added.name)', and an HDF5 base can only have existing datasets replaced; apply it to a safetensors copy of the base")
        }
        guard !capabilities.contains(.changesDTypes) else { return }
        for tensor in patch.tensors {
            guard let info = base.tensor(named: baseName(of: tensor)) else { continue }
            if let shape = tensor.resultShape, shape != info.shape {
                throw PatchError.unsupported(path: patch.path, reason: "tensor '\(tensor.name)' changes shape (\(info.shape) -> \(shape)), which an HDF5 dataset cannot in place; apply it to a safetensors copy of the base")
            }
            if tensor.values.dtype != info.dtype {
                throw PatchError.unsupported(path: patch.path, reason: "tensor '\(tensor.name)' changes dtype, which an HDF5 dataset cannot in place")
            }
        }
    }

    /// The output as an edit of the base: touched tensors replaced (in the patch's order, each
    /// checked against its result fingerprint as it is produced, unless forced), new ones appended.
    func edit(forced: Set<String>, simulatedWriteFailureAfterBytes: Int?) throws -> CheckpointEdit {
        var edit = CheckpointEdit(simulatedWriteFailureAfterBytes: simulatedWriteFailureAfterBytes)
        let scratch = ScratchBuffer()
        let baseByName = Dictionary(base.tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for tensor in patch.tensors {
            let info: TensorInfo
            if tensor.storage == .new {
                info = tensor.values
            } else {
                guard var baseInfo = baseByName[baseName(of: tensor)] else {
                    throw PatchError.tensorMissingFromBase(patch: patch.path, base: base.path, tensor: tensor.name)
                }
                if tensor.storage == .dense {
                    baseInfo.dtype = tensor.values.dtype
                    baseInfo.shape = tensor.values.shape
                    baseInfo.byteCount = tensor.values.byteCount
                } else if tensor.resultShape != nil || tensor.record.conversion != nil {
                    baseInfo.dtype = tensor.record.conversion ?? baseInfo.dtype
                    baseInfo.shape = tensor.resultShape ?? baseInfo.shape
                    baseInfo.byteCount = baseInfo.shape.reduce(baseInfo.dtype.bitWidth, *) / 8
                }
                info = baseInfo
            }
            let replacement = CheckpointEdit.Tensor(info: info) { consume in
                try self.withResult(of: tensor, scratch: scratch) { result in
                    if !forced.contains(tensor.name), PatchFormat.hash(result) != tensor.record.resultHash {
                        throw PatchError.resultMismatch(path: patch.path, tensor: tensor.name, reason: "the patched bytes hash to \(PatchFormat.hash(result)), the patch records \(tensor.record.resultHash)")
                    }
                    try consume(result)
                }
            }
            if tensor.storage == .new { edit.added.append(replacement) } else { edit.replaced.append(replacement) }
        }
        return edit
    }

    /// Re-reads the temporary output (safetensors or HDF5, detected by content) and checks every
    /// touched tensor against the result fingerprint.
    /// - Parameter names: patch tensor name -> base name, where they differ.
    static func checkWritten(_ temporary: String, output: String, patch: PatchFile, forced: Set<String>, names: [String: String] = [:]) throws {
        let written: any Checkpoint
        do {
            written = try CheckpointOpener.open(temporary)
        } catch {
            throw CheckpointError.writeFailed(path: output, reason: "the written file does not read back: \(error)")
        }
        for tensor in patch.tensors where !forced.contains(tensor.name) {
            guard let info = written.tensor(named: names[tensor.name] ?? tensor.name) else {
                throw PatchError.resultMismatch(path: output, tensor: tensor.name, reason: "missing from the written file")
            }
            let hash = try written.withBytes(of: info) { PatchFormat.hash($0) }
            guard hash == tensor.record.resultHash else {
                throw PatchError.resultMismatch(path: output, tensor: tensor.name, reason: "the written bytes hash to \(hash), the patch records \(tensor.record.resultHash)")
            }
        }
    }
}
