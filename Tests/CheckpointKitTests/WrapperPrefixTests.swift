import Foundation
import XCTest
@testable import CheckpointKit

/// Pairing through training wrappers (issue 20). The wrapper names come from PyTorch itself
/// (fixtures/prefix/torch-names.json, written by fixtures/make_prefix_fixtures.py from DDP,
/// torch.compile, FSDP and activation checkpointing around BertForSequenceClassification); data
/// tests rename the keys of committed checkpoints (and of data/minilm) on the fly and expect the
/// numbers of the unrenamed pair.
final class WrapperPrefixTests: XCTestCase {
    /// plain name list, and each wrapping's list aligned with it.
    func torchNames() throws -> (plain: [String], wrapped: [String: [String]]) {
        let json = try XCTUnwrap(try Fixtures.json("prefix/torch-names.json") as? [String: Any])
        let plain = try XCTUnwrap(json["plain"] as? [String])
        var wrapped: [String: [String]] = [:]
        for (key, value) in json where key != "plain" && key != "torch" { wrapped[key] = try XCTUnwrap(value as? [String]) }
        return (plain, wrapped)
    }

    static func infos(_ names: [String]) -> [TensorInfo] {
        names.map { TensorInfo(name: $0, dtype: .f32, shape: [4], byteCount: 16) }
    }

    func testEveryTorchWrappingPairsWithThePlainModelOnEitherSide() throws {
        let (plain, wrappings) = try torchNames()
        XCTAssertEqual(Set(wrappings.keys), ["ddp", "compile", "ddp_compile", "compile_ddp", "checkpointing", "fsdp", "fsdp_checkpointing"])
        for (key, wrapped) in wrappings {
            let partner = Dictionary(uniqueKeysWithValues: zip(wrapped, plain))
            let forward = CheckpointAlignment(base: Self.infos(plain), finetuned: Self.infos(wrapped))
            XCTAssertEqual(forward.pairs.count, plain.count, key)
            for pair in forward.pairs { XCTAssertEqual(partner[pair.finetuned.name], pair.base.name, key) }
            XCTAssertTrue(forward.stripping.base.isEmpty, key)
            XCTAssertFalse(forward.stripping.finetuned.isEmpty, key)
            let backward = CheckpointAlignment(base: Self.infos(wrapped), finetuned: Self.infos(plain))
            XCTAssertEqual(backward.pairs.count, plain.count, key)
            for pair in backward.pairs {
                XCTAssertEqual(partner[pair.base.name], pair.finetuned.name, key)
                // Roles come from the wrapper-free name: the same component, kind and layer.
                XCTAssertEqual(pair.role, ParameterNames.role(of: pair.finetuned.name, dtype: .f32), key)
            }
            XCTAssertEqual(backward.stripping.base, forward.stripping.finetuned, key)
        }
    }

    func testStrippedWrappersAreNamedInTheReport() throws {
        let (plain, wrappings) = try torchNames()
        let expected = ["ddp": ["module."], "compile": ["_orig_mod."], "ddp_compile": ["module._orig_mod."],
                        "compile_ddp": ["_orig_mod.module."], "checkpointing": ["_checkpoint_wrapped_module."],
                        "fsdp": ["_fsdp_wrapped_module."]]
        for (key, removed) in expected {
            let alignment = CheckpointAlignment(base: Self.infos(plain), finetuned: Self.infos(try XCTUnwrap(wrappings[key])))
            // Tensors outside the wrapped layers carry fewer wrappers; the most common comes first.
            XCTAssertEqual(alignment.stripping.finetuned.first, removed[0], key)
            XCTAssertEqual(alignment.stripping.line?.hasPrefix("pairing: stripped '\(removed[0])'"), true, key)
        }
    }

