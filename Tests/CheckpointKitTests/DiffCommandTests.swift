import XCTest

/// `ckpt diff` as a user runs it: exit codes of `--exit-code`, the JSON on stdout, the CSV and HTML
/// files. Runs the built `ckpt` binary through `CommandRunner`.
final class DiffCommandTests: XCTestCase {
    func run(_ arguments: [String]) throws -> CommandResult { try CommandRunner.run(arguments) }

    func tiny(_ name: String) -> String { Fixtures.path("tiny-bert/\(name)") }

    func testExitCodeModeIdenticalDifferentAndErrors() throws {
        XCTAssertEqual(try run(["diff", tiny("base"), tiny("base"), "--exit-code"]).status, 0)
        XCTAssertEqual(try run(["diff", tiny("base"), tiny("variants/sharded"), "--exit-code"]).status, 0)
        for regime in ["full", "layernorm", "bias", "last1"] {
            XCTAssertEqual(try run(["diff", tiny("base"), tiny("ft-\(regime)"), "--exit-code"]).status, 1, regime)
        }
        let missing = try run(["diff", tiny("base"), tiny("no-such-model"), "--exit-code"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("no-such-model"), missing.stderr)
        XCTAssertEqual(try run(["diff", tiny("base"), Fixtures.path("bad/truncated.safetensors"), "--exit-code"]).status, 2)
        XCTAssertEqual(try run(["diff", tiny("base"), tiny("base"), "--exit-code", "--metric", "bogus"]).status, 2)
        XCTAssertEqual(try run(["diff", tiny("base"), "--exit-code"]).status, 2)
    }

    func testWithoutExitCodeDifferencesSucceedAndErrorsUseCategories() throws {
        XCTAssertEqual(try run(["diff", tiny("base"), tiny("ft-full")]).status, 0)
        XCTAssertEqual(try run(["diff", tiny("base"), tiny("no-such-model")]).status, 2)
        let unwritable = try run(["diff", tiny("base"), tiny("ft-full"), "--csv", "/nonexistent-dir/x.csv"])
        XCTAssertEqual(unwritable.status, 4, unwritable.stderr)
    }

    func testReportJSONCSVAndHTML() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("d.csv").path
        let html = directory.appendingPathComponent("d.html").path
        let result = try run(["diff", tiny("base"), tiny("ft-layernorm"), "--json", "--csv", csv, "--html", html, "--metric", "mean-abs"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        XCTAssertEqual((object["regime"] as? [String: Any])?["identifier"] as? String, "layernorm")
        XCTAssertEqual(object["metric"] as? String, "mean-abs")
        XCTAssertEqual((object["tensors"] as? [Any])?.count, 71)
        XCTAssertTrue(FileManager.default.fileExists(atPath: csv))
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>"))
        XCTAssertTrue(page.contains("<svg"))
        XCTAssertTrue(page.contains("LayerNorm-only fine-tuning"))
        XCTAssertFalse(page.contains("<script"))
        XCTAssertFalse(page.contains("http://") && page.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://"))
        XCTAssertFalse(page.contains("https://"))

        let text = try run(["diff", tiny("base"), tiny("ft-bias"), "--top", "3"])
        let report = text.stdout
        XCTAssertTrue(report.contains("regime: bias-only fine-tuning (BitFit)"), report)
        XCTAssertTrue(report.contains("Top 3 tensors by relative change"), report)
        XCTAssertTrue(report.contains("Bias types (BitFit) by relative change"), report)
        XCTAssertTrue(report.contains("Layer x component"), report)
        XCTAssertTrue(report.contains("Only in fine-tune (2)"), report)
    }

    func testMapFileAddsPairings() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let map = directory.appendingPathComponent("map.txt")
        try "classifier.weight pooler.dense.weight\n".write(to: map, atomically: true, encoding: .utf8)
        let result = try run(["diff", tiny("base"), tiny("ft-full"), "--json", "--map", map.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        // classifier.weight [2, 32] cannot stand for pooler.dense.weight [32, 32]: reported, not fatal.
        let tensors = try XCTUnwrap(object["tensors"] as? [[String: Any]])
        let pooler = try XCTUnwrap(tensors.first { $0["base_name"] as? String == "pooler.dense.weight" })
        XCTAssertEqual(pooler["finetuned_name"] as? String, "classifier.weight")
        XCTAssertNotNil(pooler["problem"] as? String)
        XCTAssertEqual(object["only_in_finetuned"] as? [String], ["bert.pooler.dense.weight", "classifier.bias"])
    }
}
