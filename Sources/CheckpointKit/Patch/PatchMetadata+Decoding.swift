extension PatchMetadata {
    /// Reads and checks the metadata of the patch at `path`.
    /// - Parameter entryNames: the file's entries in data (offset) order.
    public static func decode(_ m: [String: String], entryNames: [String], path: String) throws(PatchError) -> PatchMetadata {
        let reader = MetadataReader(metadata: m, path: path)
        let storages = try reader.storages()
        let conversions = try reader.conversions()
        let tensorNames = try reader.tensorNames(storages: storages, entryNames: entryNames, conversions: conversions)
        let records = try reader.records(names: tensorNames, storages: storages, conversions: conversions)
        let fingerprint = try reader.require(PatchFormat.Key.baseFingerprint)
        guard MetadataReader.isHex(Substring(fingerprint), count: 64) else { throw reader.invalid("metadata 'base_fingerprint' is not a SHA-256 (64 hex digits)") }
        let manifest = try reader.require(PatchFormat.Key.baseManifest)
        guard manifest.utf8.count % PatchFormat.manifestDigestLength == 0,
              manifest.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw reader.invalid("metadata 'base_manifest' is not a string of \(PatchFormat.manifestDigestLength)-digit hex digests")
        }
        let checksum = try reader.require(PatchFormat.Key.dataChecksum)
        guard MetadataReader.isHex(Substring(checksum), count: PatchFormat.tensorHashLength) else { throw reader.invalid("metadata 'data_sha256' is not \(PatchFormat.tensorHashLength) hex digits") }
        let counts = try reader.counts(storages: storages, manifestBytes: manifest.utf8.count)
        let shapes = try reader.shapes(records: records)
        return PatchMetadata(selection: try reader.require(PatchFormat.Key.selection), tensors: records, baseFingerprint: fingerprint,
                             baseManifest: manifest, counts: counts, dataChecksum: checksum, shapes: shapes)
    }
}
