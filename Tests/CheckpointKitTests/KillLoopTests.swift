import Foundation
import XCTest
@testable import CheckpointKit

/// Fault injection: `ckpt apply` and `ckpt patch` are SIGKILLed at random (seeded) points, between 20% and 110% of a complete run's time, while
/// they write over an existing output, and after every kill the output path must hold either its
/// old content or the complete new file, byte for byte, never a partial one; the inputs must be
/// untouched. A killed process cannot remove its `.ckpt-tmp-XXXXXX` temporary file, so one may be
/// left beside the output after a kill (the next write removes it once it is stale, see
/// ``AtomicFile/staleTemporaryAge``); a run that is not killed must leave none.
///
/// The inputs are a ~50 MB safetensors base generated here and a fine-tune changing every 7th
/// weight, so that a run lasts long enough for kills to land in every phase.
///
/// Slow: 20 to 50 s (20 runs of `apply`/`patch` on 50 MB); `CKPT_SKIP_SLOW=1` skips it locally.
final class KillLoopTests: XCTestCase {
    static let applyIterations = 12
    static let patchIterations = 8
    static let layers = 12
    static let width = 1024

    var directory: URL!

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory() // before a skip: tearDown removes it
        try TestEnvironment.slow()
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// SplitMix64: the kill points are the same on every run.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Writes a BERT-named checkpoint of `layers` 1024x1024 F32 weights (4 MiB each) plus biases and
    /// LayerNorms; `finetuned` changes every 7th weight, every bias and every LayerNorm weight.
    func makeCheckpoint(_ path: String, finetuned: Bool) throws {
        var entries: [SafetensorsWriter.Entry] = []
        for layer in 0..<Self.layers {
            let prefix = "bert.encoder.layer.\(layer)."
            let width = Self.width
            entries.append(SafetensorsWriter.Entry(name: prefix + "intermediate.dense.weight", dtype: .f32, shape: [width, width]) { consume in
                var values = [Float](repeating: 0, count: width * width)
                for i in values.indices {
                    values[i] = Float((i &* 2_654_435_761 &+ layer) % 1000) * 0.001
                    if finetuned, i % 7 == 0 { values[i] += 0.5 }
                }
                try values.withUnsafeBytes { try consume($0) }
            })
            for (suffix, base) in [("intermediate.dense.bias", Float(0)), ("output.LayerNorm.weight", Float(1))] {
                entries.append(SafetensorsWriter.Entry(name: prefix + suffix, dtype: .f32, shape: [width]) { consume in
                    let values = [Float](repeating: finetuned ? base + 0.25 : base, count: width)
                    try values.withUnsafeBytes { try consume($0) }
                })
            }
        }
        try SafetensorsWriter(metadata: ["format": "pt"], entries: entries).write(to: path)
    }

    func sha(_ path: String) throws -> String { try PatchTestSupport.sha256(path) }

    /// Runs ckpt to completion; returns the exit status and stderr.
    @discardableResult
    func run(_ arguments: [String]) throws -> (Int32, String) {
        let result = try CommandRunner.run(arguments)
        return (result.status, result.stderr)
    }

