/// A batch of tokenized examples packed end to end without padding: example `b` owns rows
/// `offsets[b]..<offsets[b+1]`. Every operation but attention is row-wise, and attention runs per
/// example over its own rows, so this computes exactly what a padded batch with an attention mask
/// computes (masked keys get probability 0) without spending work on padding.
struct PackedBatch {
    var inputIds: [Int32] = []
    var tokenTypeIds: [Int32] = []
    var offsets: [Int] = [0]

    var count: Int { offsets.count - 1 }
    var rows: Int { offsets[offsets.count - 1] }
    func length(_ b: Int) -> Int { offsets[b + 1] - offsets[b] }
    var maxLength: Int { (0..<count).map(length).max() ?? 0 }

    /// The batch of each example's first row alone (row `b` is example `b`'s [CLS] token): what the
    /// top layer computes after attention, since the head reads nothing else.
    var firstRows: PackedBatch {
        var first = PackedBatch()
        first.inputIds = (0..<count).map { inputIds[offsets[$0]] }
        first.tokenTypeIds = (0..<count).map { tokenTypeIds[offsets[$0]] }
        first.offsets = Array(0...count)
        return first
    }

    mutating func append(_ input: TokenizedInput) {
        inputIds += input.inputIds
        tokenTypeIds += input.tokenTypeIds
        offsets.append(inputIds.count)
    }
}
