import Foundation
import XCTest
@testable import CheckpointKit

/// The `--select` language: parsing, errors, and which tiny-BERT tensors each term keeps.
final class PatchSelectionTests: XCTestCase {
    func testDefaultIsLayerNormBiasHead() throws {
        let selection = try PatchSelection(specs: [])
        XCTAssertEqual(selection.terms, [.layerNorm, .bias(types: []), .head, .resized])
        XCTAssertEqual(selection.description, "layernorm,bias,head,resized")
        XCTAssertEqual(try PatchSelection(specs: ["layernorm,bias,head,resized"]), selection)
    }

    func testBiasTypeListRunsUntilTheNextKeyword() throws {
        let selection = try PatchSelection(specs: ["bias:query,intermediate,head"])
        XCTAssertEqual(selection.terms, [.bias(types: ["query", "intermediate"]), .head])
        XCTAssertEqual(try PatchSelection(specs: ["bias:head,query"]).terms, [.bias(types: ["head", "query"])])
        XCTAssertEqual(try PatchSelection(specs: ["layernorm,bias:value"]).terms, [.layerNorm, .bias(types: ["value"])])
    }

    func testLayersMaskAndGlobs() throws {
        let selection = try PatchSelection(specs: ["layers:last=2", "include:*.pooler.*,*classifier*", "exclude:*.bias", "mask:/tmp/m.safetensors"])
        XCTAssertEqual(selection.terms, [.lastLayers(2), .include("*.pooler.*"), .include("*classifier*"), .exclude("*.bias"), .mask(path: "/tmp/m.safetensors")])
        XCTAssertEqual(selection.maskPaths, ["/tmp/m.safetensors"])
        // A TF name with a colon stays in the glob.
        XCTAssertEqual(try PatchSelection(specs: ["include:*kernel:0"]).terms, [.include("*kernel:0")])
    }

    func testExcludesAloneSubtractFromTheDefault() throws {
        XCTAssertEqual(try PatchSelection(specs: ["exclude:classifier.*"]).terms,
                       [.layerNorm, .bias(types: []), .head, .resized, .exclude("classifier.*")])
    }

    func testDescriptionParsesBackToTheSameTerms() throws {
        for spec in ["layernorm", "bias:query,key,value", "bias:head,output", "layers:last=1,head", "all,exclude:*.weight", "include:a*,include:b*"] {
            let selection = try PatchSelection(specs: [spec])
            XCTAssertEqual(try PatchSelection(specs: [selection.description]).terms, selection.terms, spec)
        }
    }

    func testInvalidSpecificationsAreRefusedWithTheReason() {
        let cases: [(String, String)] = [
            ("bias:nope", "unknown bias type 'nope'"),
            ("layers:last=0", "layers:last=N"),
            ("layers:first=2", "layers:last=N"),
            ("frobnicate", "unknown term 'frobnicate'"),
            ("", "empty selection"),
            ("layernorm,,bias", "empty term"),
            ("mask:", "needs a file name"),
            ("include:", "needs a name pattern"),
        ]
        for (spec, message) in cases {
            XCTAssertThrowsError(try PatchSelection(specs: [spec]), spec) { error in
                guard case .invalidSelection = error as? PatchError else { return XCTFail("\(spec): \(error)") }
                XCTAssertTrue("\(error)".contains(message), "\(spec): \(error)")
                XCTAssertEqual((error as? PatchError)?.category, .badInput)
            }
        }
    }

    /// Which tensors of base vs ft-full a specification keeps (by base name).
    func kept(_ specs: [String]) throws -> [String] {
        let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        let finetuned = try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-full"))
        let alignment = CheckpointAlignment(base: base, finetuned: finetuned)
        let evaluator = try SelectionEvaluator(selection: try PatchSelection(specs: specs), alignment: alignment, base: base.tensors)
        return try alignment.pairs.filter { try evaluator.choice(for: $0) == .all }.map(\.base.name)
    }

