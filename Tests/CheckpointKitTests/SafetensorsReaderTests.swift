import XCTest
@testable import CheckpointKit

/// The safetensors reader against values written by the `safetensors` Python library and numpy
/// (fixtures/make_fixtures.py), never against our own output.
final class SafetensorsReaderTests: XCTestCase {
    /// Every safetensors fixture lists the same tensors, dtypes, shapes, sizes and metadata as
    /// `safetensors.safe_open` reports.
    func testInspectMatchesReferenceLibrary() throws {
        let directory = Fixtures.root.appendingPathComponent("expected/inspect")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        var checked = 0
        for file in files where file.hasSuffix(".json") {
            let expected = try XCTUnwrap(Fixtures.json("expected/inspect/\(file)") as? [String: Any])
            let relative = try XCTUnwrap(expected["file"] as? String)
            guard relative.hasSuffix(".safetensors") || relative.hasSuffix(".index.json") else { continue }
            let checkpoint = try CheckpointOpener.open(Fixtures.path(relative))
            try assertMatches(checkpoint, expected, file: relative)
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 10)
    }

    /// A model directory opens its weights file.
    func testModelDirectoryOpensItsWeights() throws {
        let checkpoint = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        XCTAssertEqual(checkpoint.format, .safetensors)
        XCTAssertTrue(checkpoint.path.hasSuffix("tiny-bert/base/model.safetensors"))
        let sharded = try CheckpointOpener.open(Fixtures.path("tiny-bert/variants/sharded"))
        XCTAssertEqual(sharded.format, .shardedSafetensors)
        XCTAssertEqual(sharded.tensors.count, checkpoint.tensors.count)
    }

    /// Every dtype of the specification decodes to the values torch / ml_dtypes give (all 256
    /// patterns of each 8-bit float format); the packed F4/F6 types are listed but refused.
    func testEveryDTypeDecodesLikeTheReference() throws {
        let expected = try XCTUnwrap(Fixtures.json("dtypes/expected-values.json") as? [String: Any])
        let tensors = try XCTUnwrap(expected["tensors"] as? [String: [String: Any]])
        let checkpoint = try CheckpointOpener.open(Fixtures.path("dtypes/all-dtypes.safetensors"))
        XCTAssertEqual(Set(checkpoint.tensors.map(\.dtype)), Set(DType.allCases))
        for (name, entry) in tensors {
            let tensor = try XCTUnwrap(checkpoint.tensor(named: name), name)
            XCTAssertEqual(tensor.dtype.rawValue, entry["dtype"] as? String, name)
            XCTAssertEqual(tensor.shape, entry["shape"] as? [Int], name)
            XCTAssertEqual(tensor.byteCount, entry["nbytes"] as? Int, name)
            guard let values = entry["values"] as? [Any], tensor.dtype != .c64 else {
                XCTAssertFalse(tensor.dtype.isDecodable, "\(name) has no reference values but is decodable")
                XCTAssertThrowsError(try TensorDecoder.doubles(of: tensor, in: checkpoint))
                continue
            }
            let decoded = try TensorDecoder.doubles(of: tensor, in: checkpoint)
            let floats = try TensorDecoder.floats(of: tensor, in: checkpoint)
            XCTAssertEqual(decoded.count, values.count, name)
            for (i, value) in values.enumerated() {
                let want = Self.number(value)
                if want.isNaN {
                    XCTAssertTrue(decoded[i].isNaN, "\(name)[\(i)]: \(decoded[i]) is not NaN")
                    continue
                }
                XCTAssertEqual(decoded[i], want, "\(name)[\(i)]")
                XCTAssertEqual(decoded[i].sign, want.sign, "\(name)[\(i)] sign")
                if tensor.dtype.isFloatingPoint && tensor.dtype != .f64 {
                    XCTAssertEqual(Double(floats[i]), want, "\(name)[\(i)] as Float")
                }
            }
        }
    }

    /// Valid edge cases of the specification (padding, leading whitespace, scalars, empty and
    /// unaligned tensors, metadata) open and give the reference values.
    func testEdgeCasesReadLikeTheReference() throws {
        let values = try XCTUnwrap(Fixtures.json("expected/values/edge.json") as? [String: [String: [String: Any]]])
        for (file, tensors) in values {
            let checkpoint = try CheckpointOpener.open(Fixtures.path("edge/\(file)"))
            XCTAssertEqual(checkpoint.tensors.count, tensors.count, file)
            for (name, entry) in tensors {
                let tensor = try XCTUnwrap(checkpoint.tensor(named: name), "\(file): \(name)")
                XCTAssertEqual(tensor.shape, entry["shape"] as? [Int], "\(file): \(name)")
                let want = (entry["values"] as? [Any] ?? []).map(Self.number)
                let got = try TensorDecoder.doubles(of: tensor, in: checkpoint)
                XCTAssertEqual(got, want, "\(file): \(name)")
            }
        }
        let metadata = try CheckpointOpener.open(Fixtures.path("edge/metadata.safetensors")).metadata
        let expected = try XCTUnwrap(Fixtures.json("expected/inspect/edge__metadata.safetensors.json") as? [String: Any])
        XCTAssertEqual(metadata, expected["metadata"] as? [String: String])
    }

