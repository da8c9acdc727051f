import Foundation
import XCTest
@testable import CheckpointKit

/// The one JSON path: every `--json` report pretty-printed with sorted keys and non-finite numbers
/// as strings; safetensors headers and metadata compact, in the order the format fixes.
/// Documents are read back with Foundation's `JSONSerialization`, not with CheckpointKit's parser.
final class JSONOutputTests: XCTestCase {
    func object(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    /// Keys of every object, at any depth, in the order the text lists them.
    func assertPrettyAndSorted(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(text.hasPrefix("{\n  \""), "not pretty-printed: \(text.prefix(40))", file: file, line: line)
        var stack: [[String]] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "{" { stack.append([]) } else if c == "}" {
                let keys = stack.removeLast()
                XCTAssertEqual(keys, keys.sorted(), "keys not sorted", file: file, line: line)
            } else if c == "\"" {
                var j = text.index(after: i)
                while text[j] != "\"" { j = text.index(j, offsetBy: text[j] == "\\" ? 2 : 1) }
                let after = text[text.index(after: j)...].drop { $0 == " " }
                if after.first == ":" { stack[stack.count - 1].append(String(text[text.index(after: i)..<j])) }
                i = j
            }
            i = text.index(after: i)
        }
    }

    func testReportLayoutAndNonFiniteNumbers() throws {
        struct Sample: Encodable { var zeta = [Double.nan, .infinity, -.infinity, 1.5]; var alpha: [Int?] = [nil]; var path = "a/b" }
        let text = String(decoding: try JSONOutput.report(Sample()), as: UTF8.self)
        XCTAssertEqual(text, """
        {
          "alpha" : [
            null
          ],
          "path" : "a/b",
          "zeta" : [
            "nan",
            "inf",
            "-inf",
            1.5
          ]
        }
        """)
        XCTAssertEqual(JSONOutput.compact(Sample()), #"{"alpha":[null],"path":"a/b","zeta":["nan","inf","-inf",1.5]}"#)
    }

    /// The expected header is what Python writes: `json.dumps(s, ensure_ascii=False)` for every
    /// string, `__metadata__` first with sorted keys, tensors in order (as scripts/apply_patch.py).
    func testSafetensorsHeaderMatchesPythonLayout() throws {
        let writer = SafetensorsWriter(metadata: ["b": "x/y\u{8}\u{C}\u{1}é\"\\\n", "a": "1", "format": "ckpt-mask"], entries: [
            .init(name: "t/1\n", dtype: .f32, shape: [2], data: Array(repeating: 0, count: 8)),
            .init(name: "é", dtype: .u8, shape: [3], data: [1, 2, 3]),
            .init(name: "z", dtype: .u8, shape: [], data: [4]),
        ])
        let expected = #"{"__metadata__":{"a":"1","b":"x/y\b\f\u0001é\"\\\n","format":"ckpt-mask"},"t/1\n":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"é":{"dtype":"U8","shape":[3],"data_offsets":[8,11]},"z":{"dtype":"U8","shape":[],"data_offsets":[11,12]}}"#
        XCTAssertEqual(Array(expected.utf8).count, 239)
        XCTAssertEqual(writer.headerBytes(), Array(expected.utf8) + Array(repeating: UInt8(ascii: " "), count: 1))
        XCTAssertEqual(SafetensorsWriter(entries: []).headerBytes(), Array("{}      ".utf8))
    }

    /// Metadata that holds JSON keeps the bytes earlier versions wrote, so files written before
    /// and after read alike: counts with sorted keys, the name map in data order.
    func testMetadataJSONKeepsItsBytes() throws {
        var counts = PatchCounts()
        (counts.dense, counts.sparse, counts.new, counts.entries, counts.changed, counts.baseTensors) = (2, 1, 0, 70, 65, 39)
        XCTAssertEqual(JSONOutput.compact(counts), #"{"base_tensors":39,"changed":65,"dense":2,"entries":70,"new":0,"sparse":1}"#)
        var map = JSONOrderedObject()
        map.append("z.weight", "bert.z.weight")
        map.append("a.weight", "bert.a.weight")
        XCTAssertEqual(map.text, #"{"z.weight":"bert.z.weight","a.weight":"bert.a.weight"}"#)
        XCTAssertEqual(JSONOutput.compact(["dir/f.safetensors", "g \"x\""]), #"["dir/f.safetensors","g \"x\""]"#)
        let parsed = try JSONValue.parse(Array(#"{"b":[1,2.5,true,null,{"y":"s","x":-3}],"a":"t"}"#.utf8))
        XCTAssertEqual(JSONOutput.compact(parsed), #"{"a":"t","b":[1,2.5,true,null,{"x":-3,"y":"s"}]}"#)
    }

    /// A mask file is written byte for byte as before this change (the bytes below are the earlier
    /// hand-built header), so files written before and after read alike.
    func testMaskFileKeepsTheEarlierBytes() throws {
        let dir = try Fixtures.temporaryDirectory()
        let fisher = FisherResult(tensors: [FisherTensor(name: "bert.embeddings.LayerNorm.weight", shape: [4], values: [1, 4, 2, 3])], metadata: [:])
        let mask = try FisherMask.select([fisher], sources: ["dir/f.safetensors"], options: MaskOptions(selection: .percent(50)))
        let path = dir.appendingPathComponent("m.safetensors").path
        try mask.write(to: path)
        let header = #"{"__metadata__":{"combine":"single","format":"ckpt-mask","keep":"50%","kept":"2","scope":"global","sources":"[\"dir/f.safetensors\"]","total":"4"},"bert.embeddings.LayerNorm.weight":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#
        var padded = Array(header.utf8)
        padded += Array(repeating: UInt8(ascii: " "), count: (8 - padded.count % 8) % 8)
        let earlier = withUnsafeBytes(of: UInt64(padded.count).littleEndian) { Array($0) } + padded + [0, 1, 0, 1]
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(earlier))
        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata["sources"], #"["dir/f.safetensors"]"#)
    }

    // MARK: The commands

    /// `fisher --from-grads` on the torch fixture; expected sums and maxima by numpy
    /// (float64 values / 4).
    func testFisherJSON() throws {
        let dir = try Fixtures.temporaryDirectory()
        let result = try CommandRunner.run(["fisher", "--from-grads", Fixtures.path("fisher/expected-empirical.safetensors"), "--samples", "4",
                                            "-o", dir.appendingPathComponent("f.safetensors").path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        assertPrettyAndSorted(result.stdout)
        let report = try object(result.stdout)
        XCTAssertEqual(Set(report.keys), ["output", "format", "kind", "params", "samples", "model", "data", "max_length", "seconds", "tensors", "total"])
        XCTAssertEqual(report["format"] as? String, "ckpt-fisher")
        XCTAssertEqual(report["kind"] as? String, "empirical")
        XCTAssertEqual(report["params"] as? String, "custom")
        XCTAssertEqual(report["samples"] as? Int, 4)
        XCTAssertTrue(report["model"] is NSNull)
        XCTAssertTrue(report["max_length"] is NSNull)
        let tensors = try XCTUnwrap(report["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.count, 34)
        XCTAssertEqual(tensors[0]["name"] as? String, "bert.embeddings.LayerNorm.bias")
        XCTAssertEqual(tensors[0]["shape"] as? [Int], [32])
        XCTAssertEqual(try XCTUnwrap(tensors[0]["sum"] as? Double), 0.1302880652742641, accuracy: 1e-15)
        XCTAssertEqual(try XCTUnwrap(tensors[0]["max"] as? Double), 0.018449471497714136, accuracy: 1e-15)
        let total = try XCTUnwrap(report["total"] as? [String: Any])
        XCTAssertEqual(total["entries"] as? Int, 1154)
        XCTAssertEqual(try XCTUnwrap(total["sum"] as? Double), 2.1021295964715576, accuracy: 1e-13)
        XCTAssertEqual(try XCTUnwrap(total["max"] as? Double), 0.08972621018316418, accuracy: 1e-15)
    }

    /// A sum past the largest double prints as "inf", not null.
    func testFisherJSONWritesInfinityAsAString() throws {
        let dir = try Fixtures.temporaryDirectory()
        let grads = dir.appendingPathComponent("grads.safetensors").path
        let values: [Double] = [1e308, 1e308]
        try SafetensorsWriter(entries: [.init(name: "x.bias", dtype: .f64, shape: [2], data: values.withUnsafeBytes { Array($0) })]).write(to: grads)
        let result = try CommandRunner.run(["fisher", "--from-grads", grads, "--samples", "1", "-o", dir.appendingPathComponent("f.safetensors").path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try object(result.stdout)
        let tensors = try XCTUnwrap(report["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors[0]["sum"] as? String, "inf")
        XCTAssertEqual(tensors[0]["max"] as? Double, 1e308)
        XCTAssertEqual((report["total"] as? [String: Any])?["sum"] as? String, "inf")
    }

    /// `mask --keep 50` of the torch Fisher fixture: 577 of 1154 entries; per-tensor counts by
    /// numpy (values descending, ties by name then index).
    func testMaskJSON() throws {
        let dir = try Fixtures.temporaryDirectory()
        let source = Fixtures.path("fisher/expected-empirical.safetensors")
        let result = try CommandRunner.run(["mask", source, "--keep", "50", "-o", dir.appendingPathComponent("m.safetensors").path, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        assertPrettyAndSorted(result.stdout)
        let report = try object(result.stdout)
        XCTAssertEqual(Set(report.keys), ["output", "format", "keep", "count", "scope", "combine", "sources", "kept", "total", "tensors", "components", "layers"])
        XCTAssertEqual(report["format"] as? String, "ckpt-mask")
        XCTAssertEqual(report["keep"] as? Double, 50)
        XCTAssertTrue(report["count"] is NSNull)
        XCTAssertEqual(report["scope"] as? String, "global")
        XCTAssertEqual(report["combine"] as? String, "single")
        XCTAssertEqual(report["sources"] as? [String], [source])
        XCTAssertEqual(report["kept"] as? Int, 577)
        XCTAssertEqual(report["total"] as? Int, 1154)
        let tensors = try XCTUnwrap(report["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.prefix(4).map { $0["name"] as? String }, ["bert.embeddings.LayerNorm.bias", "bert.embeddings.LayerNorm.weight",
                                                                          "bert.encoder.layer.0.attention.output.LayerNorm.bias",
                                                                          "bert.encoder.layer.0.attention.output.LayerNorm.weight"])
        XCTAssertEqual(tensors.prefix(4).map { $0["kept"] as? Int }, [27, 23, 26, 24])
        XCTAssertEqual(tensors.map { $0["kept"] as? Int ?? 0 }.reduce(0, +), 577)
        let components = try XCTUnwrap(report["components"] as? [[String: Any]])
        XCTAssertEqual(Set(components[0].keys), ["component", "kept", "total"])
        let layers = try XCTUnwrap(report["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.first?["layer"] as? String, "embeddings")
        XCTAssertEqual(layers.first?["kept"] as? Int, 50)
        XCTAssertEqual(layers.map { $0["total"] as? Int ?? 0 }.reduce(0, +), 1154)
    }

    /// `apply --json`: counts from the Python `safetensors` reader (the base holds 71 tensors; the
    /// patch's `storage` is 18 `d` then 2 `n`); `bytes` is the output's size on disk.
    func testApplyJSON() throws {
        let output = try Fixtures.temporaryDirectory().appendingPathComponent("out.safetensors").path
        let result = try CommandRunner.run(["apply", Fixtures.path("tiny-bert/base"), Fixtures.path("patch/layernorm.patch"), "-o", output, "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        assertPrettyAndSorted(result.stdout)
        let report = try object(result.stdout)
        XCTAssertEqual(report["output"] as? String, output)
        XCTAssertEqual(report["tensors"] as? Int, 73)
        XCTAssertEqual(report["replaced"] as? Int, 18)
        XCTAssertEqual(report["added"] as? Int, 2)
        XCTAssertEqual(report["forced"] as? [String], [])
        let size = try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int
        XCTAssertEqual(report["bytes"] as? Int, size)
    }

    // MARK: the fast writer against Foundation's JSONEncoder

    /// ``JSONStreamEncoder`` writes, in both layouts, the bytes of Foundation's `JSONEncoder` in
    /// ``JSONOutput``'s configuration (the reference: Foundation, not our own code).
    static func assertSameBytesAsFoundation<T: Encodable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws {
        for layout in [JSONOutput.Layout.report, .compact] {
            let expected = Array(try JSONOutput.foundationEncoder(layout).encode(value))
            let actual = try JSONStreamEncoder(pretty: layout == .report).encode(value)
            guard actual != expected else { continue }
            let at = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(actual.count, expected.count)
            let context = { (bytes: [UInt8]) in String(decoding: bytes[max(0, at - 80)..<min(bytes.count, at + 80)], as: UTF8.self) }
            XCTFail("\(layout): differs at byte \(at) of \(expected.count):\nours:\n\(context(actual))\nFoundation:\n\(context(expected))",
                    file: file, line: line)
        }
    }

    struct Edges: Encodable {
        var empty: [Int] = []
        var emptyObject: [String: Int] = [:]
        var nestedEmpty: [[String]] = [[], ["x"]]
        var doubles: [Double] = [0, -0.0, 1, 0.1, 1e-5, 1.5e300, 123_456_789_012_345_678, 5e-324, .nan, -.infinity, .infinity, 2.5, -3]
        var floats: [Float] = [0.1, 1, 3.4e38, .infinity, -0.0, .nan]
        var one = 0.30000000000000004
        var oneFloat: Float = 16_777_216
        var ints: [Int] = [Int.min, -1, 0, Int.max]
        var unsigned: [UInt64] = [0, .max]
        var bytes: [Int8] = [-128, 127]
        var word: UInt32 = 4_000_000_000
        var text = "quote\" back\\ slash/ \u{1} \u{1F} \u{7F} \t\n\r\u{8}\u{C} é 😀"
        var keys: [String: Int] = ["b": 1, "a": 2, "B": 3, "é": 4, "aa": 5, "": 6, "z\u{1}": 7, "\u{FFFD}": 8, "😀": 9]
        var intKeys: [Int: String] = [10: "x", 2: "y"]
        var absent: Double? = nil
        @ExplicitNull var null: Int? = nil
        @ExplicitNull var present: Int? = 4
        var deep: [[String: [Int]]] = [["a": [1, 2]], ["b": []]]
        var flags = [true, false]
        var nothing = Nothing()
        var custom = Custom()
    }

    struct Nothing: Encodable { func encode(to encoder: Encoder) throws {} }

    /// Nested containers filled after a sibling, a key written twice, a single value inside.
    struct Custom: Encodable {
        enum Key: String, CodingKey { case x, y, z }
        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            var nested = container.nestedContainer(keyedBy: Key.self, forKey: .y)
            try nested.encode(1, forKey: .z)
            var list = container.nestedUnkeyedContainer(forKey: .x)
            try list.encode("a")
            var inner = list.nestedContainer(keyedBy: Key.self)
            try list.encodeNil()
            try inner.encode(2.5, forKey: .x)
            try nested.encode("late", forKey: .x)
            try container.encode(1, forKey: .z)
            try container.encode(2, forKey: .z)
        }
    }

    func testStreamEncoderMatchesFoundationOnEdgeCases() throws {
        try Self.assertSameBytesAsFoundation(Edges())
        try Self.assertSameBytesAsFoundation("a/b\u{0}")
        try Self.assertSameBytesAsFoundation([1.5, -2])
        try Self.assertSameBytesAsFoundation(["x": Edges()])
        // A top-level value that encodes nothing is an error to both.
        XCTAssertThrowsError(try JSONOutput.foundationEncoder(.report).encode(Nothing()))
        XCTAssertThrowsError(try JSONStreamEncoder(pretty: true).encode(Nothing()))
    }

    /// Real report documents: a diff of the tiny BERT fixtures (every report type of `diff --json`)
    /// and an inspect summary.
    func testStreamEncoderMatchesFoundationOnReports() throws {
        let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        for finetuned in ["tiny-bert/ft-bias", "tiny-bert/base"] {
            let diff = try CheckpointDiff(base: base, finetuned: try CheckpointOpener.open(Fixtures.path(finetuned)))
            for metric in DifferenceMetric.allCases {
                try Self.assertSameBytesAsFoundation(DiffDocument(diff: diff, metric: metric))
            }
        }
        try Self.assertSameBytesAsFoundation(CheckpointSummary(base))
    }

    /// The `tensors` array is written straight to the output (``JSONStreamedValue``): the same
    /// bytes as Foundation's encoding of every kind of entry. Pairs: a resized table (GPT-2, added
    /// tokens), a replaced head, another dtype (BF16 fine-tune of an F32 base), a fine-tune rounded
    /// through BF16, NaN and infinity on both sides, KerasHub RoBERTa's position table with its
    /// row offset (`base_first_row`), a TF-named base (transposed kernels).
    func testStreamedTensorEntriesMatchFoundation() throws {
        let pairs = [("resize/gpt2/base", "resize/gpt2/ft"), ("resize/bert-head/base", "resize/bert-head/ft"),
                     ("resize/gpt2/base", "resize/gpt2/ft-bf16"), ("regime/base.safetensors", "rounding/ft-full.safetensors"),
                     ("rounding/base-nan.safetensors", "rounding/ft-nan.safetensors"),
                     ("keras3/hf-roberta-keras.weights.h5", "keras3/hf-roberta/base"),
                     ("diff/base-tf-names.safetensors", "tiny-bert/ft-bias")]
        var seen: Set<String> = []
        for (base, finetuned) in pairs {
            let diff = try CheckpointDiff(base: try CheckpointOpener.open(Fixtures.path(base)),
                                          finetuned: try CheckpointOpener.open(Fixtures.path(finetuned)))
            try Self.assertSameBytesAsFoundation(DiffDocument(diff: diff, metric: .relative))
            for t in diff.tensors {
                if t.shapeChange == .replacedHead { seen.insert("replaced") }
                if case .offsetRows? = t.shapeChange { seen.insert("offset") }
                if t.shapeChange != nil && t.shapeChange != .replacedHead { seen.insert("resized") }
                if t.conversion != nil { seen.insert("converted") }
                if t.rawSums != nil { seen.insert("raw") }
                if (t.sums?.baseNaN ?? 0) + (t.sums?.finetunedInfinite ?? 0) > 0 { seen.insert("non-finite") }
                if t.transposed { seen.insert("transposed") }
                if t.sums == nil { seen.insert("not compared") }
            }
        }
        XCTAssertEqual(seen, ["replaced", "offset", "resized", "converted", "raw", "non-finite", "transposed", "not compared"])
        // `inspect --json`'s tensors are streamed too: a Keras 3 file (no layer for some names), a
        // TF-named one, a GPT-2 with a resized vocabulary.
        for path in ["keras3/gpt2.weights.h5", "diff/base-tf-names.safetensors", "resize/gpt2/ft"] {
            try Self.assertSameBytesAsFoundation(CheckpointSummary(try CheckpointOpener.open(Fixtures.path(path))))
        }
    }

    /// The entry writer's integers are the standard library's `description`.
    func testEntryWriterDigitsAreDescription() {
        var values = [0, 1, -1, 9, 10, -10, 99, 100, 4096, 30_522, Int.max, Int.min, Int.max - 1, Int.min + 1]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<10_000 { values.append(Int.random(in: Int.min...Int.max, using: &generator) >> Int.random(in: 0...62, using: &generator)) }
        for value in values {
            var out: [UInt8] = []
            JSONEntryWriter.digits(value, &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), value.description)
        }
    }

    /// ``JSONOutput/writeReport(_:to:)`` hands over the document in chunks that join to the bytes
    /// of ``JSONOutput/report(_:)``, each at least the chunk size (the last excepted) and each
    /// ending on a member boundary (whole characters).
    func testStreamedReportJoinsToTheDocument() throws {
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(Fixtures.path("resize/gpt2/base")),
                                      finetuned: try CheckpointOpener.open(Fixtures.path("resize/gpt2/ft")))
        let document = DiffDocument(diff: diff, metric: .relative)
        let whole = Array(try JSONOutput.report(document))
        for chunkBytes in [1, 200, 4096, 1 << 20] {
            var chunks: [[UInt8]] = []
            try JSONStreamEncoder(pretty: true).encode(document, chunkBytes: chunkBytes) { chunks.append(Array($0)) }
            XCTAssertEqual(Array(chunks.joined()), whole, "chunks of \(chunkBytes)")
            for chunk in chunks.dropLast() {
                XCTAssertGreaterThanOrEqual(chunk.count, chunkBytes)
                XCTAssertNotNil(String(validating: chunk, as: UTF8.self))
                XCTAssertTrue([UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: "\""), UInt8(ascii: "l"),
                               UInt8(ascii: "e")].contains(chunk.last!) || (0x30...0x39).contains(chunk.last!), "\(chunk.last!)")
            }
            if chunkBytes < 4096 { XCTAssertGreaterThan(chunks.count, 3) }
        }
        var streamed: [UInt8] = []
        try JSONOutput.writeReport(document) { streamed.append(contentsOf: $0) }
        XCTAssertEqual(streamed, whole)
    }
}