    func testAPrefixOutsideTheListIsFoundOnEitherSide() throws {
        let (plain, _) = try torchNames()
        for prefix in ["trainer.student.", "net."] {
            let prefixed = plain.map { prefix + $0 }
            let forward = CheckpointAlignment(base: Self.infos(plain), finetuned: Self.infos(prefixed))
            XCTAssertEqual(forward.pairs.count, plain.count, prefix)
            XCTAssertEqual(forward.stripping, PrefixStripping(finetuned: [prefix]))
            for pair in forward.pairs { XCTAssertEqual(pair.finetuned.name, prefix + pair.base.name) }
            let backward = CheckpointAlignment(base: Self.infos(prefixed), finetuned: Self.infos(plain))
            XCTAssertEqual(backward.pairs.count, plain.count, prefix)
            XCTAssertEqual(backward.stripping, PrefixStripping(base: [prefix]))
            // A wrapper and a found prefix together.
            let both = CheckpointAlignment(base: Self.infos(plain), finetuned: Self.infos(plain.map { "module." + prefix + $0 }))
            XCTAssertEqual(both.pairs.count, plain.count, prefix)
            XCTAssertEqual(both.stripping.finetuned, ["module." + prefix])
        }
    }

    /// Two subtrees that each match the other side (an encoder and a decoder copy): reported, no
    /// pair guessed.
    func testATieIsReportedNotGuessed() throws {
        let plain = ["layer.0.dense.weight", "layer.0.dense.bias", "layer.1.dense.weight", "layer.1.dense.bias"]
        let wrapped = plain.map { "first." + $0 } + plain.map { "second." + $0 }
        let alignment = CheckpointAlignment(base: Self.infos(plain), finetuned: Self.infos(wrapped))
        XCTAssertTrue(alignment.pairs.isEmpty)
        XCTAssertEqual(alignment.stripping.ambiguous, [.init(base: "", finetuned: "first.", pairs: 4),
                                                       .init(base: "", finetuned: "second.", pairs: 4)])
        let line = try XCTUnwrap(alignment.stripping.line)
        XCTAssertTrue(line.hasPrefix("pairing: ambiguous, stripping 'first.' from the fine-tune or stripping 'second.' from the fine-tune would pair 4 tensors each; none applied"), line)
        // Different subtrees that pair different tensors: also a tie when the counts are equal.
        let split = ["enc.layer.0.dense.weight", "enc.layer.0.dense.bias", "dec.layer.1.dense.weight", "dec.layer.1.dense.bias"]
        XCTAssertEqual(CheckpointAlignment(base: Self.infos(plain), finetuned: Self.infos(split)).stripping.ambiguous.count, 2)
    }

    /// A new head and a dropped pretraining head do not pair with each other through the search.
    func testTheSearchDoesNotPairUnrelatedLeftovers() throws {
        let base = ["embeddings.word_embeddings.weight", "cls.predictions.bias", "cls.predictions.transform.dense.weight"]
        let finetuned = ["bert.embeddings.word_embeddings.weight", "classifier.bias", "classifier.weight"]
        let alignment = CheckpointAlignment(base: Self.infos(base), finetuned: Self.infos(finetuned))
        XCTAssertEqual(alignment.pairs.map(\.base.name), ["embeddings.word_embeddings.weight"])
        XCTAssertEqual(alignment.onlyInFinetuned.map(\.name), ["classifier.bias", "classifier.weight"])
        XCTAssertTrue(alignment.stripping.isEmpty)
    }

    /// A RobertaModel base keeps `pooler.dense`; RobertaForSequenceClassification (transformers'
    /// own classes, fixtures/make_peft_fixtures.py) has no pooler but a `classifier.dense`. Both end
    /// in `dense.weight` / `dense.bias`; a pooler is not a classifier, so nothing pairs them.
    func testAPoolerIsNeverPairedWithAClassifierHead() throws {
        let base = try CheckpointOpener.open(Fixtures.path("peft/roberta/base"))
        let finetuned = try CheckpointOpener.open(Fixtures.path("peft/roberta/ft-layernorm"))
        let alignment = CheckpointAlignment(base: base.tensors, finetuned: finetuned.tensors)
        XCTAssertTrue(alignment.stripping.isEmpty)
        XCTAssertEqual(alignment.pairs.count, 37)
        XCTAssertEqual(alignment.onlyInBase.map(\.name).sorted(), ["pooler.dense.bias", "pooler.dense.weight"])
        XCTAssertEqual(alignment.onlyInFinetuned.map(\.name).sorted(),
                       ["classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias", "classifier.out_proj.weight"])
    }

