/// The Keras and Hugging Face layouts (tensor order) and the root metadata.
extension HDF5File {
    /// The format the groups and attributes show, and (for Keras 2 and tf_model.h5) the dataset
    /// names in the layout's order.
    static func layout(of file: borrowing HDF5Handle, walk: Walk, _ context: HDF5Context) throws(CheckpointError) -> (CheckpointFormat, [String]) {
        if walk.groups.contains("model_weights") {
            let group = try HDF5.openObject("model_weights", in: file, context.at("model_weights"))
            let listed = try listedWeights(in: group, prefix: "model_weights", file: file, walk: walk, context)
            return (.keras2H5, listed ?? [])
        }
        if let listed = try listedWeights(in: file, prefix: "", file: file, walk: walk, context) {
            return (.huggingFaceTFH5, listed)
        }
        let isKeras3 = walk.groups.contains("layers") && walk.groups.contains { group in
            let parts = group.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 3 && parts[0] == "layers" && parts[2] == "vars"
        }
        return (isKeras3 ? .keras3WeightsH5 : .hdf5, [])
    }

    /// Keras' `save_weights_to_hdf5_group` layout under `group`: attribute `layer_names`, a group
    /// per layer with attribute `weight_names`, the dataset at `layer/weight_name`. Nil unless every
    /// listed layer has its group and its `weight_names`.
    static func listedWeights(in group: borrowing HDF5Handle, prefix: String, file: borrowing HDF5Handle, walk: Walk, _ context: HDF5Context) throws(CheckpointError) -> [String]? {
        guard let layers = try chunkedStringList("layer_names", of: group, context.at(prefix.isEmpty ? "/" : prefix)) else {
            return nil
        }
        var names: [String] = []
        for layer in layers {
            let layerPath = prefix.isEmpty ? layer : prefix + "/" + layer
            guard walk.groups.contains(layerPath) else { return nil }
            let layerGroup = try HDF5.openObject(layerPath, in: file, context.at(layerPath))
            guard let weights = try chunkedStringList("weight_names", of: layerGroup, context.at(layerPath)) else { return nil }
            names += weights.map { layerPath + "/" + $0 }
        }
        return names
    }

    /// A list attribute as Keras writes it: `name`, or split into `name0`, `name1`, ... when it
    /// would pass HDF5's 64 KB object-header limit. Nil if neither is there or it is not strings.
    static func chunkedStringList(_ name: String, of object: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> [String]? {
        if try HDF5.hasAttribute(name, on: object, context) {
            return try HDF5.stringAttribute(name, of: object, context)?.values
        }
        var values: [String] = []
        var chunk = 0
        while try HDF5.hasAttribute("\(name)\(chunk)", on: object, context) {
            guard let part = try HDF5.stringAttribute("\(name)\(chunk)", of: object, context) else { return nil }
            values += part.values
            chunk += 1
        }
        return chunk > 0 ? values : nil
    }

    static func readMetadata(of file: borrowing HDF5Handle, format: CheckpointFormat, _ context: HDF5Context) throws(CheckpointError) -> [String: String] {
        var metadata: [String: String] = [:]
        for name in try HDF5.attributeNames(of: file, context.at("/")) {
            if let attribute = try HDF5.stringAttribute(name, of: file, context.at("/")), attribute.isScalar, let value = attribute.values.first {
                metadata[name] = shortened(value)
            }
        }
        if format == .keras2H5 {
            let group = try HDF5.openObject("model_weights", in: file, context.at("model_weights"))
            for key in ["keras_version", "backend"] where metadata[key] == nil {
                if try HDF5.hasAttribute(key, on: group, context.at("model_weights")),
                   let attribute = try HDF5.stringAttribute(key, of: group, context.at("model_weights")), let value = attribute.values.first {
                    metadata[key] = shortened(value)
                }
            }
        }
        return metadata
    }

    /// `value` cut to ``maxMetadataValueBytes`` (on a character boundary) with a note of its length.
    static func shortened(_ value: String) -> String {
        let total = value.utf8.count
        guard total > maxMetadataValueBytes else { return value }
        var kept = String.UnicodeScalarView()
        var bytes = 0
        for scalar in value.unicodeScalars {
            bytes += UTF8.width(scalar)
            if bytes > maxMetadataValueBytes { break }
            kept.append(scalar)
        }
        return String(kept) + "… [truncated, \(total) bytes]"
    }

    /// Component-wise path order, the same as the walk's except that all-digit components come
    /// first and in numeric order (Keras 3 `vars/2` before `vars/10`).
    static func numericAwarePrecedes(_ a: String, _ b: String) -> Bool {
        let x = a.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let y = b.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (p, q) in zip(x, y) where !p.elementsEqual(q) {
            let pDigits = !p.isEmpty && p.allSatisfy { (0x30...0x39).contains($0) }
            let qDigits = !q.isEmpty && q.allSatisfy { (0x30...0x39).contains($0) }
            if pDigits != qDigits { return pDigits }
            if pDigits {
                let pValue = p.drop { $0 == 0x30 }, qValue = q.drop { $0 == 0x30 }
                if pValue.count != qValue.count { return pValue.count < qValue.count }
                if !pValue.elementsEqual(qValue) { return pValue.lexicographicallyPrecedes(qValue) }
            }
            return p.lexicographicallyPrecedes(q)
        }
        return x.count < y.count
    }
}
