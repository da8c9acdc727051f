/// A diff's parameters pooled every way the fine-tuning literature looks at them.
///
/// Only compared parameters enter (buffers such as `position_ids` and pairs with a problem do
/// not): one integer buffer's norm would otherwise swamp a component's.
public struct DifferenceGroups: Sendable {
    /// By component, bottom to top (which component changes most: the LayerNorm paper's question).
    public var byComponent: [DifferenceGroup]
    /// By kind: LayerNorm weights and biases, linear biases, weight matrices, embeddings.
    public var byKind: [DifferenceGroup]
    /// By BitFit bias type, biases only (LayerNorm biases included): which biases change most.
    public var byBiasType: [DifferenceGroup]
    /// By transformer layer (how change is spread over depth: layer freezing).
    public var byLayer: [DifferenceGroup]
    /// Layer x component cells, for the heatmap.
    public var cells: [DifferenceGroup]
    /// Every compared parameter.
    public var overall: DifferenceGroup

    public init(_ tensors: [TensorDifference]) {
        var components = GroupTable<Int>(), kinds = GroupTable<ParameterKind>(), biasTypes = GroupTable<String>()
        var layers = GroupTable<Int>()
        // Keyed by (layer, component), not by the cell's name: formatting a name for every tensor
        // cost more than pooling it.
        var cells = GroupTable<CellKey>()
        var biasOrder: [String: Int] = [:]
        var overall = DifferenceGroup(name: "all")
        // Each tensor is read once, in place, and its sums and name go to its five groups: a
        // copied `TensorDifference` costs a reference count on the diff's shared pair list.
        func pool(_ sums: DifferenceSums, _ name: String, _ role: ParameterRole) {
            overall.add(sums, name: name)
            components.add(sums, name: name, to: role.component.ordinal) { DifferenceGroup(name: role.component.rawValue, component: role.component) }
            kinds.add(sums, name: name, to: role.kind) { DifferenceGroup(name: role.kind.rawValue) }
            if let biasType = role.biasType {
                biasTypes.add(sums, name: name, to: biasType) { DifferenceGroup(name: biasType, component: role.component) }
                biasOrder[biasType] = role.component.ordinal
            }
            if let layer = role.layer {
                layers.add(sums, name: name, to: layer) { DifferenceGroup(name: String(layer), layer: layer) }
                cells.add(sums, name: name, to: CellKey(layer: layer, component: role.component)) {
                    DifferenceGroup(name: "\(layer) \(role.component.rawValue)", layer: layer, component: role.component)
                }
            }
        }
        tensors.withUnsafeBufferPointer { tensors in
            for index in tensors.indices where tensors[index].isParameter {
                pool(tensors[index].sums!, tensors[index].name, tensors[index].role)
            }
        }
        byComponent = components.sorted { $0 < $1 }  // ordinals sort as components do
        byKind = kinds.sorted { $0 < $1 }
        byBiasType = biasTypes.sorted { (biasOrder[$0]!, $0) < (biasOrder[$1]!, $1) }
        byLayer = layers.sorted { $0 < $1 }
        self.cells = cells.sorted { ($0.layer, $0.component) < ($1.layer, $1.component) }
        self.overall = overall
    }

    /// Groups by key, in a list with a key -> slot index; the last key's slot is remembered, as
    /// neighbouring tensors mostly share their layer, component and kind (no hashing for them).
    private struct GroupTable<Key: Hashable> {
        private var slots: [Key: Int] = [:]
        private var groups: [DifferenceGroup] = []
        private var keys: [Key] = []
        private var last: (key: Key, slot: Int)?

        mutating func add(_ sums: DifferenceSums, name: String, to key: Key, newGroup: () -> DifferenceGroup) {
            let slot: Int
            if let last, last.key == key {
                slot = last.slot
            } else if let found = slots[key] {
                slot = found
            } else {
                slot = groups.count
                slots[key] = slot
                groups.append(newGroup())
                keys.append(key)
            }
            last = (key, slot)
            groups[slot].add(sums, name: name)
        }

        /// The groups ordered by their keys.
        func sorted(by areInIncreasingOrder: (Key, Key) -> Bool) -> [DifferenceGroup] {
            keys.indices.sorted { areInIncreasingOrder(keys[$0], keys[$1]) }.map { groups[$0] }
        }
    }

    /// A heatmap cell's identity.
    struct CellKey: Hashable {
        var layer: Int
        var component: Component

        // By ordinal: hashing a `Component` builds its names (``Component/ordinal``).
        static func == (a: CellKey, b: CellKey) -> Bool {
            a.layer == b.layer && a.component.ordinal == b.component.ordinal
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(layer)
            hasher.combine(component.ordinal)
        }
    }

    /// `groups` from the largest to the smallest value of `metric` (NaN last, ties in input order).
    public static func ranked(_ groups: [DifferenceGroup], by metric: DifferenceMetric) -> [DifferenceGroup] {
        groups.enumerated().sorted { a, b in
            let x = a.element.value(of: metric), y = b.element.value(of: metric)
            if x.isNaN != y.isNaN { return y.isNaN }
            if x != y, !x.isNaN { return x > y }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// The components that occur inside layers, bottom to top: the heatmap's columns.
    public var layerComponents: [Component] {
        Array(Set(cells.compactMap(\.component))).sorted()
    }
}
