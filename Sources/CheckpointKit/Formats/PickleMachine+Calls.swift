/// What `REDUCE`, `BUILD` and `BINPERSID` would have done, done by hand for the allow-listed
/// globals only, each checked against the arguments the real function takes
/// (`torch/_utils.py`, `torch/_tensor.py`, `torch/serialization.py`).
extension PickleMachine {
    func call(_ callable: PickleValue, _ arguments: PickleValue) throws(CheckpointError) -> PickleValue {
        guard case let .global(global) = callable else {
            throw invalid("REDUCE of a \(callable.summary), which is not a callable global")
        }
        guard case let .tuple(argumentList) = arguments else {
            throw invalid("REDUCE of \(global.qualifiedName) with arguments that are not a tuple")
        }
        let name = global.qualifiedName
        let args = argumentList.items
        switch global {
        case .orderedDict:
            guard args.isEmpty else { throw wrongArguments(name, args) }
            return .dict(PickleDict())
        case .rebuildTensorV2, .rebuildTensorV3:
            return .tensor(try rebuildTensor(name, args, explicitDType: global == .rebuildTensorV3))
        case .rebuildParameter, .rebuildParameterWithState:
            guard args.count == (global == .rebuildParameter ? 3 : 4), case .tensor = args[0],
                  case .bool = args[1] else { throw wrongArguments(name, args) }
            return args[0]
        case .rebuildFromTypeV2:
            guard args.count == 4, case let .global(function) = args[0], case .global(.tensorType) = args[1],
                  [.rebuildTensorV2, .rebuildTensorV3, .rebuildParameter].contains(function) else {
                throw wrongArguments(name, args)
            }
            return try call(args[0], args[2])
        case .codecsEncode:
            guard args.count == 2, case let .string(text) = args[0], case .string("latin1") = args[1],
                  text.unicodeScalars.allSatisfy({ $0.value < 256 }) else { throw wrongArguments(name, args) }
            return .bytes(text.unicodeScalars.map { UInt8($0.value) })
        case .torchSize:
            guard args.count == 1, case let .tuple(sizes) = args[0] else { throw wrongArguments(name, args) }
            return .tuple(sizes)
        case .device:
            guard (1...2).contains(args.count), case .string = args[0] else { throw wrongArguments(name, args) }
            return args[0]
        case .tensorType, .storageType, .untypedStorage, .dtype:
            throw invalid("REDUCE of \(name), which only names a type here")
        }
    }

    func wrongArguments(_ name: String, _ args: [PickleValue]) -> CheckpointError {
        invalid("\(name) called with arguments it does not take (\(args.map(\.summary).joined(separator: ", ")))")
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`
    /// and `_rebuild_tensor_v3(..., backward_hooks, dtype[, metadata])`.
    func rebuildTensor(_ name: String, _ args: [PickleValue], explicitDType: Bool) throws(CheckpointError) -> PickleTensor {
        let fixed = explicitDType ? 7 : 6
        guard args.count == fixed || args.count == fixed + 1,
              case let .storage(storage) = args[0], case let .int(offset) = args[1],
              let shape = intTuple(args[2]), let stride = intTuple(args[3]), shape.count == stride.count,
              case .bool = args[4], case .dict = args[5] else { throw wrongArguments(name, args) }
        var dtype = storage.dtype
        if explicitDType {
            guard case let .global(.dtype(explicit)) = args[6], storage.dtype == nil || storage.dtype == explicit else {
                throw wrongArguments(name, args)
            }
            dtype = explicit
        }
        guard let dtype else { throw wrongArguments(name, args) }
        return PickleTensor(storage: storage, dtype: dtype, storageOffset: offset, shape: shape, stride: stride)
    }

    /// The elements of a tuple of integers (a size or a stride).
    func intTuple(_ value: PickleValue) -> [Int]? {
        guard case let .tuple(list) = value else { return nil }
        var result: [Int] = []
        for item in list.items {
            guard case let .int(i) = item else { return nil }
            result.append(i)
        }
        return result
    }

    /// `BUILD`: an `OrderedDict`'s attributes (a state dict's `_metadata`) and a tensor's
    /// (`_rebuild_from_type_v2` state) are dropped: they carry no weights.
    func build(on object: PickleValue, state: PickleValue) throws(CheckpointError) {
        switch (object, state) {
        case (.dict, .dict), (.dict, .none), (.tensor, .dict), (.tensor, .none), (.tensor, .tuple): return
        default: throw invalid("BUILD on a \(object.summary) with a \(state.summary)")
        }
    }

    /// `BINPERSID`: torch's persistent id `('storage', storage_type, key, location, numel)`.
    func persistentLoad(_ id: PickleValue) throws(CheckpointError) -> PickleValue {
        guard case let .tuple(list) = id, case let fields = list.items, fields.count == 5, case .string("storage") = fields[0],
              case let .global(type) = fields[1], case let .string(key) = fields[2],
              case .string = fields[3], case .int = fields[4] else {
            throw invalid("a persistent id that is not a torch storage")
        }
        switch type {
        case .storageType, .untypedStorage: return .storage(try loadStorage(type, key))
        default: throw invalid("a persistent id whose storage type is \(type.qualifiedName)")
        }
    }
}
