import Foundation
import XCTest
@testable import CheckpointKit

/// Data files, model directories and Fisher files that are wrong: typed one-line errors.
final class FisherInputTests: XCTestCase {
    var tmp: URL!

    override func setUpWithError() throws { tmp = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func write(_ name: String, _ text: String) throws -> String {
        let path = tmp.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func expect(_ body: @autoclosure () throws -> Any, _ check: (FisherError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let e = error as? FisherError else { return XCTFail("not a FisherError: \(error)", file: file, line: line) }
            XCTAssertTrue(check(e), "\(e)", file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
        }
    }

    /// Copies the tiny model, renaming (or dropping, for nil) tensors and editing the config.
    func tinyCopy(rename: (String) -> String? = { $0 }, config: (String) -> String = { $0 }) throws -> String {
        let src = Fixtures.path("fisher/tiny-model")
        let dir = tmp.appendingPathComponent("model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = try SafetensorsFile(path: src + "/model.safetensors")
        var entries: [FisherFileWriter.Entry] = []
        for t in file.tensors {
            guard let name = rename(t.name) else { continue }
            entries.append(.init(name: name, shape: t.shape, payload: .f32(try TensorDecoder.floats(of: t, in: file))))
        }
        try FisherFileWriter.write(entries, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors").path)
        let configText = try String(contentsOfFile: src + "/config.json", encoding: .utf8)
        try config(configText).write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: src + "/vocab.txt", toPath: dir.appendingPathComponent("vocab.txt").path)
        return dir.path
    }

    func run(_ model: String, data: String = Fixtures.path("fisher/data.tsv"), kind: FisherKind = .empirical) throws -> FisherResult {
        let estimator = FisherEstimator(model: try BertEncoder(directory: model), tokenizer: try WordPieceTokenizer.load(directory: model),
                                        options: FisherOptions(kind: kind, parameters: .both, samples: nil))
        return try estimator.run(dataset: try TaskDataset.load(path: data))
    }

    // MARK: Data files

    func testFormatsAndColumns() throws {
        let tsv = try TaskDataset.load(path: Fixtures.path("fisher/data.tsv"))
        XCTAssertEqual(tsv.examples.count, 32)
        XCTAssertEqual(tsv.textColumn, "sentence")
        XCTAssertEqual(tsv.examples[0].line, 2)
        let csv = try TaskDataset.load(path: try write("d.csv", "id,sentence1,sentence2,label\n1,\"a, b\",\"multi\nline \"\"q\"\"\",0\n2,c,d,1\n"))
        XCTAssertEqual(csv.textColumn, "sentence1")
        XCTAssertEqual(csv.textPairColumn, "sentence2")
        XCTAssertEqual(csv.examples.map(\.text), ["a, b", "c"])
        XCTAssertEqual(csv.examples[0].textPair, "multi\nline \"q\"")
        XCTAssertEqual(csv.examples.map(\.line), [2, 4])
        let jsonl = try TaskDataset.load(path: try write("d.jsonl", "{\"text\": \"hi\", \"label\": 1}\n\n{\"text\": \"yo\", \"label\": \"0\"}\n"))
        XCTAssertEqual(jsonl.examples.map(\.label), ["1", "0"])
        XCTAssertEqual(jsonl.examples.map(\.line), [1, 3])
        let custom = try TaskDataset.load(path: try write("c.tsv", "review\tstars\nnice\t1\n"), options: TaskDatasetOptions(textColumn: "review", labelColumn: "stars"))
        XCTAssertEqual(custom.examples[0].text, "nice")
        let limited = try TaskDataset.load(path: Fixtures.path("fisher/data.tsv"), options: TaskDatasetOptions(limit: 5))
        XCTAssertEqual(limited.examples.count, 5)
    }

    func testMissingColumnListsColumns() throws {
        let path = try write("d.tsv", "review\tstars\nnice\t1\n")
        expect(try TaskDataset.load(path: path)) {
            if case let .missingColumn(_, column, available) = $0 { return column == "sentence" && available == ["review", "stars"] }
            return false
        }
        expect(try TaskDataset.load(path: path, options: TaskDatasetOptions(textColumn: "review"))) {
            if case let .missingColumn(_, column, _) = $0 { return column == "label" }
            return false
        }
    }

    func testBadRowsAndEmptyFiles() throws {
        expect(try TaskDataset.load(path: try write("e.tsv", "sentence\tlabel\n"))) { if case .emptyData = $0 { return true }; return false }
        expect(try TaskDataset.load(path: try write("e.jsonl", "\n\n"))) { if case .emptyData = $0 { return true }; return false }
        expect(try TaskDataset.load(path: try write("r.tsv", "sentence\tlabel\nok\t1\nbad row\n"))) {
            if case let .invalidData(_, line, _) = $0 { return line == 3 }
            return false
        }
        expect(try TaskDataset.load(path: try write("j.jsonl", "{\"text\": \"a\", \"label\": 1}\n{oops\n"))) {
            if case let .invalidData(_, line, _) = $0 { return line == 2 }
            return false
        }
        expect(try TaskDataset.load(path: tmp.appendingPathComponent("none.tsv").path)) { if case .cannotReadData = $0 { return true }; return false }
    }

    func testLabelOutOfRangeNamesTheLine() throws {
        let data = try write("l.tsv", "sentence\tlabel\ngood film\t1\nbad film\t2\n")
        let model = Fixtures.path("fisher/tiny-model")
        let estimator = FisherEstimator(model: try BertEncoder(directory: model), tokenizer: try WordPieceTokenizer.load(directory: model))
        let dataset = try TaskDataset.load(path: data)
        expect(try estimator.encode(dataset)) {
            if case let .labelOutOfRange(_, line, label, n) = $0 { return line == 3 && label == "2" && n == 2 }
            return false
        }
        XCTAssertTrue(FisherError.labelOutOfRange(path: data, line: 3, label: "2", numLabels: 2).description.contains(":3:"))
        // Word labels need names in class order.
        let words = try TaskDataset.load(path: try write("w.tsv", "sentence\tlabel\ngood film\tpositive\nbad film\tnegative\n"))
        expect(try estimator.encode(words)) {
            if case let .labelOutOfRange(_, line, _, _) = $0 { return line == 2 && $0.remedy == .nameLabels }
            return false
        }
        let named = FisherEstimator(model: estimator.model, tokenizer: estimator.tokenizer, options: FisherOptions(labelNames: ["negative", "positive"]))
        XCTAssertEqual(try named.encode(words).map(\.label), [1, 0])
    }

    func testPreTokenizedJSONLMatchesText() throws {
        let model = Fixtures.path("fisher/tiny-model")
        let tokenizer = try WordPieceTokenizer.load(directory: model)
        let dataset = try TaskDataset.load(path: Fixtures.path("fisher/data.tsv"))
        var lines = ""
        for e in dataset.examples {
            let ids = tokenizer.encode(e.text!).inputIds
            lines += "{\"input_ids\": [\(ids.map(String.init).joined(separator: ","))], \"label\": \(e.label)}\n"
        }
        let jsonl = try TaskDataset.load(path: try write("ids.jsonl", lines))
        XCTAssertNil(jsonl.textColumn)
        let estimator = FisherEstimator(model: try BertEncoder(directory: model), tokenizer: nil, options: FisherOptions(samples: nil))
        let a = estimator.estimate(try estimator.encode(jsonl))
        let withText = FisherEstimator(model: try BertEncoder(directory: model), tokenizer: tokenizer, options: FisherOptions(samples: nil))
        let b = withText.estimate(try withText.encode(dataset))
        XCTAssertEqual(a, b)
    }

    // MARK: Model directories

    func testMissingConfig() throws {
        let dir = try tinyCopy()
        try FileManager.default.removeItem(atPath: dir + "/config.json")
        expect(try BertEncoder(directory: dir)) { if case .missingConfig = $0 { return true }; return false }
    }

    func testUnsupportedArchitectureSuggestsFromGrads() throws {
        let dir = try tinyCopy(config: { $0.replacingOccurrences(of: "\"model_type\": \"bert\"", with: "\"model_type\": \"deberta-v2\"") })
        expect(try BertEncoder(directory: dir)) {
            if case let .unsupportedArchitecture(_, type, _) = $0 { return type == "deberta-v2" && $0.remedy == .supplyGradients }
            return false
        }
    }

    func testNoHeadNeedsNumLabels() throws {
        let dir = try tinyCopy(rename: { $0.hasPrefix("classifier.") ? nil : String($0.dropFirst(5)) })
        expect(try BertEncoder(directory: dir)) { if case .noHead = $0 { return true }; return false }
        let model = try BertEncoder(directory: dir, freshHead: (3, 7))
        XCTAssertTrue(model.headIsFresh)
        XCTAssertEqual(model.numLabels, 3)
        XCTAssertEqual(model.name(of: .embeddingsNorm(bias: false)), "embeddings.LayerNorm.weight")
        XCTAssertEqual(model.name(of: .classifierBias), "classifier.bias")
        let weights = model.classifier.weight.array
        let std = (weights.map { Double($0 * $0) }.reduce(0, +) / Double(weights.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.006)
        XCTAssertEqual(model.classifier.bias.array, [0, 0, 0])
        // Same seed, same head.
        XCTAssertEqual(try BertEncoder(directory: dir, freshHead: (3, 7)).classifier.weight.array, weights)
        let estimator = FisherEstimator(model: model, tokenizer: try WordPieceTokenizer.load(directory: dir), options: FisherOptions(kind: .expected, parameters: .both, samples: 8))
        let result = try estimator.run(dataset: try TaskDataset.load(path: Fixtures.path("fisher/data.tsv")))
        XCTAssertEqual(result.metadata["head"], "fresh")
        XCTAssertEqual(result.samples, 8)
        XCTAssertEqual(result.tensors.last?.name, "classifier.bias")
    }

    func testMissingPoolerIsNamed() throws {
        let dir = try tinyCopy(rename: { $0.contains("pooler") ? nil : $0 })
        expect(try BertEncoder(directory: dir)) {
            if case let .missingTensor(_, tensor) = $0 { return tensor == "pooler.dense.weight" && $0.description.contains("pooler") }
            return false
        }
    }

    func testLegacyNamesAreKeptInTheOutput() throws {
        let dir = try tinyCopy(rename: { name in
            var n = name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
            if n.hasSuffix("LayerNorm.weight") { n = String(n.dropLast(6)) + "gamma" }
            if n.hasSuffix("LayerNorm.bias") { n = String(n.dropLast(4)) + "beta" }
            return n
        })
        let legacy = try run(dir)
        let modern = try run(Fixtures.path("fisher/tiny-model"))
        XCTAssertEqual(legacy.tensors.first?.name, "embeddings.LayerNorm.gamma")
        XCTAssertEqual(legacy.tensors.map(\.values), modern.tensors.map(\.values))
    }

    // MARK: Fisher files

    func testFisherFileRoundTripAndFromGrads() throws {
        let result = try run(Fixtures.path("fisher/tiny-model"))
        let path = tmp.appendingPathComponent("f.safetensors").path
        try FisherFile.write(result, to: path)
        let back = try FisherFile.read(path: path)
        XCTAssertEqual(back.metadata["format"], "ckpt-fisher")
        XCTAssertEqual(back.metadata["kind"], "empirical")
        XCTAssertEqual(back.metadata["samples"], "32")
        XCTAssertEqual(back.metadata["data"], "data.tsv")
        XCTAssertEqual(back.metadata["params"], "both")
        XCTAssertEqual(back.metadata["max_length"], "128")
        XCTAssertEqual(back.tensors.map(\.name), result.tensors.map(\.name))
        for (a, b) in zip(back.tensors, result.tensors) {
            for (x, y) in zip(a.values, b.values) { XCTAssertEqual(x, y, accuracy: 1e-7 * abs(y)) }
        }
        // Squared-gradient sums (Fisher x 32) from "another framework".
        let sums = tmp.appendingPathComponent("sums.safetensors").path
        try FisherFileWriter.write(result.tensors.map { .init(name: $0.name, shape: $0.shape, payload: .f32($0.values.map { Float($0 * 32) })) },
                                   metadata: [:], to: sums)
        let model = try SafetensorsFile(path: Fixtures.path("fisher/tiny-model/model.safetensors"))
        let fisher = try FisherFile.fromGradientSums(path: sums, samples: 32, modelTensors: model.tensors)
        XCTAssertEqual(fisher.samples, 32)
        for (a, b) in zip(fisher.tensors, result.tensors) {
            for (x, y) in zip(a.values, b.values) { XCTAssertEqual(x, y, accuracy: 1e-6 * abs(y)) }
        }
        expect(try FisherFile.fromGradientSums(path: sums, samples: nil)) { if case .invalidFisherFile = $0 { return true }; return false }
        // Names of another model.
        let other = try SafetensorsFile(path: Fixtures.path("fisher/tiny-regression/model.safetensors"))
        expect(try FisherFile.fromGradientSums(path: sums, samples: 32, modelTensors: other.tensors)) {
            if case .namesMismatch = $0 { return true }; return false
        }
    }
}

/// The same model in safetensors, sharded safetensors and TensorFlow `tf_model.h5` (kernels
/// transposed on load) gives the same Fisher, keyed by each file's own names.
final class FisherFormatTests: XCTestCase {
    func fisher(weights: [String]) throws -> FisherResult {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = Fixtures.path("tiny-bert/base")
        for name in ["config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: base + "/" + name, toPath: dir.appendingPathComponent(name).path)
        }
        for w in weights {
            try FileManager.default.copyItem(atPath: Fixtures.path(w), toPath: dir.appendingPathComponent((w as NSString).lastPathComponent).path)
        }
        let model = try BertEncoder(directory: dir.path, freshHead: (2, 1))
        let estimator = FisherEstimator(model: model, tokenizer: try WordPieceTokenizer.load(directory: dir.path),
                                        options: FisherOptions(kind: .expected, parameters: .both, samples: 16))
        var result = try estimator.run(dataset: try TaskDataset.load(path: Fixtures.path("fisher/data.tsv")))
        result.metadata["model"] = nil
        return result
    }

    func testFormatsAgree() throws {
        let safetensors = try fisher(weights: ["tiny-bert/base/model.safetensors"])
        let sharded = try fisher(weights: ["tiny-bert/variants/sharded/model.safetensors.index.json",
                                           "tiny-bert/variants/sharded/model-00001-of-00002.safetensors",
                                           "tiny-bert/variants/sharded/model-00002-of-00002.safetensors"])
        let tf = try fisher(weights: ["tiny-bert/variants/tf_model.h5"])
        XCTAssertEqual(safetensors.tensors.first?.name, "embeddings.LayerNorm.weight")
        XCTAssertTrue(tf.tensors.first!.name.contains("/"), tf.tensors.first!.name)
        XCTAssertEqual(safetensors.tensors.map(\.name), sharded.tensors.map(\.name))
        for (label, other) in [("sharded", sharded), ("tf", tf)] {
            XCTAssertEqual(other.tensors.count, safetensors.tensors.count)
            for (a, b) in zip(safetensors.tensors, other.tensors) {
                XCTAssertEqual(a.shape, b.shape)
                let worst = zip(a.values, b.values).map { abs($0 - $1) / max(abs($0), 1e-12) }.max() ?? 0
                XCTAssertLessThan(worst, 1e-4, "\(label) \(a.name) / \(b.name)")
            }
        }
    }
}