    func testTermsSelectTheRightTinyBertTensors() throws {
        // 4 layers: 2 LayerNorms x (weight, bias) each, plus the embeddings LayerNorm.
        XCTAssertEqual(try kept(["layernorm"]).count, 18)
        XCTAssertTrue(try kept(["layernorm"]).allSatisfy { $0.contains("LayerNorm") })
        // BitFit: 6 linear biases per layer + pooler + 9 LayerNorm biases.
        XCTAssertEqual(try kept(["bias"]).count, 6 * 4 + 1 + 9)
        XCTAssertEqual(try kept([]).count, 18 + 25)
        XCTAssertEqual(try kept(["bias:query,intermediate"]).sorted(),
                       (0..<4).flatMap { ["encoder.layer.\($0).attention.self.query.bias", "encoder.layer.\($0).intermediate.dense.bias"] }.sorted())
        XCTAssertEqual(try kept(["bias:attention_layernorm"]).count, 4)
        XCTAssertEqual(try kept(["layers:last=1"]).count, 16)
        XCTAssertTrue(try kept(["layers:last=1"]).allSatisfy { $0.hasPrefix("encoder.layer.3.") })
        XCTAssertEqual(try kept(["layers:last=9"]).count, 64)
        XCTAssertEqual(try kept(["all"]).count, 71)
        XCTAssertEqual(try kept(["head"]), []) // the head is only in the fine-tune: stored as new tensors
        // Globs match the base's, the fine-tune's or the canonical name; excludes subtract.
        XCTAssertEqual(try kept(["include:bert.pooler.*"]), ["pooler.dense.bias", "pooler.dense.weight"])
        XCTAssertEqual(try kept(["layernorm", "exclude:*.weight"]).count, 9)
        XCTAssertEqual(try kept(["all,exclude:encoder.*"]).count, 7)
    }

    func testNewTensorsAreKeptUnlessExcluded() throws {
        let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        let finetuned = try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-full"))
        let alignment = CheckpointAlignment(base: base, finetuned: finetuned)
        XCTAssertEqual(alignment.onlyInFinetuned.map(\.name).sorted(), ["classifier.bias", "classifier.weight"])
        let keep = try SelectionEvaluator(selection: try PatchSelection(specs: ["layernorm"]), alignment: alignment, base: base.tensors)
        XCTAssertTrue(alignment.onlyInFinetuned.allSatisfy { keep.keepsNewTensor($0) })
        let drop = try SelectionEvaluator(selection: try PatchSelection(specs: ["layernorm,exclude:classifier.bias"]), alignment: alignment, base: base.tensors)
        XCTAssertEqual(alignment.onlyInFinetuned.filter { drop.keepsNewTensor($0) }.map(\.name), ["classifier.weight"])
    }

    func testMaskMatchesByFinetunedBaseAndCanonicalName() throws {
        let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        let finetuned = try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-full"))
        let alignment = CheckpointAlignment(base: base, finetuned: finetuned)
        let maskPath = Fixtures.path("patch/mask.safetensors")
        let evaluator = try SelectionEvaluator(selection: try PatchSelection(specs: ["mask:" + maskPath]), alignment: alignment, base: base.tensors)
        let mask = try RawSafetensors(path: maskPath)
        // The mask file names one tensor by its fine-tune name, one by its base name, one with another prefix.
        let expected = [
            "encoder.layer.0.attention.self.query.weight": "bert.encoder.layer.0.attention.self.query.weight",
            "encoder.layer.1.intermediate.dense.weight": "encoder.layer.1.intermediate.dense.weight",
            "encoder.layer.2.output.dense.weight": "roberta.encoder.layer.2.output.dense.weight",
        ]
        var selected = 0
        for pair in alignment.pairs {
            let choice = try evaluator.choice(for: pair)
            guard let maskName = expected[pair.base.name] else {
                XCTAssertEqual(choice, .none, pair.base.name)
                continue
            }
            guard case let .elements(keep) = choice else { return XCTFail("\(pair.base.name): \(choice)") }
            XCTAssertEqual(keep.map { $0 != 0 }, mask.tensors[maskName]!.bytes.map { $0 != 0 }, pair.base.name)
            selected += 1
        }
        XCTAssertEqual(selected, 3)
        XCTAssertEqual(mask.tensors["encoder.layer.1.intermediate.dense.weight"]?.dtype, "BOOL")
    }

    func testBadMasksAreRefused() throws {
        let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        let finetuned = try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-full"))
        let alignment = CheckpointAlignment(base: base, finetuned: finetuned)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(String, DType, [Int], String)] = [
            ("no.such.tensor", .u8, [4], "no tensor of the base or the fine-tune"),
            ("pooler.dense.bias", .f32, [32], "dtype F32"),
            ("pooler.dense.bias", .u8, [31], "does not fit"),
        ]
        for (name, dtype, shape, message) in cases {
            let path = directory.appendingPathComponent("mask-\(name)-\(dtype.rawValue)-\(shape[0]).safetensors").path
            let bytes = [UInt8](repeating: 1, count: shape.reduce(dtype.bitWidth / 8, *))
            try SafetensorsWriter(entries: [.init(name: name, dtype: dtype, shape: shape, data: bytes)]).write(to: path)
            XCTAssertThrowsError(try SelectionEvaluator(selection: try PatchSelection(specs: ["mask:" + path]), alignment: alignment, base: base.tensors)) { error in
                guard case .invalidMask = error as? PatchError else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertTrue("\(error)".contains(path), "\(error)")
            }
        }
        XCTAssertThrowsError(try SelectionEvaluator(selection: try PatchSelection(specs: ["mask:/no/such/mask.safetensors"]), alignment: alignment, base: base.tensors))
    }
}
