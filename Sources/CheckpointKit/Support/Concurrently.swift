import Foundation

/// Runs two independent computations at once, one on each of two threads, and returns both
/// results: the parts of a report built from the same finished values (a diff's groups and its
/// regime) need not wait for each other. Both closures must be safe to run on another thread.
func concurrently<A, B>(_ first: () -> A, _ second: () -> B) -> (A, B) {
    var a: A?
    var b: B?
    withUnsafeMutablePointer(to: &a) { a in
        withUnsafeMutablePointer(to: &b) { b in
            withoutActuallyEscaping(first) { first in
                withoutActuallyEscaping(second) { second in
                    // Each result is written by its own iteration only; `concurrentPerform`
                    // returns when both are done.
                    nonisolated(unsafe) let first = first, second = second, a = a, b = b
                    DispatchQueue.concurrentPerform(iterations: 2) { index in
                        if index == 0 { a.pointee = first() } else { b.pointee = second() }
                    }
                }
            }
        }
    }
    return (a!, b!)
}
