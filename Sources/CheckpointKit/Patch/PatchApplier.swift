import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How well a base fits a patch: what `apply` refuses and `verify` reports.
public struct PatchCompatibility: Sendable, Encodable {
    /// Tensors the patch changes that the base does not have.
    public var missing: [String] = []
    /// Tensors the base has but cannot take the patch's values for: tensor and reason.
    public var incompatible: [Problem] = []
    /// Tensors the patch adds that the base already has.
    public var conflicts: [String] = []
    /// Touched tensors whose bytes differ from the base the patch was made for.
    public var differing: [Problem] = []
    /// Whether the base's manifest (names, dtypes, shapes of every tensor) matches.
    public var manifestMatches = true
    /// Tensors of this base that the patch's base did not have (by name, dtype and shape).
    public var unknownBaseTensors: [String] = []
    /// How many tensors of the patch's base this base lacks (or has with another dtype or shape).
    public var absentBaseTensors = 0

    public struct Problem: Sendable, Encodable, Equatable {
        public var tensor: String
        public var reason: String
    }

    /// Problems no `--force` can get past.
    public var isApplicable: Bool { missing.isEmpty && incompatible.isEmpty && conflicts.isEmpty }
    /// Whether the base is exactly the one the patch was made for.
    public var baseMatches: Bool { differing.isEmpty && manifestMatches }

    enum CodingKeys: String, CodingKey {
        case missing, incompatible, conflicts, differing
        case manifestMatches = "manifest_matches"
        case unknownBaseTensors = "unknown_base_tensors"
        case absentBaseTensors = "absent_base_tensors"
    }

    /// One sentence per problem, most important first.
    public var messages: [String] {
        var out: [String] = []
        out += missing.map { "tensor '\($0)': the base does not have it" }
        out += incompatible.map { "tensor '\($0.tensor)': \($0.reason)" }
        out += conflicts.map { "tensor '\($0)': the patch adds it but the base already has it" }
        out += differing.map { "tensor '\($0.tensor)': \($0.reason)" }
        if !manifestMatches {
            out.append(PatchCompatibility.manifestMessage(unknown: unknownBaseTensors, absent: absentBaseTensors))
        }
        return out
    }

    static func manifestMessage(unknown: [String], absent: Int) -> String {
        var parts: [String] = []
        if !unknown.isEmpty {
            let shown = unknown.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
            parts.append("the base has \(unknown.count) tensor\(unknown.count == 1 ? "" : "s") (name, dtype or shape) the patch's base did not: \(shown)\(unknown.count > 3 ? ", ..." : "")")
        }
        if absent > 0 {
            parts.append("it lacks \(absent) tensor\(absent == 1 ? "" : "s") the patch's base had")
        }
        if parts.isEmpty { parts.append("its tensor list (names, dtypes, shapes) differs from the patch's base") }
        return "base manifest differs: " + parts.joined(separator: "; ")
    }
}