    /// Many tensors (a mixture-of-experts naming) through a wrapper and through a found prefix:
    /// dictionary passes only (the time is measured in the README, not here).
    func testManyTensorsPairThroughWrappersAndFoundPrefixes() {
        let plain = (0..<4_000).map { "model.layers.\($0 / 100).mlp.experts.\($0 % 100).down_proj.weight" }
        for prefix in ["module._orig_mod.", "lightning_net."] {
            let alignment = CheckpointAlignment(base: Self.infos(plain), finetuned: Self.infos(plain.map { prefix + $0 }))
            XCTAssertEqual(alignment.pairs.count, plain.count, prefix)
            XCTAssertEqual(alignment.stripping.finetuned, [prefix])
        }
    }
}

// MARK: - Data through wrappers

extension WrapperPrefixTests {
    /// A safetensors copy of `source` with every tensor renamed (written by the library's writer).
    static func renamedCopy(_ source: String, to path: String, _ rename: (String) -> String) throws {
        let checkpoint = try CheckpointOpener.open(source)
        let entries = checkpoint.tensors.map { tensor in
            SafetensorsWriter.Entry(name: rename(tensor.name), dtype: tensor.dtype, shape: tensor.shape) { consume in
                try checkpoint.withBytes(of: tensor) { try consume($0) }
            }
        }
        _ = try SafetensorsWriter(metadata: checkpoint.metadata, entries: entries).write(to: path)
    }

    /// The renamings users meet: each wrapper, a nesting of two, mid-path FSDP and activation
    /// checkpointing (torch's placement: inside each layer), PEFT and Lightning, and a prefix of
    /// the search.
    static let renamings: [(String, @Sendable (String) -> String)] = [
        ("module.", { "module." + $0 }),
        ("_orig_mod.", { "_orig_mod." + $0 }),
        ("module._orig_mod.", { "module._orig_mod." + $0 }),
        ("_fsdp_wrapped_module.", { "_fsdp_wrapped_module." + midPath($0, "_fsdp_wrapped_module.") }),
        ("_checkpoint_wrapped_module.", { midPath($0, "_checkpoint_wrapped_module.") }),
        ("base_model.model.", { "base_model.model." + $0 }),
        ("model.", { "model." + $0 }),
        ("trainer.student.", { "trainer.student." + $0 }),
    ]

    /// `encoder.layer.3.attention...` -> `encoder.layer.3.WRAPPER.attention...`.
    static func midPath(_ name: String, _ wrapper: String) -> String {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let i = parts.firstIndex(of: "layer"), i + 2 < parts.count, Int(parts[i + 1]) != nil { parts.insert(String(wrapper.dropLast()), at: i + 2) }
        return parts.joined(separator: ".")
    }

    /// Every pair's sums equal, tensor for tensor (by canonical name), and the same regime.
    func assertSameNumbers(_ diff: CheckpointDiff, _ reference: CheckpointDiff, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(diff.tensors.count, reference.tensors.count, label, file: file, line: line)
        let byName = Dictionary(uniqueKeysWithValues: reference.tensors.map { ($0.name, $0) })
        for tensor in diff.tensors {
            XCTAssertEqual(tensor.sums, byName[tensor.name]?.sums, "\(label): \(tensor.name)", file: file, line: line)
            XCTAssertEqual(tensor.role, byName[tensor.name]?.role, "\(label): \(tensor.name)", file: file, line: line)
        }
        XCTAssertEqual(FineTuningRegime(diff).identifier, FineTuningRegime(reference).identifier, label, file: file, line: line)
        XCTAssertEqual(diff.onlyInFinetuned.count, reference.onlyInFinetuned.count, label, file: file, line: line)
    }

