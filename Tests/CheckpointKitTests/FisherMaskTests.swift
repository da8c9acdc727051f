import Foundation
import XCTest
@testable import CheckpointKit

final class FisherMaskTests: XCTestCase {
    func fisher(_ values: [String: [Double]]) -> FisherResult {
        FisherResult(tensors: values.keys.sorted().map { FisherTensor(name: $0, shape: [values[$0]!.count], values: values[$0]!) }, metadata: [:])
    }

    func testTop10MaskAgreesWithTorch() throws {
        let dir = Fixtures.path("fisher/tiny-model")
        for kind in FisherKind.encoderKinds {
            let estimator = FisherEstimator(model: try BertEncoder(directory: dir), tokenizer: try WordPieceTokenizer.load(directory: dir),
                                            options: FisherOptions(kind: kind, parameters: .both, samples: nil))
            let ours = try estimator.run(dataset: try TaskDataset.load(path: Fixtures.path("fisher/data.tsv")))
            let reference = try FisherEstimatorTests.reference("expected-\(kind.rawValue).safetensors")
            let refResult = FisherResult(tensors: ours.tensors.map { FisherTensor(name: $0.name, shape: $0.shape, values: reference[$0.name]!) }, metadata: [:])
            let options = MaskOptions(selection: .percent(10))
            let a = try FisherMask.select([ours], sources: ["ours"], options: options)
            let b = try FisherMask.select([refResult], sources: ["torch"], options: options)
            var agree = 0, total = 0
            for (x, y) in zip(a.tensors, b.tensors) {
                total += x.keep.count
                agree += zip(x.keep, y.keep).filter { $0 == $1 }.count
            }
            print("\(kind): top-10% mask agreement \(Double(agree) / Double(total))")
            XCTAssertGreaterThanOrEqual(Double(agree) / Double(total), 0.99)
            XCTAssertEqual(a.keptCount, Int((0.1 * Double(total)).rounded()))
        }
    }

    func testTiesBreakByNameThenIndex() throws {
        let f = fisher(["b.bias": [1, 1, 1], "a.bias": [1, 1, 1], "c.bias": [0, 2, 0]])
        let mask = try FisherMask.select([f], sources: ["f"], options: MaskOptions(selection: .count(3)))
        let keep = Dictionary(uniqueKeysWithValues: mask.tensors.map { ($0.name, $0.keep) })
        XCTAssertEqual(keep["c.bias"], [0, 1, 0])
        XCTAssertEqual(keep["a.bias"], [1, 1, 0])
        XCTAssertEqual(keep["b.bias"], [0, 0, 0])
    }

    func testScopes() throws {
        let f = fisher(["bert.encoder.layer.0.output.LayerNorm.weight": [5, 4, 3, 2], "bert.encoder.layer.1.output.LayerNorm.weight": [0.5, 0.4, 0.3, 0.2],
                        "bert.encoder.layer.1.output.LayerNorm.bias": [9, 0, 0, 0]])
        let global = try FisherMask.select([f], sources: ["f"], options: MaskOptions(selection: .percent(25)))
        XCTAssertEqual(global.keptCount, 3)
        let tensor = try FisherMask.select([f], sources: ["f"], options: MaskOptions(selection: .percent(25), scope: .tensor))
        XCTAssertEqual(tensor.tensors.map(\.keptCount), [1, 1, 1])
        let layer = try FisherMask.select([f], sources: ["f"], options: MaskOptions(selection: .count(2), scope: .layer))
        XCTAssertEqual(layer.perLayer.map(\.name), ["layer 0", "layer 1"])
        XCTAssertEqual(layer.perLayer.map(\.kept), [2, 2])
        XCTAssertEqual(layer.perComponent.map(\.name), ["output LayerNorm weight", "output LayerNorm bias"])
        let keep = Dictionary(uniqueKeysWithValues: layer.tensors.map { ($0.name, $0.keep) })
        XCTAssertEqual(keep["bert.encoder.layer.1.output.LayerNorm.bias"], [1, 0, 0, 0])
        XCTAssertEqual(keep["bert.encoder.layer.1.output.LayerNorm.weight"], [1, 0, 0, 0])
    }

    func testUnionAndIntersect() throws {
        let a = fisher(["x.bias": [3, 2, 1, 0]]), b = fisher(["x.bias": [0, 2, 3, 1]])
        let union = try FisherMask.select([a, b], sources: ["a", "b"], options: MaskOptions(selection: .count(2), combination: .union))
        XCTAssertEqual(union.tensors[0].keep, [1, 1, 1, 0])
        let intersect = try FisherMask.select([a, b], sources: ["a", "b"], options: MaskOptions(selection: .count(2), combination: .intersect))
        XCTAssertEqual(intersect.tensors[0].keep, [0, 1, 0, 0])
        XCTAssertThrowsError(try FisherMask.select([a, b], sources: ["a", "b"], options: MaskOptions(selection: .count(2)))) { error in
            XCTAssertEqual(error as? FisherError, .combinationNeeded(files: 2))
        }
    }

    /// The one check of the options, typed (the command line maps these to its option names).
    func testOptionsAreCheckedWithTypedErrors() {
        func error(_ options: MaskOptions, files: Int = 1) -> FisherError? {
            do { try options.validate(fileCount: files) } catch { return error }
            return nil
        }
        XCTAssertEqual(error(MaskOptions(selection: .percent(0))), .invalidKeepPercentage(0))
        XCTAssertEqual(error(MaskOptions(selection: .percent(100.5))), .invalidKeepPercentage(100.5))
        XCTAssertNil(error(MaskOptions(selection: .percent(100))))
        XCTAssertEqual(error(MaskOptions(selection: .count(0))), .invalidKeepCount(0))
        XCTAssertEqual(error(MaskOptions(selection: .count(1)), files: 0), .noFisherFiles)
        XCTAssertNil(error(MaskOptions(selection: .count(1), combination: .union), files: 2))
    }

    func testMismatchedFisherFiles() throws {
        let a = fisher(["x.bias": [3, 2]]), b = fisher(["y.bias": [0, 2]]), c = fisher(["x.bias": [1, 2, 3]])
        XCTAssertThrowsError(try FisherMask.select([a, b], sources: ["a", "b"], options: MaskOptions(selection: .count(1), combination: .union))) { error in
            guard case FisherError.namesMismatch(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "b")
        }
        XCTAssertThrowsError(try FisherMask.select([a, c], sources: ["a", "c"], options: MaskOptions(selection: .count(1), combination: .union)))
    }

    func testMaskFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        let f = fisher(["bert.embeddings.LayerNorm.weight": [1, 2, 3, 4]])
        let mask = try FisherMask.select([f], sources: ["f.safetensors"], options: MaskOptions(selection: .percent(50)))
        let path = dir.appendingPathComponent("m.safetensors").path
        try mask.write(to: path)
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.tensors.map(\.dtype), [.u8])
        XCTAssertEqual(file.metadata["format"], "ckpt-mask")
        XCTAssertEqual(file.metadata["keep"], "50%")
        XCTAssertEqual(file.metadata["scope"], "global")
        XCTAssertEqual(file.metadata["sources"], "[\"f.safetensors\"]")
        XCTAssertEqual(try TensorDecoder.doubles(of: file.tensors[0], in: file), [0, 0, 1, 1])
        XCTAssertEqual(file.headerSize % 8, 0)
    }
}
