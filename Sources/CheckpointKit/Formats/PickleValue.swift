/// A value built by ``PickleMachine``: only what a state dict or a training checkpoint is made of.
/// Lists and dicts are reference types because the pickle memo shares them (an object is memoized
/// when it is created empty and filled afterwards).
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// A tuple (a ``PickleList`` that is never appended to).
    case tuple(PickleList)
    case list(PickleList)
    case dict(PickleDict)
    /// An allow-listed global, not (yet) called.
    case global(PickleGlobal)
    /// A storage from a persistent id (`('storage', type, key, location, numel)`).
    case storage(PickleStorage)
    case tensor(PickleTensor)

    /// A short description for listings ("int 3", "list of 2", "dict of 4").
    public var summary: String {
        switch self {
        case .none: return "None"
        case let .bool(b): return "bool \(b ? "True" : "False")"
        case let .int(i): return "int \(i)"
        case let .float(d): return "float \(d)"
        case let .string(s): return s.utf8.count <= 60 ? "str '\(s)'" : "str of \(s.utf8.count) bytes"
        case let .bytes(b): return "bytes of \(b.count)"
        case let .tuple(t): return "tuple of \(t.items.count)"
        case let .list(l): return "list of \(l.items.count)"
        case let .dict(d): return "dict of \(d.items.count)"
        case let .global(g): return "global \(g.qualifiedName)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// A pickled list or tuple (shared through the memo).
public final class PickleList: @unchecked Sendable {
    public var items: [PickleValue] = []
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A pickled dict or `OrderedDict`, in insertion order (shared through the memo).
public final class PickleDict: @unchecked Sendable {
    public var items: [(key: PickleValue, value: PickleValue)] = []
    init() {}

    /// The value under the string key `key`, if any.
    public subscript(key: String) -> PickleValue? {
        for item in items { if case let .string(k) = item.key, k == key { return item.value } }
        return nil
    }
}

/// A storage named by a persistent id: the zip entry `data/<key>` holds its bytes.
public struct PickleStorage: Sendable, Equatable {
    public var key: String
    /// The element type of a typed storage (`torch.FloatStorage`); nil for `torch.UntypedStorage`,
    /// whose tensors carry their dtype themselves (`_rebuild_tensor_v3`).
    public var dtype: DType?
}

/// A tensor as `_rebuild_tensor_v2`/`_v3` describe it: a strided view of a storage, in elements.
public struct PickleTensor: Sendable, Equatable {
    public var storage: PickleStorage
    public var dtype: DType
    /// Offset of the first element in the storage, in elements.
    public var storageOffset: Int
    public var shape: [Int]
    /// Distance between neighbours along each dimension, in elements.
    public var stride: [Int]
}
