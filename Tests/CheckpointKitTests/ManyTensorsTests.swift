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

    /// The name index is the header's own (member order, `__metadata__` first, keys in reverse
    /// file order): every tensor's bytes are its own, and `__metadata__` is no tensor.
    func testNameIndexFollowsHeaderOrder() throws {
        let names = Array(Self.names().prefix(1_000))
        let file = try SafetensorsFile(path: try Self.writeFile(names, in: try Fixtures.temporaryDirectory()))
        for (index, tensor) in file.tensors.enumerated() {
            XCTAssertEqual(try file.withBytes(of: tensor) { $0.loadUnaligned(as: Float.self) }, Float(index), tensor.name)
            XCTAssertEqual(file.fileRange(of: tensor)?.count, 4)
        }
        let metadata = TensorInfo(name: "__metadata__", dtype: .u8, shape: [0], byteCount: 0)
        XCTAssertNil(file.fileRange(of: metadata))
        XCTAssertThrowsError(try file.withBytes(of: metadata) { $0.count }) { error in
            XCTAssertTrue("\(error)".contains("__metadata__"), "\(error)")
        }
    }

    /// A diff entry's names, role and shapes live in one shared box: a changed copy leaves the
    /// original as it was; converted sums are kept only for converted pairs.
    func testDifferenceCopiesAreIndependent() throws {
        let path = try Self.writeFile(Array(Self.names().prefix(100)), in: try Fixtures.temporaryDirectory())
        let diff = try CheckpointDiff(base: try SafetensorsFile(path: path), finetuned: try SafetensorsFile(path: path))
        let original = diff.tensors[7]
        var copy = original
        copy.name = "renamed"
        copy.baseShape = [2, 3]
        copy.rawSums = DifferenceSums()
        XCTAssertEqual(original.name, "layers.0.mlp.experts.0.up_proj.weight")
        XCTAssertEqual(original.baseShape, [1])
        XCTAssertNil(original.rawSums)
        XCTAssertEqual(copy.name, "renamed")
        XCTAssertEqual(copy.baseShape, [2, 3])
        XCTAssertEqual(copy.finetunedShape, [1])
        XCTAssertNotNil(copy.rawSums)
        XCTAssertTrue(diff.tensors.allSatisfy { $0.rawSums == nil && $0.conversion == nil })
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

    /// A header of 100,000 entries (the issue's size) is read in full and in order; built here
    /// with short names so that the test stays fast.
    func testHundredThousandTensorHeader() throws {
        let names = (0..<100_000).map { "layers.\($0 / 1000).experts.\($0 % 1000).w" }
        let file = try SafetensorsFile(path: try Self.writeFile(names, in: try Fixtures.temporaryDirectory()))
        XCTAssertEqual(file.tensors.count, 100_000)
        XCTAssertEqual(file.tensors.map(\.name), names)
        let value = try file.withBytes(of: file.tensors[99_999]) { $0.loadUnaligned(as: Float.self) }
        XCTAssertEqual(value, 99_999)
    }

    /// Entries in an unusual form (members reordered, an unknown member, an escaped key or dtype,
    /// spaces) read as the usual form does; a malformed one gets the message it always got.
    func testUnusualEntriesReadAsBefore() throws {
        let entries = [
            #""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#,
            #""b":{"data_offsets":[4,8],"shape":[1],"dtype":"F32"}"#,
            #""c":{"dtype":"F32","extra":{"x":[1]},"shape":[1],"data_offsets":[8,12]}"#,
            #""d":{"dt\u0079pe":"F\u00332","shape":[ 1 ],"data_offsets":[ 12 , 16 ]}"#,
            #""e" : { "dtype" : "F32" , "shape" : [] , "data_offsets" : [16,20] }"#,
        ]
        let file = try SafetensorsFile(path: try write(entries, dataBytes: 20))
        XCTAssertEqual(file.tensors.map(\.name), ["a", "b", "c", "d", "e"])
        XCTAssertEqual(file.tensors.map(\.shape), [[1], [1], [1], [1], []])
        XCTAssertTrue(file.tensors.allSatisfy { $0.dtype == .f32 && $0.byteCount == 4 })

        let refused: [(String, String)] = [
            (#""a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}"#, "not a non-negative integer"),
            (#""a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}"#, "leading zero in number"),
            (#""a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}"#, "duplicate key \"dtype\""),
            (#""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}"#, "'data_offsets' must be two integers"),
            (#""a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}"#, "'data_offsets' must be two integers"),
            (#""a":{"dtype":"X9","shape":[1],"data_offsets":[0,4]}"#, "X9"),
            (#""a":{"shape":[1],"data_offsets":[0,4]}"#, "missing or non-string 'dtype'"),
            (#""a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}"#, "needs 8 bytes but data_offsets span 4"),
            (#""a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}"#, "not a non-negative integer"),
        ]
        for (entry, message) in refused {
            XCTAssertThrowsError(try SafetensorsFile(path: try write([entry], dataBytes: 4)), entry) { error in
                XCTAssertTrue("\(error)".contains(message), "\(entry): \(error)")
            }
        }
    }

    /// Duplicate keys are the keys Swift's `String` equality calls equal, as with the dictionary the
    /// name index replaced: an escaped spelling, canonical equivalents (the Kelvin sign is "K", even
    /// after other non-ASCII names), a second `__metadata__`; a duplicate is reported before an
    /// error in its own entry. A name is found again by a hand-made `TensorInfo`.
    func testDuplicateKeysAsBefore() throws {
        let entry = { (key: String, offset: Int) in #""\#(key)":{"dtype":"F32","shape":[1],"data_offsets":[\#(offset),\#(offset + 4)]}"# }
        let refused: [([String], String)] = [
            ([entry("ab", 0), entry(#"a\u0062"#, 4)], "duplicate key \"ab\""),
            ([entry("K", 0), entry(#"\u212A"#, 4)], "duplicate key \"\u{212A}\""),
            ([entry("x", 0), entry("\u{E9}", 4), entry("K", 8), entry("\u{212A}", 12)], "duplicate key \"\u{212A}\""),
            ([entry("\u{E9}", 0), entry("e\u{301}", 4)], "duplicate key \"e\u{301}\""),
            ([entry("ab", 0), #""ab":{"dtype":"F32","shape":[1],"data_offsets":[4,8}"#], "duplicate key \"ab\""),
            ([entry("ab", 0), #""ab" {"dtype":"F32"}"#], "duplicate key \"ab\""),
            ([#""__metadata__":{}"#, entry("ab", 0), #""__metadata__":{}"#], "duplicate key \"__metadata__\""),
        ]
        for (entries, message) in refused {
            XCTAssertThrowsError(try SafetensorsFile(path: try write(entries, dataBytes: 4 * entries.count)), "\(entries)") { error in
                XCTAssertTrue("\(error)".contains(message), "\(entries): \(error)")
            }
        }
        for names in [["b", "a", "K"], ["b", "\u{E9}", "K"]] {
            let entries = names.enumerated().map { entry($1, 4 * (2 - $0)) }
            let file = try SafetensorsFile(path: try write(entries, dataBytes: 12))
            XCTAssertEqual(file.tensors.map(\.name), names.reversed())
            for (index, name) in names.enumerated() {
                let info = TensorInfo(name: name, dtype: .f32, shape: [1], byteCount: 4)
                XCTAssertEqual(file.fileRange(of: info)?.lowerBound, 8 + file.headerSize + 4 * (2 - index), name)
            }
            XCTAssertNil(file.fileRange(of: TensorInfo(name: "d", dtype: .f32, shape: [1], byteCount: 4)))
            let kelvin = TensorInfo(name: "\u{212A}", dtype: .f32, shape: [1], byteCount: 4)
            XCTAssertEqual(file.fileRange(of: kelvin)?.lowerBound, 8 + file.headerSize)
        }
    }

    /// A file whose header holds `entries` (JSON members, as written) and `dataBytes` zero bytes.
    func write(_ entries: [String], dataBytes: Int) throws -> String {
        var header = "{" + entries.joined(separator: ",") + "}"
        while header.utf8.count % 8 != 0 { header += " " }
        let bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
            + [UInt8](repeating: 0, count: dataBytes)
        let path = try Fixtures.temporaryDirectory().appendingPathComponent("entries.safetensors").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}
