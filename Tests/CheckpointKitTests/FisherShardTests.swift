import Foundation
import XCTest
@testable import CheckpointKit
import CKernels

/// `ckpt fisher --shard K/N` and `ckpt fisher merge`: the merge of 1, 2, 3 or 4 shards is byte for
/// byte the file one run writes (checked with the bytes of both files, as `cmp` would), the merged
/// values match PyTorch autograd in float64 (fixtures/make_fisher_fixtures.py), and parts of
/// different runs, duplicate and missing shards are refused with nothing written.
final class FisherShardTests: XCTestCase {
    let tiny = Fixtures.path("fisher/tiny-model")
    let data = Fixtures.path("fisher/data.tsv")

    func ckpt(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let result = try CommandRunner.run(arguments)
        XCTAssertEqual(result.status, 0, "ckpt \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
        return result
    }

    /// Runs `arguments` once with `--reproducible` (-o one.safetensors) and as `shards` shards
    /// merged; returns both files' bytes.
    func oneRunAndMerge(_ arguments: [String], shards: Int, in directory: URL) throws -> (one: Data, merged: Data) {
        let one = directory.appendingPathComponent("one.safetensors").path
        _ = try ckpt(["fisher"] + arguments + ["--reproducible", "-o", one])
        var parts: [String] = []
        for k in (0..<shards).reversed() {  // any order
            let part = directory.appendingPathComponent("part\(k)of\(shards).safetensors").path
            _ = try ckpt(["fisher"] + arguments + ["--shard", "\(k)/\(shards)", "-o", part])
            parts.append(part)
        }
        let merged = directory.appendingPathComponent("merged\(shards).safetensors").path
        _ = try ckpt(["fisher", "merge"] + parts + ["-o", merged])
        return (try Data(contentsOf: URL(fileURLWithPath: one)), try Data(contentsOf: URL(fileURLWithPath: merged)))
    }

    func testMergeOfOneToFourShardsIsTheOneRunFileOnTheTinyModels() throws {
        let dir = try Fixtures.temporaryDirectory()
        let runs: [[String]] = [
            [tiny, "--data", data, "--kind", "empirical", "--params", "both", "--batch-size", "4"],
            [tiny, "--data", data, "--kind", "expected", "--params", "layernorm", "--batch-size", "7"],
            [Fixtures.path("fisher/tiny-regression"), "--data", Fixtures.path("fisher/regression.tsv"), "--kind", "empirical", "--params", "bias"],
            [Fixtures.path("fisher/tiny-electra"), "--data", data, "--kind", "expected", "--params", "both", "--batch-size", "5"],
        ]
        for arguments in runs {
            for shards in 1...4 {
                let (one, merged) = try oneRunAndMerge(arguments, shards: shards, in: dir)
                XCTAssertEqual(one, merged, "\(arguments[0]) \(arguments[4]) with \(shards) shards")
            }
        }
    }

    /// The merged Fisher is the Fisher: PyTorch autograd's values (float64, one example at a time).
    func testMergedValuesMatchTorch() throws {
        let dir = try Fixtures.temporaryDirectory()
        let parts = try (0..<3).map { k -> String in
            let part = dir.appendingPathComponent("p\(k).safetensors").path
            _ = try ckpt(["fisher", tiny, "--data", data, "--kind", "expected", "--params", "both", "--shard", "\(k)/3", "-o", part])
            return part
        }
        let merged = dir.appendingPathComponent("merged.safetensors").path
        _ = try ckpt(["fisher", "merge"] + parts + ["-o", merged])
        let worst = FisherEstimatorTests.worstRelativeError(try FisherFile.read(path: merged).tensors,
                                                            try FisherEstimatorTests.reference("expected-expected.safetensors"))
        XCTAssertLessThan(worst, 1e-4)
    }

    /// Slow: all-MiniLM-L6-v2 (data/minilm/base) with a fresh two-label head, 24 examples.
    func testMergeIsTheOneRunFileOnMiniLM() throws {
        try TestEnvironment.slow()
        let base = try DiffRealCheckpointTests.present("base")
        let dir = try Fixtures.temporaryDirectory()
        for shards in [1, 3, 4] {
            let (one, merged) = try oneRunAndMerge([base, "--data", data, "--num-labels", "2", "--seed", "3", "--samples", "24", "--batch-size", "8"],
                                                   shards: shards, in: dir)
            XCTAssertEqual(one, merged, "MiniLM, \(shards) shards")
        }
        let worst = try defaultRunDifference([base, "--data", data, "--num-labels", "2", "--seed", "3", "--samples", "24", "--batch-size", "8"], in: dir)
        XCTAssertLessThan(worst, 1e-4)
    }

    /// The largest relative difference between a default (OpenBLAS) one run of `arguments` and the
    /// merge of a 3-shard split (reproducible), over entries above 1e-6 of the largest.
    func defaultRunDifference(_ arguments: [String], in dir: URL) throws -> Double {
        let fast = dir.appendingPathComponent("default.safetensors").path
        _ = try ckpt(["fisher"] + arguments + ["-o", fast])
        let parts = try (0..<3).map { k -> String in
            let part = dir.appendingPathComponent("d\(k).safetensors").path
            _ = try ckpt(["fisher"] + arguments + ["--shard", "\(k)/3", "-o", part])
            return part
        }
        let merged = dir.appendingPathComponent("dmerged.safetensors").path
        _ = try ckpt(["fisher", "merge"] + parts + ["-o", merged])
        let a = try FisherFile.read(path: fast), b = try FisherFile.read(path: merged)
        XCTAssertNil(a.metadata["reproducible"])
        XCTAssertEqual(b.metadata["reproducible"], "true")
        let reference = Dictionary(uniqueKeysWithValues: b.tensors.map { ($0.name, $0.values) })
        let worst = FisherEstimatorTests.worstRelativeError(a.tensors, reference)
        print("default run vs merge, \(arguments[0]): max relative difference \(worst)")
        return worst
    }

    /// A default run (OpenBLAS) agrees with the reproducible merge within float32 rounding.
    func testDefaultRunAgreesWithMergeWithinFloat32Rounding() throws {
        let dir = try Fixtures.temporaryDirectory()
        for arguments in [[tiny, "--data", data, "--kind", "expected", "--params", "both", "--batch-size", "4"],
                          [Fixtures.path("fisher/tiny-electra"), "--data", data, "--kind", "empirical", "--params", "both"]] {
            XCTAssertLessThan(try defaultRunDifference(arguments, in: dir), 1e-4)
        }
    }

    /// With `--reproducible`, batching changes no bit of a one-run file either (the dense layers
    /// are row-deterministic).
    func testBatchSizeChangesNoBit() throws {
        let dir = try Fixtures.temporaryDirectory()
        var files: [Data] = []
        for batch in ["1", "3", "32"] {
            let out = dir.appendingPathComponent("b\(batch).safetensors").path
            _ = try ckpt(["fisher", tiny, "--data", data, "--params", "both", "--batch-size", batch, "--reproducible", "-o", out])
            files.append(try Data(contentsOf: URL(fileURLWithPath: out)))
        }
        XCTAssertEqual(files[0], files[1])
        XCTAssertEqual(files[0], files[2])
    }

    /// Expects `ckpt fisher merge parts -o out` to fail, say `message`, and write nothing.
    func assertMergeRefused(_ parts: [String], _ message: String, status: Int32 = 3, in dir: URL,
                            file: StaticString = #filePath, line: UInt = #line) throws {
        let out = dir.appendingPathComponent("refused.safetensors").path
        let result = try CommandRunner.run(["fisher", "merge"] + parts + ["-o", out])
        XCTAssertEqual(result.status, status, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), result.stderr, file: file, line: line)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr, file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), file: file, line: line)
    }

    func testRefusesPartsOfDifferentRunsAndIncompleteSets() throws {
        let dir = try Fixtures.temporaryDirectory()
        func part(_ name: String, _ shard: String, _ extra: [String] = [], model: String? = nil, data: String? = nil) throws -> String {
            let path = dir.appendingPathComponent(name).path
            _ = try ckpt(["fisher", model ?? tiny, "--data", data ?? self.data, "--shard", shard, "-o", path] + extra)
            return path
        }
        let a0 = try part("a0", "0/2"), a1 = try part("a1", "1/2")
        // Another data file with the same examples plus one more line.
        let otherData = dir.appendingPathComponent("data.tsv").path
        try (String(contentsOfFile: data, encoding: .utf8) + "a fine film\t1\n").write(toFile: otherData, atomically: true, encoding: .utf8)
        // Another model: the tiny model with one LayerNorm weight changed.
        let otherModel = dir.appendingPathComponent("model").path
        try FileManager.default.copyItem(atPath: tiny, toPath: otherModel)
        let weights = otherModel + "/model.safetensors"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: weights))
        bytes[bytes.count - 1] ^= 1
        try bytes.write(to: URL(fileURLWithPath: weights))

        try assertMergeRefused([a0, try part("k1", "1/2", ["--kind", "expected"])], "its kind is expected, \(a0)'s is empirical", in: dir)
        try assertMergeRefused([a0, try part("p1", "1/2", ["--params", "bias"])], "parameter set is bias", in: dir)
        try assertMergeRefused([a0, try part("d1", "1/2", data: otherData)], "data file (SHA-256)", in: dir)
        try assertMergeRefused([a0, try part("m1", "1/2", model: otherModel)], "model (config.json and weights, SHA-256)", in: dir)
        try assertMergeRefused([a0, try part("l1", "1/2", ["--max-length", "8"])], "its token limit is 8", in: dir)
        try assertMergeRefused([a0, try part("t1", "1/2", ["--label-names", "1,0"])], "tokenized examples", in: dir)
        try assertMergeRefused([a0, try part("s1", "1/2", ["--samples", "20"])], "number of examples is 20", in: dir)
        try assertMergeRefused([a0, try part("n1", "1/3")], "number of shards is 3 (shard 1/3)", in: dir)
        try assertMergeRefused([a0, a0], "shard 0/2 is also given as \(a0)", status: 2, in: dir)
        try assertMergeRefused([a1], "missing shard 0/2 of 2", status: 2, in: dir)
        try assertMergeRefused([a0, a1, Fixtures.path("fisher/expected-empirical.safetensors")], "not a Fisher shard file", status: 2, in: dir)
        let result = try CommandRunner.run(["fisher", "merge", a0, a1, "-o", a1])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("the output is one of the shard files"), result.stderr)
    }

    func testRefusesBadShardSpecifications() throws {
        for (spec, message) in [("2/2", "must be in 0..<2"), ("-1/2", "must be in 0..<2"), ("0/0", "at least 1"), ("1", "expected K/N"), ("a/b", "expected K/N")] {
            let result = try CommandRunner.run(["fisher", tiny, "--data", data, "--shard=\(spec)", "-o", "/nonexistent/x"])
            XCTAssertNotEqual(result.status, 0, spec)
            XCTAssertTrue(result.stderr.contains(message), "\(spec): \(result.stderr)")
        }
        let sums = Fixtures.path("fisher/expected-empirical.safetensors")
        let result = try CommandRunner.run(["fisher", tiny, "--from-grads", sums, "--samples", "3", "--reproducible", "-o", "/nonexistent/x"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--from-grads computes nothing"), result.stderr)
    }

    /// Exact sums: any order of the same terms gives the same bits, including subnormal, huge,
    /// saturating and NaN terms.
    func testExactSumsAreOrderIndependent() {
        let terms: [Double] = [1e-310, 0x1p-1074, 1, 1e-17, 3.5e290, 0.1, 0.2, 0.3, 1e-300, 7, 1e10, 5e-324]
        func sum(_ order: [Double]) -> FisherExactSums {
            var s = FisherExactSums(count: 2)
            for t in order { s.addRow { $0 == 0 ? t : t * 2 } }
            s.normalize()
            return s
        }
        let forward = sum(terms), backward = sum(terms.reversed()), shuffled = sum(terms.sorted { $0.bitPattern % 7 < $1.bitPattern % 7 })
        for j in 0..<2 {
            XCTAssertEqual(forward.value(at: j).bitPattern, backward.value(at: j).bitPattern)
            XCTAssertEqual(forward.value(at: j).bitPattern, shuffled.value(at: j).bitPattern)
        }
        XCTAssertEqual(forward.value(at: 0), 3.5e290, accuracy: 1e276)
        var merged = sum(Array(terms.prefix(5)))
        merged.add(sum(Array(terms.dropFirst(5))))
        merged.normalize()
        XCTAssertEqual(merged.value(at: 1).bitPattern, forward.value(at: 1).bitPattern)
        var special = FisherExactSums(count: 3)
        special.addRow { [1, 0x1p975, .nan][$0] }
        special.addRow { [.infinity, 1, 1][$0] }
        special.normalize()
        XCTAssertEqual(special.value(at: 0), .infinity)
        XCTAssertEqual(special.value(at: 1), .infinity)
        XCTAssertTrue(special.value(at: 2).isNaN)
    }
}

/// The dense-layer kernels behind the Fisher's bitwise merge: each output row depends on its own
/// input row alone (the same bits in a batch of 1, 5 or 13 rows, at any position), both
/// instruction-set copies agree bit for bit, and the values match a float64 product.
final class FisherLinearKernelTests: XCTestCase {
    func testRowsAreBatchIndependentAndCopiesAgree() {
        let inF = 37, outF = 11, rows = 13
        var generator = NormalGenerator(seed: 5)
        let x = (0..<(rows * inF)).map { _ in Float(generator.next()) }
        let w = (0..<(outF * inF)).map { _ in Float(generator.next()) }
        let dy = (0..<(rows * outF)).map { _ in Float(generator.next()) }
        let isas = [CKPT_ISA_PORTABLE] + (ckpt_isa_available(CKPT_ISA_AVX2) != 0 ? [CKPT_ISA_AVX2] : [])
        for isa in isas {
            var all = [Float](repeating: 0, count: rows * outF), back = [Float](repeating: 0, count: rows * inF)
            ckpt_linear_isa(isa, x, Int64(rows), Int64(inF), w, Int64(outF), &all, 0)
            ckpt_linear_backward_isa(isa, dy, Int64(rows), Int64(outF), w, Int64(inF), &back, 0)
            for r in 0..<rows {
                var one = [Float](repeating: 0, count: outF), oneBack = [Float](repeating: 0, count: inF)
                x.withUnsafeBufferPointer { ckpt_linear_isa(isa, $0.baseAddress! + r * inF, 1, Int64(inF), w, Int64(outF), &one, 0) }
                dy.withUnsafeBufferPointer { ckpt_linear_backward_isa(isa, $0.baseAddress! + r * outF, 1, Int64(outF), w, Int64(inF), &oneBack, 0) }
                XCTAssertEqual(one.map(\.bitPattern), Array(all[(r * outF)..<((r + 1) * outF)]).map(\.bitPattern), "row \(r)")
                XCTAssertEqual(oneBack.map(\.bitPattern), Array(back[(r * inF)..<((r + 1) * inF)]).map(\.bitPattern), "row \(r)")
                for o in 0..<outF {
                    let exact = (0..<inF).reduce(0.0) { $0 + Double(x[r * inF + $1]) * Double(w[o * inF + $1]) }
                    XCTAssertEqual(Double(all[r * outF + o]), exact, accuracy: 1e-4)
                }
                for i in 0..<inF {
                    let exact = (0..<outF).reduce(0.0) { $0 + Double(dy[r * outF + $1]) * Double(w[$1 * inF + i]) }
                    XCTAssertEqual(Double(back[r * inF + i]), exact, accuracy: 1e-4)
                }
            }
            if isa == CKPT_ISA_AVX2 {
                var portable = [Float](repeating: 0, count: rows * outF)
                ckpt_linear_isa(CKPT_ISA_PORTABLE, x, Int64(rows), Int64(inF), w, Int64(outF), &portable, 0)
                XCTAssertEqual(portable.map(\.bitPattern), all.map(\.bitPattern))
            }
        }
    }
}
