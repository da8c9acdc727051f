/// The checks of ``PatchMetadata/decode(_:entryNames:path:)``, one part of the metadata each.
struct MetadataReader {
    let metadata: [String: String]
    let path: String

    func invalid(_ reason: String) -> PatchError { .invalidPatch(path: path, tensor: nil, reason: reason) }

    func require(_ key: String) throws(PatchError) -> String {
        guard let value = metadata[key] else { throw invalid("metadata key '\(key)' is missing") }
        return value
    }

    func parseJSON(_ key: String) throws(PatchError) -> JSONValue {
        let text = try require(key)
        do {
            return try JSONValue.parse(Array(text.utf8), maxDepth: 4)
        } catch {
            throw invalid("metadata '\(key)' is not valid JSON: \(error)")
        }
    }

    static func isHex(_ s: Substring, count: Int) -> Bool {
        s.utf8.count == count && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The `storage` codes, one per tensor.
    func storages() throws(PatchError) -> [PatchStorage] {
        var storages: [PatchStorage] = []
        for code in Array(try require(PatchFormat.Key.storage)) {
            guard let storage = PatchStorage(rawValue: code) else { throw invalid("metadata 'storage' has the unknown code '\(code)' (expected d, s, n, c or r)") }
            storages.append(storage)
        }
        return storages
    }

    /// `convert` (version 2): base name -> target dtype, in the order of `storage`; empty without it.
    func conversions() throws(PatchError) -> [(key: String, value: DType)] {
        guard metadata[PatchFormat.Key.convert] != nil else { return [] }
        guard let members = try parseJSON(PatchFormat.Key.convert).objectValue else { throw invalid("metadata 'convert' is not a JSON object") }
        var out: [(key: String, value: DType)] = []
        for (name, value) in members {
            guard let text = value.stringValue, let dtype = DType(rawValue: text), DTypeConversion.targets.contains(dtype) else {
                throw PatchError.invalidPatch(path: path, tensor: name, reason: "metadata 'convert' names no dtype ckpt converts to")
            }
            out.append((name, dtype))
        }
        return out
    }

    /// Names come from the entries, in data order: one entry per dense/new tensor, two
    /// (`X.indices`, `X.values`) per sparse one, two or three (then `X.rows`) per resized one, none
    /// for a converted one (its name is the next name of `convert`; any other tensor named next in
    /// `convert` consumes that name too).
    func tensorNames(storages: [PatchStorage], entryNames: [String], conversions: [(key: String, value: DType)]) throws(PatchError) -> [String] {
        var tensorNames: [String] = []
        var k = 0
        var c = 0
        for storage in storages {
            if storage == .converted {
                guard c < conversions.count else { throw invalid("metadata 'storage' has more converted tensors than 'convert' lists") }
                tensorNames.append(conversions[c].key)
                c += 1
                continue
            }
            guard k < entryNames.count else {
                throw invalid("metadata 'storage' describes \(storages.count) tensors but the file runs out of entries after \(tensorNames.count)")
            }
            switch storage {
            case .dense, .new:
                tensorNames.append(entryNames[k])
                k += 1
            case .converted:
                break  // handled above
            case .sparse, .resized:
                let first = entryNames[k]
                guard first.hasSuffix(PatchFormat.indicesSuffix), k + 1 < entryNames.count,
                      entryNames[k + 1] == String(first.dropLast(PatchFormat.indicesSuffix.count)) + PatchFormat.valuesSuffix else {
                    throw PatchError.invalidPatch(path: path, tensor: first, reason: "a \(storage.label) tensor needs an entry '<name>.indices' followed by '<name>.values'")
                }
                let name = String(first.dropLast(PatchFormat.indicesSuffix.count))
                tensorNames.append(name)
                k += 2
                // A resized tensor that gained rows has a third entry, its added rows.
                if storage == .resized, k < entryNames.count, entryNames[k] == name + PatchFormat.rowsSuffix { k += 1 }
            }
            if c < conversions.count, conversions[c].key == tensorNames.last { c += 1 }
        }
        guard k == entryNames.count else {
            throw PatchError.invalidPatch(path: path, tensor: entryNames[k], reason: "the file holds an entry the metadata's 'storage' does not describe")
        }
        guard Set(tensorNames).count == tensorNames.count else { throw invalid("two entries describe the same tensor") }
        guard c == conversions.count else { throw invalid("metadata 'convert' lists tensors that are not in the order of 'storage'") }
        return tensorNames
    }

    /// A comma-separated hash list with one item per tensor.
    func hashList(_ key: String, count: Int) throws(PatchError) -> [Substring] {
        let text = try require(key)
        let list = count == 0 && text.isEmpty ? [] : text.split(separator: ",", omittingEmptySubsequences: false)
        guard list.count == count else { throw invalid("metadata '\(key)' has \(list.count) hashes for \(count) tensors") }
        return list
    }

    /// `shapes`: base name -> result shape; required for every resized tensor, allowed for dense ones.
    func shapes(records: [PatchTensorRecord]) throws(PatchError) -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        if metadata[PatchFormat.Key.shapes] != nil {
            guard let members = try parseJSON(PatchFormat.Key.shapes).objectValue else { throw invalid("metadata 'shapes' is not a JSON object") }
            for (key, value) in members {
                guard let dims = value.arrayValue?.compactMap(\.intValue), dims.count == value.arrayValue?.count, dims.allSatisfy({ $0 >= 0 }) else {
                    throw invalid("metadata 'shapes' value for '\(key)' is not a list of non-negative integers")
                }
                // The element count is multiplied by a dtype width later: keep it far from overflow.
                var count = 1
                for dim in dims {
                    let (product, overflow) = count.multipliedReportingOverflow(by: dim)
                    guard !overflow, product <= 1 << 50 else { throw invalid("metadata 'shapes' value for '\(key)' has too many elements") }
                    count = product
                }
                shapes[key] = dims
            }
        }
        let storageOf = Dictionary(records.map { ($0.name, $0.storage) }, uniquingKeysWith: { a, _ in a })
        for record in records where record.storage == .resized && shapes[record.name] == nil {
            throw PatchError.invalidPatch(path: path, tensor: record.name, reason: "a resized tensor needs its result shape in metadata 'shapes'")
        }
        for name in shapes.keys where storageOf[name] != .dense && storageOf[name] != .resized {
            throw PatchError.invalidPatch(path: path, tensor: name, reason: "metadata 'shapes' names a tensor the patch does not hold dense or resized")
        }
        return shapes
    }

