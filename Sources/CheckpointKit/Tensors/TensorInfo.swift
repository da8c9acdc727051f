/// What a checkpoint says about one tensor, before any of its data is read.
public struct TensorInfo: Sendable, Hashable {
    /// The name as stored in the file (a safetensors key, or an HDF5 dataset path without leading `/`).
    public var name: String
    public var dtype: DType
    /// Dimensions, outermost first (row-major). A scalar has an empty shape.
    public var shape: [Int]
    /// Size of the stored data in bytes.
    public var byteCount: Int

    public init(name: String, dtype: DType, shape: [Int], byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteCount = byteCount
    }

    /// Number of elements: the product of the shape (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}
