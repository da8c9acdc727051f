import Foundation
import XCTest
@testable import CheckpointKit

/// RoBERTa, XLM-RoBERTa and DistilBERT (issue 16) against PyTorch autograd run one example at a
/// time in float64 on tiny random models built from transformers' own classes
/// (fixtures/make_fisher_encoder_fixtures.py), on pre-tokenized data.
final class FisherEncoderTests: XCTestCase {
    static func path(_ name: String) -> String { Fixtures.path("fisher-encoders/\(name)") }

    static func reference(_ name: String) throws -> [String: [Double]] {
        let file = try SafetensorsFile(path: path(name))
        var out: [String: [Double]] = [:]
        for t in file.tensors { out[t.name] = try TensorDecoder.doubles(of: t, in: file) }
        return out
    }

    func estimate(_ model: String, data: String, kind: FisherKind, parameters: FisherParameterSet = .both,
                  batchSize: Int = 5, freshHead: (Int, UInt64)? = nil) throws -> [FisherTensor] {
        let encoder = try BertEncoder(directory: model.hasPrefix("/") ? model : Self.path(model), freshHead: freshHead)
        let estimator = FisherEstimator(model: encoder, tokenizer: nil,
                                        options: FisherOptions(kind: kind, parameters: parameters, samples: nil, batchSize: batchSize))
        return estimator.estimate(try estimator.encode(try TaskDataset.load(path: Self.path(data))))
    }

    /// Share of entries on which the top-10% masks of `a` and the reference agree.
    static func maskAgreement(_ a: [FisherTensor], _ reference: [String: [Double]]) -> Double {
        let ours = a.flatMap(\.values)
        let theirs = a.flatMap { reference[$0.name] ?? [] }
        guard ours.count == theirs.count, !ours.isEmpty else { return 0 }
        let k = max(1, ours.count / 10)
        func top(_ v: [Double]) -> Set<Int> { Set(v.indices.sorted { v[$0] > v[$1] }.prefix(k)) }
        let x = top(ours), y = top(theirs)
        return 1 - Double(x.symmetricDifference(y).count) / Double(ours.count)
    }

    func check(_ model: String, data: String, lastName: String) throws {
        for kind in FisherKind.encoderKinds {
            let tensors = try estimate(model, data: data, kind: kind)
            let reference = try Self.reference("expected-\(model)-\(kind.rawValue).safetensors")
            XCTAssertEqual(tensors.last?.name, lastName)
            let worst = FisherEstimatorTests.worstRelativeError(tensors, reference)
            let agreement = Self.maskAgreement(tensors, reference)
            print("\(model) \(kind) worst relative error \(worst), top-10% mask agreement \(agreement)")
            XCTAssertLessThan(worst, 1e-4, "\(model) \(kind)")
            XCTAssertGreaterThanOrEqual(agreement, 0.99, "\(model) \(kind)")
        }
    }

    /// Three labels (the expected Fisher combines two backward passes); example 6 holds the pad id
    /// in its middle, which RoBERTa's positions skip.
    func testRobertaMatchesTorch() throws {
        try check("tiny-roberta", data: "data.jsonl", lastName: "classifier.out_proj.bias")
    }

    func testXLMRobertaRegressionMatchesTorch() throws {
        try check("tiny-xlmr", data: "regression.jsonl", lastName: "classifier.out_proj.bias")
    }

    /// Sinusoidal positions, three labels.
    func testDistilBertMatchesTorch() throws {
        try check("tiny-distilbert", data: "data.jsonl", lastName: "classifier.bias")
    }

    /// Learned positions, a regression head.
    func testDistilBertLearnedRegressionMatchesTorch() throws {
        try check("tiny-distilbert-learned", data: "regression.jsonl", lastName: "classifier.bias")
    }

    func testParameterSubsetsAndNames() throws {
        for model in ["tiny-roberta", "tiny-distilbert"] {
            let reference = try Self.reference("expected-\(model)-expected.safetensors")
            for parameters in [FisherParameterSet.layernorm, .bias] {
                let tensors = try estimate(model, data: "data.jsonl", kind: .expected, parameters: parameters)
                let names = Set(tensors.map(\.name))
                let isNorm = { (n: String) in n.contains("LayerNorm") || n.contains("layer_norm") }
                XCTAssertEqual(names, Set(reference.keys.filter { parameters == .layernorm ? isNorm($0) : $0.hasSuffix(".bias") }))
                XCTAssertLessThan(FisherEstimatorTests.worstRelativeError(tensors, reference.filter { names.contains($0.key) }), 1e-4)
            }
        }
    }

