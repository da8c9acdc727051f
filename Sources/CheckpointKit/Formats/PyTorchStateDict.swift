/// The tensors of an unpickled `torch.save` object, named by their path (`model.encoder.layer.0...`),
/// and everything else it holds (`epoch`, optimizer hyper-parameters), listed.
///
/// A plain state dict gives its keys as names. A training checkpoint (`{"model": ..., "optimizer":
/// ..., "epoch": 3}`, Lightning's `{"state_dict": ...}`) gives either the entry under a chosen key,
/// (a plain state dict, which holds tensors itself, is read whole whatever the key), or the one
/// top-level entry that is a flat dict of tensors (the "obvious" state dict, recorded in
/// ``selectedKey``), or, when there is no single one, every tensor under its full path.
struct PyTorchStateDict {
    /// Deepest nesting walked (a state dict is 1 deep, an optimizer state 4).
    static let maxDepth = 64
    /// Most values visited (bounds a pickle whose memo makes a small DAG of a huge tree).
    static let maxVisited = 1_000_000

    var tensors: [(name: String, tensor: PickleTensor)] = []
    var others: [SkippedObject] = []
    /// The top-level key whose dict was read, when only one was.
    var selectedKey: String?
    private var visited = 0
    /// Containers walked so far, with the path they were first found under: one reached again
    /// (the memo shares it) is listed, not walked again, so a pickle whose memo makes a small DAG
    /// of a huge tree costs its size, not the tree's.
    private var seen: [ObjectIdentifier: String] = [:]
    /// Containers on the path being walked: reaching one again is a cycle.
    private var open: Set<ObjectIdentifier> = []
    private let path: String

    init(root: PickleValue, key: String?, path: String) throws(CheckpointError) {
        self.path = path
        guard case let .dict(top) = root else {
            if case .tensor = root { throw .invalidPickle(path: path, reason: "the file holds a single tensor, not a dict of them") }
            throw .invalidPickle(path: path, reason: "the file holds a \(root.summary), not a dict of tensors")
        }
        if let key, top[key] != nil || !PyTorchStateDict.holdsTensors(top) {
            guard case let .dict(selected)? = top[key] else {
                throw .missingKey(path: path, key: key, available: PyTorchStateDict.keyNames(top))
            }
            selectedKey = key
            try walk(.dict(selected), prefix: "", depth: 0)
            listOutside(top, key: key)
        } else if let obvious = PyTorchStateDict.obviousStateDict(top) {
            selectedKey = obvious.key
            try walk(obvious.value, prefix: "", depth: 0)
            listOutside(top, key: obvious.key)
        } else {
            try walk(root, prefix: "", depth: 0)
        }
    }

    /// The first top-level keys, for a message.
    static func keyNames(_ dict: PickleDict) -> [String] {
        let names = dict.items.prefix(10).map { PyTorchStateDict.component($0.key) }
        return dict.items.count > 10 ? names + ["... (\(dict.items.count) in all)"] : names
    }

    /// Whether a dict holds tensors itself (a plain state dict, which a key selection leaves whole).
    static func holdsTensors(_ dict: PickleDict) -> Bool {
        dict.items.contains { if case .tensor = $0.value { return true } else { return false } }
    }

    /// The one top-level entry that is a non-empty dict whose values are all tensors, when the top
    /// level itself holds no tensor.
    static func obviousStateDict(_ top: PickleDict) -> (key: String, value: PickleValue)? {
        if holdsTensors(top) { return nil }
        let candidates = top.items.filter { item in
            guard case let .dict(d) = item.value, !d.items.isEmpty else { return false }
            return d.items.allSatisfy { if case .tensor = $0.value { return true } else { return false } }
        }
        guard candidates.count == 1, case let .string(key) = candidates[0].key else { return nil }
        return (key, candidates[0].value)
    }

    /// The other top-level entries of a checkpoint read under one key.
    mutating func listOutside(_ top: PickleDict, key: String) {
        for item in top.items where PyTorchStateDict.component(item.key) != key {
            others.append(SkippedObject(name: PyTorchStateDict.component(item.key),
                                        reason: "\(item.value.summary), outside the state dict '\(key)'"))
        }
    }

    /// A dict key or list index as a path component.
    static func component(_ key: PickleValue) -> String {
        switch key {
        case let .string(s): return s
        case let .int(i): return String(i)
        default: return key.summary
        }
    }

    mutating func walk(_ value: PickleValue, prefix: String, depth: Int) throws(CheckpointError) {
        visited += 1
        guard visited <= PyTorchStateDict.maxVisited else {
            throw .invalidPickle(path: path, reason: "more than \(PyTorchStateDict.maxVisited) values (a pickle that expands)")
        }
        guard depth <= PyTorchStateDict.maxDepth else {
            throw .invalidPickle(path: path, reason: "nesting deeper than \(PyTorchStateDict.maxDepth) at '\(prefix.prefix(40))...' (a recursive or bomb pickle)")
        }
        func join(_ component: String) -> String { prefix.isEmpty ? component : prefix + "." + component }
        if let identity = PyTorchStateDict.identity(of: value) {
            guard !open.contains(identity) else {
                throw .invalidPickle(path: path, reason: "'\(prefix.prefix(40))' holds itself (a recursive pickle)")
            }
            if let first = seen[identity] {
                others.append(SkippedObject(name: prefix, reason: "\(value.summary), the same object as '\(first)'"))
                return
            }
            seen[identity] = prefix
            open.insert(identity)
        }
        defer { PyTorchStateDict.identity(of: value).map { _ = open.remove($0) } }
        switch value {
        case let .tensor(tensor):
            tensors.append((prefix, tensor))
        case let .dict(dict):
            for item in dict.items { try walk(item.value, prefix: join(PyTorchStateDict.component(item.key)), depth: depth + 1) }
        case let .list(list) where PyTorchStateDict.holdsStructure(list.items):
            for (i, item) in list.items.enumerated() { try walk(item, prefix: join(String(i)), depth: depth + 1) }
        case let .tuple(list) where PyTorchStateDict.holdsStructure(list.items):
            for (i, item) in list.items.enumerated() { try walk(item, prefix: join(String(i)), depth: depth + 1) }
        default:
            others.append(SkippedObject(name: prefix, reason: value.summary))
        }
    }

    /// The identity of a list, tuple or dict (nil for other values).
    static func identity(of value: PickleValue) -> ObjectIdentifier? {
        switch value {
        case let .list(list), let .tuple(list): return ObjectIdentifier(list)
        case let .dict(dict): return ObjectIdentifier(dict)
        default: return nil
        }
    }

    /// Whether a list or tuple holds tensors or containers (walked item by item) rather than only
    /// scalars (listed as one entry).
    static func holdsStructure(_ items: [PickleValue]) -> Bool {
        items.contains { item in
            switch item {
            case .tensor, .dict, .list, .tuple: return true
            default: return false
            }
        }
    }
}