    /// Each malformed file is refused with one message naming the file and saying what is wrong.
    func testMalformedFilesGiveClearErrors() throws {
        let cases = try XCTUnwrap((Fixtures.json("bad/cases.json") as? [String: Any])?["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        for entry in cases {
            let file = try XCTUnwrap(entry["file"] as? String)
            let phrase = try XCTUnwrap(entry["message_contains"] as? String).lowercased()
            let path = Fixtures.path(file)
            XCTAssertThrowsError(try CheckpointOpener.open(path), file) { error in
                let message = "\(error)"
                XCTAssertTrue(message.lowercased().contains(phrase), "\(file): '\(message)' does not mention '\(phrase)'")
                XCTAssertTrue(message.contains(path), "\(file): '\(message)' does not name the file")
                XCTAssertFalse(message.contains("\n"), "\(file): message is not one line")
                XCTAssertEqual((error as? CategorizedError)?.category, .badInput, file)
            }
        }
    }

    /// The header parser refuses what the reference refuses beyond the committed files.
    func testHeaderParserLimits() throws {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        XCTAssertThrowsError(try JSONValue.parse(Array(deep.utf8), maxDepth: 64))
        XCTAssertThrowsError(try JSONValue.parse(Array("{\"a\":1,\"a\":2}".utf8)))
        XCTAssertThrowsError(try JSONValue.parse(Array("{\"a\":01}".utf8)))
        XCTAssertThrowsError(try JSONValue.parse(Array("{\"a\":\"\\ud800\"}".utf8)))
        XCTAssertEqual(try JSONValue.parse(Array(" {\"a\": [1, -2.5e3, \"\\u00e9\"]} ".utf8)),
                       .object([("a", .array([.integer(1), .number(-2500), .string("é")]))]))
    }

    /// The writer's output reads back with the same tensors; its header is padded to 8 bytes.
    func testWriterRoundTrip() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try CheckpointOpener.open(Fixtures.path("edge/unaligned.safetensors"))
        let writer = SafetensorsWriter(metadata: ["k": "v"], entries: source.tensors.map { tensor in
            SafetensorsWriter.Entry(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape) { consume in
                try source.withBytes(of: tensor) { try consume($0) }
            }
        })
        let output = directory.appendingPathComponent("out.safetensors").path
        try writer.write(to: output)
        let copy = try SafetensorsFile(path: output)
        XCTAssertEqual(copy.headerSize % 8, 0)
        XCTAssertEqual(copy.metadata, ["k": "v"])
        XCTAssertEqual(copy.tensors.map(\.name), source.tensors.map(\.name))
        for tensor in source.tensors {
            let a = try source.withBytes(of: tensor) { Array($0) }
            let b = try copy.withBytes(of: copy.tensor(named: tensor.name)!) { Array($0) }
            XCTAssertEqual(a, b, tensor.name)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        XCTAssertEqual(leftovers, ["out.safetensors"])
    }

    // MARK: helpers

    func assertMatches(_ checkpoint: any Checkpoint, _ expected: [String: Any], file: String) throws {
        let tensors = try XCTUnwrap(expected["tensors"] as? [[String: Any]])
        let got = checkpoint.tensors.sorted { $0.name < $1.name }
        XCTAssertEqual(got.map(\.name), tensors.map { $0["name"] as! String }, file)
        for (tensor, want) in zip(got, tensors) {
            XCTAssertEqual(tensor.dtype.rawValue, want["dtype"] as? String, "\(file): \(tensor.name)")
            XCTAssertEqual(tensor.shape, want["shape"] as? [Int], "\(file): \(tensor.name)")
            XCTAssertEqual(tensor.elementCount, want["numel"] as? Int, "\(file): \(tensor.name)")
            XCTAssertEqual(tensor.byteCount, want["nbytes"] as? Int, "\(file): \(tensor.name)")
        }
        let summary = CheckpointSummary(checkpoint)
        XCTAssertEqual(summary.tensorCount, expected["tensor_count"] as? Int, file)
        XCTAssertEqual(summary.elements, expected["parameter_count"] as? Int, file)
        XCTAssertEqual(summary.bytes, expected["total_bytes"] as? Int, file)
        if let metadata = expected["metadata"] as? [String: String] {
            XCTAssertEqual(checkpoint.metadata, metadata, file)
        }
    }

    /// A reference value: a number, null for NaN, "inf"/"-inf", or a boolean.
    static func number(_ value: Any) -> Double {
        switch value {
        case let b as Bool: return b ? 1 : 0
        case let i as Int: return Double(i)
        case let d as Double: return d
        case let s as String: return s == "inf" ? .infinity : s == "-inf" ? -.infinity : .nan
        default: return .nan
        }
    }
}
