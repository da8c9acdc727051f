import Crypto
import Foundation

/// A task patch opened for reading: the file is checked as a whole before anything uses it.
///
/// Opening validates the safetensors structure (truncation, offsets), the metadata (format name,
/// version, keys, counts), that the entries are exactly the ones the metadata describes, that sparse
/// indices are sorted and match their values, and the checksum of the data, so a damaged or modified
/// patch is refused here with a message naming the file and, where it can, the tensor. What needs the
/// base (its fingerprint, index bounds, result fingerprints of sparse tensors) is checked by
/// ``PatchApplier`` and ``PatchVerifier``.
public final class PatchFile: @unchecked Sendable {
    /// One touched tensor and where its data is.
    public struct Tensor: Sendable {
        public var record: PatchTensorRecord
        /// The dense/new tensor, or the `.values` entry of a sparse one.
        public var values: TensorInfo
        // (For a converted tensor, which stores nothing: an empty tensor of the target dtype.)
        /// The `.indices` entry of a sparse or resized tensor.
        public var indices: TensorInfo?
        /// The `.rows` entry of a resized tensor that gained rows: the added rows, dense.
        public var rows: TensorInfo?
        /// The result's shape when the patch changes it (metadata `shapes`: a resized tensor, a
        /// replaced head); nil when the result keeps the base tensor's shape (or is a new tensor).
        public var resultShape: [Int]?

        public var name: String { record.name }
        public var storage: PatchStorage { record.storage }
        /// Entries stored.
        public var storedCount: Int { values.elementCount + (rows?.elementCount ?? 0) }
        /// Bytes stored (indices and added rows included).
        public var byteCount: Int { values.byteCount + (indices?.byteCount ?? 0) + (rows?.byteCount ?? 0) }
    }

    public let path: String
    /// The format version the file declares (1 or 2).
    public let version: Int
    public let metadata: PatchMetadata
    public let tensors: [Tensor]
    /// Whether the data section is zlib-compressed (`--compress`).
    public let isCompressed: Bool
    /// Size of the file on disk.
    public let fileSize: Int
    /// Bytes of tensor data (after inflating a compressed patch).
    public let dataSize: Int
    /// Size of the inner safetensors header.
    public let headerSize: Int

    private let file: MappedFile
    private let inflated: UnsafeMutableRawBufferPointer?
    private let ranges: [String: Range<Int>]

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        fileSize = file.size
        let outer: SafetensorsHeader
        do {
            outer = try SafetensorsHeader(file: file)
        } catch {
            throw PatchFile.explain(error, path: path)
        }
        guard let format = outer.metadata[PatchFormat.Key.format] else {
            throw PatchError.notAPatch(path: path, reason: "its __metadata__ has no \"format\": \"\(PatchFormat.name)\" (is it a checkpoint?)")
        }
        guard format == PatchFormat.name else {
            throw PatchError.notAPatch(path: path, reason: "its __metadata__ says format \"\(format)\", not \"\(PatchFormat.name)\" (is it a checkpoint?)")
        }
        let versionText = outer.metadata[PatchFormat.Key.version] ?? "(none)"
        guard PatchFormat.readableVersions.contains(versionText), let version = Int(versionText) else {
            throw PatchError.unsupportedVersion(path: path, version: versionText)
        }
        self.version = version

