/// Results kept alive until the process exits instead of freed one object at a time: freeing a
/// 100,000-tensor diff (both tensor lists, the pairs, the differences, the report) took about a
/// tenth of the run, and the operating system takes the whole heap back at once when `main`
/// returns. Only for read-only things whose release does nothing else: checkpoints opened for
/// reading and the values computed from them; nothing with a write to finish.
enum KeptUntilExit {
    nonisolated(unsafe) private static var objects: [Any] = []

    /// Keeps `values` until exit. Called on the main thread only.
    static func keep(_ values: Any...) {
        objects.append(contentsOf: values)
    }
}
