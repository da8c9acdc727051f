import XCTest
@testable import CheckpointKit

/// `ckpt inspect --values` against numpy: fixtures/values/damaged.safetensors (NaN, +-Inf and zeros
/// in F32, F16, BF16, F64, I64 and BOOL around the kernel's lane and block boundaries) with
/// expectations from fixtures/make_values_fixtures.py, and the real MiniLM fine-tune with one NaN
/// (data/minilm/ft-layernorm-nan, expected-nan.json, both made by `scripts/dev.sh data`).
final class InspectValuesTests: XCTestCase {
    /// Asserts `actual` equals the JSON value `expected` (number or null) to `tolerance`, relatively.
    func assertNumber(_ actual: Double?, _ expected: Any?, _ what: String, tolerance: Double = 1e-12,
                      file: StaticString = #filePath, line: UInt = #line) {
        guard let e = (expected as? Double) ?? (expected as? Int).map(Double.init) else {
            XCTAssertNil(actual, "\(what) should be null", file: file, line: line)
            return
        }
        guard let a = actual else { return XCTFail("\(what) is nil, expected \(e)", file: file, line: line) }
        XCTAssertLessThanOrEqual(abs(a - e), tolerance * max(abs(e), 1e-300), "\(what): \(a) vs numpy \(e)", file: file, line: line)
    }

    func check(_ t: TensorValueStats, against entry: [String: Any], file: StaticString = #filePath, line: UInt = #line) {
        let name = t.name
        XCTAssertEqual(t.count, entry["numel"] as? Int, "\(name) numel", file: file, line: line)
        XCTAssertEqual(t.finite, entry["finite"] as? Int, "\(name) finite", file: file, line: line)
        XCTAssertEqual(t.nan, entry["nan"] as? Int, "\(name) nan", file: file, line: line)
        XCTAssertEqual(t.positiveInfinite, entry["pos_inf"] as? Int, "\(name) +inf", file: file, line: line)
        XCTAssertEqual(t.negativeInfinite, entry["neg_inf"] as? Int, "\(name) -inf", file: file, line: line)
        XCTAssertEqual(t.zeros, entry["zeros"] as? Int, "\(name) zeros", file: file, line: line)
        assertNumber(t.min, entry["min"], "\(name) min", tolerance: 0, file: file, line: line)
        assertNumber(t.max, entry["max"], "\(name) max", tolerance: 0, file: file, line: line)
        assertNumber(t.mean, entry["mean"], "\(name) mean", file: file, line: line)
        assertNumber(t.std, entry["std"], "\(name) std", tolerance: 1e-9, file: file, line: line)
    }

    func testFixtureMatchesNumpy() throws {
        let expected = try XCTUnwrap(Fixtures.json("expected/inspect-values.json") as? [String: Any])
        let entries = try XCTUnwrap(expected["tensors"] as? [[String: Any]])
        let summary = try ValuesSummary(try CheckpointOpener.open(Fixtures.path("values/damaged.safetensors")))
        XCTAssertEqual(summary.tensors.map(\.name), entries.compactMap { $0["name"] as? String })
        for (t, entry) in zip(summary.tensors, entries) { check(t, against: entry) }
        XCTAssertEqual(summary.damaged.map(\.name).sorted(), ["broken.weight", "encoder.layer.0.attention.output.LayerNorm.weight",
                                                              "encoder.layer.0.output.dense.bias", "encoder.layer.1.output.LayerNorm.bias",
                                                              "encoder.layer.1.output.dense.bias"])
    }

    /// One thread or two, whole tensors or chunks: the same numbers (chunks merge in element order).
    func testWorkersDoNotChangeTheNumbers() throws {
        let checkpoint = try CheckpointOpener.open(Fixtures.path("values/damaged.safetensors"))
        let one = try ValuesSummary(checkpoint, workers: 1), two = try ValuesSummary(checkpoint, workers: 2)
        for (a, b) in zip(one.tensors, two.tensors) {
            XCTAssertEqual([a.min, a.max, a.mean, a.std].map { $0?.bitPattern }, [b.min, b.max, b.mean, b.std].map { $0?.bitPattern }, a.name)
        }
    }

    func testCommandLineReportAndJSON() throws {
        let path = Fixtures.path("values/damaged.safetensors")
        let json = try CommandRunner.run(["inspect", "--values", "--json", path])
        XCTAssertEqual(json.status, 0, json.stderr)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        XCTAssertNotNil(document["parameters"], "the header summary's fields stay")
        let values = try XCTUnwrap(document["values"] as? [String: Any])
        XCTAssertEqual(values["nan"] as? Int, 9)
        XCTAssertEqual(values["inf"] as? Int, 4)
        let tensors = try XCTUnwrap(values["tensors"] as? [[String: Any]])
        let broken = try XCTUnwrap(tensors.first { $0["name"] as? String == "broken.weight" })
        XCTAssertEqual(broken["nan"] as? Int, 5)
        XCTAssertTrue(broken["mean"] is NSNull, "no finite value: mean is null")

        let text = try CommandRunner.run(["inspect", "--values", path])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("warning: 9 NaN and 4 Inf in 5 tensors"), text.stdout)
        let plain = try CommandRunner.run(["inspect", "--json", path])
        XCTAssertNil((try JSONSerialization.jsonObject(with: plain.stdoutData) as? [String: Any])?["values"], "values are opt-in")
    }

    /// The real MiniLM LayerNorm-only fine-tune with one NaN: found, and the rest of the tensor's
    /// statistics match numpy's over its finite values.
    func testRealFineTuneWithOneNaN() throws {
        let path = try DiffRealCheckpointTests.present("ft-layernorm-nan")
        let expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try DiffRealCheckpointTests.present("expected-nan.json")))) as? [String: Any])
        let values = try XCTUnwrap(expected["values"] as? [String: Any])
        let summary = try ValuesSummary(try CheckpointOpener.open(path))
        XCTAssertEqual(summary.damaged.map(\.name), [try XCTUnwrap(expected["stored_name"] as? String)])
        let t = try XCTUnwrap(summary.damaged.first)
        XCTAssertEqual(t.nan, values["nan"] as? Int)
        XCTAssertEqual(t.infinite, values["inf"] as? Int)
        XCTAssertEqual(t.zeros, values["zeros"] as? Int)
        XCTAssertEqual(t.count, values["numel"] as? Int)
        for (key, value) in [("min", t.min), ("max", t.max), ("mean", t.mean), ("std", t.std)] {
            assertNumber(value, values[key], "\(t.name) \(key)", tolerance: 1e-12)
        }
    }
}