    /// A copy of a fixture model with tensors dropped (`keep` false), renamed, their values edited,
    /// and the config edited.
    func copy(_ model: String, keep: (String) -> Bool = { _ in true }, rename: (String) -> String = { $0 },
              values edit: (String, inout [Float]) -> Void = { _, _ in }, config: (String) -> String = { $0 }) throws -> String {
        let dir = try Fixtures.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let file = try SafetensorsFile(path: Self.path("\(model)/model.safetensors"))
        let entries = try file.tensors.filter { keep($0.name) }.map { tensor in
            var values = try TensorDecoder.floats(of: tensor, in: file)
            edit(tensor.name, &values)
            return FisherFileWriter.Entry(name: rename(tensor.name), shape: tensor.shape, payload: .f32(values))
        }
        try FisherFileWriter.write(entries, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors").path)
        let text = try String(contentsOfFile: Self.path("\(model)/config.json"), encoding: .utf8)
        try config(text).write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        return dir.path
    }

    /// A base checkpoint (no head) takes a fresh `classifier.dense`/`out_proj` (RoBERTa) or
    /// `pre_classifier`/`classifier` (DistilBERT) of the requested size; the same seed gives the same head.
    func testFreshHeads() throws {
        for (model, names) in [("tiny-roberta", ["classifier.dense.bias", "classifier.out_proj.bias"]),
                               ("tiny-distilbert", ["pre_classifier.bias", "classifier.bias"])] {
            let dir = try copy(model, keep: { !$0.hasPrefix("classifier.") && !$0.hasPrefix("pre_classifier.") })
            XCTAssertThrowsError(try BertEncoder(directory: dir))
            let encoder = try BertEncoder(directory: dir, freshHead: (4, 9))
            XCTAssertTrue(encoder.headIsFresh)
            XCTAssertEqual(encoder.numLabels, 4)
            XCTAssertEqual(encoder.pooler.bias.array, [Float](repeating: 0, count: 32))
            let a = try estimate(dir, data: "data.jsonl", kind: .expected, freshHead: (4, 9))
            let b = try estimate(dir, data: "data.jsonl", kind: .expected, batchSize: 16, freshHead: (4, 9))
            XCTAssertEqual(Array(a.suffix(2).map(\.name)), names)
            XCTAssertEqual(a.last?.values.count, 4)
            for (x, y) in zip(a, b) {
                for (u, v) in zip(x.values, y.values) { XCTAssertEqual(u, v, accuracy: 1e-4 * abs(u) + 1e-12, x.name) }
            }
        }
    }

    /// DistilBERT with `sinusoidal_pos_embds` and no stored position table computes the table
    /// transformers would have (the fixture's stored table comes from transformers).
    func testSinusoidalTableComputedWhenAbsent() throws {
        let dir = try copy("tiny-distilbert", keep: { !$0.contains("position_embeddings") })
        let stored = try BertEncoder(directory: Self.path("tiny-distilbert")).positionEmbeddings.array
        let computed = try BertEncoder(directory: dir).positionEmbeddings.array
        XCTAssertEqual(stored.count, computed.count)
        for (s, c) in zip(stored, computed) { XCTAssertEqual(s, c, accuracy: 1e-6) }
        // A learned table is required.
        let learned = try copy("tiny-distilbert-learned", keep: { !$0.contains("position_embeddings") })
        XCTAssertThrowsError(try BertEncoder(directory: learned)) { error in
            guard case .missingTensor? = error as? FisherError else { return XCTFail("\(error)") }
        }
    }

    /// A DataParallel `module.` prefix is a training wrapper: the Fisher is the same, under the file's names.
    func testWrapperPrefix() throws {
        let dir = try copy("tiny-distilbert", rename: { "module." + $0 })
        let tensors = try estimate(dir, data: "data.jsonl", kind: .expected)
        XCTAssertTrue(tensors.allSatisfy { $0.name.hasPrefix("module.distilbert.") || $0.name.hasPrefix("module.pre_classifier") || $0.name.hasPrefix("module.classifier") })
        let unwrapped = tensors.map { FisherTensor(name: String($0.name.dropFirst(7)), shape: $0.shape, values: $0.values) }
        XCTAssertLessThan(FisherEstimatorTests.worstRelativeError(unwrapped, try Self.reference("expected-tiny-distilbert-expected.safetensors")), 1e-4)
    }

    /// A NaN in a weight would make every Fisher value NaN: refused, naming the tensor.
    func testNonFiniteWeightIsRefused() throws {
        let dir = try copy("tiny-roberta", values: { name, v in if name.hasSuffix("layer.1.output.LayerNorm.weight") { v[3] = .nan } })
        XCTAssertThrowsError(try BertEncoder(directory: dir)) { error in
            XCTAssertEqual(error as? FisherError, .nonFiniteWeight(path: dir + "/model.safetensors", tensor: "roberta.encoder.layer.1.output.LayerNorm.weight", index: 3))
        }
    }

    /// What the engine does not implement is refused, naming it.
    func testRefusals() throws {
        let gelu = try copy("tiny-roberta", config: { $0.replacingOccurrences(of: "\"hidden_act\": \"gelu\"", with: "\"hidden_act\": \"gelu_new\"") })
        XCTAssertThrowsError(try BertEncoder(directory: gelu)) { error in
            guard case .unsupportedArchitecture? = error as? FisherError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("gelu_new"), "\(error)")
        }
        let relu = try copy("tiny-distilbert", config: { $0.replacingOccurrences(of: "\"activation\": \"gelu\"", with: "\"activation\": \"relu\"") })
        XCTAssertThrowsError(try BertEncoder(directory: relu)) { error in
            XCTAssertTrue("\(error)".contains("activation 'relu'"), "\(error)")
        }
        let deberta = try copy("tiny-roberta", config: { $0.replacingOccurrences(of: "\"model_type\": \"roberta\"", with: "\"model_type\": \"deberta-v2\"") })
        XCTAssertThrowsError(try BertEncoder(directory: deberta)) { error in
            guard case let .unsupportedArchitecture(_, type, _)? = error as? FisherError else { return XCTFail("\(error)") }
            XCTAssertEqual(type, "deberta-v2")
        }
    }

