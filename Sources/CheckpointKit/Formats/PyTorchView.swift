import Foundation

/// One tensor of a ``PyTorchFile``: a strided view of a storage entry, checked to lie inside it.
struct PyTorchView {
    /// Most dimensions a tensor may have (PyTorch's `MAX_DIMS`).
    static let maxRank = 64

    let dtype: DType
    let shape: [Int]
    /// Strides in elements.
    let stride: [Int]
    /// Byte width of one element.
    let width: Int
    /// Byte offset of the first element in the file.
    let start: Int
    let elementCount: Int
    /// Whether the elements lie row-major with no gaps (read in place).
    let isContiguous: Bool

    /// Checks `tensor` against its storage entry (`entry`, byte offsets in the file): sizes and
    /// strides non-negative, every element it reaches inside the entry (overflow-checked).
    init(_ tensor: PickleTensor, entry: Range<Int>, name: String, path: String) throws(CheckpointError) {
        func invalid(_ reason: String) -> CheckpointError { .invalidTensor(path: path, tensor: name, reason: reason) }
        guard let width = tensor.dtype.byteWidth else { throw invalid("dtype \(tensor.dtype.rawValue) is not byte-sized") }
        guard tensor.shape.count <= PyTorchView.maxRank else { throw invalid("\(tensor.shape.count) dimensions") }
        guard tensor.shape.allSatisfy({ $0 >= 0 }), tensor.stride.allSatisfy({ $0 >= 0 }), tensor.storageOffset >= 0 else {
            throw invalid("negative size, stride or storage offset")
        }
        var count = 1
        var lastElement = tensor.storageOffset
        for (size, step) in zip(tensor.shape, tensor.stride) {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw invalid("element count overflows") }
            count = product
            if size > 0 {
                let (reach, o1) = (size - 1).multipliedReportingOverflow(by: step)
                let (sum, o2) = lastElement.addingReportingOverflow(reach)
                guard !o1, !o2 else { throw invalid("view extent overflows") }
                lastElement = sum
            }
        }
        if count > 0 {
            let (endElement, o1) = lastElement.addingReportingOverflow(1)
            let (endByte, o2) = endElement.multipliedReportingOverflow(by: width)
            guard !o1, !o2, endByte <= entry.count else {
                throw invalid("the view reaches byte \(o1 || o2 ? "(overflow)" : String(endByte)) of its storage, which has \(entry.count) bytes (storage range past its entry)")
            }
        }
        dtype = tensor.dtype
        shape = tensor.shape
        stride = tensor.stride
        self.width = width
        start = entry.lowerBound + tensor.storageOffset * width
        elementCount = count
        isContiguous = count == 0 || PyTorchView.isRowMajor(shape: tensor.shape, stride: tensor.stride)
    }

    /// Whether `stride` is the row-major stride of `shape` (dimensions of size 1 may have any stride).
    static func isRowMajor(shape: [Int], stride: [Int]) -> Bool {
        var expected = 1
        for (size, step) in zip(shape, stride).reversed() {
            if size != 1, step != expected { return false }
            expected *= size
        }
        return true
    }

    func info(name: String) -> TensorInfo {
        TensorInfo(name: name, dtype: dtype, shape: shape, byteCount: elementCount * width)
    }

    /// The file bytes of a contiguous view.
    var contiguousRange: Range<Int> { start..<(start + elementCount * width) }

    /// The elements of a strided view copied out row-major (the innermost dimension a run at a
    /// time when its stride is 1).
    func gather(from file: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: elementCount * width)
        guard elementCount > 0 else { return out }
        let rank = shape.count
        let inner = rank == 0 ? 1 : shape[rank - 1]
        let innerStride = rank == 0 ? 1 : stride[rank - 1]
        var index = [Int](repeating: 0, count: max(rank - 1, 0))
        out.withUnsafeMutableBytes { destination in
            var written = 0
            while written < destination.count {
                var element = 0
                for d in 0..<index.count { element += index[d] * stride[d] }
                let source = start + element * width
                if innerStride == 1 {
                    memcpy(destination.baseAddress! + written, file.baseAddress! + source, inner * width)
                } else {
                    for i in 0..<inner {
                        memcpy(destination.baseAddress! + written + i * width, file.baseAddress! + source + i * innerStride * width, width)
                    }
                }
                written += inner * width
                var d = index.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < shape[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return out
    }
}
