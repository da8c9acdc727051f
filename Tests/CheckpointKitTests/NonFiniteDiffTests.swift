import XCTest
@testable import CheckpointKit

/// A fine-tune that diverged (issue 21): the real MiniLM LayerNorm-only fine-tune with one NaN in
/// encoder.layer.3.output.LayerNorm.weight (data/minilm/ft-layernorm-nan, built by `scripts/dev.sh
/// data` with numpy; expected-nan.json holds numpy float64 numbers over the finite pairs).
final class NonFiniteDiffTests: XCTestCase {
    static let warning = "fine-tune holds 1 NaN in 1 tensor: encoder.layer.3.output.LayerNorm.weight; base holds none"

    func expected() throws -> [String: Any] {
        let url = URL(fileURLWithPath: try DiffRealCheckpointTests.present("expected-nan.json"))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func assertClose(_ actual: Double?, _ expected: Any?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let a = actual, let e = expected as? Double else { return XCTFail("\(what): \(String(describing: actual)) vs \(String(describing: expected))", file: file, line: line) }
        XCTAssertLessThanOrEqual(abs(a - e), 1e-7 * abs(e), "\(what): \(a) vs numpy \(e)", file: file, line: line)
    }

    func testNumbersLeaveTheNaNOutAndMatchNumpy() throws {
        let expected = try expected()
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(try DiffRealCheckpointTests.present("base")),
                                      finetuned: try CheckpointOpener.open(try DiffRealCheckpointTests.present("ft-layernorm-nan")))
        let document = DiffDocument(diff: diff, metric: .relative)
        XCTAssertEqual(document.problems.map(\.tensor), ["encoder.layer.3.output.LayerNorm.weight"])
        XCTAssertEqual(document.problems.first?.side, .finetuned)
        XCTAssertEqual(document.problems.first?.nan, 1)
        XCTAssertEqual(NonFiniteProblem.warningLine(document.problems), Self.warning)
        XCTAssertEqual(document.regime.identifier, "layernorm")

        let overall = try XCTUnwrap(expected["overall"] as? [String: Any])
        let groups = document.groups
        XCTAssertEqual(groups.overall.nonFinite, overall["non_finite"] as? Int)
        XCTAssertEqual(groups.overall.numel, overall["numel"] as? Int)
        assertClose(groups.overall.relativeChange, overall["relative_change"], "overall relative change")
        assertClose(groups.overall.meanAbsDelta, overall["mean_abs_delta"], "overall mean |delta|")
        assertClose(groups.overall.maxAbsDelta, overall["max_abs_delta"], "overall max |delta|")

        let entry = try XCTUnwrap(expected["nan_tensor"] as? [String: Any])
        let t = try XCTUnwrap(diff.tensors.first { $0.name == "encoder.layer.3.output.LayerNorm.weight" })
        XCTAssertEqual(t.nonFinite, 1)
        assertClose(t.relativeChange, entry["relative_change"], "tensor relative change")
        assertClose(t.meanAbsDelta, entry["mean_abs_delta"], "tensor mean |delta|")
        assertClose(t.maxAbsDelta, entry["max_abs_delta"], "tensor max |delta|")

        let all = groups.byComponent + groups.byKind + groups.byLayer + groups.byBiasType + groups.cells + [groups.overall]
        for g in all {
            XCTAssertFalse([g.relativeChange, g.meanAbsDelta, g.maxAbsDelta].contains { $0.isNaN }, "group \(g.name) holds NaN")
        }
    }

    func testReportsWarnFirstAndPrintNoNaN() throws {
        let base = try DiffRealCheckpointTests.present("base"), broken = try DiffRealCheckpointTests.present("ft-layernorm-nan")
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let html = directory.appendingPathComponent("report.html").path
        let text = try CommandRunner.run(["diff", base, broken, "--html", html])
        XCTAssertEqual(text.status, 0, text.stderr)
        let lines = text.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "warning    " + Self.warning)
        XCTAssertTrue(lines[3].hasPrefix("regime"), lines[3])
        XCTAssertFalse(text.stdout.contains(" nan"), "no nan (as NumberText writes it) in numbers or bars:\n\(text.stdout)")
        XCTAssertTrue(text.stdout.contains("(1 NaN/Inf left out)"), text.stdout)

