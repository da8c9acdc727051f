/// The Hugging Face parameter each variable of a Keras 3 `.weights.h5` holds, recovered from the
/// file's `layers/<layer path>/vars/<i>` paths and shapes, so that a KerasHub checkpoint pairs
/// with a PyTorch, safetensors or `tf_model.h5` one (and its tensors get components, kinds and
/// layers) through the one naming mechanism, ``ParameterNames``.
///
/// Keras 3 stores no class or variable names: a layer's path is its class name in snake case,
/// numbered within its container (`transformer_encoder`, `transformer_encoder_1`, `dense`, `dense_1`),
/// and its variables are numbered in creation order (Dense and EinsumDense: kernel, bias;
/// LayerNormalization: gamma, beta; RMS norms: scale; embeddings: the table). A resolved tensor is
/// (a KerasHub model; a plain Keras model keeps its paths, see ``plainKerasName(_:)``) is
/// named as TensorFlow would name it (`bert/encoder/layer/0/attention/self/query/kernel`), so the
/// TF rules turn it into the PyTorch name and mark kernels as stored (in, out): an EinsumDense
/// kernel of (hidden, heads, head_dim) or (heads, head_dim, hidden) is the transpose of PyTorch's
/// 2-D weight viewed as 2-D, which ``CheckpointAlignment`` already handles.
///
/// The table follows keras-hub 0.32.0's Hugging Face converters
/// (`keras_hub/src/utils/transformers/convert_{bert,roberta,distilbert,gpt2,llama3,gemma}.py`) and
/// the paths Keras 3.15.1 writes. Where the converter does more than transpose and reshape, the
/// tensor gets a name no Hugging Face checkpoint has: RoBERTa's position table (KerasHub drops
/// Hugging Face's two padding rows), which only ``PositionPaddingRows`` pairs with Hugging Face's,
/// compared from Hugging Face row 2. GPT-2's
/// query/key/value are read as Hugging Face's one `c_attn` (``fusions(_:)``). Gemma's query/key/value kernels, stored
/// (heads, hidden, head_dim), are named `per_head_kernel`, which the alignment reads with its axes
/// permuted (``ElementLayout/permuted(shape:axes:)``).
public enum Keras3Names {
    /// What a Keras 3 file was recognised as.
    public struct Resolution: Sendable {
        /// The name each tensor is given, in the order of the input; nil where the stored path stays.
        public var names: [String?]
        /// The model family (`KerasHub BERT`, `plain Keras`, ...), or nil when nothing was recognised.
        public var family: String?
    }

    /// Resolves the tensors of one Keras 3 file (their stored paths and shapes).
    public static func resolve(_ tensors: [TensorInfo]) -> Resolution {
        let parsed = tensors.map { VariablePath($0.name) }
        let family = Family.detect(parsed.compactMap { $0 })
        var names: [String?] = []
        names.reserveCapacity(tensors.count)
        for (tensor, path) in zip(tensors, parsed) {
            names.append(path.flatMap { family?.name(of: $0, shape: tensor.shape) })
        }
        let plain = family == nil && parsed.contains { $0.map { plainName(of: $0.layers, variable: $0.variable) != nil } ?? false }
        return Resolution(names: names, family: family?.label ?? (plain ? "plain Keras" : nil))
    }

    /// The TF-style name of a plain Keras model's variable (`layers/dense_1/vars/0` ->
    /// `dense_1/kernel`), read from the stored path alone: class-named layers say what they are,
    /// so such files keep their paths (see ``plainName(of:variable:)``). Nil for any other name.
    public static func plainKerasName(_ name: String) -> String? {
        guard name.utf8.starts(with: "layers/".utf8), let path = VariablePath(name) else { return nil }
        return plainName(of: path.layers, variable: path.variable)
    }

    /// `layers/<a>/layers/<b>/<c>/vars/<i>` as its layer names (`[a, b, c]`, without the
    /// `layers` container steps) and the variable index.
    struct VariablePath {
        var layers: [String]
        var variable: Int

