import Foundation

/// A checkpoint split over several safetensors files by a `*.safetensors.index.json`
/// (`{"metadata": {...}, "weight_map": {tensor: shard file}}`), read as one.
public final class ShardedSafetensors: Checkpoint, @unchecked Sendable {
    /// The largest index file read, in bytes (real ones are a few hundred KB).
    public static let maxIndexSize = 64 << 20

    /// The index file.
    public let path: String
    public let format: CheckpointFormat
    public let tensors: [TensorInfo]
    public let metadata: [String: String]
    public let fileSize: Int
    /// The shard files, in the order they are first named by the index.
    public let shards: [any Checkpoint]
    private let shardOfTensor: [String: Int]

    /// Opens the index at `path` and every shard it names (headers only). `openShard` opens one
    /// shard (a `pytorch_model.bin.index.json` names `torch.save` files, read with `format`
    /// ``CheckpointFormat/shardedPyTorch``).
    public init(indexPath path: String, format: CheckpointFormat = .shardedSafetensors,
                openShard: @Sendable (String) throws(CheckpointError) -> any Checkpoint = ShardedSafetensors.openSafetensorsShard) throws(CheckpointError) {
        self.path = path
        self.format = format
        let file = try MappedFile(path: path)
        guard file.size <= ShardedSafetensors.maxIndexSize else {
            throw .invalidHeader(path: path, reason: "index file is larger than 64 MiB")
        }
        try SafetensorsHeader.rejectKnownImpostors(file.bytes, path: path)
        let root: JSONValue
        do {
            root = try JSONValue.parse(file.bytes, maxDepth: 8)
        } catch {
            throw .invalidHeader(path: path, reason: "index JSON: \(error)")
        }
        guard let weightMap = root["weight_map"]?.objectValue else {
            throw .invalidHeader(path: path, reason: "index has no \"weight_map\" object")
        }
        var metadata: [String: String] = [:]
        for (key, value) in root["metadata"]?.objectValue ?? [] {
            switch value {
            case let .string(s): metadata[key] = s
            case let .integer(i): metadata[key] = String(i)
            case let .number(d): metadata[key] = String(d)
            default: metadata[key] = JSONOutput.compact(value)
            }
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        var shardNames: [String] = []
        var shardIndex: [String: Int] = [:]
        var expectedShard: [String: String] = [:]
        expectedShard.reserveCapacity(weightMap.count)
        for (tensor, value) in weightMap {
            guard let file = value.stringValue else {
                throw .invalidHeader(path: path, reason: "weight_map entry for '\(tensor)' is not a file name")
            }
            guard !file.utf8.contains(UInt8(ascii: "/")), file != "..", file != "." else {
                throw .invalidHeader(path: path, reason: "weight_map entry for '\(tensor)' names '\(file)', which is not a file beside the index")
            }
            expectedShard[tensor] = file
            if shardIndex[file] == nil {
                shardIndex[file] = shardNames.count
                shardNames.append(file)
            }
        }
        let shards = try ShardedSafetensors.openShards(shardNames, in: directory, index: path, with: openShard)
        var tensors: [TensorInfo] = []
        var shardOfTensor: [String: Int] = [:]
        let tensorCount = shards.reduce(0) { $0 + $1.tensors.count }
        tensors.reserveCapacity(tensorCount)
        shardOfTensor.reserveCapacity(tensorCount)
        for (i, shard) in shards.enumerated() {
            for tensor in shard.tensors {
                if let other = shardOfTensor[tensor.name] {
                    throw .invalidTensor(path: path, tensor: tensor.name, reason: "stored in two shards (\(shardNames[other]) and \(shardNames[i]))")
                }
                shardOfTensor[tensor.name] = i
                tensors.append(tensor)
            }
        }
        for (tensor, file) in expectedShard where shardOfTensor[tensor] == nil {
            throw .invalidTensor(path: path, tensor: tensor, reason: "named in weight_map but not found in shard '\(file)'")
        }
        for (name, index) in shardOfTensor where expectedShard[name].map({ $0 != shardNames[index] }) ?? false {
            throw .invalidTensor(path: path, tensor: name, reason: "found in shard '\(shardNames[index])' but weight_map says '\(expectedShard[name] ?? "nothing")'")
        }
        self.tensors = tensors
        self.metadata = metadata
        self.shards = shards
        self.shardOfTensor = shardOfTensor
        self.fileSize = shards.reduce(file.size) { $0 + $1.fileSize }
    }

    public static func openSafetensorsShard(_ path: String) throws(CheckpointError) -> any Checkpoint {
        try SafetensorsFile(path: path)
    }

    /// Opens every shard's header, the shards spread over the cores (a mixture-of-experts model
    /// has 100,000 tensors over a hundred shards, and each header parse is independent). The error
    /// thrown is that of the first failing shard in index order, as a one-by-one open would throw.
    private static func openShards(_ names: [String], in directory: URL, index path: String,
                                   with openShard: @Sendable (String) throws(CheckpointError) -> any Checkpoint) throws(CheckpointError) -> [any Checkpoint] {
        final class Results: @unchecked Sendable {
            var items: [Result<any Checkpoint, CheckpointError>?]
            init(_ count: Int) { items = Array(repeating: nil, count: count) }
        }
        let results = Results(names.count)
        let paths = names.map { directory.appendingPathComponent($0).path }
        results.items.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let slots = slots
            DispatchQueue.concurrentPerform(iterations: names.count) { i in
                slots[i] = Result { () throws(CheckpointError) -> any Checkpoint in
                    guard FileManager.default.fileExists(atPath: paths[i]) else { throw .missingShard(path: path, shard: names[i]) }
                    return try openShard(paths[i])
                }
            }
        }
        return try results.items.map { result throws(CheckpointError) in try result!.get() }
    }

    /// A name in two shards is refused when the index is opened.
    public var namesAreDistinct: Bool { true }

    public func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let index = shardOfTensor[tensor.name] else {
            throw CheckpointError.noSuchTensor(path: path, tensor: tensor.name)
        }
        return try shards[index].withBytes(of: tensor, body)
    }

    /// The index, then the shards.
    public var files: [String] { [path] + shards.map(\.path) }

    public func storedLocation(of tensor: TensorInfo) -> StoredLocation? {
        shardOfTensor[tensor.name].flatMap { shards[$0].storedLocation(of: tensor) }
    }

    /// Tensors are views of the shards' read-only mappings (unless a PyTorch shard holds a strided view).
    public var bytesAreFileMapped: Bool { shards.allSatisfy { $0.bytesAreFileMapped } }

    /// A copy (one safetensors file) carries the first shard's copy metadata (`{"format": "pt"}`),
    /// not the index's (`total_size`, which describes the shards).
    public var copyMetadata: [String: String] { shards.first?.copyMetadata ?? metadata }

    /// What the shards did not read as tensors (the non-tensor entries of PyTorch shards).
    public var skipped: [SkippedObject] { shards.flatMap(\.skipped) }
}
