import Foundation
import XCTest
@testable import CheckpointKit

/// `ckpt patch`, `apply`, `verify` and `inspect TASK.patch` as a user runs them: exit codes, the
/// one-line errors, JSON reports. Runs the binary `swift build` put beside the test bundle.
final class PatchCommandTests: XCTestCase {
    typealias Result = CommandResult

    var directory: URL!

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func run(_ arguments: [String]) throws -> Result { try CommandRunner.run(arguments) }

    var base: String { Fixtures.path("tiny-bert/base") }

    func testPatchApplyVerifyRoundTrip() throws {
        let patch = tmp("task.patch"), output = tmp("task.safetensors")
        let made = try run(["patch", base, Fixtures.path("tiny-bert/ft-full"), "-o", patch, "--json"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["selection"] as? String, "layernorm,bias,head,resized")
        let shares = try XCTUnwrap(report["shares"] as? [String: Any])
        let total = try XCTUnwrap(shares["total"] as? [String: Any])
        XCTAssertGreaterThan(total["dropped_share"] as? Double ?? 0, 0.9)
        XCTAssertEqual((shares["by_component"] as? [[String: Any]])?.isEmpty, false)
        let text = try run(["patch", base, Fixtures.path("tiny-bert/ft-full"), "-o", tmp("again.patch")])
        XCTAssertTrue(text.stdout.contains("The fine-tune changed more than the selection keeps"), text.stdout)
        XCTAssertTrue(text.stdout.contains("attention.self.query"), text.stdout)

        let applied = try run(["apply", base, patch, "-o", output])
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertTrue(applied.stdout.contains("43 patched, 2 added"), applied.stdout)
        // The default selection leaves 28 changed tensors out: the result is not the fine-tune (issue 19).
        let verified = try run(["verify", patch, "--base", base, "--finetuned", Fixtures.path("tiny-bert/ft-full")])
        XCTAssertEqual(verified.status, 1, verified.stdout + verified.stderr)
        XCTAssertTrue(verified.stdout.contains("reproduces"), verified.stdout)
        XCTAssertTrue(verified.stdout.contains("not in the patch: 28 tensors"), verified.stdout)
        // A patch that does not reproduce the named fine-tune: exit 1.
        let wrong = try run(["verify", Fixtures.path("patch/layernorm.patch"), "--base", base, "--finetuned", Fixtures.path("tiny-bert/ft-bias"), "--json"])
        XCTAssertEqual(wrong.status, 1)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(wrong.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(document["ok"] as? Bool, false)
        XCTAssertEqual(document["reproduces"] as? Bool, false)
        XCTAssertEqual(document["applies"] as? Bool, true)
    }

    func testInspectListsWhatAPatchHolds() throws {
        let text = try run(["inspect", Fixtures.path("patch/mask-sparse.patch")])
        XCTAssertEqual(text.status, 0, text.stderr)
        for needle in ["ckpt-patch version 2", "selection    mask:fixtures/patch/mask.safetensors", "3 sparse", "2 new", "encoder.layer.0.attention.self.query.weight  sparse F32"] {
            XCTAssertTrue(text.stdout.contains(needle), "'\(needle)' not in:\n\(text.stdout)")
        }
        let json = try run(["inspect", Fixtures.path("patch/full-all-compressed.patch"), "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(document["format"] as? String, "ckpt-patch")
        XCTAssertEqual(document["compressed"] as? Bool, true)
        XCTAssertEqual(document["selection"] as? String, "all")
        XCTAssertEqual((document["tensors"] as? [[String: Any]])?.count, 73)
        XCTAssertEqual((document["base_fingerprint"] as? String)?.count, 64)
    }

    func testBadInputsGiveOneLineAndTheDocumentedExitCode() throws {
        var tensors = try PatchTestSupport.baseTensors()
        tensors[0].1.bytes[tensors[0].1.bytes.startIndex] ^= 1 // embeddings.LayerNorm.bias
        try PatchTestSupport.write(tensors, to: tmp("other.safetensors"))
        var truncated = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("patch/layernorm.patch")))
        truncated.removeLast(10)
        try truncated.write(to: URL(fileURLWithPath: tmp("cut.patch")))
        let cases: [([String], Int32, [String])] = [
            (["apply", tmp("other.safetensors"), Fixtures.path("patch/layernorm.patch"), "-o", tmp("o1")], 3, ["made for another base", "embeddings.LayerNorm.bias", "--force"]),
            (["apply", base, tmp("cut.patch"), "-o", tmp("o2")], 2, ["truncated", tmp("cut.patch")]),
            (["apply", base, Fixtures.path("patch/layernorm.patch"), "-o", Fixtures.path("patch/layernorm.patch")], 2, ["the output is the input"]),
            (["apply", base, Fixtures.path("tiny-bert/base/model.safetensors"), "-o", tmp("o3")], 2, ["not a ckpt patch"]),
            (["apply", base, Fixtures.path("patch/layernorm.patch"), "-o", "/proc/ckpt-cannot-write/out"], 4, ["cannot write"]),
            (["patch", base, Fixtures.path("tiny-bert/ft-full"), "-o", tmp("o4"), "--select", "bias:nonsense"], 2, ["unknown bias type 'nonsense'"]),
            (["patch", base, Fixtures.path("tiny-bert/ft-full"), "-o", base + "/model.safetensors"], 2, ["the output is the input"]),
            (["verify", tmp("cut.patch"), "--base", base], 2, ["truncated"]),
            (["verify", Fixtures.path("patch/layernorm.patch"), "--base", tmp("other.safetensors")], 1, ["applies to", ": no", "embeddings.LayerNorm.bias"]),
        ]
        for (arguments, status, needles) in cases {
            let result = try run(arguments)
            XCTAssertEqual(result.status, status, "\(arguments): \(result.stderr)")
            let message = status == 1 ? result.stdout : result.stderr
            for needle in needles { XCTAssertTrue(message.contains(needle), "\(arguments): '\(needle)' not in \(message)") }
            if status != 1 {
                XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): \(result.stderr)")
                XCTAssertTrue(result.stderr.hasPrefix("ckpt: "), result.stderr)
            }
        }
        XCTAssertEqual(PatchTestSupport.entries(directory), ["cut.patch", "other.safetensors"])
        // --force gets past a differing base.
        let forced = try run(["apply", tmp("other.safetensors"), Fixtures.path("patch/layernorm.patch"), "-o", tmp("forced"), "--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stderr.contains("warning: --force"), forced.stderr)
    }

    func testFullDiskExitsFourAndLeavesNothing() throws {
        let small = directory.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        try TestEnvironment.requireRoot("mounting a 64 KiB tmpfs")
        guard PatchTestSupport.mountTmpfs(small, size: "64k") else { throw TestEnvironment.cannotRun("cannot mount a tmpfs here") }
        defer { PatchTestSupport.unmount(small) }
        let result = try run(["apply", base, Fixtures.path("patch/layernorm.patch"), "-o", small.appendingPathComponent("out.safetensors").path])
        XCTAssertEqual(result.status, 4, result.stderr)
        XCTAssertTrue(result.stderr.contains("No space left on device"), result.stderr)
        XCTAssertEqual(PatchTestSupport.entries(small), [])
    }
}