/// Applies a task patch to a base: `ckpt apply`.
///
/// The output is the base with the patched tensors replaced and the patch's new tensors appended,
/// written as safetensors in the base's tensor order, dtypes and metadata, atomically (temporary file,
/// fsync, rename). Untouched tensors are streamed from the base; only one touched tensor is held in
/// memory at a time. Before the rename the temporary file is read back and every touched tensor's
/// SHA-256 checked against the patch's result fingerprint.
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

    public init(base: any Checkpoint, patch: PatchFile) {
        self.base = base
        self.patch = patch
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
            guard let info = baseByName[tensor.name] else {
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
        if manifest.fingerprint != patch.metadata.baseFingerprint {
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

    /// Why the base tensor cannot take the patch's data for `tensor`, or nil.
    static func incompatibility(_ tensor: PatchFile.Tensor, base info: TensorInfo, patch: PatchFile) -> String? {
        switch tensor.storage {
        case .dense:
            if tensor.values.shape != info.shape {
                return "the patch holds shape \(tensor.values.shape) but the base tensor has shape \(info.shape)"
            }
        case .sparse:
            if tensor.values.dtype != info.dtype {
                return "the patch holds \(tensor.values.dtype.rawValue) values but the base tensor is \(info.dtype.rawValue)"
            }
            if let last = patch.lastIndex(of: tensor), last >= info.elementCount {
                return "the patch changes entry \(last) but the base tensor has \(info.elementCount) entries"
            }
        case .new:
            break
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
        case .sparse:
            guard let info = base.tensor(named: tensor.name), let width = info.dtype.byteWidth, let indices = tensor.indices else {
                throw PatchError.tensorMissingFromBase(patch: patch.path, base: base.path, tensor: tensor.name)
            }
            return try base.withBytes(of: info) { b in
                let out = scratch.bytes(b.count)
                out.copyMemory(from: b)
                patch.withValues(of: tensor) { values in
                    patch.withIndices(of: tensor) { raw in
                        PatchBytes.scatter(values: values, indices: raw, indexDType: indices.dtype, count: indices.elementCount,
                                           width: width, into: out)
                    }
                }
                return try body(UnsafeRawBufferPointer(out))
            }
        }
    }

    /// The output's tensor list: the base's (with patched dtypes) then the new tensors.
    func outputTensors() -> [(info: TensorInfo, touched: PatchFile.Tensor?)] {
        var touched: [String: PatchFile.Tensor] = [:]
        for tensor in patch.tensors where tensor.storage != .new { touched[tensor.name] = tensor }
        var out: [(TensorInfo, PatchFile.Tensor?)] = []
        for tensor in base.tensors {
            if let t = touched[tensor.name] {
                var info = tensor
                if t.storage == .dense {
                    info.dtype = t.values.dtype
                    info.byteCount = t.values.byteCount
                }
                out.append((info, t))
            } else {
                out.append((tensor, nil))
            }
        }
        for tensor in patch.tensors where tensor.storage == .new {
            out.append((tensor.values, tensor))
        }
        return out
    }

    /// Writes the patched base to `output`.
    @discardableResult
    public func apply(to output: String, options: Options = Options()) throws -> Report {
        let start = DispatchTime.now()
        var writeSeconds = 0.0
        for input in FileIdentity.inputFiles(of: base) + [patch.path] where FileIdentity.same(output, input) {
            throw PatchError.outputIsInput(output: output, input: input)
        }
        let forced = try checkApplicable(force: options.force)
        if base.format.isHDF5 {
            return try applyToHDF5(output: output, forced: forced)
        }
        let tensors = outputTensors()
        let metadata = (base as? ShardedSafetensors)?.shards.first?.metadata ?? base.metadata
        let header = SafetensorsWriter(metadata: metadata, entries: tensors.map { t in
            SafetensorsWriter.Entry(name: t.info.name, dtype: t.info.dtype, shape: t.info.shape) { _ in }
        }).headerBytes()
        let scratch = ScratchBuffer()
        let limit = options.simulatedWriteFailureAfterBytes
        let safetensorsBase = base as? SafetensorsFile
        // Runs of untouched tensors are copied inside the kernel from a descriptor of the base file.
        let source = safetensorsBase.map { open($0.path, O_RDONLY | O_CLOEXEC) } ?? -1
        defer { if source >= 0 { close(source) } }
        if source < 0 { safetensorsBase?.adviseSequentialRead() }
        let bytes = try AtomicFile(destination: output).write({ sink -> Int in
            func put(_ bytes: UnsafeRawBufferPointer) throws {
                if let limit, sink.offset + bytes.count > limit {
                    throw CheckpointError.writeFailed(path: output, reason: "No space left on device (simulated)")
                }
                try sink.write(bytes)
            }
            let writeBehind = WriteBehind(descriptor: sink.descriptor)
            defer { writeBehind.finish() }
            var length = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &length) { try put($0) }
            try header.withUnsafeBytes { try put($0) }
            var i = 0
            while i < tensors.count {
                let (info, touched) = tensors[i]
                if let touched {
                    try withResult(of: touched, scratch: scratch) { result in
                        if !forced.contains(touched.name), PatchFormat.hash(result) != touched.record.resultHash {
                            throw PatchError.resultMismatch(path: patch.path, tensor: touched.name, reason: "the patched bytes hash to \(PatchFormat.hash(result)), the patch records \(touched.record.resultHash)")
                        }
                        try put(result)
                    }
                    i += 1
                    continue
                }
                // A run of untouched tensors that lie back to back in one base file goes out as one write.
                if let file = safetensorsBase, var range = file.fileRange(of: info) {
                    var j = i + 1
                    while j < tensors.count, tensors[j].touched == nil, let next = file.fileRange(of: tensors[j].info), next.lowerBound == range.upperBound {
                        range = range.lowerBound..<next.upperBound
                        j += 1
                    }
                    if source >= 0, limit == nil {
                        try sink.copy(from: source, offset: range.lowerBound, count: range.count)
                    } else {
                        try file.withBytes(range: range) { try put($0) }
                    }
                    writeBehind.wrote(upTo: sink.offset)
                    i = j
                } else {
                    try base.withBytes(of: info) { try put($0) }
                    i += 1
                }
            }
            try sink.flush()
            writeSeconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
            return sink.offset
        }, beforePublish: { temporary in
            try PatchApplier.checkWritten(temporary, output: output, patch: patch, forced: forced)
        })
        return Report(output: output, base: base.path, patch: patch.path, tensors: tensors.count,
                      replaced: patch.tensors.filter { $0.storage != .new }.count,
                      added: patch.tensors.filter { $0.storage == .new }.count,
                      forced: forced.sorted(), bytes: bytes,
                      seconds: Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9, writeSeconds: writeSeconds)
    }

    /// Re-reads the temporary output (safetensors or HDF5, detected by content) and checks every
    /// touched tensor against the result fingerprint.
    static func checkWritten(_ temporary: String, output: String, patch: PatchFile, forced: Set<String>) throws {
        let written: any Checkpoint
        do {
            written = try CheckpointOpener.open(temporary)
        } catch {
            throw CheckpointError.writeFailed(path: output, reason: "the written file does not read back: \(error)")
        }
        for tensor in patch.tensors where !forced.contains(tensor.name) {
            guard let info = written.tensor(named: tensor.name) else {
                throw PatchError.resultMismatch(path: output, tensor: tensor.name, reason: "missing from the written file")
            }
            let hash = try written.withBytes(of: info) { PatchFormat.hash($0) }
            guard hash == tensor.record.resultHash else {
                throw PatchError.resultMismatch(path: output, tensor: tensor.name, reason: "the written bytes hash to \(hash), the patch records \(tensor.record.resultHash)")
            }
        }
    }

    /// An HDF5 base gives an HDF5 output: the base file with the patched datasets overwritten.
    func applyToHDF5(output: String, forced: Set<String>) throws -> Report {
        let start = DispatchTime.now()
        if let added = patch.tensors.first(where: { $0.storage == .new }) {
            throw PatchError.unsupported(path: patch.path, reason: "the patch adds tensor '\(added.name)', and an HDF5 base can only have existing datasets replaced; apply it to a safetensors copy of the base")
        }
        var replacing: [String: [UInt8]] = [:]
        let scratch = ScratchBuffer()
        for tensor in patch.tensors {
            guard let info = base.tensor(named: tensor.name) else { continue }
            if tensor.values.dtype != info.dtype {
                throw PatchError.unsupported(path: patch.path, reason: "tensor '\(tensor.name)' changes dtype, which an HDF5 dataset cannot in place")
            }
            replacing[tensor.name] = try withResult(of: tensor, scratch: scratch) { [UInt8]($0) }
        }
        let bytes = try AtomicFile(destination: output).write({ sink -> Int in
            try HDF5File.writeModifiedCopy(of: base.path, to: sink.temporaryPath, replacing: replacing, reportingAs: output)
            return replacing.values.reduce(0) { $0 + $1.count }
        }, beforePublish: { temporary in
            try PatchApplier.checkWritten(temporary, output: output, patch: patch, forced: forced)
        })
        return Report(output: output, base: base.path, patch: patch.path, tensors: base.tensors.count,
                      replaced: replacing.count, added: 0, forced: forced.sorted(), bytes: bytes,
                      seconds: Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9,
                      writeSeconds: Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9)
    }
}

/// Starts the disk writes of a large output while it is still being produced: every 256 MiB a
/// background `fdatasync` flushes what is written so far, so that the final fsync (which makes the
/// output durable before its rename) waits only for the tail instead of the whole file.
final class WriteBehind: @unchecked Sendable {
    let descriptor: Int32
    private let queue = DispatchQueue(label: "ckpt.write-behind")
    private let lock = NSLock()
    private var inFlight = false
    private var flushedTo = 0
    static let step = 256 << 20

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    /// Called after `offset` bytes are written.
    func wrote(upTo offset: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard !inFlight, offset - flushedTo >= WriteBehind.step else { return }
        inFlight = true
        flushedTo = offset
        let fd = descriptor
        queue.async { [self] in
            _ = fdatasync(fd) // errors surface again at the final fsync
            lock.lock()
            inFlight = false
            lock.unlock()
        }
    }

    /// Waits for a background flush to end (before the descriptor is closed).
    func finish() {
        queue.sync {}
    }
}

/// File identity checks: an output must never be one of the inputs.
public enum FileIdentity {
    /// Whether both paths exist and are the same file (same device and inode: hard links and
    /// symbolic links included).
    public static func same(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Every file a checkpoint reads.
    public static func inputFiles(of checkpoint: any Checkpoint) -> [String] {
        if let sharded = checkpoint as? ShardedSafetensors {
            return [sharded.path] + sharded.shards.map(\.path)
        }
        return [checkpoint.path]
    }
}

extension SafetensorsFile {
    /// Calls `body` with a byte range of the file (for copying runs of tensors at once).
    func withBytes<R>(range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(mappedBytes(in: range))
    }
}
