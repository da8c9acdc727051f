import Foundation
import XCTest
@testable import CheckpointKit

/// A classifier re-targeted for a new task (issue 21): the same body with a fresh 3-label head,
/// against a 2-label base: a tiny BERT made by PyTorch (fixtures/resize/bert-head, LayerNorm tuned
/// as well) and the real MiniLM LayerNorm fine-tune with its classifier replaced (data/minilm/ft-head3,
/// derived by `scripts/dev.sh data`, checked against transformers' output). The regime says "head
/// replaced", the head is reported as a new tensor (not a mismatch), and the default patch holds it
/// whole so that apply reproduces the fine-tune.
final class ReplacedHeadTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func testDiffSaysTheHeadWasReplaced() throws {
        let base = Fixtures.path("resize/bert-head/base"), ft = Fixtures.path("resize/bert-head/ft")
        let diff = try CheckpointDiff(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
        let expected = try XCTUnwrap(ResizedTensorTests.expected("bert-head")["tensors"] as? [String: [String: Any]])
        let replaced = diff.tensors.filter { $0.shapeChange == .replacedHead }
        XCTAssertEqual(Set(replaced.map(\.baseName)), Set(expected.filter { $0.value["replaced"] as? Bool == true }.keys))
        XCTAssertTrue(replaced.allSatisfy { $0.problem == nil && $0.sums == nil && !$0.isParameter })
        let regime = FineTuningRegime(diff)
        XCTAssertEqual(regime.identifier, "layernorm", regime.line)
        XCTAssertTrue(regime.line.hasSuffix("; head replaced: classifier 2 -> 3 labels"), regime.line)
        let changed = try XCTUnwrap(ResizedTensorTests.expected("bert-head")["changed"] as? [String])
        XCTAssertEqual(diff.tensors.filter { ($0.changed ?? 0) > 0 }.count, changed.count - replaced.count)

        let json = try CommandRunner.run(["diff", base, ft, "--json"])
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        let tensors = try XCTUnwrap(document["tensors"] as? [[String: Any]])
        let head = try XCTUnwrap(tensors.first { $0["name"] as? String == "classifier.weight" })
        XCTAssertEqual(head["replaced"] as? Bool, true)
        XCTAssertEqual(head["finetuned_shape"] as? [Int], [3, 16])
        XCTAssertEqual(head["numel"] as? Int, 48) // the new tensor's
        XCTAssertTrue(head["delta_l2"] is NSNull)
        let heads = try XCTUnwrap((document["regime"] as? [String: Any])?["replaced_heads"] as? [[String: Any]])
        XCTAssertEqual(heads.count, 2)
        let text = try CommandRunner.run(["diff", base, ft])
        XCTAssertTrue(text.stdout.contains("Replaced heads, new tensors (2)"), text.stdout)
        XCTAssertFalse(text.stdout.contains("Shape / dtype mismatches"), text.stdout)
        let html = try CommandRunner.run(["diff", base, ft, "--html", tmp("diff.html")])
        XCTAssertEqual(html.status, 0, html.stderr)
        let page = try String(contentsOfFile: tmp("diff.html"), encoding: .utf8)
        XCTAssertTrue(page.contains("Replaced heads, new tensors (2)") && page.contains("head replaced: classifier 2 -&gt; 3 labels"))
        XCTAssertFalse(page.contains("Shape / dtype mismatches"))
    }

    func testDefaultPatchHoldsTheNewHeadWhole() throws {
        let base = Fixtures.path("resize/bert-head/base"), ft = Fixtures.path("resize/bert-head/ft")
        let made = try CommandRunner.run(["patch", base, ft, "-o", tmp("head.patch")])
        XCTAssertEqual(made.status, 0, made.stderr)
        let patch = try PatchFile(path: tmp("head.patch"))
        let head = try XCTUnwrap(patch.tensors.first { $0.name == "classifier.weight" })
        XCTAssertEqual(head.storage, .dense)
        XCTAssertEqual(head.resultShape, [3, 16])
        try PatchTestSupport.apply(base: base, patch: tmp("head.patch"), to: tmp("out.safetensors"))
        XCTAssertEqual(try RawSafetensors(path: tmp("out.safetensors")).tensors, try RawSafetensors(path: ft).tensors)
        let verified = try CommandRunner.run(["verify", tmp("head.patch"), "--base", base, "--finetuned", ft])
        XCTAssertEqual(verified.status, 0, verified.stdout)
        // Without the head the task model is not the fine-tune.
        try PatchTestSupport.makePatch(base: base, finetuned: ft, select: ["layernorm"], to: tmp("ln.patch"))
        let no = try PatchVerifier.verify(patch: try PatchFile(path: tmp("ln.patch")), base: try CheckpointOpener.open(base),
                                          finetuned: try CheckpointOpener.open(ft))
        XCTAssertEqual(Set(no.differences.map(\.tensor)), ["classifier.weight", "classifier.bias"])
    }

    /// The real MiniLM LayerNorm fine-tune (2 labels) against the same body with a 3-label head.
    func testRealMiniLMHeadReplaced() throws {
        let base = try DiffRealCheckpointTests.present("ft-layernorm"), ft = try DiffRealCheckpointTests.present("ft-head3")
        let text = try CommandRunner.run(["diff", base, ft])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("head replaced: classifier 2 -> 3 labels"), text.stdout)
        XCTAssertFalse(text.stdout.contains("Shape / dtype mismatches"), text.stdout)
        let made = try CommandRunner.run(["patch", base, ft, "-o", tmp("head3.patch"), "--json"])
        XCTAssertEqual(made.status, 0, made.stderr)
        try PatchTestSupport.apply(base: base, patch: tmp("head3.patch"), to: tmp("head3.out"))
        let result = try RawSafetensors(path: tmp("head3.out")), finetuned = try RawSafetensors(path: ft)
        let expected = try XCTUnwrap((Fixtures.json("minilm/resize.json") as? [String: Any])?["ft-head3"] as? [String: [String: Any]])
        for (name, tensor) in finetuned.tensors {
            XCTAssertEqual(result.tensors[name], tensor, name) // the base (ft-layernorm) has the same names
            XCTAssertEqual(PatchFormat.hash([UInt8](tensor.bytes), length: 64), expected[name]?["sha256"] as? String, name)
        }
        let verification = try PatchVerifier.verify(patch: try PatchFile(path: tmp("head3.patch")), base: try CheckpointOpener.open(base),
                                                    finetuned: try CheckpointOpener.open(ft))
        XCTAssertTrue(verification.ok, "\(verification.differences)")
        XCTAssertEqual(verification.checkedInPatch, 2)
        XCTAssertEqual(verification.checkedAgainstBase, 103)
    }
}