    /// The kill loop. `arguments` write to `output`; `old` is what `output` holds before each run
    /// and `new` the SHA-256 of a complete run's output. Returns how many runs were killed.
    func killLoop(_ arguments: [String], output: String, old: Data, new: String, inputs: [String], iterations: Int,
                  seed: UInt64, duration: TimeInterval) throws -> (killed: Int, completed: Int, leftovers: Int) {
        var generator = SeededGenerator(state: seed)
        let oldSHA = try { () throws -> String in try old.write(to: URL(fileURLWithPath: output)); return try sha(output) }()
        let inputSHAs = try inputs.map(sha)
        var killed = 0, completed = 0, leftovers = 0, sawOld = 0, sawNew = 0
        for iteration in 0..<iterations {
            try old.write(to: URL(fileURLWithPath: output))
            let delay = Double.random(in: (duration * 0.2)...(duration * 1.1), using: &generator)
            let process = try CommandRunner.start(arguments)
            Thread.sleep(forTimeInterval: delay)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let wasKilled = process.terminationReason == .uncaughtSignal
            let label = "iteration \(iteration), delay \(String(format: "%.3f", delay)) s, \(wasKilled ? "killed" : "exited \(process.terminationStatus)")"
            if wasKilled { killed += 1 } else {
                completed += 1
                XCTAssertEqual(process.terminationStatus, 0, label)
            }
            let now = try sha(output)
            XCTAssertTrue(now == oldSHA || now == new, "\(label): the output is neither the old file nor the complete new one")
            if now == oldSHA { sawOld += 1 } else if now == new { sawNew += 1 }
            let temporaries = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(AtomicFile.temporaryPrefix) }
            if !wasKilled { XCTAssertEqual(temporaries, [], "\(label): a run that finished left temporary files") }
            XCTAssertLessThanOrEqual(temporaries.count, 1, label)
            leftovers += temporaries.count
            for name in temporaries { try FileManager.default.removeItem(atPath: tmp(name)) }
        }
        XCTAssertEqual(try inputs.map(sha), inputSHAs, "an input changed")
        XCTAssertGreaterThan(killed, 0, "no run was killed: the delays are too long for this machine")
        print("kill loop \(arguments[0]): \(iterations) runs, \(killed) killed (\(leftovers) left a temporary file), \(completed) completed; output old \(sawOld)x, new \(sawNew)x")
        return (killed, completed, leftovers)
    }

    func testSIGKILLDuringApplyNeverLeavesAPartialOutput() throws {
        let base = tmp("base.safetensors"), finetuned = tmp("ft.safetensors"), patch = tmp("task.patch")
        try makeCheckpoint(base, finetuned: false)
        try makeCheckpoint(finetuned, finetuned: true)
        let (status, message) = try run(["patch", base, finetuned, "--select", "all", "-o", patch])
        XCTAssertEqual(status, 0, message)
        let output = tmp("out.safetensors")
        let start = Date()
        let (applied, applyMessage) = try run(["apply", base, patch, "-o", output])
        let duration = Date().timeIntervalSince(start)
        XCTAssertEqual(applied, 0, applyMessage)
        let new = try sha(output)
        XCTAssertEqual(new, try sha(finetuned), "apply does not reproduce the fine-tune")
        // The old content: a different, valid checkpoint (the tiny fixture).
        let old = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tiny-bert/base/model.safetensors")))
        _ = try killLoop(["apply", base, patch, "-o", output], output: output, old: old, new: new,
                         inputs: [base, patch], iterations: Self.applyIterations, seed: 0xC4EC_0001, duration: duration)
    }

    func testSIGKILLDuringPatchNeverLeavesAPartialPatch() throws {
        let base = tmp("base.safetensors"), finetuned = tmp("ft.safetensors"), patch = tmp("task.patch")
        try makeCheckpoint(base, finetuned: false)
        try makeCheckpoint(finetuned, finetuned: true)
        let arguments = ["patch", base, finetuned, "--select", "all", "-o", patch]
        let start = Date()
        let (status, message) = try run(arguments)
        let duration = Date().timeIntervalSince(start)
        XCTAssertEqual(status, 0, message)
        let new = try sha(patch)
        let (verified, verifyMessage) = try run(["verify", patch, "--base", base, "--finetuned", finetuned])
        XCTAssertEqual(verified, 0, verifyMessage)
        // The old content: an older, valid patch (for the tiny fixture).
        let old = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("patch/layernorm.patch")))
        _ = try killLoop(arguments, output: patch, old: old, new: new, inputs: [base, finetuned],
                         iterations: Self.patchIterations, seed: 0xC4EC_0002, duration: duration)
    }
}
