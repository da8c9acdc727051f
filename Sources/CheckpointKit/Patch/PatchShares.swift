/// The kept/dropped accounting of a patch, overall and per component and kind.
public struct PatchShares: Sendable, Encodable {
    public var total = ShareRow(group: "total")
    public var byComponent: [ShareRow] = []
    public var byKind: [ShareRow] = []
    /// Changed tensors whose values could not be decoded (packed F4/F6, complex): counted as
    /// entries, not in the sums.
    public var unmeasured: [String] = []

    /// Whether the fine-tune changed entries the patch does not keep.
    public var dropsSomething: Bool { total.changedEntries > total.keptEntries }

    enum CodingKeys: String, CodingKey {
        case total, unmeasured
        case byComponent = "by_component"
        case byKind = "by_kind"
    }
}
