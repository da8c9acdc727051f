/// KerasHub RoBERTa's position table against Hugging Face's: keras-hub's converter
/// (`keras_hub/src/utils/transformers/convert_roberta.py`, 0.32.0) keeps Hugging Face's
/// `roberta.embeddings.position_embeddings.weight` from row `padding_idx + 1` = 2 on (RoBERTa's
/// positions start there), so KerasHub's table [N, h] is Hugging Face's rows 2..N+2.
///
/// ``Keras3Names`` names the KerasHub table `position_embeddings_without_padding_rows`, a name only
/// that family rule writes; this rule pairs it with a Hugging Face (or `tf_model.h5`) table that has
/// exactly 2 rows more and the same row length, and compares Hugging Face rows 2.. with KerasHub
/// rows 0.. (``ShapeChange/offsetRows(baseFirstRow:finetunedFirstRow:baseRows:finetunedRows:rowElements:)``).
/// Nothing else gets an offset: two KerasHub tables pair by their equal names from row 0, and a
/// table whose rows do not differ by 2 (a DistilBERT backbone saved alone, which reads as RoBERTa)
/// stays unpaired.
enum PositionPaddingRows {
    /// Hugging Face rows KerasHub drops: RoBERTa's `padding_idx` (1) + 1.
    static let offset = 2
    static let kerasSuffix = "position_embeddings_without_padding_rows.weight"
    static let huggingFaceSuffix = "position_embeddings.weight"

    /// The canonical name a KerasHub padding-free table (canonical name `canonical`) pairs with on
    /// a Hugging Face side, or nil for any other name.
    static func huggingFaceName(_ canonical: String) -> String? {
        guard canonical.hasSuffix("." + kerasSuffix) || canonical == kerasSuffix else { return nil }
        return String(canonical.dropLast(kerasSuffix.count)) + huggingFaceSuffix
    }

    /// Whether `keras` (a padding-free KerasHub table) and `huggingFace` hold the same table: 2-D,
    /// the same row length, Hugging Face exactly ``offset`` rows longer.
    static func fits(keras: TensorInfo, huggingFace: TensorInfo) -> Bool {
        keras.shape.count == 2 && huggingFace.shape.count == 2 && keras.shape[1] == huggingFace.shape[1]
            && huggingFace.shape[0] == keras.shape[0] + offset
    }

    /// Whether exactly one side of a pair is a KerasHub padding-free table (whose rows are Hugging
    /// Face's from row 2, so a comparison from row 0 would be wrong).
    static func appliesTo(_ baseRole: ParameterRole, _ finetunedRole: ParameterRole) -> Bool {
        (huggingFaceName(baseRole.canonicalName) != nil) != (huggingFaceName(finetunedRole.canonicalName) != nil)
    }

    /// The offset shape change of a pair (roles read from its wrapper-free names), or nil when the
    /// pair is not a KerasHub padding-free table against a Hugging Face one that fits.
    static func shapeChange(base: TensorInfo, baseRole: ParameterRole, finetuned: TensorInfo, finetunedRole: ParameterRole) -> ShapeChange? {
        guard appliesTo(baseRole, finetunedRole) else { return nil }
        let baseIsKeras = huggingFaceName(baseRole.canonicalName) != nil
        let (keras, kerasRole, huggingFace, huggingFaceRole) = baseIsKeras
            ? (base, baseRole, finetuned, finetunedRole) : (finetuned, finetunedRole, base, baseRole)
        guard huggingFaceName(kerasRole.canonicalName) == huggingFaceRole.canonicalName, fits(keras: keras, huggingFace: huggingFace),
              case let .resized(b, f, row)? = ShapeChange.classify(base: base, finetuned: finetuned, role: baseRole) else { return nil }
        return .offsetRows(baseFirstRow: baseIsKeras ? 0 : offset, finetunedFirstRow: baseIsKeras ? offset : 0,
                           baseRows: b, finetunedRows: f, rowElements: row)
    }
}

extension NamePairing {
    /// Stage 3b: a KerasHub RoBERTa padding-free position table still unpaired, against the other
    /// side's unpaired Hugging Face table of the same canonical place that fits
    /// (``PositionPaddingRows``).
    mutating func pairPaddingFreePositionTables() {
        let baseLeft = unpairedBase, finetunedLeft = unpairedFinetuned
        guard !baseLeft.isEmpty, !finetunedLeft.isEmpty else { return }
        func canonical(_ name: String) -> String { CheckpointAlignment.pairingName(name) }
        let baseKeras = baseLeft.compactMap { b in PositionPaddingRows.huggingFaceName(canonical(base[b].name)).map { ($0, b) } }
        let finetunedKeras = finetunedLeft.compactMap { f in PositionPaddingRows.huggingFaceName(canonical(finetuned[f].name)).map { ($0, f) } }
        guard !baseKeras.isEmpty || !finetunedKeras.isEmpty else { return }
        for (target, b) in baseKeras {
            if let f = finetunedLeft.first(where: { !finetunedTaken[$0] && canonical(finetuned[$0].name) == target }),
               PositionPaddingRows.fits(keras: base[b], huggingFace: finetuned[f]) { link(base: b, finetuned: f) }
        }
        for (target, f) in finetunedKeras where !finetunedTaken[f] {
            if let b = baseLeft.first(where: { matchOfBase[$0] == nil && canonical(base[$0].name) == target }),
               PositionPaddingRows.fits(keras: finetuned[f], huggingFace: base[b]) { link(base: b, finetuned: f) }
        }
    }
}
