import Foundation
import XCTest
@testable import CheckpointKit

/// Fine-tunes that added tokens (issue 19): a tiny GPT-2 with a tied lm_head and a tiny Llama-style
/// model with an untied one, each grown from 64 to 67 vocabulary rows (fixtures/make_resize_fixtures.py:
/// PyTorch `resize_token_embeddings`, LayerNorm-only tuning; numpy float64 expectations in
/// fixtures/resize/expected.json), and the real MiniLM fine-tune grown from 30,522 to 30,524 rows
/// (data/minilm/ft-vocab, derived with numpy by `scripts/dev.sh data` and checked against
/// transformers' output, fixtures/minilm/resize.json). The diff compares the shared rows; the default
/// patch holds the LayerNorm changes plus the added rows; apply reproduces the fine-tune bit for bit.
final class ResizedTensorTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func expected(_ fixture: String) throws -> [String: Any] {
        let all = try XCTUnwrap(Fixtures.json("resize/expected.json") as? [String: Any])
        return try XCTUnwrap(all[fixture] as? [String: Any])
    }

    func testDiffComparesTheSharedRowsAndNamesTheNewTokens() throws {
        for (fixture, resized) in [("gpt2", ["transformer.wte.weight"]), ("llama", ["lm_head.weight", "model.embed_tokens.weight"])] {
            let diff = try CheckpointDiff(base: try CheckpointOpener.open(Fixtures.path("resize/\(fixture)/base")),
                                          finetuned: try CheckpointOpener.open(Fixtures.path("resize/\(fixture)/ft")))
            let expected = try XCTUnwrap(Self.expected(fixture)["tensors"] as? [String: [String: Any]])
            XCTAssertTrue(diff.tensors.allSatisfy { $0.problem == nil }, fixture)
            for name in resized {
                let t = try XCTUnwrap(diff.tensors.first { $0.baseName == name }, name)
                let want = try XCTUnwrap(expected[name])
                XCTAssertEqual(t.shapeChange?.sharedRows, want["shared_rows"] as? Int, name)
                XCTAssertEqual(t.shapeChange?.addedRows, want["added_rows"] as? Int, name)
                XCTAssertEqual(t.numel, 64 * 16, name)
                XCTAssertEqual(t.changed, want["changed"] as? Int, name)
                let sums = try XCTUnwrap(t.sums)
                assertMatchesNumpy(sums.baseSquares, want["base_sq"], "\(name) base_sq")
                assertMatchesNumpy(sums.deltaSquares, want["delta_sq"], "\(name) delta_sq")
                XCTAssertFalse(t.isIdentical, name)
            }
            let regime = FineTuningRegime(diff)
            XCTAssertEqual(regime.identifier, "layernorm", regime.line)
            XCTAssertEqual(regime.resized.map(\.baseName).sorted(), resized.sorted())
            XCTAssertTrue(regime.line.contains("+3 rows (new tokens 64-66)"), regime.line)
            XCTAssertFalse(diff.isIdentical)
        }
    }

    func testDiffJSONReportsTheAddedRows() throws {
        let result = try CommandRunner.run(["diff", Fixtures.path("resize/gpt2/base"), Fixtures.path("resize/gpt2/ft"), "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        let tensors = try XCTUnwrap(document["tensors"] as? [[String: Any]])
        let wte = try XCTUnwrap(tensors.first { $0["base_name"] as? String == "transformer.wte.weight" })
        XCTAssertEqual(wte["shared_rows"] as? Int, 64)
        XCTAssertEqual(wte["added_rows"] as? Int, 3)
        XCTAssertEqual(wte["replaced"] as? Bool, false)
        XCTAssertTrue(wte["problem"] is NSNull)
        let regime = try XCTUnwrap(document["regime"] as? [String: Any])
        let resized = try XCTUnwrap(regime["resized"] as? [[String: Any]])
        XCTAssertEqual(resized.first?["finetuned_shape"] as? [Int], [67, 16])
        let text = try CommandRunner.run(["diff", Fixtures.path("resize/gpt2/base"), Fixtures.path("resize/gpt2/ft")])
        XCTAssertTrue(text.stdout.contains("wte +3 rows (new tokens 64-66)"), text.stdout)
        XCTAssertFalse(text.stdout.contains("Shape / dtype mismatches"), text.stdout)
    }

    /// The default patch holds the LayerNorm changes plus the new rows (nothing of the unchanged
    /// shared rows); apply gives the fine-tune's tensors bit for bit, the GPT-2 lm_head stays tied
    /// (absent from the file, as in the fine-tune), and verify says yes.
    func testPatchHoldsTheNewRowsAndApplyReproducesTheFinetune() throws {
        for (fixture, resized) in [("gpt2", ["transformer.wte.weight"]), ("llama", ["lm_head.weight", "model.embed_tokens.weight"])] {
            let base = Fixtures.path("resize/\(fixture)/base"), ft = Fixtures.path("resize/\(fixture)/ft")
            let plan = try PatchTestSupport.makePatch(base: base, finetuned: ft, to: tmp("\(fixture).patch"))
            let layerNorm = try PatchTestSupport.makePatch(base: base, finetuned: ft, select: ["layernorm"], to: tmp("\(fixture)-ln.patch"))
            XCTAssertEqual(plan.dataSize, layerNorm.dataSize + resized.count * 3 * 16 * 4, fixture)
            let patch = try PatchFile(path: tmp("\(fixture).patch"))
            XCTAssertEqual(patch.version, 2)
            for name in resized {
                let t = try XCTUnwrap(patch.tensors.first { $0.name == name })
                XCTAssertEqual(t.storage, .resized)
                XCTAssertEqual(t.resultShape, [67, 16])
                XCTAssertEqual(t.rows?.shape, [3, 16])
                XCTAssertEqual(t.indices?.elementCount, 0)
            }
            try PatchTestSupport.apply(base: base, patch: tmp("\(fixture).patch"), to: tmp("\(fixture).out"))
            let result = try RawSafetensors(path: tmp("\(fixture).out")), finetuned = try RawSafetensors(path: ft)
            XCTAssertEqual(result.tensors, finetuned.tensors, fixture)
            if fixture == "gpt2" { XCTAssertNil(result.tensors["lm_head.weight"]) }
            let verification = try PatchVerifier.verify(patch: patch, base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
            XCTAssertTrue(verification.ok, "\(verification.differences)")
            XCTAssertEqual((verification.checkedInPatch ?? 0) + (verification.checkedAgainstBase ?? 0), finetuned.tensors.count)
            // Without the rows: the result keeps 64 rows, and verify names the tensor.
            let partial = try PatchVerifier.verify(patch: try PatchFile(path: tmp("\(fixture)-ln.patch")), base: try CheckpointOpener.open(base),
                                                   finetuned: try CheckpointOpener.open(ft))
            XCTAssertEqual(partial.reproduces, false)
            XCTAssertEqual(Set(partial.differences.map(\.tensor)), Set(resized), fixture)
        }
    }

    /// Shared rows changed as well, and selected (`all`): a few entries are stored as indices and
    /// values next to the rows; every entry changed is stored whole (dense, with its shape); both
    /// apply bit for bit. (The default selection keeps only the added rows of an embedding matrix.)
    func testChangedSharedRowsAreStoredSparseOrWhole() throws {
        let base = Fixtures.path("resize/gpt2/base")
        var tensors = try RawSafetensors(path: Fixtures.path("resize/gpt2/ft"))
        for (label, stride) in [("few", 97), ("all", 1)] {
            var wte = tensors.tensors["transformer.wte.weight"]!
            for k in Swift.stride(from: 0, to: 64 * 16, by: stride) { wte.bytes[4 * k] ^= 1 }
            var edited = tensors
            edited.tensors["transformer.wte.weight"] = wte
            let ft = tmp("ft-\(label).safetensors")
            try PatchTestSupport.write(edited.order.map { ($0, edited.tensors[$0]!) }, to: ft)
            try PatchTestSupport.makePatch(base: base, finetuned: ft, select: ["all"], to: tmp("\(label).patch"))
            let t = try XCTUnwrap(try PatchFile(path: tmp("\(label).patch")).tensors.first { $0.name == "transformer.wte.weight" })
            XCTAssertEqual(t.storage, label == "few" ? .resized : .dense, label)
            if label == "few" { XCTAssertEqual(t.indices?.elementCount, (64 * 16 + 96) / 97) }
            try PatchTestSupport.apply(base: base, patch: tmp("\(label).patch"), to: tmp("\(label).out"))
            XCTAssertEqual(try RawSafetensors(path: tmp("\(label).out")).tensors, edited.tensors, label)
        }
        tensors = try RawSafetensors(path: base)
        XCTAssertEqual(tensors.tensors["transformer.wte.weight"]?.shape, [64, 16])
    }

    /// The other way round, rows removed (67 -> 64): the patch records the smaller shape.
    func testShrunkVocabularyRoundTrips() throws {
        let base = Fixtures.path("resize/llama/ft"), ft = Fixtures.path("resize/llama/base")
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
        XCTAssertTrue(FineTuningRegime(diff).line.contains("-3 rows (rows 64-66 removed)"), FineTuningRegime(diff).line)
        try PatchTestSupport.makePatch(base: base, finetuned: ft, to: tmp("shrink.patch"))
        let patch = try PatchFile(path: tmp("shrink.patch"))
        XCTAssertEqual(patch.tensors.filter { $0.storage == .resized }.map { $0.resultShape ?? [] }, [[64, 16], [64, 16]])
        XCTAssertTrue(patch.tensors.allSatisfy { $0.rows == nil })
        try PatchTestSupport.apply(base: base, patch: tmp("shrink.patch"), to: tmp("shrink.out"))
        XCTAssertEqual(try RawSafetensors(path: tmp("shrink.out")).tensors, try RawSafetensors(path: ft).tensors)
    }

    func testInspectShowsTheResultShape() throws {
        try PatchTestSupport.makePatch(base: Fixtures.path("resize/gpt2/base"), finetuned: Fixtures.path("resize/gpt2/ft"), to: tmp("g.patch"))
        let text = try CommandRunner.run(["inspect", tmp("g.patch")])
        XCTAssertEqual(text.status, 0, text.stderr)
        for needle in ["ckpt-patch version 2", "1 resized", "transformer.wte.weight  resized F32 [0]", "result shape [67, 16]"] {
            XCTAssertTrue(text.stdout.contains(needle), "'\(needle)' not in:\n\(text.stdout)")
        }
        let raw = try RawSafetensors(path: tmp("g.patch"))
        XCTAssertEqual(raw.metadata["shapes"], #"{"transformer.wte.weight":[67,16]}"#)
        XCTAssertEqual(raw.metadata["selection"], "layernorm,bias,head,resized")
        XCTAssertEqual(raw.tensors["transformer.wte.weight.rows"]?.shape, [3, 16])
    }

    /// `ckpt patch` writes exactly the committed version 2 patches that scripts/check_apply_patch.sh
    /// applies with the Python reader (fixtures/make_resize_fixtures.py `patches`).
    func testWriterReproducesTheCommittedResizePatches() throws {
        for (fixture, ft) in [("gpt2", "gpt2/ft"), ("llama", "llama/ft"), ("bert-head", "bert-head/ft"), ("gpt2-bf16", "gpt2/ft-bf16")] {
            let output = tmp("\(fixture).patch")
            let base = fixture.replacingOccurrences(of: "-bf16", with: "")
            let result = try CommandRunner.run(["patch", "fixtures/resize/\(base)/base", "fixtures/resize/\(ft)", "-o", output],
                                               workingDirectory: Fixtures.checkout)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(try PatchTestSupport.sha256(output), try PatchTestSupport.sha256(Fixtures.path("resize/\(fixture).patch")), fixture)
        }
    }

    /// A damaged version 2 patch is refused naming the tensor: a resized tensor without its shape,
    /// `r` in a version 1 file, added rows that do not fit the base.
    func testBrokenResizedPatchesAreRefused() throws {
        let raw = try RawSafetensors(path: Fixtures.path("resize/gpt2.patch"))
        // The entries in the patch's data order (empty `.indices`/`.values` share an offset with `.rows`).
        let names = try PatchFile(path: Fixtures.path("resize/gpt2.patch")).tensors.flatMap { t in
            [t.indices?.name, t.values.name, t.rows?.name].compactMap { $0 }
        }
        let entries = names.map { ($0, raw.tensors[$0]!) }
        var noShapes = raw.metadata
        noShapes["shapes"] = nil
        try PatchTestSupport.write(entries, metadata: noShapes, to: tmp("no-shapes.patch"))
        XCTAssertThrowsError(try PatchFile(path: tmp("no-shapes.patch"))) { error in
            XCTAssertTrue("\(error)".contains("transformer.wte.weight") && "\(error)".contains("'shapes'"), "\(error)")
        }
        var v1 = raw.metadata
        v1["version"] = "1"
        try PatchTestSupport.write(entries, metadata: v1, to: tmp("v1.patch"))
        XCTAssertThrowsError(try PatchFile(path: tmp("v1.patch"))) { error in
            XCTAssertTrue("\(error)".contains("version 1 patch has no 'shapes'"), "\(error)")
        }
        // A base whose embeddings have 66 rows: the 3 stored rows do not make 67.
        let base = try RawSafetensors(path: Fixtures.path("resize/gpt2/base"))
        var tensors = base.order.map { ($0, base.tensors[$0]!) }
        let k = try XCTUnwrap(tensors.firstIndex { $0.0 == "transformer.wte.weight" })
        tensors[k].1.shape = [66, 16]
        tensors[k].1.bytes.append(Data(count: 2 * 16 * 4))
        try PatchTestSupport.write(tensors, to: tmp("base66.safetensors"))
        XCTAssertThrowsError(try PatchTestSupport.apply(base: tmp("base66.safetensors"), patch: Fixtures.path("resize/gpt2.patch"),
                                                        to: tmp("out.safetensors"), force: true)) { error in
            XCTAssertTrue("\(error)".contains("transformer.wte.weight") && "\(error)".contains("48 entries of added rows but [66, 16] -> [67, 16] adds 16"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp("out.safetensors")))
    }

    /// A fine-tune both resized and saved in another dtype (issues 18 and 19): the GPT-2 fine-tune
    /// saved in BF16 by PyTorch (fixtures/resize/gpt2/ft-bf16) against the F32 base. The diff compares
    /// the shared rows with the base converted to BF16 (changed counts from PyTorch's conversion in
    /// expected.json); the default patch converts the embeddings, then appends the new rows in BF16;
    /// apply gives the PyTorch-made file's tensors bit for bit and verify says yes.
    func testResizedAndConvertedTensorRoundTrips() throws {
        let base = Fixtures.path("resize/gpt2/base"), ft = Fixtures.path("resize/gpt2/ft-bf16")
        let expected = try XCTUnwrap(Self.expected("gpt2-bf16")["tensors"] as? [String: [String: Any]])
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
        XCTAssertTrue(diff.tensors.allSatisfy { $0.problem == nil })
        for t in diff.tensors {
            let want = try XCTUnwrap(expected[t.baseName], t.baseName)
            XCTAssertEqual(t.conversion, .bf16, t.baseName)
            XCTAssertEqual(t.changed, want["changed"] as? Int, t.baseName)
            assertMatchesNumpy(t.sums?.deltaSquares, want["delta_sq"], "\(t.baseName) delta_sq")
        }
        XCTAssertEqual(diff.tensors.count, expected.count)
        let wte = try XCTUnwrap(diff.tensors.first { $0.baseName == "transformer.wte.weight" })
        XCTAssertEqual(wte.shapeChange?.sharedRows, 64)
        XCTAssertEqual(wte.shapeChange?.addedRows, 3)
        let regime = FineTuningRegime(diff)
        XCTAssertEqual(regime.identifier, "layernorm", regime.line)
        XCTAssertEqual(regime.savedAs, .bf16)
        XCTAssertTrue(regime.line.contains("saved as BF16") && regime.line.contains("wte +3 rows (new tokens 64-66)"), regime.line)

        _ = try PatchTestSupport.makePatch(base: base, finetuned: ft, to: tmp("bf16.patch"))
        let patch = try PatchFile(path: tmp("bf16.patch"))
        let t = try XCTUnwrap(patch.tensors.first { $0.name == "transformer.wte.weight" })
        XCTAssertEqual(t.storage, .resized)
        XCTAssertEqual(t.record.conversion, .bf16)
        XCTAssertEqual(t.values.dtype, .bf16)
        XCTAssertEqual(t.rows?.dtype, .bf16)
        XCTAssertEqual(t.rows?.shape, [3, 16])
        XCTAssertTrue(patch.tensors.allSatisfy { $0.record.conversion == .bf16 })
        try PatchTestSupport.apply(base: base, patch: tmp("bf16.patch"), to: tmp("bf16.out"))
        XCTAssertEqual(try RawSafetensors(path: tmp("bf16.out")).tensors, try RawSafetensors(path: ft).tensors)
        let verification = try PatchVerifier.verify(patch: patch, base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
        XCTAssertTrue(verification.ok, "\(verification.differences)")
    }

    /// A body tensor whose shape changed stays a mismatch: not compared, not patched.
    func testBodyShapeChangeStaysAMismatch() throws {
        let ft = try RawSafetensors(path: Fixtures.path("tiny-bert/ft-layernorm"))
        var tensors = ft.order.map { ($0, ft.tensors[$0]!) }
        let k = try XCTUnwrap(tensors.firstIndex { $0.0.hasSuffix("encoder.layer.0.intermediate.dense.weight") })
        let rowBytes = tensors[k].1.bytes.count / tensors[k].1.shape[0]
        tensors[k].1.shape[0] += 1
        tensors[k].1.bytes.append(Data(count: rowBytes))
        try PatchTestSupport.write(tensors, to: tmp("wider.safetensors"))
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(Fixtures.path("tiny-bert/base")), finetuned: try CheckpointOpener.open(tmp("wider.safetensors")))
        let t = try XCTUnwrap(diff.tensors.first { $0.name == "encoder.layer.0.intermediate.dense.weight" })
        XCTAssertNil(t.shapeChange)
        XCTAssertNotNil(t.problem)
        XCTAssertTrue(FineTuningRegime(diff).resized.isEmpty)
        let plan = try PatchTestSupport.makePatch(base: Fixtures.path("tiny-bert/base"), finetuned: tmp("wider.safetensors"), to: tmp("w.patch"))
        XCTAssertTrue(plan.notes.contains { $0.hasPrefix("encoder.layer.0.intermediate.dense.weight: not compared (shape") }, "\(plan.notes)")
    }

    /// A version 1 patch (written before `shapes` and `r`; fixtures/patch/v1) still applies and verifies.
    func testVersion1PatchesStillRead() throws {
        let v1 = try PatchFile(path: Fixtures.path("patch/v1/layernorm.patch"))
        XCTAssertEqual(v1.version, 1)
        XCTAssertTrue(v1.metadata.shapes.isEmpty)
        let base = Fixtures.path("tiny-bert/base"), ft = Fixtures.path("tiny-bert/ft-layernorm")
        try PatchTestSupport.apply(base: base, patch: v1.path, to: tmp("v1.out"))
        try PatchTestSupport.apply(base: base, patch: Fixtures.path("patch/layernorm.patch"), to: tmp("v2.out"))
        XCTAssertEqual(try PatchTestSupport.sha256(tmp("v1.out")), try PatchTestSupport.sha256(tmp("v2.out")))
        let verification = try PatchVerifier.verify(patch: v1, base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
        XCTAssertTrue(verification.ok)
    }

    /// The real MiniLM LayerNorm fine-tune with two added tokens (30,522 -> 30,524 rows).
    func testRealMiniLMWithTwoNewTokens() throws {
        let base = try DiffRealCheckpointTests.present("base"), ft = try DiffRealCheckpointTests.present("ft-vocab")
        let notes = try XCTUnwrap((Fixtures.json("minilm/resize.json") as? [String: Any])?["notes"] as? [String: Any])
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
        let words = try XCTUnwrap(diff.tensors.first { $0.name == "embeddings.word_embeddings.weight" })
        XCTAssertEqual(words.shapeChange?.sharedRows, notes["base_rows"] as? Int)
        XCTAssertEqual(words.numel, 30522 * 384)
        XCTAssertEqual(words.changed, (notes["shared_rows_equal_to_base"] as? Bool) == true ? 0 : nil)
        let regime = FineTuningRegime(diff)
        XCTAssertEqual(regime.identifier, "layernorm")
        XCTAssertTrue(regime.line.contains("word_embeddings +2 rows (new tokens 30522-30523)"), regime.line)
        // The shared rows are ft-layernorm's, so every number (word_embeddings included, over its
        // 30,522 shared rows) is the numpy float64 expectation of the PyTorch LayerNorm fine-tune.
        let data = try Data(contentsOf: URL(fileURLWithPath: try DiffRealCheckpointTests.present("expected-diff-layernorm.json")))
        let expectation = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        try assertTensorsMatch(diff, expectation)
        let groups = DifferenceGroups(diff.tensors)
        assertGroupsMatch(groups.byComponent, try XCTUnwrap(expectation["by_component"] as? [[String: Any]]), "ft-vocab component")

        let plan = try PatchTestSupport.makePatch(base: base, finetuned: ft, to: tmp("vocab.patch"))
        let layerNorm = try PatchTestSupport.makePatch(base: base, finetuned: ft, select: ["layernorm,bias,head"], to: tmp("ln.patch"))
        XCTAssertEqual(plan.dataSize, layerNorm.dataSize + 2 * 384 * 4)
        try PatchTestSupport.apply(base: base, patch: tmp("vocab.patch"), to: tmp("vocab.out"))
        let result = try RawSafetensors(path: tmp("vocab.out")), finetuned = try RawSafetensors(path: ft)
        for (name, tensor) in finetuned.tensors {
            let stored = name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
            XCTAssertEqual(result.tensors[stored], tensor, name)
        }
        let yes = try PatchVerifier.verify(patch: try PatchFile(path: tmp("vocab.patch")), base: try CheckpointOpener.open(base),
                                           finetuned: try CheckpointOpener.open(ft))
        XCTAssertTrue(yes.ok, "\(yes.differences)")
        let ln = try CommandRunner.run(["patch", base, ft, "--select", "layernorm", "-o", tmp("only-ln.patch")])
        XCTAssertEqual(ln.status, 0, ln.stderr)
        let no = try CommandRunner.run(["verify", tmp("only-ln.patch"), "--base", base, "--finetuned", ft])
        XCTAssertEqual(no.status, 1, no.stdout)
        XCTAssertTrue(no.stdout.contains("reproduces \(ft)/model.safetensors: no"), no.stdout)
        XCTAssertTrue(no.stdout.contains("embeddings.word_embeddings.weight: the result keeps the base's shape [30522, 384]"), no.stdout)
    }
}