    /// `name_map` exceptions to `name_prefix`: base name -> fine-tune name.
    func nameMap() throws(PatchError) -> [String: String] {
        var nameMap: [String: String] = [:]
        guard metadata[PatchFormat.Key.nameMap] != nil else { return nameMap }
        guard let members = try parseJSON(PatchFormat.Key.nameMap).objectValue else { throw invalid("metadata 'name_map' is not a JSON object") }
        for (key, value) in members {
            guard let target = value.stringValue else { throw invalid("metadata 'name_map' value for '\(key)' is not a string") }
            nameMap[key] = target
        }
        return nameMap
    }

    /// One record per tensor: storage, hashes (checked), fine-tune name.
    func records(names tensorNames: [String], storages: [PatchStorage],
                 conversions: [(key: String, value: DType)] = []) throws(PatchError) -> [PatchTensorRecord] {
        var conversionOf: [String: DType] = [:]
        for (name, dtype) in conversions { conversionOf[name] = dtype }
        let baseHashes = try hashList(PatchFormat.Key.baseTensors, count: tensorNames.count)
        let resultHashes = try hashList(PatchFormat.Key.resultFingerprint, count: tensorNames.count)
        let prefix = metadata[PatchFormat.Key.namePrefix] ?? ""
        let nameMap = try nameMap()
        var records: [PatchTensorRecord] = []
        for (i, name) in tensorNames.enumerated() {
            let storage = storages[i]
            let baseHash = baseHashes[i]
            if storage == .new {
                guard baseHash.isEmpty else { throw PatchError.invalidPatch(path: path, tensor: name, reason: "a new tensor has a base hash") }
            } else {
                guard MetadataReader.isHex(baseHash, count: PatchFormat.tensorHashLength) else {
                    throw PatchError.invalidPatch(path: path, tensor: name, reason: "base hash '\(baseHash)' is not \(PatchFormat.tensorHashLength) hex digits")
                }
            }
            guard MetadataReader.isHex(resultHashes[i], count: PatchFormat.tensorHashLength) else {
                throw PatchError.invalidPatch(path: path, tensor: name, reason: "result hash '\(resultHashes[i])' is not \(PatchFormat.tensorHashLength) hex digits")
            }
            let finetunedName = storage == .new ? name : (nameMap[name] ?? prefix + name)
            if storage == .new, conversionOf[name] != nil {
                throw PatchError.invalidPatch(path: path, tensor: name, reason: "a new tensor cannot be converted")
            }
            records.append(PatchTensorRecord(name: name, storage: storage, baseHash: storage == .new ? nil : String(baseHash),
                                             resultHash: String(resultHashes[i]), finetunedName: finetunedName,
                                             conversion: conversionOf[name]))
        }
        return records
    }

    /// The `counts` object, checked against `storage` and the manifest's length.
    func counts(storages: [PatchStorage], manifestBytes: Int) throws(PatchError) -> PatchCounts {
        let countsValue = try parseJSON(PatchFormat.Key.counts)
        var counts = PatchCounts()
        func count(_ key: String) throws(PatchError) -> Int {
            guard let n = countsValue[key]?.intValue, n >= 0 else { throw invalid("metadata 'counts' lacks a non-negative integer '\(key)'") }
            return n
        }
        counts.dense = try count("dense")
        counts.resized = countsValue["resized"] == nil ? 0 : try count("resized")
        counts.sparse = try count("sparse")
        counts.new = try count("new")
        counts.entries = try count("entries")
        counts.changed = try count("changed")
        counts.baseTensors = try count("base_tensors")
        let byStorage = { (s: PatchStorage) in storages.filter { $0 == s }.count }
        guard counts.dense == byStorage(.dense), counts.sparse == byStorage(.sparse), counts.new == byStorage(.new),
              counts.resized == byStorage(.resized) else {
            throw invalid("metadata 'counts' does not match 'storage'")
        }
        guard counts.baseTensors * PatchFormat.manifestDigestLength == manifestBytes else {
            throw invalid("metadata 'base_manifest' has \(manifestBytes / PatchFormat.manifestDigestLength) digests but 'counts' says the base has \(counts.baseTensors) tensors")
        }
        return counts
    }
}