        init?(_ path: String) {
            var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 4, parts.first == "layers", parts[parts.count - 2] == "vars",
                  let index = Int(parts[parts.count - 1]), index >= 0, String(index) == parts[parts.count - 1] else { return nil }
            parts.removeLast(2)
            layers = parts.filter { $0 != "layers" }
            variable = index
            guard !layers.isEmpty, !layers.contains(where: \.isEmpty) else { return nil }
        }
    }

    /// How a layer type names its variables.
    enum LayerType {
        /// Dense / EinsumDense: kernel (in, out), bias.
        case dense
        /// A Dense whose Hugging Face counterpart is GPT-2's `Conv1D`, itself stored (in, out).
        case conv1D
        /// Gemma's query, key and value EinsumDense: kernel stored (heads, hidden, head_dim)
        /// (``perHeadLayout(kernel:weight:)``), no bias.
        case perHeadDense
        case layerNorm
        /// RMS norms: one scale vector, PyTorch's `weight`.
        case rmsNorm
        case embedding

        func variable(_ index: Int) -> String? {
            switch (self, index) {
            case (.dense, 0): return "kernel"
            case (.perHeadDense, 0): return "per_head_kernel"
            case (.conv1D, 0), (.rmsNorm, 0): return "weight"
            case (.dense, 1), (.conv1D, 1): return "bias"
            case (.layerNorm, 0): return "gamma"
            case (.layerNorm, 1): return "beta"
            case (.embedding, 0): return "embeddings"
            default: return nil
            }
        }
    }

    /// A layer's place: the Hugging Face module path (`/`-separated) and its type.
    typealias Slot = (module: String, type: LayerType)

    /// A layer name without Keras' numbering suffix, and the number (0 for the first).
    static func numbered(_ name: String) -> (base: String, index: Int) {
        guard let underscore = name.lastIndex(of: "_"), let index = Int(name[name.index(after: underscore)...]),
              index > 0, String(index) == name[name.index(after: underscore)...] else { return (name, 0) }
        return (String(name[..<underscore]), index)
    }

    /// A layer of a plain Keras model, named after its path (`dense_1/kernel`,
    /// `layer_normalization/LayerNorm/gamma`, `embeddings/embedding/embeddings`), or nil for a
    /// layer type outside Dense, EinsumDense, LayerNormalization, RMSNormalization and Embedding.
    static func plainName(of layers: [String], variable: Int) -> String? {
        let path = layers.joined(separator: "/")
        let slot: Slot
        switch numbered(layers[layers.count - 1]).base {
        case "dense", "einsum_dense": slot = (path, .dense)
        case "layer_normalization": slot = (path + "/LayerNorm", .layerNorm)
        case "rms_normalization": slot = (path + "/LayerNorm", .rmsNorm)
        case "embedding": slot = ("embeddings/" + path, .embedding)
        default: return nil
        }
        return slot.type.variable(variable).map { slot.module + "/" + $0 }
    }

    /// Whether a 3-D and a 2-D shape hold one matrix in the same element order: the 3-D shape,
    /// cut after its first or second dimension, is the 2-D one (a KerasHub EinsumDense kernel
    /// (hidden, heads, head_dim) or (heads, head_dim, hidden) against a `tf_model.h5` kernel, or
    /// GPT-2's attention output against its `Conv1D` weight).
    static func sameMatrix(_ a: [Int], _ b: [Int]) -> Bool {
        let (three, two) = a.count == 3 ? (a, b) : (b, a)
        guard three.count == 3, two.count == 2 else { return false }
        return [three[0], three[1] * three[2]] == two || [three[0] * three[1], three[2]] == two
    }

