/// The `tensors` array of `diff --json`, written straight to the output (``JSONStreamedValue``):
/// a mixture-of-experts checkpoint has 100,000 entries of 40-odd members each.
///
/// The bytes are those of ``DiffDocument/TensorEntry``'s `encode(to:)` through ``JSONOutput``
/// (`JSONOutputTests` compares them with Foundation's encoding of it): members in the UTF-8 order
/// of their keys, a field table sorted once, each member written by a closure of its own.
extension DiffDocument.TensorEntries: JSONStreamedValue {
    func writeJSON(depth: Int, context: JSONStreamContext, into out: inout [UInt8]) {
        let layout = DiffTensorJSON.Layout(arrayDepth: depth, pretty: context.pretty)
        out.append(UInt8(ascii: "["))
        if layout.pretty { out.append(0x0A) }
        for index in tensors.indices {
            if index > 0 { out.append(contentsOf: layout.elementSeparator) }
            out.append(contentsOf: layout.entryIndent)
            DiffTensorJSON.write(tensors[index], layout, into: &out)
            context.flush(&out)
        }
        if layout.pretty {
            out.append(0x0A)
            JSONStreamNode.writeIndent(depth, into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }
}

enum DiffTensorJSON {
    /// The whitespace of an entry sitting in an array at level `arrayDepth`, worked out once a
    /// document: entries at `arrayDepth + 1`, their members at `+ 2`, shape elements at `+ 3`.
    struct Layout {
        let pretty: Bool
        let elementSeparator: [UInt8]
        let entryIndent: [UInt8]
        let memberSeparator: [UInt8]
        /// For each of ``memberKeys``: the separator before it (none before the first), the
        /// quoted key and the separator after it.
        let memberPrefixes: [[UInt8]]
        let entryClose: [UInt8]
        let shapeOpen: [UInt8]
        let shapeSeparator: [UInt8]
        let shapeClose: [UInt8]

        init(arrayDepth: Int, pretty: Bool) {
            self.pretty = pretty
            func indent(_ level: Int) -> [UInt8] { pretty ? Array(repeating: 0x20, count: 2 * level) : [] }
            let newline: [UInt8] = pretty ? [0x0A] : []
            let comma = [UInt8(ascii: ",")]
            elementSeparator = comma + newline
            entryIndent = indent(arrayDepth + 1)
            memberSeparator = comma + newline + indent(arrayDepth + 2)
            let keySeparator = Array((pretty ? " : " : ":").utf8)
            let separator = memberSeparator, firstSeparator = Array(memberSeparator.dropFirst())
            memberPrefixes = DiffTensorJSON.memberKeys.enumerated().map { position, key in
                (position == 0 ? firstSeparator : separator) + [UInt8(ascii: "\"")] + Array(key.utf8) + [UInt8(ascii: "\"")] + keySeparator
            }
            entryClose = newline + indent(arrayDepth + 1) + [UInt8(ascii: "}")]
            shapeOpen = [UInt8(ascii: "[")] + newline + indent(arrayDepth + 3)
            shapeSeparator = comma + newline + indent(arrayDepth + 3)
            shapeClose = newline + indent(arrayDepth + 2) + [UInt8(ascii: "]")]
        }
    }

    /// Every member key of an entry in the order written: the UTF-8 order of the keys of
    /// ``DiffDocument/TensorEntry/Keys``, as ``JSONOutput`` sorts them (`base_first_row` and
    /// `finetuned_first_row` only for an offset table).
    static let memberKeys: [String] = DiffDocument.TensorEntry.Keys.allCases.map(\.stringValue)
        .sorted { JSONStreamNode.compareUTF8($0, $1) < 0 }

    /// Writes an entry's keys with the separators before them: each one appended from
    /// ``Layout/memberPrefixes`` as one run of bytes (writing the separator, the quoted key and
    /// `" : "` one by one was a sixth of the whole report).
    struct Members {
        let prefixes: [[UInt8]]
        var position = 0

        init(_ layout: Layout) { prefixes = layout.memberPrefixes }

        /// Writes the prefix of member `key`, the next of ``memberKeys`` not skipped.
        mutating func key(_ key: StaticString, _ out: inout [UInt8]) {
            assert(key.description == memberKeys[position], "DiffTensorJSON: \(key) written where \(memberKeys[position]) belongs")
            prefixes.withUnsafeBufferPointer { out.append(contentsOf: $0[position]) }
            position += 1
        }

        /// Passes over member `key`, absent from this entry.
        mutating func skip(_ key: StaticString) {
            assert(key.description == memberKeys[position])
            position += 1
        }
    }

    /// One ``DiffDocument/TensorEntry``, its members in the UTF-8 order of their keys (as
    /// ``JSONOutput`` sorts them; `JSONOutputTests` checks the bytes, keys included, against
    /// Foundation's encoding of ``DiffDocument/TensorEntry``). Written
    /// out member by member rather than from a table: a table of closures cost a reference count
    /// per member and tensor.
    static func write(_ t: TensorDifference, _ layout: Layout, into out: inout [UInt8]) {
        let id = t.identity, sums = t.sums, raw = t.rawSums ?? t.sums
        let resized = id.shapeChange.flatMap { $0 == .replacedHead ? nil : $0 }
        var offset: (base: Int, finetuned: Int)?
        if case let .offsetRows(baseFirst, finetunedFirst, _, _, _)? = resized { offset = (baseFirst, finetunedFirst) }
        var m = Members(layout)
        out.append(UInt8(ascii: "{"))
        m.key("added_rows", &out); integer(resized?.addedRows, &out)
        m.key("base_dtype", &out); string(id.baseDType.rawValue, &out)
        if let offset { m.key("base_first_row", &out); integer(offset.base, &out) } else { m.skip("base_first_row") }
        m.key("base_inf", &out); integer(sums?.baseInfinite, &out)
        m.key("base_l2", &out); number(t.baseL2, &out)
        m.key("base_name", &out); string(id.baseName, &out)
        m.key("base_nan", &out); integer(sums?.baseNaN, &out)
        m.key("base_shape", &out); shape(id.baseShape, layout, &out)
        m.key("bias_type", &out); string(id.role.biasType, &out)
        m.key("changed", &out); integer(t.changed, &out)
        m.key("changed_rows", &out); integer(t.changedRows, &out)
        m.key("component", &out); string(id.role.component.rawValue, &out)
        m.key("converted_to", &out); string(t.conversion?.rawValue, &out)
        m.key("cosine", &out); number(t.cosine, &out)
        m.key("delta_l2", &out); number(t.deltaL2, &out)
        m.key("finetuned_dtype", &out); string(id.finetunedDType.rawValue, &out)
        if let offset { m.key("finetuned_first_row", &out); integer(offset.finetuned, &out) } else { m.skip("finetuned_first_row") }
        m.key("finetuned_inf", &out); integer(sums?.finetunedInfinite, &out)
        m.key("finetuned_l2", &out); number(t.finetunedL2, &out)
        m.key("finetuned_name", &out); string(id.finetunedName, &out)
        m.key("finetuned_nan", &out); integer(sums?.finetunedNaN, &out)
        m.key("finetuned_shape", &out); shape(id.finetunedShape, layout, &out)
        m.key("identical", &out); flag(t.isIdentical, &out)
        m.key("kind", &out); string(id.role.kind.rawValue, &out)
        m.key("layer", &out); integer(id.role.layer, &out)
        m.key("max_abs_delta", &out); number(t.maxAbsDelta, &out)
        m.key("mean_abs_delta", &out); number(t.meanAbsDelta, &out)
        m.key("name", &out); string(id.name, &out)
        m.key("non_finite", &out); integer(t.nonFinite, &out)
        m.key("numel", &out); integer(t.numel, &out)
        m.key("problem", &out); string(id.problem, &out)
        m.key("raw_changed", &out); integer(raw?.changed, &out)
        m.key("raw_delta_l2", &out); number(raw?.deltaL2, &out)
        m.key("raw_max_abs_delta", &out); number(raw?.maxAbsoluteDelta, &out)
        m.key("raw_mean_abs_delta", &out); number(raw?.meanAbsDelta, &out)
        m.key("raw_relative_change", &out); number(raw?.relativeChange, &out)
        m.key("relative_change", &out); number(t.relativeChange, &out)
        m.key("replaced", &out); flag(id.shapeChange == .replacedHead, &out)
        m.key("shared_rows", &out); integer(resized?.sharedRows, &out)
        m.key("transposed", &out); flag(id.transposed, &out)
        out.append(contentsOf: layout.entryClose)
    }

    // MARK: values

    static func string(_ value: String?, _ out: inout [UInt8]) {
        guard let value else { return null(&out) }
        JSONStreamNode.writeString(value, into: &out)
    }

    static func number(_ value: Double?, _ out: inout [UInt8]) {
        guard let value else { return null(&out) }
        JSONStreamNode.writeFloat(value, into: &out)
    }

    static func integer(_ value: Int?, _ out: inout [UInt8]) {
        guard let value else { return null(&out) }
        out.append(contentsOf: value.description.utf8)
    }

    static func flag(_ value: Bool, _ out: inout [UInt8]) {
        out.append(contentsOf: (value ? "true" : "false").utf8)
    }

    static func null(_ out: inout [UInt8]) {
        out.append(contentsOf: "null".utf8)
    }

    /// A shape as Foundation writes an array of integers: one element a line when pretty.
    static func shape(_ dims: [Int], _ layout: Layout, _ out: inout [UInt8]) {
        guard !dims.isEmpty else {
            out.append(UInt8(ascii: "["))
            if layout.pretty { out.append(0x0A) }
            out.append(contentsOf: layout.shapeClose)
            return
        }
        out.append(contentsOf: layout.shapeOpen)
        for (index, dim) in dims.enumerated() {
            if index > 0 { out.append(contentsOf: layout.shapeSeparator) }
            out.append(contentsOf: dim.description.utf8)
        }
        out.append(contentsOf: layout.shapeClose)
    }
}
