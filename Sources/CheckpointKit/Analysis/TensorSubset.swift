/// Some of a diff's tensors, held as indices into the diff's list.
///
/// The regime rules filter the tensors of a diff several times (parameters, changed ones, those of
/// the top layers); a copied ``TensorDifference`` is a few hundred bytes and a dozen reference
/// counts, an index is one `Int`, which matters for a mixture-of-experts diff of 100,000 tensors.
struct TensorSubset: RandomAccessCollection {
    let all: [TensorDifference]
    let members: [Int]

    /// The tensors of `all` that satisfy `isIncluded`, each read in place.
    init(_ all: [TensorDifference], where isIncluded: (TensorDifference) throws -> Bool) rethrows {
        var kept: [Int] = []
        try all.withUnsafeBufferPointer { all in
            for index in all.indices where try isIncluded(all[index]) { kept.append(index) }
        }
        self.init(all, members: kept)
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

    /// The members as values (copies of the kept ones only).
    var values: [TensorDifference] { members.map { all[$0] } }

    // Iterating a collection copies every element out (a reference count on the diff's shared
    // pair list each); these read the members in place instead, and shadow the sequence methods.

    func map<T>(_ transform: (TensorDifference) throws -> T) rethrows -> [T] {
        try all.withUnsafeBufferPointer { all in try members.map { try transform(all[$0]) } }
    }

    func reduce<R>(_ initial: R, _ next: (R, TensorDifference) throws -> R) rethrows -> R {
        try all.withUnsafeBufferPointer { all in try members.reduce(initial) { try next($0, all[$1]) } }
    }
}
