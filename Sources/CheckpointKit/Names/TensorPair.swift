/// A tensor of the base and the tensor of the fine-tune that holds the same parameter.
public struct TensorPair: Sendable {
    public var base: TensorInfo
    public var finetuned: TensorInfo
    /// The role, from the base name (both names give the same role).
    public var role: ParameterRole
    public var baseLayout: ElementLayout
    public var finetunedLayout: ElementLayout
    /// Why the pair cannot be compared element by element (shape mismatch), or nil.
    public var problem: String?
    /// A shape difference that is not a mismatch: resized rows or a replaced head (``ShapeChange``).
    public var shapeChange: ShapeChange? = nil

    /// Whether both sides store their elements in the same order, so bytes can be compared directly.
    public var isDirect: Bool { baseLayout == .identity && finetunedLayout == .identity }
}

extension TensorPair {
    /// Copies the fine-tuned tensor's raw bytes (`finetuned`) into `destination` in the base's
    /// element order, transposing a TF kernel on either side, so that entry i of both sides is the
    /// same parameter. Returns false for packed dtypes (F4/F6), which have no per-element bytes.
    func copyFinetunedInBaseOrder(_ finetuned: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> Bool {
        guard let width = self.finetuned.dtype.byteWidth else { return false }
        switch (baseLayout, finetunedLayout) {
        case let (.identity, .transposed(rows, columns)):
            ElementTransposition.transpose(finetuned, rows: rows, columns: columns, width: width, into: destination)
        case let (.transposed(rows, columns), .identity):
            ElementTransposition.transpose(finetuned, rows: columns, columns: rows, width: width, into: destination)
        case (.identity, _):
            finetunedLayout.toPyTorch(finetuned, width: width, into: destination)
        case (_, .identity):
            baseLayout.fromPyTorch(finetuned, width: width, into: destination)
        default:
            // Equal layouts need no reordering; different ones go through PyTorch's order.
            guard baseLayout != finetunedLayout else {
                destination.copyMemory(from: finetuned)
                return true
            }
            let middle = UnsafeMutableRawBufferPointer.allocate(byteCount: finetuned.count, alignment: 16)
            defer { middle.deallocate() }
            finetunedLayout.toPyTorch(finetuned, width: width, into: middle)
            baseLayout.fromPyTorch(UnsafeRawBufferPointer(middle), width: width, into: destination)
        }
        return true
    }
}
