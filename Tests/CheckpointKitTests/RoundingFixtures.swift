import XCTest
@testable import CheckpointKit

/// The fixtures of fine-tunes rounded through BF16 (fixtures/rounding) or F16
/// (fixtures/rounding-f16) and their expected.json: shared by BF16RoundingTests and F16RoundingTests.
enum RoundingFixtures {
    static func expected(_ directory: String) throws -> [String: [String: Any]] {
        try XCTUnwrap(try Fixtures.json("\(directory)/expected.json") as? [String: [String: Any]])
    }

    /// The diff of case `name` (`DIRECTORY/ft-NAME.safetensors`) against the base `want` names.
    static func diff(_ directory: String, _ name: String, _ want: [String: Any], options: CheckpointDiff.Options = .init()) throws -> CheckpointDiff {
        let base = try XCTUnwrap(want["base"] as? String)
        return try CheckpointDiff(base: try CheckpointOpener.open(Fixtures.path(base)),
                                  finetuned: try CheckpointOpener.open(Fixtures.path("\(directory)/ft-\(name).safetensors")), options: options)
    }

    /// Every tensor's counts, norm and changed rows as expected, and whether it was compared with
    /// the base rounded through `dtype`.
    static func checkTensors(_ diff: CheckpointDiff, _ want: [String: Any], _ name: String, through dtype: DType,
                             file: StaticString = #filePath, line: UInt = #line) throws {
        let tensors = try XCTUnwrap(want["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(diff.tensors.count, tensors.count, name, file: file, line: line)
        for t in diff.tensors {
            let e = try XCTUnwrap(tensors[t.name], "\(name) \(t.name)")
            let label = "\(name) \(t.name)"
            XCTAssertEqual(t.changed, e["changed"] as? Int, label, file: file, line: line)
            XCTAssertEqual(t.raw.changed, e["raw_changed"] as? Int, label, file: file, line: line)
            XCTAssertEqual(t.roundedThrough == dtype, e["rounded"] as? Bool, label, file: file, line: line)
            let deltaL2 = try XCTUnwrap(e["delta_l2"] as? Double)
            XCTAssertEqual(try XCTUnwrap(t.deltaL2), deltaL2, accuracy: 1e-6 * max(deltaL2, 1e-30), label, file: file, line: line)
            XCTAssertEqual(t.changedRows, e["changed_rows"] as? Int, label, file: file, line: line)
        }
    }
}