    /// RoBERTa's table of 40 rows after padding index 1 holds 38 tokens: longer inputs are cut there.
    /// DistilBERT takes no token types (its tokenizer returns none): a pair's types are dropped, and
    /// RoBERTa's single type refuses a type 1 with the data line.
    func testLengthAndTokenTypeLimits() throws {
        let config = try BertConfig.load(directory: Self.path("tiny-roberta"))
        XCTAssertEqual(config.maxSequenceLength, 38)
        let dir = try Fixtures.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let long = dir.appendingPathComponent("long.jsonl").path
        let ids = [0] + (0..<60).map { 3 + $0 % 50 } + [2]
        try "{\"input_ids\":\(ids),\"label\":1}\n".write(toFile: long, atomically: true, encoding: .utf8)
        let estimator = FisherEstimator(model: try BertEncoder(directory: Self.path("tiny-roberta")), tokenizer: nil,
                                        options: FisherOptions(kind: .empirical, parameters: .both, samples: nil))
        XCTAssertEqual(try estimator.encode(try TaskDataset.load(path: long)).first?.input.inputIds.count, 38)
        let typed = dir.appendingPathComponent("typed.jsonl").path
        try "{\"input_ids\":[0,5,6,2],\"token_type_ids\":[0,0,1,1],\"label\":1}\n".write(toFile: typed, atomically: true, encoding: .utf8)
        let distil = FisherEstimator(model: try BertEncoder(directory: Self.path("tiny-distilbert")), tokenizer: nil,
                                     options: FisherOptions(kind: .empirical, parameters: .both, samples: nil))
        XCTAssertEqual(try distil.encode(try TaskDataset.load(path: typed)).first?.input.tokenTypeIds, [0, 0, 0, 0])
        XCTAssertThrowsError(try estimator.encode(try TaskDataset.load(path: typed))) { error in
            guard case let .invalidData(_, line, reason)? = error as? FisherError else { return XCTFail("\(error)") }
            XCTAssertEqual(line, 1)
            XCTAssertTrue(reason.contains("token type 1"), reason)
        }
    }
}
