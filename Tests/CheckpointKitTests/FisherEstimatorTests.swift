import Foundation
import XCTest
@testable import CheckpointKit

/// Compares the native Fisher to PyTorch autograd run one example at a time in float64
/// (fixtures/make_fisher_fixtures.py).
final class FisherEstimatorTests: XCTestCase {
    static func reference(_ name: String) throws -> [String: [Double]] {
        let file = try SafetensorsFile(path: Fixtures.path("fisher/\(name)"))
        var out: [String: [Double]] = [:]
        for t in file.tensors { out[t.name] = try TensorDecoder.doubles(of: t, in: file) }
        return out
    }

    /// Worst relative error over entries above 1e-6 of the largest reference value.
    static func worstRelativeError(_ tensors: [FisherTensor], _ reference: [String: [Double]],
                                   file: StaticString = #filePath, line: UInt = #line) -> Double {
        let globalMax = reference.values.flatMap { $0 }.max() ?? 0
        var worst = 0.0
        XCTAssertEqual(Set(tensors.map(\.name)), Set(reference.keys), file: file, line: line)
        for t in tensors {
            guard let ref = reference[t.name] else { continue }
            XCTAssertEqual(ref.count, t.values.count, t.name, file: file, line: line)
            for (a, e) in zip(t.values, ref) where e > 1e-6 * globalMax {
                worst = max(worst, abs(a - e) / e)
            }
        }
        return worst
    }

    func estimate(model: String, data: String, kind: FisherKind, batchSize: Int = 5, parameters: FisherParameterSet = .both) throws -> [FisherTensor] {
        let dir = Fixtures.path("fisher/\(model)")
        let encoder = try BertEncoder(directory: dir)
        let tokenizer = try WordPieceTokenizer.load(directory: dir)
        let options = FisherOptions(kind: kind, parameters: parameters, samples: nil, maxLength: 128, batchSize: batchSize)
        let estimator = FisherEstimator(model: encoder, tokenizer: tokenizer, options: options)
        let dataset = try TaskDataset.load(path: Fixtures.path("fisher/\(data)"))
        return estimator.estimate(try estimator.encode(dataset))
    }

    func testEmpiricalMatchesTorch() throws {
        let worst = Self.worstRelativeError(try estimate(model: "tiny-model", data: "data.tsv", kind: .empirical), try Self.reference("expected-empirical.safetensors"))
        print("empirical worst relative error \(worst)")
        XCTAssertLessThan(worst, 1e-4)
    }

    func testExpectedMatchesTorch() throws {
        let worst = Self.worstRelativeError(try estimate(model: "tiny-model", data: "data.tsv", kind: .expected, batchSize: 32), try Self.reference("expected-expected.safetensors"))
        print("expected worst relative error \(worst)")
        XCTAssertLessThan(worst, 1e-4)
    }

    /// `layernorm` stops the backward at the embeddings LayerNorm, `bias` at layer 0's Q/K/V biases.
    func testParameterSubsets() throws {
        let reference = try Self.reference("expected-expected.safetensors")
        for parameters in [FisherParameterSet.layernorm, .bias] {
            let tensors = try estimate(model: "tiny-model", data: "data.tsv", kind: .expected, parameters: parameters)
            let names = Set(tensors.map(\.name))
            XCTAssertEqual(names, Set(reference.keys.filter { parameters == .layernorm ? $0.contains("LayerNorm") : $0.hasSuffix(".bias") }))
            let worst = Self.worstRelativeError(tensors, reference.filter { names.contains($0.key) })
            XCTAssertLessThan(worst, 1e-4, "\(parameters)")
        }
    }

    func testBatchSizeDoesNotChangeTheResult() throws {
        let a = try estimate(model: "tiny-model", data: "data.tsv", kind: .empirical, batchSize: 1)
        let b = try estimate(model: "tiny-model", data: "data.tsv", kind: .empirical, batchSize: 32)
        for (x, y) in zip(a, b) {
            for (u, v) in zip(x.values, y.values) { XCTAssertEqual(u, v, accuracy: 1e-4 * abs(u) + 1e-12, x.name) }
        }
    }

    /// ELECTRA: embedding size 16 projected to hidden 32, dense + GELU head, 3 labels (the expected
    /// Fisher combines two backward passes).
    func testElectraMatchesTorch() throws {
        for kind in FisherKind.encoderKinds {
            let dir = Fixtures.path("fisher/tiny-electra")
            let estimator = FisherEstimator(model: try BertEncoder(directory: dir), tokenizer: try WordPieceTokenizer.load(directory: dir),
                                            options: FisherOptions(kind: kind, parameters: .both, samples: 12, batchSize: 5))
            let tensors = estimator.estimate(try estimator.encode(try TaskDataset.load(path: Fixtures.path("fisher/data.tsv"))))
            XCTAssertEqual(tensors.last?.name, "classifier.out_proj.bias")
            let worst = Self.worstRelativeError(tensors, try Self.reference("expected-electra-\(kind.rawValue).safetensors"))
            print("electra \(kind) worst relative error \(worst)")
            XCTAssertLessThan(worst, 1e-4)
        }
    }

    func testRegressionMatchesTorch() throws {
        for kind in FisherKind.encoderKinds {
            let worst = Self.worstRelativeError(try estimate(model: "tiny-regression", data: "regression.tsv", kind: kind),
                                                try Self.reference("expected-regression-\(kind.rawValue).safetensors"))
            print("regression \(kind) worst relative error \(worst)")
            XCTAssertLessThan(worst, 1e-4)
        }
    }
}
