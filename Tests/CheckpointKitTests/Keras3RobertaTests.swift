import XCTest
@testable import CheckpointKit

/// KerasHub RoBERTa's position table against Hugging Face's (issue 12): keras-hub's converter drops
/// Hugging Face's first 2 (padding) rows, so the tables pair with an offset and Hugging Face rows 2..
/// are compared with KerasHub rows 0... Files and numpy numbers from
/// fixtures/make_keras3_fixtures.py (`roberta` mode: transformers RobertaModel, keras-hub 0.32.0's
/// `RobertaBackbone.from_preset`, a fine-tune changing every tensor, position rows 0-1 included).
final class Keras3RobertaTests: XCTestCase {
    static let keras = "keras3/hf-roberta-keras.weights.h5"
    static let hfBase = "keras3/hf-roberta/base"
    static let hfTuned = "keras3/hf-roberta/ft-all"
    static let position = "roberta.embeddings.position_embeddings.weight"

    func roberta() throws -> [String: [String: Any]] {
        let root = try XCTUnwrap(Fixtures.json("keras3/expected.json") as? [String: Any])
        return try XCTUnwrap(root["roberta"] as? [String: [String: Any]])
    }

    func open(_ relative: String) throws -> any Checkpoint { try CheckpointOpener.open(Fixtures.path(relative)) }

    func positionPair(_ alignment: CheckpointAlignment) throws -> TensorPair {
        try XCTUnwrap(alignment.pairs.first { $0.base.name == Self.position || $0.finetuned.name == Self.position })
    }

    /// Every tensor of the conversion pairs with its source, the position table with rows 2.. of
    /// Hugging Face's against KerasHub's rows 0.., all equal; either side may be the base.
    func testConversionPairsThePositionTableWithItsOffset() throws {
        let expected = try roberta()
        let tensors = try XCTUnwrap(expected["tensors"])
        let alignment = CheckpointAlignment(base: try open(Self.keras), finetuned: try open(Self.hfBase))
        XCTAssertEqual(alignment.pairs.count, tensors["hf"] as? Int)
        XCTAssertTrue(alignment.onlyInBase.isEmpty && alignment.onlyInFinetuned.isEmpty,
                      "\(alignment.onlyInBase.map(\.name)) \(alignment.onlyInFinetuned.map(\.name))")
        let rows = try XCTUnwrap(expected["position"])
        let (hfRows, kerasRows) = (try XCTUnwrap(rows["hf_rows"] as? Int), try XCTUnwrap(rows["keras_rows"] as? Int))
        XCTAssertEqual(try positionPair(alignment).shapeChange,
                       .offsetRows(baseFirstRow: 0, finetunedFirstRow: 2, baseRows: kerasRows, finetunedRows: hfRows, rowElements: 8))
        let reversed = CheckpointAlignment(base: try open(Self.hfBase), finetuned: try open(Self.keras))
        XCTAssertEqual(try positionPair(reversed).shapeChange,
                       .offsetRows(baseFirstRow: 2, finetunedFirstRow: 0, baseRows: hfRows, finetunedRows: kerasRows, rowElements: 8))
        for (base, finetuned) in [(Self.keras, Self.hfBase), (Self.hfBase, Self.keras)] {
            let diff = try CheckpointDiff(base: open(base), finetuned: open(finetuned))
            let parameters = diff.tensors.filter(\.isParameter)
            XCTAssertEqual(parameters.count, tensors["hf"] as? Int)
            XCTAssertTrue(parameters.allSatisfy { $0.problem == nil && $0.changed == 0 }, "\(parameters.filter { $0.changed != 0 }.map(\.name))")
            let table = try XCTUnwrap(parameters.first { $0.baseName == Self.position || $0.finetunedName == Self.position })
            XCTAssertEqual(table.numel, kerasRows * 8)
            XCTAssertEqual(table.shapeChange?.summary, "rows 0-1 only in the Hugging Face file (\(base == Self.hfBase ? "base" : "fine-tune"); padding offset)")
        }
    }

    /// The conversion against the all-tensor fine-tune: numpy's numbers over Hugging Face rows 2..
    /// (1e-6 relative), as base or fine-tune, also with a `module.` wrapper on the fine-tune; the
    /// position table's own squared deltas; the Hugging Face pair keeps its full-table numbers.
    func testDiffComparesHuggingFaceRowsFromTwo() throws {
        let expected = try roberta()
        let keras = try XCTUnwrap(expected["keras/all"])
        try assertNumbers(try CheckpointDiff(base: open(Self.keras), finetuned: open(Self.hfTuned)), keras, "keras vs hf")
        try assertNumbers(try CheckpointDiff(base: open(Self.hfTuned), finetuned: open(Self.keras)), keras, "hf vs keras")
        try assertNumbers(try CheckpointDiff(base: open(Self.hfBase), finetuned: open(Self.hfTuned)), try XCTUnwrap(expected["hf/all"]), "hf vs hf")
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let wrapped = directory.appendingPathComponent("wrapped.safetensors").path
        let source = try RawSafetensors(path: Fixtures.path(Self.hfTuned))
        try PatchTestSupport.write(source.order.map { ("module." + $0, source.tensors[$0]!) }, to: wrapped)
        let diff = try CheckpointDiff(base: open(Self.keras), finetuned: CheckpointOpener.open(wrapped))
        try assertNumbers(diff, keras, "keras vs module.-wrapped hf")
        let position = try XCTUnwrap(expected["position"])
        let table = try XCTUnwrap(diff.tensors.first { $0.finetunedName == "module." + Self.position })
        let reference = try XCTUnwrap(position["delta_sq"] as? Double)
        XCTAssertEqual(try XCTUnwrap(table.sums?.deltaSquares), reference, accuracy: 1e-6 * reference)
        XCTAssertEqual(try XCTUnwrap(table.maxAbsDelta), try XCTUnwrap(position["max_abs"] as? Double), accuracy: 1e-7)
        XCTAssertTrue(FineTuningRegime(diff).line.contains("compared without padding rows: position_embeddings_without_padding_rows rows 0-1 only in the Hugging Face file"), FineTuningRegime(diff).line)
    }

