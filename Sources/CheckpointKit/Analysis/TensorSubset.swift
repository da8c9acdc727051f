/// Some of a diff's tensors, held as indices into the diff's list.
///
/// The regime rules filter the tensors of a diff several times (parameters, changed ones, those of
/// the top layers); a copied ``TensorDifference`` is a few hundred bytes and a dozen reference
/// counts, an index is one `Int`, which matters for a mixture-of-experts diff of 100,000 tensors.
struct TensorSubset: RandomAccessCollection {
    let all: [TensorDifference]
    let members: [Int]

    init(_ all: [TensorDifference]) {
        self.all = all
        members = Array(all.indices)
    }

    private init(_ all: [TensorDifference], members: [Int]) {
        self.all = all
        self.members = members
    }

    var startIndex: Int { 0 }
    var endIndex: Int { members.count }

    subscript(position: Int) -> TensorDifference {
        _read { yield all[members[position]] }
    }

    /// The members that satisfy `isIncluded`, in order.
    func filter(_ isIncluded: (TensorDifference) throws -> Bool) rethrows -> TensorSubset {
        var kept: [Int] = []
        try all.withUnsafeBufferPointer { all in
            for member in members where try isIncluded(all[member]) { kept.append(member) }
        }
        return TensorSubset(all, members: kept)
    }
}
