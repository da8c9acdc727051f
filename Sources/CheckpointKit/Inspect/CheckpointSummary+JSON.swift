/// `ckpt inspect --json`: the summary with its `tensors` array written straight to the output
/// (``JSONStreamedValue``, ``JSONEntryWriter``), one entry a tensor of the header: 100,000 of them
/// for a mixture-of-experts checkpoint, which through `encode(to:)` cost about 4 us and 1 KB of
/// memory each. `JSONOutputTests` compares the bytes with Foundation's.
extension CheckpointSummary {
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(format, forKey: .format)
        try c.encode(fileSize, forKey: .fileSize)
        try c.encode(tensorCount, forKey: .tensorCount)
        try c.encode(elements, forKey: .elements)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(baseParameters, forKey: .baseParameters)
        try c.encode(bytes, forKey: .bytes)
        try c.encode(layers, forKey: .layers)
        try c.encode(dtypes, forKey: .dtypes)
        try c.encode(parametersByComponent, forKey: .parametersByComponent)
        try c.encode(parametersByKind, forKey: .parametersByKind)
        try c.encode(methods, forKey: .methods)
        try c.encode(metadata, forKey: .metadata)
        try c.encodeStreamed(TensorEntries(entries: tensors), forKey: .tensors, of: encoder)
        try c.encode(skipped, forKey: .skipped)
    }

    /// The `tensors` array: through Foundation, each ``TensorEntry``'s `encode(to:)`.
    struct TensorEntries: JSONStreamedValue {
        var entries: [TensorEntry]

        func encode(to encoder: Encoder) throws {
            try entries.encode(to: encoder)
        }

        func writeJSON(depth: Int, context: JSONStreamContext, into out: inout [UInt8]) {
            let keys = TensorEntry.CodingKeys.allCases.map(\.stringValue)
            let writer = JSONEntryWriter(arrayDepth: depth, pretty: context.pretty, keys: keys)
            writer.writeArray(count: entries.count, depth: depth, context: context, into: &out) { index, out in
                let t = entries[index]
                var m = writer.open(&out)
                m.key("canonical_name", &out); JSONEntryWriter.string(t.canonicalName, &out)
                m.key("component", &out); JSONEntryWriter.string(t.component.rawValue, &out)
                m.key("dtype", &out); JSONEntryWriter.string(t.dtype.rawValue, &out)
                m.key("kind", &out); JSONEntryWriter.string(t.kind.rawValue, &out)
                m.key("layer", &out); JSONEntryWriter.integer(t.layer, &out)
                m.key("name", &out); JSONEntryWriter.string(t.name, &out)
                m.key("shape", &out); writer.integers(t.shape, &out)
                writer.close(&out)
            }
        }
    }
}