    /// Variables keras-hub splits from one Hugging Face tensor, to be read as that tensor: GPT-2's
    /// query, key and value (`convert_gpt2.py` cuts `c_attn`'s (in, 3 x hidden) `Conv1D` weight and
    /// its bias into thirds along the last axis). The parts' order is the concatenation order.
    public struct Fusion: Sendable, Equatable {
        /// The fused tensor's name (`transformer/h/0/attn/c_attn/weight`).
        public var name: String
        public var parts: [String]
        /// Each part (and the result) is viewed as `rows` rows; the parts' rows are placed side by side.
        public var rows: Int
        public var shape: [Int]
    }

    /// The fusions of a Keras 3 file's resolved tensors: every `<block>/attn/q_proj/{weight,bias}`
    /// of KerasHub GPT-2 whose `k_proj` and `v_proj` have its shape and dtype (kernels (hidden, heads,
    /// head_dim) -> (hidden, 3 x heads x head_dim); biases (heads, head_dim) -> (3 x heads x head_dim)).
    /// Parts that do not fit stay apart (and unpaired against Hugging Face).
    public static func fusions(_ tensors: [TensorInfo]) -> [Fusion] {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var result: [Fusion] = []
        for query in tensors {
            for variable in ["weight", "bias"] where query.name.hasSuffix("/attn/q_proj/" + variable) {
                let block = String(query.name.dropLast(("q_proj/" + variable).count))
                let parts = ["q_proj", "k_proj", "v_proj"].map { block + $0 + "/" + variable }
                // Whole bytes an element, so that a row is a byte range.
                guard query.dtype.byteWidth != nil,
                      parts.allSatisfy({ byName[$0]?.shape == query.shape && byName[$0]?.dtype == query.dtype }),
                      !byName.keys.contains(block + "c_attn/" + variable) else { continue }
                let isKernel = variable == "weight"
                guard query.shape.count == (isKernel ? 3 : 2) else { continue }
                let rows = isKernel ? query.shape[0] : 1
                let columns = query.elementCount / max(rows, 1)
                result.append(Fusion(name: block + "c_attn/" + variable, parts: parts, rows: rows,
                                     shape: isKernel ? [rows, 3 * columns] : [3 * columns]))
            }
        }
        return result
    }

    /// Whether `name` is a kernel ``Family`` named `per_head_kernel`: stored (heads, in, head_dim),
    /// as keras-hub's Gemma converter writes query, key and value (`convert_gemma.py`: PyTorch's
    /// weight reshaped to (heads, head_dim, in) and transposed by axes (0, 2, 1)).
    public static func isPerHeadKernel(_ name: String) -> Bool {
        name.utf8.count > 16 && name.hasSuffix("/per_head_kernel")
    }

    /// The layout of a per-head kernel (heads, in, head_dim) against PyTorch's weight
    /// (heads x head_dim, in): axes (0, 2, 1), then a reshape. Nil when the shapes do not fit.
    static func perHeadLayout(kernel: [Int], weight: [Int]) -> ElementLayout? {
        guard kernel.count == 3, weight == [kernel[0] * kernel[2], kernel[1]] else { return nil }
        return .permuted(shape: kernel, axes: [0, 2, 1])
    }

    /// Whether an HDF5 checkpoint's model family went unrecognised: a generic HDF5 file, or a Keras 3
    /// file none of whose variables ``resolve(_:)`` named or ``plainKerasName(_:)`` reads, and in
    /// which no name says what it is (every component `other`). `ckpt inspect` says so once.
    public static func isUnrecognised(format: CheckpointFormat, names: [String]) -> Bool {
        guard format == .hdf5 || format == .keras3WeightsH5 else { return false }
        return names.allSatisfy { plainKerasName($0) == nil && ParameterNames.role(of: $0).component == .other }
    }

    /// A Keras 3 optimizer variable (`optimizer/vars/<i>`: iteration count, learning rate, moments),
    /// state saved beside the model rather than a parameter of it.
    public static func isOptimizerVariable(_ name: String) -> Bool {
        name.utf8.starts(with: "optimizer/vars/".utf8)
    }
}
