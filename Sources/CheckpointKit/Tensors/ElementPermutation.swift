/// Rewrites a row-major tensor of fixed-width elements with its axes permuted (numpy's
/// `transpose(axes)` followed by a row-major copy): the general form of ``ElementTransposition``,
/// for layouts a 2-D transpose does not reach, such as a KerasHub Gemma query kernel stored
/// (heads, hidden, head_dim) whose PyTorch weight is (heads x head_dim, hidden): axes (0, 2, 1).
///
/// Works on raw element bytes (bit patterns and dtype kept). The innermost output axis is walked
/// with a constant stride, so the cost is one strided copy per output row.
enum ElementPermutation {
    /// Writes `source`, viewed as `shape` (row-major), with its axes permuted by `axes` to
    /// `destination`: output axis k is input axis `axes[k]`.
    static func permute(_ source: UnsafeRawBufferPointer, shape: [Int], axes: [Int], width: Int,
                        into destination: UnsafeMutableRawBufferPointer) {
        permute(source, shape: shape, axes: axes, width: width, elements: 0..<shape.reduce(1, *), into: destination)
    }

    /// Writes the output elements `elements` (in the permuted, row-major order) of ``permute(_:shape:axes:width:into:)``
    /// to `destination`: one block of the permutation. Both bounds must be multiples of the
    /// output's innermost length, `shape[axes.last]`.
    static func permute(_ source: UnsafeRawBufferPointer, shape: [Int], axes: [Int], width: Int, elements: Range<Int>,
                        into destination: UnsafeMutableRawBufferPointer) {
        let count = shape.reduce(1, *)
        precondition(axes.count == shape.count && Set(axes) == Set(shape.indices))
        precondition(source.count >= count * width && destination.count >= elements.count * width)
        precondition(elements.lowerBound >= 0 && elements.upperBound <= count)
        guard !elements.isEmpty, width > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
        // Element strides of the input, in output axis order.
        var inputStrides = [Int](repeating: 1, count: shape.count)
        for axis in shape.indices.dropLast().reversed() { inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1] }
        let outShape = axes.map { shape[$0] }
        let strides = axes.map { inputStrides[$0] }
        guard let inner = outShape.last, let innerStride = strides.last else {
            dst.copyMemory(from: src, byteCount: width)
            return
        }
        precondition(elements.lowerBound % inner == 0 && elements.upperBound % inner == 0)
        // The output index of the first element, row-major.
        var index = [Int](repeating: 0, count: outShape.count)
        var rest = elements.lowerBound / inner
        for k in outShape.indices.dropLast().reversed() {
            index[k] = rest % outShape[k]
            rest /= outShape[k]
        }
        var out = elements.lowerBound
        while out < elements.upperBound {
            var start = 0
            for k in index.indices { start += index[k] * strides[k] }
            for j in 0..<inner {
                (dst + (out - elements.lowerBound + j) * width).copyMemory(from: src + (start + j * innerStride) * width, byteCount: width)
            }
            out += inner
            // Advance the outer index (all axes but the last), row-major.
            var k = outShape.count - 2
            while k >= 0 {
                index[k] += 1
                if index[k] < outShape[k] { break }
                index[k] = 0
                k -= 1
            }
        }
    }

    /// The axes that undo `axes`: permuting by `axes`, then by the inverse, restores the input.
    static func inverse(_ axes: [Int]) -> [Int] {
        var result = [Int](repeating: 0, count: axes.count)
        for (k, axis) in axes.enumerated() { result[axis] = k }
        return result
    }
}
