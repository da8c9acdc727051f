/// Over which entries the top-P% (or top-K) is taken.
public enum MaskScope: String, Sendable, CaseIterable {
    /// All entries of all tensors together (FISH's choice).
    case global
    /// Each tensor separately.
    case tensor
    /// Each layer separately (embeddings, each encoder layer, pooler, classifier).
    case layer
}

/// How many entries to keep in each scope group.
public enum MaskSelection: Sendable, Equatable {
    /// This percentage of the group's entries (rounded, at least one if positive).
    case percent(Double)
    /// This many entries per group (all of them if the group is smaller).
    case count(Int)
}

/// How the masks of several Fisher files combine.
public enum MaskCombination: String, Sendable {
    /// One Fisher file.
    case single
    /// Keep an entry if any file's mask keeps it.
    case union
    /// Keep an entry only if every file's mask keeps it.
    case intersect
}

public struct MaskOptions: Sendable, Equatable {
    public var selection: MaskSelection
    public var scope: MaskScope
    public var combination: MaskCombination

    public init(selection: MaskSelection, scope: MaskScope = .global, combination: MaskCombination = .single) {
        self.selection = selection
        self.scope = scope
        self.combination = combination
    }

    /// Checks the options for masks chosen from `fileCount` Fisher files: at least one file, a
    /// percentage in (0, 100] or a count of at least 1, and a union or intersection for several files.
    public func validate(fileCount: Int) throws(FisherError) {
        guard fileCount >= 1 else { throw .noFisherFiles }
        switch selection {
        case let .percent(p) where !(p > 0 && p <= 100): throw .invalidKeepPercentage(p)
        case let .count(k) where k < 1: throw .invalidKeepCount(k)
        default: break
        }
        if fileCount > 1, combination == .single { throw .combinationNeeded(files: fileCount) }
    }
}
