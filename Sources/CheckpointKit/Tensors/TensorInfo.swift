/// What a checkpoint says about one tensor, before any of its data is read.
public struct TensorInfo: Sendable, Hashable {
    /// The name as stored in the file (a safetensors key, or an HDF5 dataset path without leading `/`).
    public var name: String
    public var dtype: DType
    /// Where the reader that listed this tensor keeps it (its position in that reader's list), or
    /// -1: lets the reader find the data without hashing the name, one lookup a side per tensor a
    /// diff reads (100,000 of them for a mixture-of-experts checkpoint). Only a hint: the reader
    /// checks the name at that position and falls back to its name index, so a `TensorInfo` made
    /// by hand or listed by another reader still works. Not part of equality or hashing. An
    /// `Int32` beside the one-byte `dtype` takes no extra room.
    var storageIndex: Int32 = -1
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

    public static func == (a: TensorInfo, b: TensorInfo) -> Bool {
        a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.byteCount == b.byteCount
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(dtype)
        hasher.combine(shape)
        hasher.combine(byteCount)
    }

    /// Number of elements: the product of the shape (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}
