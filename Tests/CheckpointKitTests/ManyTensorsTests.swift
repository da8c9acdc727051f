import Foundation
import XCTest
@testable import CheckpointKit

/// Checkpoints of tens of thousands of tensors (mixture-of-experts models): the header is read,
/// named and summarised in full, in order, with the same roles as a small checkpoint gets. Speed
/// is measured by Benchmarks/many_tensors.py, never here.
final class ManyTensorsTests: XCTestCase {
    static let layers = 40
    static let experts = 160
    static let projections = ["gate_proj", "up_proj", "down_proj"]

    /// Names as a mixture-of-experts model spells them, per layer: the attention projections, two
    /// norms, then every expert's three projections.
    static func names() -> [String] {
        var names: [String] = []
        for layer in 0..<layers {
            let prefix = "model.layers.\(layer)."
            names += ["q_proj", "k_proj", "v_proj", "o_proj"].map { prefix + "self_attn.\($0).weight" }
            names += [prefix + "input_layernorm.weight", prefix + "post_attention_layernorm.weight"]
            for expert in 0..<experts { names += projections.map { prefix + "mlp.experts.\(expert).\($0).weight" } }
        }
        return names
    }

    /// A safetensors file written by hand (not by ckpt's writer): one F32 element per tensor, the
    /// i-th tensor holding the value i, header keys in reverse order (the reader orders by offset).
    static func writeFile(_ names: [String], in directory: URL) throws -> String {
        var header = "{\"__metadata__\":{\"format\":\"pt\"}"
        for (index, name) in names.enumerated().reversed() {
            header += ",\"\(name)\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\(4 * index),\(4 * index + 4)]}"
        }
        header += "}"
        while header.utf8.count % 8 != 0 { header += " " }
        var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
        for index in names.indices { bytes += withUnsafeBytes(of: Float(index).bitPattern.littleEndian) { Array($0) } }
        let path = directory.appendingPathComponent("moe.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testEveryTensorIsReadInOrder() throws {
        let names = Self.names()
        XCTAssertEqual(names.count, 19_440)
        let path = try Self.writeFile(names, in: try Fixtures.temporaryDirectory())
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.tensors.map(\.name), names)
        XCTAssertTrue(file.tensors.allSatisfy { $0.dtype == .f32 && $0.shape == [1] && $0.byteCount == 4 })
        XCTAssertEqual(file.metadata, ["format": "pt"])
        for index in [0, 1, 9_999, names.count - 1] {
            let value = try file.withBytes(of: file.tensors[index]) { $0.loadUnaligned(as: Float.self) }
            XCTAssertEqual(value, Float(index))
        }
    }

    /// The summary counts every tensor once, with the roles the naming rules give (the experts'
    /// projections are not the dense `mlp.down_proj` and friends: they count as `other`).
    func testSummaryOfManyTensors() throws {
        let names = Self.names()
        let summary = CheckpointSummary(try SafetensorsFile(path: try Self.writeFile(names, in: try Fixtures.temporaryDirectory())))
        XCTAssertEqual(summary.tensorCount, names.count)
        XCTAssertEqual(summary.tensors.count, names.count)
        XCTAssertEqual(summary.layers, Self.layers)
        XCTAssertEqual(summary.parametersByComponent["attention.self.query"], Self.layers)
        XCTAssertEqual(summary.parametersByComponent["attention.output.LayerNorm"], Self.layers)
        XCTAssertEqual(summary.parametersByComponent["output.LayerNorm"], Self.layers)
        XCTAssertEqual(summary.parametersByComponent["other"], Self.layers * Self.experts * 3)
        XCTAssertEqual(summary.parametersByKind["layernorm_weight"], 2 * Self.layers)
        let last = try XCTUnwrap(summary.tensors.last)
        XCTAssertEqual(last.canonicalName, "layers.39.mlp.experts.159.down_proj.weight")
        XCTAssertEqual(last.layer, 39)
    }

    /// A duplicate among many keys is still found, and named.
    func testDuplicateAmongManyKeysIsRefused() throws {
        var names = Self.names()
        names.append(names[12_345])
        let path = try Self.writeFile(names, in: try Fixtures.temporaryDirectory())
        XCTAssertThrowsError(try SafetensorsFile(path: path)) { error in
            XCTAssertTrue("\(error)".contains("duplicate key \"\(names[12_345])\""), "\(error)")
        }
    }

    /// The `--json` documents of many tensors (the inspect summary, the diff of the file against
    /// itself) are the bytes Foundation's `JSONEncoder` writes for them.
    func testJSONOfManyTensorsMatchesFoundation() throws {
        let path = try Self.writeFile(Self.names(), in: try Fixtures.temporaryDirectory())
        let file = try SafetensorsFile(path: path)
        try JSONOutputTests.assertSameBytesAsFoundation(CheckpointSummary(file))
        let diff = try CheckpointDiff(base: file, finetuned: try SafetensorsFile(path: path))
        XCTAssertEqual(diff.tensors.count, Self.names().count)
        try JSONOutputTests.assertSameBytesAsFoundation(DiffDocument(diff: diff, metric: .relative))
    }
}
