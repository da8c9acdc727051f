/// The TensorFlow half of ``ParameterNames/canonicalize(_:)``: a `tf_model.h5` or Keras dataset
/// path turned into PyTorch's dotted spelling, as transformers' `convert_tf_weight_name_to_pt_weight_name`
/// does it.
///
/// Written on Unicode scalars rather than with Foundation's regular expressions and
/// `replacingOccurrences`, which cost tens of microseconds a name; the rules are those of the
/// regular expression `:\d+$` they replace (`\d` any decimal digit, `$` the end or a final line
/// terminator).
enum TFNames {
    /// The `:0` at the end of a TF variable name (before a final line terminator, if any), or nil.
    static func colonIndexSuffix(of name: String) -> Range<String.Index>? {
        // Almost every name ends in an ASCII letter: neither a digit nor a line terminator, so no
        // suffix (and no scalar properties or array to look at).
        if let last = name.utf8.last, last < 0x80, !(0x30...0x39).contains(last), !(0x0A...0x0D).contains(last) {
            return nil
        }
        let scalars = name.unicodeScalars
        var ends = [scalars.endIndex]
        if let last = scalars.last, isLineTerminator(last) {
            var end = scalars.index(before: scalars.endIndex)
            ends.append(end)
            if last == "\n", end > scalars.startIndex, scalars[scalars.index(before: end)] == "\r" {
                end = scalars.index(before: end)
                ends.append(end)
            }
        }
        var best: Range<String.Index>?
        for end in ends {
            var start = end
            while start > scalars.startIndex, scalars[scalars.index(before: start)].properties.generalCategory == .decimalNumber {
                start = scalars.index(before: start)
            }
            guard start < end, start > scalars.startIndex else { continue }
            let colon = scalars.index(before: start)
            guard scalars[colon] == ":" else { continue }
            if best == nil || colon < best!.lowerBound { best = colon..<end }
        }
        return best
    }

    /// The line terminators of ICU regular expressions (`$` matches before a final one).
    private static func isLineTerminator(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }

    /// The dotted PyTorch spelling of a TF name (model prefixes not yet removed), and whether the
    /// name was a `kernel`.
    static func canonicalParts(of name: String, removing colonSuffix: Range<String.Index>?) -> (String, Bool) {
        var stripped = name
        if let colonSuffix { stripped.removeSubrange(colonSuffix) }
        var parts = replacingScopeSeparators(in: stripped).split(separator: "/").map(String.init)
        if let scope = parts.lastIndex(where: { $0.hasPrefix("tf_") }) {
            parts.removeFirst(scope + 1)
        } else if parts.count > 1, parts.first == "model_weights" || parts.first == "layers" {
            parts.removeFirst()
        }
        var isKernel = false
        if let last = parts.last {
            switch last {
            // `per_head_kernel`: a KerasHub kernel stored (heads, in, head_dim) (``Keras3Names``).
            case "kernel", "per_head_kernel": isKernel = true; parts[parts.count - 1] = "weight"
            case "gamma", "embeddings": parts[parts.count - 1] = "weight"
            case "beta": parts[parts.count - 1] = "bias"
            default: break
            }
        }
        return (parts.joined(separator: "."), isKernel)
    }

    /// `_._` (transformers' scope separator inside a layer name: `layer_._0`) replaced by `/`, left
    /// to right.
    private static func replacingScopeSeparators(in name: String) -> String {
        let bytes = Array(name.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count, bytes[i] == UInt8(ascii: "_"), bytes[i + 1] == UInt8(ascii: "."), bytes[i + 2] == UInt8(ascii: "_") {
                out.append(UInt8(ascii: "/"))
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
