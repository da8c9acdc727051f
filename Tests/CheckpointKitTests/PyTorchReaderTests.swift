import Foundation
import XCTest
@testable import CheckpointKit

/// The PyTorch reader against files `torch.save` wrote and the values torch itself reports
/// (fixtures/make_torch_fixtures.py, fixtures/expected/torch.json), and hostile files that must be
/// refused with one line, exit status 2, and nothing run.
final class PyTorchReaderTests: XCTestCase {
    func expected(_ file: String) throws -> [String: [String: Any]] {
        let all = try XCTUnwrap(Fixtures.json("expected/torch.json") as? [String: Any])
        return try XCTUnwrap(all[file] as? [String: [String: Any]], file)
    }

    /// Every tensor of `checkpoint` named in `reference` has torch's dtype, shape and values.
    func assertMatches(_ checkpoint: any Checkpoint, _ reference: [String: [String: Any]], prefix: String = "",
                       file: StaticString = #filePath, line: UInt = #line) throws {
        for (name, entry) in reference {
            let tensor = try XCTUnwrap(checkpoint.tensor(named: prefix + name), name, file: file, line: line)
            XCTAssertEqual(tensor.dtype.rawValue, entry["dtype"] as? String, name, file: file, line: line)
            XCTAssertEqual(tensor.shape, entry["shape"] as? [Int], name, file: file, line: line)
            let values = try XCTUnwrap(entry["values"] as? [Any], name).map { ($0 as? Double) ?? Double($0 as! Int) }
            XCTAssertEqual(try TensorDecoder.doubles(of: tensor, in: checkpoint), values, name, file: file, line: line)
        }
    }

    /// F32, F64, F16, BF16, the four FP8 formats, every integer width, bool, a scalar, an empty
    /// tensor and a Parameter: the values torch gives.
    func testEveryDTypeTorchWritesReadsLikeTorch() throws {
        let checkpoint = try CheckpointOpener.open(Fixtures.path("torch/dtypes.pt"))
        XCTAssertEqual(checkpoint.format, .pyTorch)
        let reference = try expected("dtypes.pt")
        XCTAssertEqual(checkpoint.tensors.count, reference.count)
        try assertMatches(checkpoint, reference)
        XCTAssertTrue(checkpoint.bytesAreFileMapped)
        for tensor in checkpoint.tensors {
            let location = try XCTUnwrap(checkpoint.storedLocation(of: tensor))
            XCTAssertEqual(location.range.count, tensor.byteCount)
        }
    }

    /// Strided views (a column, a transpose, a block, a step of 2 and 3) come out row-major with
    /// torch's values; a contiguous row with a storage offset is read in place.
    func testStridedViewsAreGathered() throws {
        let checkpoint = try CheckpointOpener.open(Fixtures.path("torch/strided.pt"))
        try assertMatches(checkpoint, try expected("strided.pt"))
        XCTAssertFalse(checkpoint.bytesAreFileMapped)
        XCTAssertNil(checkpoint.storedLocation(of: try XCTUnwrap(checkpoint.tensor(named: "transposed"))))
        XCTAssertNotNil(checkpoint.storedLocation(of: try XCTUnwrap(checkpoint.tensor(named: "row"))))
    }

    /// Tied weights: both names read, the second reported as sharing the first one's storage.
    func testSharedStorageIsReported() throws {
        let checkpoint = try CheckpointOpener.open(Fixtures.path("torch/tied.bin"))
        try assertMatches(checkpoint, try expected("tied.bin"))
        XCTAssertEqual(checkpoint.metadata["storage of cls.predictions.decoder.weight"],
                       "shared with embeddings.word_embeddings.weight")
        XCTAssertEqual(checkpoint.metadata.keys.filter { $0.hasPrefix("storage of") }.count, 1)
    }

    /// A training checkpoint: the one state dict is picked and said so, the rest listed; `key`
    /// picks by name; no key on a file without one obvious state dict names tensors by path.
    func testTrainingCheckpointKeys() throws {
        let all = try XCTUnwrap(Fixtures.json("expected/torch.json") as? [String: Any])
        let reference = try XCTUnwrap(all["nested.pth"] as? [String: Any])
        XCTAssertEqual(reference["epoch"] as? Int, 3)
        let picked = try CheckpointOpener.open(Fixtures.path("torch/nested.pth"))
        try assertMatches(picked, try XCTUnwrap(reference["model"] as? [String: [String: Any]]))
        XCTAssertEqual(picked.metadata["state_dict_key"], "model")
        XCTAssertEqual(picked.skipped.map(\.name), ["optimizer", "epoch", "note"])
        XCTAssertTrue(picked.skipped[1].reason.hasPrefix("int 3"))

        let optimizer = try CheckpointOpener.open(Fixtures.path("torch/nested.pth"), options: .init(key: "optimizer"))
        let exp = try XCTUnwrap(reference["optimizer.state.0.exp_avg"] as? [String: Any])
        try assertMatches(optimizer, ["state.0.exp_avg": exp])
        XCTAssertTrue(optimizer.skipped.contains { $0.name == "param_groups.0.lr" })

        XCTAssertThrowsError(try CheckpointOpener.open(Fixtures.path("torch/nested.pth"), options: .init(key: "ema"))) {
            XCTAssertEqual(($0 as? CheckpointError)?.description,
                           Fixtures.path("torch/nested.pth") + ": no dict under key 'ema' (top-level keys: model, optimizer, epoch, note)")
        }
        let lightning = try CheckpointOpener.open(Fixtures.path("torch/lightning.ckpt"))
        XCTAssertEqual(lightning.metadata["state_dict_key"], "state_dict")
        try assertMatches(lightning, try expected("tied.bin"))
    }