    /// No offset from shapes alone: a Hugging Face table 2 rows shorter than another (its rows
    /// 2.., saved under the Hugging Face name) is a plain resized table compared from row 0.
    func testPlainResizedTableKeepsItsPrefixMeaning() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try RawSafetensors(path: Fixtures.path(Self.hfBase))
        let table = try XCTUnwrap(source.tensors[Self.position])
        var cut = table
        cut.shape = [table.shape[0] - 2, table.shape[1]]
        cut.bytes = table.bytes.dropFirst(2 * table.shape[1] * 4)
        let path = directory.appendingPathComponent("cut.safetensors").path
        try PatchTestSupport.write(source.order.map { ($0, $0 == Self.position ? cut : source.tensors[$0]!) }, to: path)
        let alignment = CheckpointAlignment(base: try open(Self.hfBase), finetuned: try CheckpointOpener.open(path))
        XCTAssertEqual(try positionPair(alignment).shapeChange, .resized(baseRows: 12, finetunedRows: 10, rowElements: 8))
        let diff = try CheckpointDiff(base: open(Self.hfBase), finetuned: CheckpointOpener.open(path))
        let compared = try XCTUnwrap(diff.tensors.first { $0.baseName == Self.position })
        XCTAssertEqual(compared.numel, 80)
        XCTAssertGreaterThan(compared.changed ?? 0, 0, "rows 2.. against rows 0.. differ when compared from row 0")
    }

    /// A Hugging Face table that is not exactly 2 rows longer stays unpaired, and paired by a name
    /// map it is a mismatch, never a table resized from row 0.
    func testTableThatDoesNotFitIsNeverComparedFromRowZero() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try RawSafetensors(path: Fixtures.path(Self.hfBase))
        var cut = try XCTUnwrap(source.tensors[Self.position])
        cut.shape = [11, 8]
        cut.bytes = cut.bytes.dropFirst(8 * 4)
        let path = directory.appendingPathComponent("cut.safetensors").path
        try PatchTestSupport.write(source.order.map { ($0, $0 == Self.position ? cut : source.tensors[$0]!) }, to: path)
        let keras = try open(Self.keras), hf = try CheckpointOpener.open(path)
        let alignment = CheckpointAlignment(base: keras, finetuned: hf)
        XCTAssertEqual(alignment.onlyInFinetuned.map(\.name), [Self.position])
        let table = try XCTUnwrap(alignment.onlyInBase.first?.name)
        let mapped = CheckpointAlignment(base: keras, finetuned: hf, renames: [Self.position: table])
        let pair = try positionPair(mapped)
        XCTAssertNil(pair.shapeChange)
        XCTAssertNotNil(pair.problem)
    }

    /// `patch` across the pair: the default selection leaves the table to the base (a note); a
    /// selection that takes it is refused in one line naming it. `verify` of an LN-free patch keeps
    /// the base's table and accepts it when the rows both sides have are equal.
    func testPatchRefusesThePositionTableAndVerifyComparesTheSharedRows() throws {
        let base = try open(Self.keras), finetuned = try open(Self.hfTuned)
        let plan = try PatchMaker(base: base, finetuned: finetuned, selection: PatchSelection(specs: [])).plan()
        XCTAssertTrue(plan.notes.contains { $0.contains("position_embeddings_without_padding_rows") && $0.contains("padding offset") }, "\(plan.notes)")
        XCTAssertThrowsError(try PatchMaker(base: base, finetuned: finetuned, selection: PatchSelection(specs: ["all"])).plan()) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("position_embeddings_without_padding_rows") && !text.contains("\n"), text)
        }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let patch = directory.appendingPathComponent("base.patch").path
        _ = try PatchTestSupport.makePatch(base: Fixtures.path(Self.keras), finetuned: Fixtures.path(Self.hfBase), to: patch)
        let result = try CommandRunner.run(["verify", patch, "--base", Fixtures.path(Self.keras), "--finetuned", Fixtures.path(Self.hfBase)])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        // The "yes" says which tensor held only over the shared rows (Hugging Face's rows 0-1 have no KerasHub counterpart).
        XCTAssertTrue(result.stdout.contains("position_embeddings_without_padding_rows/embeddings: on the rows both have only; rows 0-1 only in the Hugging Face file"), result.stdout)
        let json = try CommandRunner.run(["verify", patch, "--base", Fixtures.path(Self.keras), "--finetuned", Fixtures.path(Self.hfBase), "--json"])
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let shared = try XCTUnwrap(document["compared_on_shared_rows"] as? [[String: Any]])
        XCTAssertEqual(shared.map { $0["tensor"] as? String }, ["roberta/embeddings/position_embeddings_without_padding_rows/embeddings"])
    }
}