    /// Diffs `base` against `finetuned` with each renaming applied to one side, then the other.
    func checkRenamings(base: String, finetuned: String, expectedPairs: Int) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let reference = try CheckpointDiff(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(finetuned))
        XCTAssertEqual(reference.tensors.count, expectedPairs)
        for (label, rename) in Self.renamings {
            let renamedBase = directory.appendingPathComponent("base.safetensors").path
            let renamedFinetuned = directory.appendingPathComponent("ft.safetensors").path
            try Self.renamedCopy(base, to: renamedBase, rename)
            try Self.renamedCopy(finetuned, to: renamedFinetuned, rename)
            let onFinetuned = try CheckpointDiff(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(renamedFinetuned))
            assertSameNumbers(onFinetuned, reference, "\(label) on the fine-tune")
            let onBase = try CheckpointDiff(base: try CheckpointOpener.open(renamedBase), finetuned: try CheckpointOpener.open(finetuned))
            assertSameNumbers(onBase, reference, "\(label) on the base")
        }
    }

    func testTinyBertPairsThroughEveryRenamingWithTheSameNumbers() throws {
        try checkRenamings(base: Fixtures.path("tiny-bert/base/model.safetensors"),
                           finetuned: Fixtures.path("tiny-bert/ft-layernorm/model.safetensors"), expectedPairs: 71)
    }

    /// The real all-MiniLM-L6-v2 base against its LayerNorm-only fine-tune: all 103 tensors.
    func testMiniLMPairsThroughEveryRenamingWithTheSameNumbers() throws {
        let base = try DiffRealCheckpointTests.present("base") + "/model.safetensors"
        let finetuned = try DiffRealCheckpointTests.present("ft-layernorm") + "/model.safetensors"
        try checkRenamings(base: base, finetuned: finetuned, expectedPairs: 103)
    }
}

// MARK: - patch, apply, verify, mask, Fisher --from-grads

extension WrapperPrefixTests {
    static let tinyBase = Fixtures.path("tiny-bert/base/model.safetensors")
    static let tinyFinetuned = Fixtures.path("tiny-bert/ft-layernorm/model.safetensors")

    /// A patch made against a wrapped fine-tune applies to the base bit for bit like the plain
    /// one (its new head named as the base would), and verify finds it reproduces the fine-tune.
    func testPatchAcrossWrappersAppliesBitExactly() throws {
        try withPlainPatch { path in try checkWrappedPatches(path) }
    }