    /// `pytorch_model.bin.index.json` reads like a sharded safetensors index; a ZIP64 directory
    /// (hand-made, checked with torch.load) reads.
    func testShardedIndexAndZip64() throws {
        let sharded = try CheckpointOpener.open(Fixtures.path("torch/sharded"))
        XCTAssertEqual(sharded.format, .shardedPyTorch)
        XCTAssertEqual(sharded.files.count, 3)
        var reference = try expected("tied.bin")
        reference["cls.predictions.decoder.weight"] = nil
        try assertMatches(sharded, reference)
        try assertMatches(try CheckpointOpener.open(Fixtures.path("torch/zip64.bin")), try expected("zip64.bin"))
    }

    /// Hostile and broken files: one line, exit status 2, the reason named, and the marker file
    /// the payloads would create never appears.
    func testHostileFilesAreRefusedAndNothingRuns() throws {
        let marker = "/tmp/ckpt-torch-fixture-marker"
        try? FileManager.default.removeItem(atPath: marker)
        let cases: [(String, String)] = [
            ("hostile-posix-system.bin", "refuses to run `posix.system` (pickle global); only tensor data is read"),
            ("hostile-os-system.bin", "refuses to run `os.system` (pickle global)"),
            ("hostile-eval.bin", "refuses to run `builtins.eval` (pickle global)"),
            ("hostile-popen.bin", "refuses to run `subprocess.Popen` (pickle global)"),
            ("hostile-reduce-args.bin", "_rebuild_tensor_v2 called with arguments it does not take"),
            ("hostile-deep.bin", "nesting deeper than 64"),
            ("hostile-cycle.bin", "'x.0' holds itself (a recursive pickle)"),
            ("hostile-storage-range.bin", "tensor 'w': the view reaches byte 400 of its storage, which has 16 bytes"),
            ("hostile-missing-storage.bin", "storage '7' has no entry archive/data/7"),
            ("hostile-overlap.bin", "zip entries 'archive/data.pkl' and 'archive/byteorder' overlap"),
            ("hostile-compressed.bin", "zip entry 'archive/data/0' is compressed (method 8)"),
            ("legacy.pt", "a legacy PyTorch file (torch.save before 1.6, or a bare pickle)"),
        ]
        for (file, message) in cases {
            for command in [["inspect"], ["diff", Fixtures.path("torch/dtypes.pt")]] {
                let result = try CommandRunner.run(command + [Fixtures.path("torch/" + file)])
                XCTAssertEqual(result.status, 2, "\(file): \(result.stderr)")
                XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(file): \(result.stderr)")
                XCTAssertTrue(result.stderr.contains(message), "\(file): \(result.stderr)")
                XCTAssertTrue(result.stdout.isEmpty, file)
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a payload ran")
    }

    /// A tuple DAG of 2^40 leaves (t(n+1) = (t(n), t(n)) through the memo) costs its 40 tuples: a
    /// tuple reached again is listed as the same object, not walked again.
    func testSharedContainersAreWalkedOnce() throws {
        let checkpoint = try CheckpointOpener.open(Fixtures.path("torch/hostile-expand.bin"))
        XCTAssertTrue(checkpoint.tensors.isEmpty)
        XCTAssertEqual(checkpoint.skipped.count, 41)
        XCTAssertEqual(checkpoint.skipped.last?.reason, "tuple of 2, the same object as 'x.0'")
    }

    /// Every input FuzzPyTorch crashed on (Fuzz/regressions/FuzzPyTorch) now gives a typed error
    /// or opens, read as the fuzz target reads it.
    func testFuzzRegressions() throws {
        let directory = Fixtures.checkout.appendingPathComponent("Fuzz/regressions/FuzzPyTorch")
        let inputs = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        XCTAssertFalse(inputs.isEmpty)
        for input in inputs {
            for options in [CheckpointOpener.Options(), CheckpointOpener.Options(key: "model")] {
                do {
                    let checkpoint = try CheckpointOpener.open(directory.appendingPathComponent(input).path, options: options)
                    _ = CheckpointSummary(checkpoint)
                } catch {
                    XCTAssertTrue(error is CategorizedError, "\(input): \(error)")
                }
            }
        }
    }

    /// `apply` of a patch to a PyTorch base writes safetensors with torch's values.
    func testModifiedCopyIsSafetensors() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkpoint = try CheckpointOpener.open(Fixtures.path("torch/strided.pt"))
        let output = directory.appendingPathComponent("copy.safetensors").path
        _ = try checkpoint.writeModifiedCopy(CheckpointEdit(), to: output) { _ in }
        let copy = try CheckpointOpener.open(output)
        XCTAssertEqual(copy.format, .safetensors)
        XCTAssertEqual(copy.metadata, ["format": "pt"])
        try assertMatches(copy, try expected("strided.pt"))
    }
}
