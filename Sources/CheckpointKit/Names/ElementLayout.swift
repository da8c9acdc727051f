/// How one side's elements map onto PyTorch's row-major layout.
///
/// `indirect`: one pointer inline instead of 17 bytes (two a ``TensorPair``, a million pairs in a
/// million-tensor diff); only TF and KerasHub kernels have a payload.
public indirect enum ElementLayout: Hashable, Sendable {
    /// Same element order (possibly a different but compatible shape, such as a TF bias stored
    /// (heads, head_dim) against PyTorch's (heads x head_dim)).
    case identity
    /// The stored tensor, viewed as `rows x columns` row-major, is the transpose of the PyTorch
    /// weight (a TF `kernel`: (in, out) against (out, in); 3-D attention kernels are viewed as 2-D).
    case transposed(rows: Int, columns: Int)
    /// The stored tensor, viewed as `shape` row-major, with its axes permuted by `axes` (numpy's
    /// `transpose(axes)`), is the PyTorch weight in row-major order: a KerasHub Gemma query kernel
    /// (heads, hidden, head_dim) is `permuted(shape: [heads, hidden, head_dim], axes: [0, 2, 1])`
    /// of the (heads x head_dim, hidden) weight. ``transposed(rows:columns:)`` is the 2-D case.
    case permuted(shape: [Int], axes: [Int])

    /// Copies elements stored in this layout into PyTorch's order (`width` bytes an element).
    func toPyTorch(_ source: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer) {
        switch self {
        case .identity: destination.copyMemory(from: source)
        case let .transposed(rows, columns):
            ElementTransposition.transpose(source, rows: rows, columns: columns, width: width, into: destination)
        case let .permuted(shape, axes):
            ElementPermutation.permute(source, shape: shape, axes: axes, width: width, into: destination)
        }
    }

    /// Copies the PyTorch-order elements `elements` of a tensor stored in this layout (`source`,
    /// the whole stored tensor) to `destination`: one block of ``toPyTorch(_:width:into:)``. Both
    /// bounds must be multiples of ``rowLength``.
    func toPyTorch(_ source: UnsafeRawBufferPointer, width: Int, elements: Range<Int>, into destination: UnsafeMutableRawBufferPointer) {
        switch self {
        case .identity:
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[(elements.lowerBound * width)..<(elements.upperBound * width)]))
        case let .transposed(rows, columns):
            ElementTransposition.transpose(source, rows: rows, columns: columns, width: width,
                                           outputRows: (elements.lowerBound / rows)..<(elements.upperBound / rows), into: destination)
        case let .permuted(shape, axes):
            ElementPermutation.permute(source, shape: shape, axes: axes, width: width, elements: elements, into: destination)
        }
    }

    /// Elements of the PyTorch order that ``toPyTorch(_:width:elements:into:)`` writes as a unit
    /// (a row of the PyTorch weight for a transposed kernel, the innermost axis of a permuted one;
    /// 1 for the identity): block bounds are multiples of it.
    var rowLength: Int {
        switch self {
        case .identity: return 1
        case let .transposed(rows, _): return Swift.max(rows, 1)
        case let .permuted(shape, axes): return Swift.max(axes.last.map { shape[$0] } ?? 1, 1)
        }
    }

    /// Copies elements in PyTorch's order into this layout's stored order: the inverse of
    /// ``toPyTorch(_:width:into:)``.
    func fromPyTorch(_ source: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer) {
        inverse.toPyTorch(source, width: width, into: destination)
    }

    /// The layout that undoes this one: PyTorch's order, stored this way, reads back as stored.
    var inverse: ElementLayout {
        switch self {
        case .identity: return .identity
        case let .transposed(rows, columns): return .transposed(rows: columns, columns: rows)
        case let .permuted(shape, axes): return .permuted(shape: axes.map { shape[$0] }, axes: ElementPermutation.inverse(axes))
        }
    }
}
