/// What is in a checkpoint, from its header alone: counts by dtype, component and kind, and how
/// many parameters each parameter-efficient fine-tuning method would train.
public struct CheckpointSummary: Sendable, Encodable {
    /// One tensor as `ckpt inspect --json` lists it.
    public struct TensorEntry: Sendable, Encodable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var component: Component
        public var kind: ParameterKind
        public var layer: Int?
        public var canonicalName: String

        enum CodingKeys: String, CodingKey, CaseIterable {
            case name, dtype, shape, component, kind, layer
            case canonicalName = "canonical_name"
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(dtype, forKey: .dtype)
            try container.encode(shape, forKey: .shape)
            try container.encode(component, forKey: .component)
            try container.encode(kind, forKey: .kind)
            try container.encode(layer, forKey: .layer)
            try container.encode(canonicalName, forKey: .canonicalName)
        }
    }

    /// Tensors and elements of one dtype.
    public struct DTypeCount: Sendable, Encodable {
        public var tensors: Int
        public var elements: Int
        public var bytes: Int

        /// Counts one more tensor of `elements` elements and `bytes` bytes.
        mutating func add(_ elements: Int, bytes: Int) {
            tensors += 1
            self.elements += elements
            self.bytes += bytes
        }
    }

    /// How many parameters a fine-tuning method trains, and what fraction of the base model that is.
    public struct MethodCount: Sendable, Encodable {
        public var method: String
        public var parameters: Int
        /// parameters / baseParameters.
        public var fraction: Double
    }

    public var path: String
    public var format: CheckpointFormat
    public var fileSize: Int
    public var tensorCount: Int
    /// Elements over every tensor, buffers included (what safetensors' numel sums to).
    public var elements: Int
    /// Elements of trainable tensors: everything but buffers (position ids, integer tensors).
    public var parameters: Int
    /// Parameters outside task and pretraining heads: the denominator of the fractions below, as
    /// the BitFit and LayerNorm-tuning papers count them.
    public var baseParameters: Int
    /// Bytes of tensor data.
    public var bytes: Int
    /// Number of transformer layers (highest layer index + 1), 0 if none is recognised.
    public var layers: Int
    public var dtypes: [String: DTypeCount]
    public var parametersByComponent: [String: Int]
    public var parametersByKind: [String: Int]
    /// LayerNorm-only, bias-only (BitFit), head, and last-N-layers tuning.
    public var methods: [MethodCount]
    public var metadata: [String: String]
    public var tensors: [TensorEntry]
    /// Objects of the file that are not tensors (HDF5 string datasets, soft links), with why.
    public var skipped: [SkippedObject]

    /// An object of the file that is not read as a tensor.
    public struct SkippedObject: Sendable, Encodable {
        public var name: String
        public var reason: String
    }

    enum CodingKeys: String, CodingKey {
        case path, format, tensors, metadata, layers, methods, parameters, elements, bytes, dtypes, skipped
        case fileSize = "file_size"
        case tensorCount = "tensor_count"
        case baseParameters = "base_parameters"
        case parametersByComponent = "parameters_by_component"
        case parametersByKind = "parameters_by_kind"
    }

    public init(_ checkpoint: any Checkpoint) {
        path = checkpoint.path
        format = checkpoint.format
        fileSize = checkpoint.fileSize
        metadata = checkpoint.metadata
        skipped = checkpoint.skipped.map { SkippedObject(name: $0.name, reason: $0.reason) }
        tensorCount = checkpoint.tensors.count
        var entries: [TensorEntry] = []
        entries.reserveCapacity(checkpoint.tensors.count)
        // Keyed by the enums while counting (a string key is hashed byte by byte, 100,000 times
        // for a mixture-of-experts checkpoint); turned into the report's string keys at the end.
        var dtypes: [DType: DTypeCount] = [:]
        // By ``Component/ordinal``: hashing a `Component` builds its names (see there).
        var byComponent: [Int?] = Array(repeating: nil, count: Component.allCases.count)
        var byKind: [ParameterKind: Int] = [:]
        var elements = 0, parameters = 0, base = 0, bytes = 0, layers = 0
        var layerNorm = 0, bias = 0, head = 0
        var perLayer: [Int: Int] = [:]
        // Naming is most of the work and each name is read alone: the roles are read on every core.
        let infos = checkpoint.tensors
        let roles = [ParameterRole](parallelMapping: infos.count) { ParameterNames.role(of: infos[$0].name, dtype: infos[$0].dtype) }
        for (tensor, role) in zip(infos, roles) {
            let n = tensor.elementCount
            entries.append(TensorEntry(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape,
                                       component: role.component, kind: role.kind, layer: role.layer,
                                       canonicalName: role.canonicalName))
            dtypes[tensor.dtype, default: DTypeCount(tensors: 0, elements: 0, bytes: 0)].add(n, bytes: tensor.byteCount)
            elements += n
            bytes += tensor.byteCount
            byKind[role.kind, default: 0] += n
            guard role.kind != .buffer else { continue }
            parameters += n
            byComponent[role.component.ordinal] = (byComponent[role.component.ordinal] ?? 0) + n
            if role.component == .head || role.component == .pretrainingHead {
                if role.component == .head { head += n }
                continue
            }
            base += n
            if role.kind.isLayerNorm { layerNorm += n }
            if role.kind.isBias { bias += n }
            if let layer = role.layer {
                layers = max(layers, layer + 1)
                perLayer[layer, default: 0] += n
            }
        }
        self.elements = elements
        self.parameters = parameters
        self.baseParameters = base
        self.bytes = bytes
        self.layers = layers
        self.dtypes = Dictionary(uniqueKeysWithValues: dtypes.map { ($0.key.rawValue, $0.value) })
        parametersByComponent = Dictionary(uniqueKeysWithValues: zip(Component.allCases, byComponent).compactMap { component, count in
            count.map { (component.rawValue, $0) }
        })
        parametersByKind = Dictionary(uniqueKeysWithValues: byKind.map { ($0.key.rawValue, $0.value) })
        tensors = entries
        func fraction(_ count: Int) -> Double { base == 0 ? 0 : Double(count) / Double(base) }
        var methods = [
            MethodCount(method: "layernorm", parameters: layerNorm, fraction: fraction(layerNorm)),
            MethodCount(method: "bias", parameters: bias, fraction: fraction(bias)),
            MethodCount(method: "head", parameters: head, fraction: fraction(head)),
        ]
        var depths = [1, 2, (layers + 3) / 4].filter { $0 >= 1 && $0 <= layers }
        depths = Array(Set(depths)).sorted()
        for depth in depths {
            let count = perLayer.filter { $0.key >= layers - depth }.values.reduce(0, +)
            methods.append(MethodCount(method: "last\(depth)", parameters: count, fraction: fraction(count)))
        }
        self.methods = methods
    }
}
