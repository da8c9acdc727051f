import Foundation
import XCTest
@testable import CheckpointKit

/// `patch` then `apply` gives the fine-tune back byte for byte; the committed patches give the same
/// bytes as the Python reader; the kept/dropped numbers agree with numpy.
final class PatchRoundTripTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The fine-tune's name of a base tensor in the tiny-BERT fixtures.
    func finetunedName(_ name: String, in finetuned: RawSafetensors) -> String {
        finetuned.tensors[name] != nil ? name : "bert." + name
    }

    func testApplyReproducesTheFinetuneOnEveryTensorThePatchHolds() throws {
        let base = try RawSafetensors(path: Fixtures.path("tiny-bert/base"))
        for regime in ["layernorm", "bias", "full", "last1"] {
            for select in [[], ["all"], ["layers:last=1,head"]] {
                let label = "\(regime) \(select)"
                let ftPath = Fixtures.path("tiny-bert/ft-\(regime)")
                let patch = tmp("\(regime)-\(select.joined()).patch"), output = tmp("\(regime)-\(select.joined()).safetensors")
                let plan = try PatchTestSupport.makePatch(base: Fixtures.path("tiny-bert/base"), finetuned: ftPath, select: select, to: patch)
                try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/base"), patch: patch, to: output)
                let finetuned = try RawSafetensors(path: ftPath)
                let result = try RawSafetensors(path: output)
                let held = Set(plan.touched.map(\.name))
                XCTAssertEqual(result.order, base.order + finetuned.order.filter { $0.hasPrefix("classifier.") }, label)
                XCTAssertEqual(result.metadata, base.metadata, label)
                for name in result.order {
                    let reference = held.contains(name) ? finetuned.tensors[finetunedName(name, in: finetuned)]! : base.tensors[name]!
                    XCTAssertEqual(result.tensors[name], reference, "\(label): \(name)")
                }
                // Every tensor the fine-tune changed inside the selection is held.
                if select == ["all"] {
                    for name in base.order where finetuned.tensors[finetunedName(name, in: finetuned)]!.bytes != base.tensors[name]!.bytes {
                        XCTAssertTrue(held.contains(name), "\(label): \(name) changed but is not in the patch")
                    }
                }
                XCTAssertEqual(PatchTestSupport.entries(directory).filter { $0.hasPrefix(".ckpt-tmp") }, [], label)
            }
        }
    }

    func testCommittedPatchesApplyToTheBytesThePythonReaderWrote() throws {
        let expected = try XCTUnwrap(Fixtures.json("expected/patch/python-apply.json") as? [String: Any])
        let cases = try XCTUnwrap(expected["cases"] as? [String: [String: Any]])
        XCTAssertEqual(cases.count, 7)
        let bases = ["bf16-layernorm": "tiny-bert/variants/model-bf16.safetensors"]
        for (name, values) in cases.sorted(by: { $0.key < $1.key }) {
            let patch = Fixtures.path("patch/\(name).patch")
            XCTAssertEqual(try PatchTestSupport.sha256(patch), values["patch_sha256"] as? String, "\(name): fixture changed")
            XCTAssertEqual(values["opens_with_safetensors"] as? Bool, true)
            let output = tmp("\(name).safetensors")
            try PatchTestSupport.apply(base: Fixtures.path(bases[name] ?? "tiny-bert/base"), patch: patch, to: output)
            XCTAssertEqual(try PatchTestSupport.sha256(output), values["output_sha256"] as? String, name)
            if name != "mask-sparse" {
                XCTAssertEqual(values["output_equals_finetune_on_held_tensors"] as? Bool, true, name)
            }
            XCTAssertEqual(try PatchFile(path: patch).isCompressed, values["compression"] as? String == "zlib", name)
        }
    }

    /// `ckpt patch` writes exactly the committed patches (which the Python reader applied). The
    /// patches record their inputs' paths as given, relative to the checkout, so the binary runs
    /// there (the test process keeps its working directory).
    func testWriterReproducesTheCommittedPatches() throws {
        let cases: [(String, String, String, [String], Bool)] = [
            ("layernorm", "fixtures/tiny-bert/base", "fixtures/tiny-bert/ft-layernorm", [], false),
            ("bias", "fixtures/tiny-bert/base", "fixtures/tiny-bert/ft-bias", [], false),
            ("full-default", "fixtures/tiny-bert/base", "fixtures/tiny-bert/ft-full", [], false),
            ("last1", "fixtures/tiny-bert/base", "fixtures/tiny-bert/ft-last1", ["layers:last=1,head"], false),
            ("full-all-compressed", "fixtures/tiny-bert/base", "fixtures/tiny-bert/ft-full", ["all"], true),
            ("mask-sparse", "fixtures/tiny-bert/base", "fixtures/tiny-bert/ft-full", ["mask:fixtures/patch/mask.safetensors"], false),
            ("bf16-layernorm", "fixtures/tiny-bert/variants/model-bf16.safetensors", "fixtures/patch/ft-layernorm-bf16.safetensors", [], false),
        ]
        for (name, base, finetuned, select, compress) in cases {
            let output = tmp("\(name).patch")
            let arguments = ["patch", base, finetuned, "-o", output] + select.flatMap { ["--select", $0] } + (compress ? ["--compress"] : [])
            let result = try CommandRunner.run(arguments, workingDirectory: Fixtures.checkout)
            XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
            XCTAssertEqual(try PatchTestSupport.sha256(output), try PatchTestSupport.sha256(Fixtures.path("patch/\(name).patch")), name)
        }
    }

    func testKeptAndDroppedSharesMatchNumpy() throws {
        let expected = try XCTUnwrap(Fixtures.json("expected/patch/shares.json") as? [String: [String: Any]])
        let cases: [(String, String, [String])] = [
            ("full-default", "ft-full", []),
            ("last1", "ft-last1", ["layers:last=1,head"]),
            ("mask-sparse", "ft-full", ["mask:" + Fixtures.path("patch/mask.safetensors")]),
        ]
        func check(_ row: ShareRow, _ reference: [String: Any], _ label: String) {
            XCTAssertEqual(row.changedEntries, reference["changed_entries"] as? Int, label)
            XCTAssertEqual(row.keptEntries, reference["kept_entries"] as? Int, label)
            for (value, key) in [(row.sumSquares, "sum_sq_delta"), (row.keptSumSquares, "kept_sum_sq_delta"), (row.droppedSumSquares, "dropped_sum_sq_delta")] {
                let want = reference[key] as? Double ?? .nan
                XCTAssertEqual(value, want, accuracy: 1e-9 * max(1, abs(want)), "\(label) \(key)")
            }
        }
        for (name, finetuned, select) in cases {
            let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
            let ft = try CheckpointOpener.open(Fixtures.path("tiny-bert/\(finetuned)"))
            let plan = try PatchMaker(base: base, finetuned: ft, selection: try PatchSelection(specs: select)).plan()
            let reference = try XCTUnwrap(expected[name])
            check(plan.shares.total, try XCTUnwrap(reference["total"] as? [String: Any]), "\(name) total")
            let components = try XCTUnwrap(reference["by_component"] as? [String: [String: Any]])
            XCTAssertEqual(Set(plan.shares.byComponent.map(\.group)), Set(components.keys), name)
            for row in plan.shares.byComponent { check(row, components[row.group] ?? [:], "\(name) \(row.group)") }
            let kinds = try XCTUnwrap(reference["by_kind"] as? [String: [String: Any]])
            XCTAssertEqual(Set(plan.shares.byKind.map(\.group)), Set(kinds.keys), name)
            for row in plan.shares.byKind { check(row, kinds[row.group] ?? [:], "\(name) \(row.group)") }
            XCTAssertTrue(plan.shares.dropsSomething, name)
            XCTAssertEqual(plan.shares.total.keptShare + plan.shares.total.droppedShare, 1, accuracy: 1e-12)
        }
        // A LayerNorm-only fine-tune under the default selection drops nothing.
        let plan = try PatchMaker(base: try CheckpointOpener.open(Fixtures.path("tiny-bert/base")),
                                  finetuned: try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-layernorm")),
                                  selection: try PatchSelection(specs: [])).plan()
        XCTAssertFalse(plan.shares.dropsSomething)
        XCTAssertEqual(plan.shares.total.keptShare, 1)
    }

    func testMaskSelectionIsStoredSparseAndAppliesOnlyTheMaskedEntries() throws {
        let patchPath = Fixtures.path("patch/mask-sparse.patch")
        let patch = try PatchFile(path: patchPath)
        XCTAssertEqual(patch.tensors.filter { $0.storage == .sparse }.count, 3)
        let output = tmp("masked.safetensors")
        try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/base"), patch: patchPath, to: output)
        let base = try RawSafetensors(path: Fixtures.path("tiny-bert/base"))
        let finetuned = try RawSafetensors(path: Fixtures.path("tiny-bert/ft-full"))
        let mask = try RawSafetensors(path: Fixtures.path("patch/mask.safetensors"))
        let result = try RawSafetensors(path: output)
        let maskOf = [
            "encoder.layer.0.attention.self.query.weight": "bert.encoder.layer.0.attention.self.query.weight",
            "encoder.layer.1.intermediate.dense.weight": "encoder.layer.1.intermediate.dense.weight",
            "encoder.layer.2.output.dense.weight": "roberta.encoder.layer.2.output.dense.weight",
        ]
        for tensor in patch.tensors where tensor.storage == .sparse {
            XCTAssertEqual(tensor.indices?.dtype, .i32)
            let keep = [UInt8](mask.tensors[maskOf[tensor.name]!]!.bytes)
            let b = base.floats(tensor.name), f = finetuned.floats("bert." + tensor.name), r = result.floats(tensor.name)
            for i in 0..<b.count {
                XCTAssertEqual(r[i].bitPattern, keep[i] != 0 ? f[i].bitPattern : b[i].bitPattern, "\(tensor.name)[\(i)]")
            }
            XCTAssertLessThan(tensor.byteCount, b.count * 4)
        }
        for name in base.order where maskOf[name] == nil {
            XCTAssertEqual(result.tensors[name], base.tensors[name], name)
        }
    }

    func testCompressedPatchIsDetectedAndApplies() throws {
        let plain = tmp("plain.patch"), packed = tmp("packed.patch")
        try PatchTestSupport.makePatch(base: Fixtures.path("tiny-bert/base"), finetuned: Fixtures.path("tiny-bert/ft-full"), select: ["all"], to: plain)
        try PatchTestSupport.makePatch(base: Fixtures.path("tiny-bert/base"), finetuned: Fixtures.path("tiny-bert/ft-full"), select: ["all"], compress: true, to: packed)
        let a = try PatchFile(path: plain), b = try PatchFile(path: packed)
        XCTAssertFalse(a.isCompressed)
        XCTAssertTrue(b.isCompressed)
        XCTAssertEqual(a.metadata, b.metadata)
        XCTAssertLessThan(b.fileSize, a.fileSize)
        // The file is still a safetensors file that says what it is.
        let outer = try RawSafetensors(path: packed)
        XCTAssertEqual(outer.order, ["__ckpt_zlib__"])
        XCTAssertEqual(outer.metadata["format"], "ckpt-patch")
        XCTAssertEqual(outer.metadata["compression"], "zlib")
        try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/base"), patch: plain, to: tmp("a.safetensors"))
        try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/base"), patch: packed, to: tmp("b.safetensors"))
        XCTAssertEqual(try PatchTestSupport.sha256(tmp("a.safetensors")), try PatchTestSupport.sha256(tmp("b.safetensors")))
    }

    func testBF16PatchIsBitExact() throws {
        let output = tmp("bf16.safetensors")
        try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/variants/model-bf16.safetensors"), patch: Fixtures.path("patch/bf16-layernorm.patch"), to: output)
        let finetuned = try RawSafetensors(path: Fixtures.path("patch/ft-layernorm-bf16.safetensors"))
        let result = try RawSafetensors(path: output)
        for name in result.order {
            XCTAssertEqual(result.tensors[name], finetuned.tensors[finetunedName(name, in: finetuned)], name)
        }
        XCTAssertTrue(result.tensors.values.allSatisfy { $0.dtype == "BF16" })
    }

    /// A fine-tune saved in BF16 from an F32 base (issue 18): every base tensor is converted to
    /// BF16 (storage `c` where nothing else changed), the LayerNorm entries that differ from the
    /// converted base are stored in BF16, and the result is the fine-tune on every tensor.
    func testDTypeChangeConvertsEveryTensorAndStoresTheChangesInTheFinetunedDType() throws {
        let patch = tmp("f32-to-bf16.patch"), output = tmp("mixed.safetensors")
        let plan = try PatchTestSupport.makePatch(base: Fixtures.path("tiny-bert/base"), finetuned: Fixtures.path("patch/ft-layernorm-bf16.safetensors"),
                                                  select: ["layernorm"], to: patch)
        XCTAssertEqual(plan.touched.filter { $0.storage == .dense || $0.storage == .sparse }.count, 18)
        XCTAssertTrue(plan.touched.allSatisfy { $0.dtype == .bf16 })
        XCTAssertTrue(plan.touched.filter { $0.storage == .converted }.allSatisfy { !$0.name.contains("LayerNorm") })
        try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/base"), patch: patch, to: output)
        let base = try RawSafetensors(path: Fixtures.path("tiny-bert/base"))
        let finetuned = try RawSafetensors(path: Fixtures.path("patch/ft-layernorm-bf16.safetensors"))
        let result = try RawSafetensors(path: output)
        for name in base.order where base.tensors[name]?.dtype == "F32" {
            XCTAssertEqual(result.tensors[name], finetuned.tensors["bert." + name], name)
        }
        let verification = try PatchVerifier.verify(patch: try PatchFile(path: patch), base: try CheckpointOpener.open(Fixtures.path("tiny-bert/base")),
                                                    finetuned: try CheckpointOpener.open(Fixtures.path("patch/ft-layernorm-bf16.safetensors")))
        // Every dtype-changed tensor is in the patch (at least converted), so no tensor the result
        // keeps from the base is F32 while the fine-tune's is BF16: verify says yes.
        XCTAssertTrue(verification.ok, "\(verification.differences)")
        XCTAssertEqual((verification.checkedInPatch ?? 0) + (verification.checkedAgainstBase ?? 0), finetuned.order.count)
    }

    func testShardedBaseGivesTheSameOutputAsTheSingleFile() throws {
        let patch = Fixtures.path("patch/layernorm.patch")
        try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/base"), patch: patch, to: tmp("single.safetensors"))
        try PatchTestSupport.apply(base: Fixtures.path("tiny-bert/variants/sharded"), patch: patch, to: tmp("sharded.safetensors"))
        // Same tensors and metadata; the order is the sharded base's own.
        let single = try RawSafetensors(path: tmp("single.safetensors")), sharded = try RawSafetensors(path: tmp("sharded.safetensors"))
        XCTAssertEqual(single.tensors, sharded.tensors)
        XCTAssertEqual(single.metadata, sharded.metadata)
        let shardedBase = try CheckpointOpener.open(Fixtures.path("tiny-bert/variants/sharded"))
        XCTAssertEqual(Array(sharded.order.prefix(shardedBase.tensors.count)), shardedBase.tensors.map(\.name))
    }

    func testMetadataIsCompactAndNamesTheFinetunePrefix() throws {
        let patch = try PatchFile(path: Fixtures.path("patch/layernorm.patch"))
        let raw = try RawSafetensors(path: Fixtures.path("patch/layernorm.patch"))
        XCTAssertEqual(raw.metadata["format"], "ckpt-patch")
        XCTAssertEqual(raw.metadata["version"], "2")
        XCTAssertEqual(raw.metadata["selection"], "layernorm,bias,head,resized")
        XCTAssertEqual(raw.metadata["name_prefix"], "bert.")
        XCTAssertNil(raw.metadata["name_map"])
        XCTAssertEqual(raw.metadata["storage"], String(repeating: "d", count: 18) + "nn")
        XCTAssertEqual(raw.metadata["base_fingerprint"]?.count, 64)
        XCTAssertEqual(raw.metadata["base_manifest"]?.count, 71 * 6)
        XCTAssertTrue(patch.tensors.allSatisfy { $0.record.finetunedName == ($0.storage == .new ? $0.name : "bert." + $0.name) })
        // Everything but the values: at most a few KB for 20 tensors.
        XCTAssertEqual(patch.dataSize, 18 * 32 * 4 + 2 * 32 * 4 + 2 * 4)
        XCTAssertLessThan(patch.fileSize - patch.dataSize, 4096)
        // The base fingerprint is the SHA-256 of the sorted manifest lines, as documented.
        let base = try RawSafetensors(path: Fixtures.path("tiny-bert/base"))
        let lines = base.order.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { name -> String in
            let t = base.tensors[name]!
            return "\(name)\t\(t.dtype)\t\(t.shape.map(String.init).joined(separator: ","))\n"
        }
        XCTAssertEqual(PatchFormat.hash(Array(lines.joined().utf8), length: 64), raw.metadata["base_fingerprint"])
    }

    func testVerifyReportsWhetherThePatchReproducesTheFinetune() throws {
        let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        let layerNorm = try PatchVerifier.verify(patch: try PatchFile(path: Fixtures.path("patch/layernorm.patch")), base: base,
                                                 finetuned: try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-layernorm")))
        XCTAssertTrue(layerNorm.ok)
        XCTAssertEqual(layerNorm.reproduces, true)
        XCTAssertEqual(layerNorm.tensorsChecked, 20)
        XCTAssertEqual(layerNorm.notInPatch, [])
        let full = try PatchVerifier.verify(patch: try PatchFile(path: Fixtures.path("patch/full-default.patch")), base: base,
                                            finetuned: try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-full")))
        XCTAssertFalse(full.ok) // the 28 changed tensors the selection left out are differences (issue 19)
        XCTAssertEqual(full.notInPatch.count, 28)
        XCTAssertEqual(Set(full.differences.map(\.tensor)), Set(full.notInPatch))
        let wrong = try PatchVerifier.verify(patch: try PatchFile(path: Fixtures.path("patch/layernorm.patch")), base: base,
                                             finetuned: try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-bias")))
        XCTAssertFalse(wrong.ok)
        XCTAssertEqual(wrong.reproduces, false)
        XCTAssertTrue(wrong.applies)
        XCTAssertTrue(wrong.differences.contains { $0.tensor == "classifier.weight" })
        let noFinetune = try PatchVerifier.verify(patch: try PatchFile(path: Fixtures.path("patch/bias.patch")), base: base)
        XCTAssertTrue(noFinetune.ok)
        XCTAssertNil(noFinetune.reproduces)
    }

    func testPatchSummaryListsWhatThePatchHolds() throws {
        let summary = PatchSummary(try PatchFile(path: Fixtures.path("patch/mask-sparse.patch")))
        XCTAssertEqual(summary.counts.sparse, 3)
        XCTAssertEqual(summary.counts.new, 2)
        XCTAssertEqual(summary.tensors.filter { $0.storage == "sparse" }.map(\.entries).reduce(0, +), summary.counts.entries - 66)
        XCTAssertEqual(summary.selection, "mask:fixtures/patch/mask.safetensors")
    }
}