        var header = outer
        var buffer = file.bytes
        if let compression = outer.metadata[PatchFormat.Key.compression] {
            guard compression == "zlib" else {
                throw PatchError.invalidPatch(path: path, tensor: nil, reason: "unknown compression '\(compression)' (this ckpt reads zlib)")
            }
            guard outer.tensors.count == 1, let entry = outer.tensors.first, entry.info.name == PatchFormat.compressedTensorName,
                  entry.info.dtype == .u8, entry.info.shape.count == 1 else {
                throw PatchError.invalidPatch(path: path, tensor: nil, reason: "a compressed patch holds exactly one U8 tensor '\(PatchFormat.compressedTensorName)'")
            }
            guard let sizeText = outer.metadata[PatchFormat.Key.innerSize], let size = Int(sizeText), size >= 8, size <= PatchFormat.maxInnerSize else {
                throw PatchError.invalidPatch(path: path, tensor: nil, reason: "metadata 'inner_size' is missing or out of range")
            }
            let inner: UnsafeMutableRawBufferPointer
            do {
                inner = try Zlib.decompress(file.bytes(in: entry.fileRange), size: size)
            } catch {
                throw PatchError.corruptPatch(path: path, tensor: PatchFormat.compressedTensorName, reason: error.reason)
            }
            let innerBytes = UnsafeRawBufferPointer(inner)
            if let expected = outer.metadata[PatchFormat.Key.innerChecksum], PatchFormat.hash(innerBytes) != expected {
                inner.deallocate()
                throw PatchError.corruptPatch(path: path, tensor: nil, reason: "the inflated patch does not match its checksum (inner_sha256)")
            }
            do {
                header = try SafetensorsHeader(bytes: innerBytes, path: path + " (inflated)")
            } catch {
                inner.deallocate()
                throw error
            }
            if header.metadata[PatchFormat.Key.compression] != nil || header.metadata[PatchFormat.Key.format] != PatchFormat.name
                || header.metadata[PatchFormat.Key.version] != versionText {
                inner.deallocate()
                throw PatchError.invalidPatch(path: path, tensor: nil, reason: "the inflated patch is not an uncompressed ckpt-patch version \(versionText)")
            }
            inflated = inner
            buffer = innerBytes
            isCompressed = true
        } else {
            inflated = nil
            isCompressed = false
        }
        headerSize = header.headerSize
        do {
            let result = try PatchFile.validate(header: header, bytes: buffer, path: path)
            if version < 2, !result.metadata.shapes.isEmpty || result.tensors.contains(where: { $0.storage == .resized }) {
                throw PatchError.invalidPatch(path: path, tensor: nil, reason: "a version 1 patch has no 'shapes' and no resized ('r') tensors")
            }
            if version < 2, result.tensors.contains(where: { $0.record.conversion != nil }) {
                throw PatchError.invalidPatch(path: path, tensor: nil, reason: "a version 1 patch has no 'convert' and no converted ('c') tensors")
            }
            metadata = result.metadata
            tensors = result.tensors
            ranges = result.ranges
            dataSize = buffer.count - 8 - header.headerSize
        } catch {
            inflated?.deallocate()
            throw error
        }
    }

    deinit { inflated?.deallocate() }

    /// Says "truncated" for the safetensors errors a cut-off file produces.
    static func explain(_ error: CheckpointError, path: String) -> Error {
        switch error {
        case let .invalidTensor(_, tensor, reason) where reason.contains("run past the end"):
            return PatchError.corruptPatch(path: path, tensor: tensor, reason: "the file is truncated (\(reason)); an interrupted copy or download?")
        case .truncated:
            return error
        default:
            return error
        }
    }

    private var bytes: UnsafeRawBufferPointer { inflated.map { UnsafeRawBufferPointer($0) } ?? file.bytes }

    static func validate(header: SafetensorsHeader, bytes: UnsafeRawBufferPointer, path: String) throws
        -> (metadata: PatchMetadata, tensors: [Tensor], ranges: [String: Range<Int>]) {
        // Data order; empty entries (the `.indices` and `.values` of a resized tensor whose shared rows
        // kept no change) share an offset, and their names decide (`.indices` before `.values`).
        let ordered = header.tensors.sorted {
            ($0.fileRange.lowerBound, $0.fileRange.upperBound, $0.info.name) < ($1.fileRange.lowerBound, $1.fileRange.upperBound, $1.info.name)
        }
        let metadata = try PatchMetadata.decode(header.metadata, entryNames: ordered.map(\.info.name), path: path)
        var entries: [String: SafetensorsHeader.Entry] = [:]
        for entry in header.tensors { entries[entry.info.name] = entry }
        var used = Set<String>()
        var tensors: [Tensor] = []
        var ranges: [String: Range<Int>] = [:]
        func take(_ name: String, for tensor: String) throws(PatchError) -> SafetensorsHeader.Entry {
            guard let entry = entries[name] else {
                throw PatchError.invalidPatch(path: path, tensor: tensor, reason: "the metadata lists it but the file has no entry '\(name)'")
            }
            guard used.insert(name).inserted else {
                throw PatchError.invalidPatch(path: path, tensor: tensor, reason: "entry '\(name)' is claimed twice")
            }
            ranges[name] = entry.fileRange
            return entry
        }
        var expectedOrder: [String] = []
        var entries_stored = 0
        for record in metadata.tensors {
            switch record.storage {
            case .converted:
                guard let dtype = record.conversion else {
                    throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "a converted tensor is missing from 'convert'")
                }
                tensors.append(Tensor(record: record, values: TensorInfo(name: record.name, dtype: dtype, shape: [0], byteCount: 0), indices: nil))
            case .dense, .new:
                let entry = try take(record.name, for: record.name)
                if let shape = metadata.shapes[record.name], shape != entry.info.shape {
                    throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "metadata 'shapes' says \(shape) but the entry has shape \(entry.info.shape)")
                }
                tensors.append(Tensor(record: record, values: entry.info, indices: nil, rows: nil, resultShape: metadata.shapes[record.name]))
                expectedOrder.append(record.name)
                entries_stored += entry.info.elementCount
            case .sparse, .resized:
                let indices = try take(record.name + PatchFormat.indicesSuffix, for: record.name)
                let values = try take(record.name + PatchFormat.valuesSuffix, for: record.name)
                guard indices.info.dtype == .i32 || indices.info.dtype == .i64, indices.info.shape.count == 1 else {
                    throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "'.indices' must be a 1-D I32 or I64 tensor, not \(indices.info.dtype.rawValue) \(indices.info.shape)")
                }
                guard values.info.shape == indices.info.shape else {
                    throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "'.values' has shape \(values.info.shape) but '.indices' has \(indices.info.shape)")
                }
                guard values.info.dtype.byteWidth != nil else {
                    throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "sparse values of packed dtype \(values.info.dtype.rawValue)")
                }
                // Sorted, strictly increasing, non-negative.
                let raw = UnsafeRawBufferPointer(rebasing: bytes[indices.fileRange])
                var previous = -1
                for k in 0..<indices.info.elementCount {
                    let i = PatchBytes.index(raw, k, dtype: indices.info.dtype)
                    guard i > previous else {
                        throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "indices are not sorted and distinct (entry \(k): \(i) after \(previous))")
                    }
                    previous = i
                }
                var tensor = Tensor(record: record, values: values.info, indices: indices.info, rows: nil, resultShape: metadata.shapes[record.name])
                expectedOrder += [indices.info.name, values.info.name]
                entries_stored += values.info.elementCount
                if record.storage == .resized, entries[record.name + PatchFormat.rowsSuffix] != nil {
                    let rows = try take(record.name + PatchFormat.rowsSuffix, for: record.name)
                    guard rows.info.dtype == values.info.dtype, let shape = tensor.resultShape, rows.info.shape.count == shape.count,
                          rows.info.shape.dropFirst() == shape.dropFirst() else {
                        throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "'.rows' (\(rows.info.dtype.rawValue) \(rows.info.shape)) does not fit the result shape \(tensor.resultShape ?? []) and the values' dtype")
                    }
                    tensor.rows = rows.info
                    expectedOrder.append(rows.info.name)
                    entries_stored += rows.info.elementCount
                }
                tensors.append(tensor)
            }
        }
        if let extra = header.tensors.first(where: { !used.contains($0.info.name) }) {
            throw PatchError.invalidPatch(path: path, tensor: extra.info.name, reason: "the file holds an entry the metadata does not describe")
        }
        guard ordered.map(\.info.name) == expectedOrder else {
            throw PatchError.invalidPatch(path: path, tensor: nil, reason: "entries are not stored in the order of the metadata's 'tensors'")
        }
        guard entries_stored == metadata.counts.entries else {
            throw PatchError.invalidPatch(path: path, tensor: nil, reason: "the file stores \(entries_stored) entries but 'counts' says \(metadata.counts.entries)")
        }
        // The checksum of the data section: catches damage and edits to any stored value.
        let dataStart = 8 + header.headerSize
        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])
        if PatchFormat.hash(data) != metadata.dataChecksum {
            // Name the tensor if a dense one no longer matches its result fingerprint.
            let culprit = tensors.first { t in
                (t.storage == .dense || t.storage == .new) && PatchFormat.hash(UnsafeRawBufferPointer(rebasing: bytes[ranges[t.values.name]!])) != t.record.resultHash
            }
            throw PatchError.corruptPatch(path: path, tensor: culprit?.name,
                                          reason: "the data does not match the patch's checksum (data_sha256): the file was modified or damaged after it was written")
        }
        return (metadata, tensors, ranges)
    }

    /// Calls `body` with the stored values of `tensor` (the whole tensor for dense and new ones;
    /// none for a converted one, which stores nothing).
    public func withValues<R>(of tensor: Tensor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard tensor.storage != .converted else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(rebasing: bytes[ranges[tensor.values.name]!]))
    }

    /// Calls `body` with the raw `.indices` of a sparse `tensor`.
    public func withIndices<R>(of tensor: Tensor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let indices = tensor.indices else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(rebasing: bytes[ranges[indices.name]!]))
    }

    /// Calls `body` with the raw `.rows` of a resized tensor (empty when it gained no rows).
    public func withRows<R>(of tensor: Tensor, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let rows = tensor.rows else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(rebasing: bytes[ranges[rows.name]!]))
    }

    /// The last (largest) index of a sparse tensor, or nil.
    public func lastIndex(of tensor: Tensor) -> Int? {
        guard let indices = tensor.indices, indices.elementCount > 0 else { return nil }
        return withIndices(of: tensor) { PatchBytes.index($0, indices.elementCount - 1, dtype: indices.dtype) }
    }
}
