import Foundation
import XCTest
@testable import CheckpointKit

/// BF16/F16 weights read per GEMM panel from the file mapping (``HalfPrecisionGEMM``) instead of an
/// F32 copy: the BF16 Llama fixture against PyTorch float64 autograd, and a BF16 copy of the GPT-2
/// fixture (transposed `Conv1D` panels) and an F16 one against the widened path.
final class DecoderHalfPrecisionTests: XCTestCase {
    func estimate(_ directory: String, _ halfPrecision: HalfPrecisionWeights) throws -> [FisherTensor] {
        let model = try DecoderModel(directory: directory, halfPrecision: halfPrecision)
        XCTAssertEqual(model.panels, halfPrecision == .panels)
        let estimator = DecoderFisherEstimator(model: model, options: FisherOptions(kind: .empirical, parameters: .both, samples: nil))
        return try estimator.run(dataPath: FisherDecoderTests.path("data.jsonl")).tensors
    }

    func testBF16LlamaPanelsMatchTorch() throws {
        let reference = try FisherEstimatorTests.reference("../fisher-decoders/expected-llama-empirical.safetensors")
        let worst = FisherEstimatorTests.worstRelativeError(try estimate(FisherDecoderTests.path("llama"), .panels), reference)
        print("llama BF16 panels worst relative error \(worst)")
        XCTAssertLessThan(worst, 1e-4)
    }

    /// A copy of the F32 GPT-2 fixture with its matrices rounded to `dtype` (vectors kept F32).
    func halfCopy(_ dtype: DType, in directory: URL) throws -> String {
        let source = FisherDecoderTests.path("gpt2")
        let out = directory.appendingPathComponent("gpt2-\(dtype.rawValue)").path
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source + "/config.json", toPath: out + "/config.json")
        let checkpoint = try CheckpointOpener.open(source + "/model.safetensors")
        let entries = try checkpoint.tensors.map { tensor -> SafetensorsWriter.Entry in
            let values = try TensorDecoder.floats(of: tensor, in: checkpoint)
            guard tensor.shape.count == 2 else {
                return SafetensorsWriter.Entry(name: tensor.name, dtype: .f32, shape: tensor.shape, data: values.withUnsafeBytes { Array($0) })
            }
            let bits: [UInt16] = values.map { dtype == .bf16 ? UInt16($0.bitPattern >> 16) : Float16($0).bitPattern }
            return SafetensorsWriter.Entry(name: tensor.name, dtype: dtype, shape: tensor.shape, data: bits.withUnsafeBytes { Array($0) })
        }
        _ = try SafetensorsWriter(metadata: ["format": "pt"], entries: entries).write(to: out + "/model.safetensors")
        return out
    }

    func testTransposedAndF16PanelsMatchTheWidenedWeights() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for dtype in [DType.bf16, .f16] {
            let model = try halfCopy(dtype, in: directory)
            let widened = try estimate(model, .widened), panels = try estimate(model, .panels)
            let reference = Dictionary(uniqueKeysWithValues: widened.map { ($0.name, $0.values) })
            let worst = FisherEstimatorTests.worstRelativeError(panels, reference)
            print("gpt2 \(dtype) panels vs widened worst relative error \(worst)")
            XCTAssertLessThan(worst, 1e-5, "\(dtype)")
        }
    }

    func testNonFiniteHalfWeightIsRefused() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try halfCopy(.bf16, in: directory)
        let file = model + "/model.safetensors"
        let checkpoint = try CheckpointOpener.open(file)
        let tensor = checkpoint.tensors.first { $0.name.hasSuffix("h.1.mlp.c_fc.weight") }!
        let location = try XCTUnwrap(checkpoint.storedLocation(of: tensor))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[location.range.lowerBound + 2 * 5] = 0xC0
        bytes[location.range.lowerBound + 2 * 5 + 1] = 0x7F
        try bytes.write(to: URL(fileURLWithPath: file))
        for mode in [HalfPrecisionWeights.panels, .widened] {
            XCTAssertThrowsError(try DecoderModel(directory: model, halfPrecision: mode)) {
                XCTAssertTrue("\($0)".contains("h.1.mlp.c_fc.weight") && "\($0)".contains("entry 5"), "\($0)")
            }
        }
    }
}