        let page = try String(contentsOfFile: html, encoding: .utf8)
        let problem = try XCTUnwrap(page.range(of: "<div class=problem>\(Self.warning)</div>"))
        let heatmap = try XCTUnwrap(page.range(of: "<h2>Layer × component"))
        XCTAssertLessThan(problem.lowerBound, heatmap.lowerBound, "the warning comes above the heatmap")
        XCTAssertTrue(DiffHTMLStyle.problemIsRed(page))

        let json = try CommandRunner.run(["diff", "--json", base, broken])
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        let problems = try XCTUnwrap(document["problems"] as? [[String: Any]])
        XCTAssertEqual(problems.count, 1)
        XCTAssertEqual(problems.first?["tensor"] as? String, "encoder.layer.3.output.LayerNorm.weight")
        XCTAssertEqual(problems.first?["stored_name"] as? String, "bert.encoder.layer.3.output.LayerNorm.weight")
        XCTAssertEqual(problems.first?["side"] as? String, "finetuned")
        XCTAssertEqual(problems.first?["nan"] as? Int, 1)
        XCTAssertEqual((document["overall"] as? [String: Any])?["non_finite"] as? Int, 1)
        XCTAssertTrue((document["overall"] as? [String: Any])?["relative_change"] is Double)
        let clean = try CommandRunner.run(["diff", "--json", base, try DiffRealCheckpointTests.present("ft-layernorm")])
        let cleanProblems = (try JSONSerialization.jsonObject(with: clean.stdoutData) as? [String: Any])?["problems"] as? [Any]
        XCTAssertEqual(cleanProblems?.count, 0)
    }

    /// A NaN that appeared is a difference: only the NaN separates the two files.
    func testExitCodeCountsANaNThatAppeared() throws {
        let result = try CommandRunner.run(["diff", "--exit-code", try DiffRealCheckpointTests.present("ft-layernorm"),
                                            try DiffRealCheckpointTests.present("ft-layernorm-nan")])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("warning    fine-tune holds 1 NaN in 1 tensor"), result.stdout)
    }

    /// `patch` and `apply` copy the NaN bit for bit (a NaN is a value) and say so on standard error.
    func testPatchAndApplyCarryTheNaNBitExactlyAndWarn() throws {
        let base = try DiffRealCheckpointTests.present("base"), broken = try DiffRealCheckpointTests.present("ft-layernorm-nan")
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let patch = directory.appendingPathComponent("task.patch").path, out = directory.appendingPathComponent("out.safetensors").path
        let made = try CommandRunner.run(["patch", base, broken, "-o", patch])
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertTrue(made.stderr.contains("warning: 1 NaN in 1 tensor (encoder.layer.3.output.LayerNorm.weight)"), made.stderr)
        let applied = try CommandRunner.run(["apply", base, patch, "-o", out])
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(applied.stderr.contains("1 NaN in 1 tensor"), applied.stderr)

        let result = try CheckpointOpener.open(out), fineTune = try CheckpointOpener.open(broken)
        let name = "encoder.layer.3.output.LayerNorm.weight"
        let written = try XCTUnwrap(result.tensors.first { $0.name == name })
        let wanted = try XCTUnwrap(fineTune.tensors.first { $0.name == "bert." + name })
        let a = try result.withBytes(of: written) { Array($0) }, b = try fineTune.withBytes(of: wanted) { Array($0) }
        XCTAssertEqual(a, b, "the NaN payload and every other byte are the fine-tune's")
        XCTAssertTrue(a.withUnsafeBytes { $0.load(as: Float.self) }.isNaN)
    }
}

/// The HTML report's warning style: red, so that it cannot be missed.
enum DiffHTMLStyle {
    static func problemIsRed(_ page: String) -> Bool {
        page.contains(".problem{") && page.contains("background:#c62828")
    }
}
