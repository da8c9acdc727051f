/// A heap buffer of `Float` with a stable address, for weights and reusable activations.
final class FloatStorage: @unchecked Sendable {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var count: Int

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

    /// Grows (without keeping the contents) to hold at least `needed` values.
    func reserve(_ needed: Int) {
        guard needed > count else { return }
        pointer.deallocate()
        count = needed
        pointer = .allocate(capacity: needed)
        pointer.initialize(repeating: 0, count: needed)
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit { pointer.deallocate() }
}