    /// In a temporary directory (`path(name)`): the plain patch `plain.patch` and its output on the
    /// base, `plain.safetensors`.
    func withPlainPatch(_ body: (_ path: (String) -> String) throws -> Void) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        try PatchTestSupport.makePatch(base: Self.tinyBase, finetuned: Self.tinyFinetuned, to: path("plain.patch"))
        try PatchTestSupport.apply(base: Self.tinyBase, patch: path("plain.patch"), to: path("plain.safetensors"))
        try body(path)
    }

    func checkWrappedPatches(_ path: (String) -> String) throws {
        let plainOutput = try Data(contentsOf: URL(fileURLWithPath: path("plain.safetensors")))
        for (label, rename) in Self.renamings {
            try Self.renamedCopy(Self.tinyFinetuned, to: path("ft.safetensors"), rename)
            try PatchTestSupport.makePatch(base: Self.tinyBase, finetuned: path("ft.safetensors"), to: path("wrapped.patch"))
            try PatchTestSupport.apply(base: Self.tinyBase, patch: path("wrapped.patch"), to: path("wrapped.safetensors"))
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("wrapped.safetensors"))), plainOutput, label)
            let verification = try PatchVerifier.verify(patch: try PatchFile(path: path("wrapped.patch")), base: try CheckpointOpener.open(Self.tinyBase),
                                                        finetuned: try CheckpointOpener.open(path("ft.safetensors")))
            XCTAssertEqual(verification.reproduces, true, "\(label): \(verification.differences)")
            XCTAssertTrue(verification.applies, label)
        }
    }

    /// The plain patch applied to the base saved through wrappers: the output keeps the wrapped
    /// names and holds the plain output's bytes.
    func testAPlainPatchAppliesToAWrappedBase() throws {
        try withPlainPatch { path in try checkPlainPatchOnWrappedBase(path) }
    }

    func checkPlainPatchOnWrappedBase(_ path: (String) -> String) throws {
        let plain = try CheckpointOpener.open(path("plain.safetensors"))
        try Self.renamedCopy(Self.tinyBase, to: path("base.safetensors")) { "module._orig_mod." + $0 }
        let verification = try PatchVerifier.verify(patch: try PatchFile(path: path("plain.patch")), base: try CheckpointOpener.open(path("base.safetensors")),
                                                    finetuned: try CheckpointOpener.open(Self.tinyFinetuned))
        XCTAssertTrue(verification.applies, "\(verification.problems)")
        XCTAssertEqual(verification.reproduces, true)
        try PatchTestSupport.apply(base: path("base.safetensors"), patch: path("plain.patch"), to: path("out.safetensors"))
        let output = try CheckpointOpener.open(path("out.safetensors"))
        XCTAssertEqual(output.tensors.count, plain.tensors.count)
        for tensor in output.tensors {
            let name = tensor.name.hasPrefix("module._orig_mod.") ? String(tensor.name.dropFirst("module._orig_mod.".count)) : tensor.name
            let reference = try XCTUnwrap(plain.tensor(named: name), tensor.name)
            let same = try output.withBytes(of: tensor) { a in try plain.withBytes(of: reference) { b in a.elementsEqual(b) } }
            XCTAssertTrue(same, tensor.name)
        }
        // Only the new head (which the base never had) is named as the patch names it.
        XCTAssertEqual(output.tensors.filter { !$0.name.hasPrefix("module._orig_mod.") }.map(\.name).sorted(), ["classifier.bias", "classifier.weight"])
    }

    /// A mask written for the wrapped model (`ckpt mask` on a DDP checkpoint) selects what the
    /// plain mask selects.
    func testAMaskWithWrappedNamesSelectsTheSameEntries() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let mask = Fixtures.path("patch/mask.safetensors")
        let wrappedMask = directory.appendingPathComponent("mask.safetensors").path
        try Self.renamedCopy(mask, to: wrappedMask) { "module." + $0 }
        let base = try CheckpointOpener.open(Self.tinyBase), finetuned = try CheckpointOpener.open(Self.tinyFinetuned)
        let alignment = CheckpointAlignment(base: base, finetuned: finetuned)
        let plain = try SelectionEvaluator(selection: try PatchSelection(specs: ["mask:\(mask)"]), alignment: alignment, base: base.tensors)
        let wrapped = try SelectionEvaluator(selection: try PatchSelection(specs: ["mask:\(wrappedMask)"]), alignment: alignment, base: base.tensors)
        var selected = 0
        for pair in alignment.pairs {
            let choice = try plain.choice(for: pair)
            XCTAssertEqual(try wrapped.choice(for: pair), choice, pair.base.name)
            if !choice.isNone { selected += 1 }
        }
        XCTAssertGreaterThan(selected, 0)
    }

    /// Squared-gradient sums saved by DDP training code fit the plain model: the Fisher takes the
    /// model's names and the values are the sums over the sample count.
    func testGradientSumsWithWrappedNamesTakeTheModelsNames() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try CheckpointOpener.open(Self.tinyFinetuned)
        let chosen = model.tensors.filter { $0.name.hasSuffix("LayerNorm.weight") }.prefix(3)
        let values: [[Float]] = chosen.map { tensor in (0..<tensor.elementCount).map { Float($0) * 2 } }
        let entries = zip(chosen, values).map { tensor, v in
            SafetensorsWriter.Entry(name: "module._orig_mod." + tensor.name, dtype: .f32, shape: tensor.shape,
                                    data: v.withUnsafeBytes { [UInt8]($0) })
        }
        let path = directory.appendingPathComponent("grads.safetensors").path
        _ = try SafetensorsWriter(metadata: ["samples": "2"], entries: Array(entries)).write(to: path)
        let fisher = try FisherFile.fromGradientSums(path: path, samples: nil, modelTensors: model.tensors, modelPath: "tiny")
        XCTAssertEqual(fisher.tensors.map(\.name), chosen.map(\.name))
        for (tensor, v) in zip(fisher.tensors, values) { XCTAssertEqual(tensor.values, v.map { Double($0) / 2 }) }
    }
}
