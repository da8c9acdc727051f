import Foundation

/// Progress on stderr, only when stderr is a terminal.
enum Progress {
    nonisolated(unsafe) static var active = false

    static func reporter(start: Date) -> ((Int, Int) -> Void)? {
        guard standardErrorIsTerminal else { return nil }
        nonisolated(unsafe) var lastPrint = -1.0
        return { done, total in
            let elapsed = Date().timeIntervalSince(start)
            guard elapsed - lastPrint >= 0.2 || done == total else { return }
            lastPrint = elapsed
            let rate = Double(done) / max(elapsed, 1e-9)
            let eta = Double(total - done) / max(rate, 1e-9)
            let line = String(format: "\r\u{1B}[K%d/%d examples, %.1f examples/s, ETA %.0f s", done, total, rate, eta)
            FileHandle.standardError.write(Data(line.utf8))
            active = true
        }
    }

    static func finish() {
        if active { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        active = false
    }
}
