/// The `__metadata__` of a patch file.
public struct PatchMetadata: Sendable, Equatable {
    /// The `--select` specification that made the patch.
    public var selection: String
    /// Every touched tensor, in the order of the data (names are not stored in the metadata: they
    /// are the entries' names, read with `storage`).
    public var tensors: [PatchTensorRecord]
    /// SHA-256 (64 hex digits) of the base's manifest: every tensor's name, dtype and shape.
    public var baseFingerprint: String
    /// Per base tensor, in manifest order, 6 hex digits of its manifest line's SHA-256: lets a
    /// mismatching base be told which of its tensors the patch's base did not have.
    public var baseManifest: String
    public var counts: PatchCounts
    /// First 16 hex digits of the SHA-256 of the data buffer (every entry's bytes, in order).
    public var dataChecksum: String
    /// The result shape of every tensor whose shape the patch changes (resized tensors, replaced
    /// heads), by base name (`shapes`, version 2).
    public var shapes: [String: [Int]]

    public init(selection: String, tensors: [PatchTensorRecord], baseFingerprint: String, baseManifest: String,
                counts: PatchCounts, dataChecksum: String, shapes: [String: [Int]] = [:]) {
        self.shapes = shapes
        self.selection = selection
        self.tensors = tensors
        self.baseFingerprint = baseFingerprint
        self.baseManifest = baseManifest
        self.counts = counts
        self.dataChecksum = dataChecksum
    }

    /// The per-base-tensor digests of `base_manifest`.
    public var manifestDigests: [Substring] {
        var out: [Substring] = []
        var i = baseManifest.startIndex
        while i < baseManifest.endIndex {
            let j = baseManifest.index(i, offsetBy: PatchFormat.manifestDigestLength, limitedBy: baseManifest.endIndex) ?? baseManifest.endIndex
            out.append(baseManifest[i..<j])
            i = j
        }
        return out
    }

    /// The string map written to `__metadata__`.
    public func encoded() -> [String: String] {
        var m: [String: String] = [:]
        m[PatchFormat.Key.format] = PatchFormat.name
        m[PatchFormat.Key.version] = String(PatchFormat.version)
        m[PatchFormat.Key.selection] = selection
        m[PatchFormat.Key.storage] = String(tensors.map(\.storage.rawValue))
        m[PatchFormat.Key.baseTensors] = tensors.map { $0.baseHash ?? "" }.joined(separator: ",")
        m[PatchFormat.Key.resultFingerprint] = tensors.map(\.resultHash).joined(separator: ",")
        m[PatchFormat.Key.baseFingerprint] = baseFingerprint
        m[PatchFormat.Key.baseManifest] = baseManifest
        m[PatchFormat.Key.dataChecksum] = dataChecksum
        m[PatchFormat.Key.counts] = JSONOutput.compact(counts)
        if !shapes.isEmpty { m[PatchFormat.Key.shapes] = JSONOutput.compact(shapes) }
        if tensors.contains(where: { $0.conversion != nil }) {
            var convert = JSONOrderedObject()
            for t in tensors { if let dtype = t.conversion { convert.append(t.name, dtype.rawValue) } }
            m[PatchFormat.Key.convert] = convert.text
        }
        // The name map: a prefix that turns most base names into fine-tune names, plus exceptions.
        var prefixVotes: [String: Int] = [:]
        for t in tensors where t.storage != .new && t.finetunedName.hasSuffix(t.name) {
            prefixVotes[String(t.finetunedName.dropLast(t.name.count)), default: 0] += 1
        }
        let prefix = prefixVotes.max { ($0.value, $1.key.count) < ($1.value, $0.key.count) }?.key ?? ""
        if !prefix.isEmpty { m[PatchFormat.Key.namePrefix] = prefix }
        let exceptions = tensors.filter { $0.storage != .new && $0.finetunedName != prefix + $0.name }
        if !exceptions.isEmpty {
            var nameMap = JSONOrderedObject()
            for t in exceptions { nameMap.append(t.name, t.finetunedName) }
            m[PatchFormat.Key.nameMap] = nameMap.text
        }
        return m
    }
}
