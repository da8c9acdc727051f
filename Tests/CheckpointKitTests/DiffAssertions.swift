import XCTest
@testable import CheckpointKit

/// Comparisons of a diff with numpy float64 expectations in the schema of fixtures/fixturelib.py
/// (`tensors`, `only_in_base`, `only_in_finetuned`, `by_component`, `by_layer`, `overall`).
extension XCTestCase {
    /// Largest relative difference accepted between ckpt and numpy.
    var diffTolerance: Double { 1e-6 }

    func assertMatchesNumpy(_ actual: Double?, _ expected: Any?, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let e = expected as? Double else {
            // numpy writes null for an undefined ratio (zero norm).
            return
        }
        guard let a = actual else { return XCTFail("\(what): missing, expected \(e)", file: file, line: line) }
        if e == 0 {
            XCTAssertLessThanOrEqual(abs(a), 1e-12, "\(what): \(a) vs 0", file: file, line: line)
        } else {
            XCTAssertLessThanOrEqual(abs(a - e) / abs(e), diffTolerance, "\(what): \(a) vs \(e)", file: file, line: line)
        }
    }

    /// Compares every tensor entry of an expectation file with the diff.
    func assertTensorsMatch(_ diff: CheckpointDiff, _ expectation: [String: Any], file: StaticString = #filePath, line: UInt = #line) throws {
        let entries = try XCTUnwrap(expectation["tensors"] as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: diff.tensors.map { ($0.name, $0) })
        XCTAssertEqual(diff.tensors.count, entries.count, "paired tensors", file: file, line: line)
        for entry in entries {
            let name = try XCTUnwrap(entry["name"] as? String)
            // The numpy expectations compare with the base as stored: for a pair of different
            // dtypes, the raw measures (PrecisionDiffTests checks those against the converted base).
            guard let t = byName[name]?.raw else {
                XCTFail("\(name) not paired", file: file, line: line)
                continue
            }
            XCTAssertNil(t.problem, name, file: file, line: line)
            XCTAssertEqual(t.numel, entry["numel"] as? Int, "\(name) numel", file: file, line: line)
            XCTAssertEqual(t.changed, entry["changed"] as? Int, "\(name) changed", file: file, line: line)
            assertMatchesNumpy(t.baseL2, entry["base_l2"], "\(name) base_l2", file: file, line: line)
            if entry["finetuned_l2"] != nil { assertMatchesNumpy(t.finetunedL2, entry["finetuned_l2"], "\(name) finetuned_l2", file: file, line: line) }
            assertMatchesNumpy(t.deltaL2, entry["delta_l2"], "\(name) delta_l2", file: file, line: line)
            assertMatchesNumpy(t.relativeChange, entry["relative_change"], "\(name) relative_change", file: file, line: line)
            assertMatchesNumpy(t.meanAbsDelta, entry["mean_abs_delta"], "\(name) mean_abs_delta", file: file, line: line)
            assertMatchesNumpy(t.maxAbsDelta, entry["max_abs_delta"], "\(name) max_abs_delta", file: file, line: line)
            assertMatchesNumpy(t.cosine, entry["cosine"], "\(name) cosine", file: file, line: line)
        }
        XCTAssertEqual(diff.onlyInBase.map(\.name).sorted(), (expectation["only_in_base"] as? [String])?.sorted(), "only in base", file: file, line: line)
        XCTAssertEqual(diff.onlyInFinetuned.map(\.name).sorted(), (expectation["only_in_finetuned"] as? [String])?.sorted(), "only in fine-tune", file: file, line: line)
    }

    func assertGroupsMatch(_ groups: [DifferenceGroup], _ expected: [[String: Any]], _ what: String) {
        XCTAssertEqual(groups.count, expected.count, "\(what) group count")
        let byName = Dictionary(uniqueKeysWithValues: groups.map { ($0.name, $0) })
        for entry in expected {
            guard let name = entry["group"] as? String, let g = byName[name] else {
                XCTFail("\(what): group \(entry["group"] ?? "?") missing")
                continue
            }
            XCTAssertEqual(g.tensorCount, entry["tensor_count"] as? Int, "\(what) \(name) tensor_count")
            XCTAssertEqual(g.numel, entry["numel"] as? Int, "\(what) \(name) numel")
            XCTAssertEqual(g.changed, entry["changed"] as? Int, "\(what) \(name) changed")
            assertMatchesNumpy(g.baseL2, entry["base_l2"], "\(what) \(name) base_l2")
            assertMatchesNumpy(g.deltaL2, entry["delta_l2"], "\(what) \(name) delta_l2")
            assertMatchesNumpy(g.relativeChange, entry["relative_change"], "\(what) \(name) relative_change")
            assertMatchesNumpy(g.meanAbsDelta, entry["mean_abs_delta"], "\(what) \(name) mean_abs_delta")
            assertMatchesNumpy(g.maxAbsDelta, entry["max_abs_delta"], "\(what) \(name) max_abs_delta")
            XCTAssertEqual(g.tensors.sorted(), (entry["tensors"] as? [String])?.sorted(), "\(what) \(name) tensors")
        }
    }
}
