/// A model's weights as `Float`, allocated once at their final size (zeros, or copied in) and read
/// by the kernels through a stable address. Not a reusable buffer: activations and gradients, which
/// grow with the batch and are reused from batch to batch, are ``ScratchBuffer``s.
final class FloatStorage: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int

    /// `count` zeros.
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    convenience init(concatenating parts: [FloatStorage]) {
        self.init(count: parts.reduce(0) { $0 + $1.count })
        var offset = 0
        for part in parts {
            (pointer + offset).update(from: part.pointer, count: part.count)
            offset += part.count
        }
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit { pointer.deallocate() }
}
