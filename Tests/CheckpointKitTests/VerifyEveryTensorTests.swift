import Foundation
import XCTest
@testable import CheckpointKit

/// `ckpt verify --finetuned` checks every tensor of the fine-tune (issue 19): the ones the patch
/// holds against the patched result, the others against the base tensor the result keeps (name,
/// shape, dtype, bytes). Anything the patch leaves out that the fine-tune changed is "no", named,
/// exit 1, and the report says how many tensors were checked each way.
final class VerifyEveryTensorTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    var base: String { Fixtures.path("tiny-bert/base") }

    /// A LayerNorm patch against the full fine-tune: the 28 weights and biases it leaves out differ.
    func testAPatchThatLeavesChangesOutDoesNotReproduceTheFinetune() throws {
        let ft = Fixtures.path("tiny-bert/ft-full")
        let finetuned = try RawSafetensors(path: ft), baseFile = try RawSafetensors(path: base)
        let changed = finetuned.tensors.keys.filter { name in
            let stored = name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
            return baseFile.tensors[stored].map { $0 != finetuned.tensors[name] } ?? false
        }.map { $0.hasPrefix("bert.") ? String($0.dropFirst(5)) : $0 }
        let report = try PatchVerifier.verify(patch: try PatchFile(path: Fixtures.path("patch/full-default.patch")),
                                              base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(ft))
        let held = try PatchFile(path: Fixtures.path("patch/full-default.patch")).tensors.map(\.name)
        XCTAssertFalse(report.ok)
        XCTAssertEqual(report.reproduces, false)
        XCTAssertEqual(Set(report.differences.map(\.tensor)), Set(changed).subtracting(held))
        XCTAssertEqual(Set(report.notInPatch), Set(changed).subtracting(held))
        XCTAssertEqual(report.finetunedTensors, finetuned.tensors.count)
        XCTAssertEqual(report.checkedInPatch, held.count)
        XCTAssertEqual((report.checkedInPatch ?? 0) + (report.checkedAgainstBase ?? 0), finetuned.tensors.count)

        let text = try CommandRunner.run(["verify", Fixtures.path("patch/full-default.patch"), "--base", base, "--finetuned", ft])
        XCTAssertEqual(text.status, 1, text.stdout)
        XCTAssertTrue(text.stdout.contains("tensors of the fine-tune differ (checked \(held.count) held by the patch, \(finetuned.tensors.count - held.count) left as the base has them)"), text.stdout)
        let json = try CommandRunner.run(["verify", Fixtures.path("patch/full-default.patch"), "--base", base, "--finetuned", ft, "--json"])
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: json.stdoutData) as? [String: Any])
        XCTAssertEqual(document["checked_in_patch"] as? Int, held.count)
        XCTAssertEqual(document["checked_against_base"] as? Int, finetuned.tensors.count - held.count)
        XCTAssertEqual(document["finetuned_tensors"] as? Int, finetuned.tensors.count)
    }

    func testEveryTensorIsCountedWhenThePatchReproducesTheFinetune() throws {
        let ft = Fixtures.path("tiny-bert/ft-layernorm")
        let count = try RawSafetensors(path: ft).tensors.count
        let text = try CommandRunner.run(["verify", Fixtures.path("patch/layernorm.patch"), "--base", base, "--finetuned", ft])
        XCTAssertEqual(text.status, 0, text.stdout)
        XCTAssertTrue(text.stdout.contains("yes, byte for byte on all \(count) tensors of the fine-tune (20 held by the patch, \(count - 20) left as the base has them)"), text.stdout)
    }

    /// A tensor the patch does not add, or an untouched tensor saved in another dtype: "no", named.
    func testAnExtraTensorOrAnotherDTypeIsADifference() throws {
        let ft = try RawSafetensors(path: Fixtures.path("tiny-bert/ft-layernorm"))
        var extra = ft.order.map { ($0, ft.tensors[$0]!) }
        extra.append(("extra.weight", RawSafetensors.Tensor(dtype: "F32", shape: [2], bytes: Data(count: 8))))
        try PatchTestSupport.write(extra, to: tmp("extra.safetensors"))
        let patch = try PatchFile(path: Fixtures.path("patch/layernorm.patch"))
        let one = try PatchVerifier.verify(patch: patch, base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(tmp("extra.safetensors")))
        XCTAssertEqual(one.differences.map(\.tensor), ["extra.weight"])
        XCTAssertFalse(one.ok)

        let name = try XCTUnwrap(ft.order.first { $0.hasSuffix("attention.self.query.weight") })
        var converted = ft.order.map { ($0, ft.tensors[$0]!) }
        let index = try XCTUnwrap(converted.firstIndex { $0.0 == name })
        let floats = ft.floats(name)
        var halves = Data()
        for value in floats { withUnsafeBytes(of: Float16(value).bitPattern.littleEndian) { halves.append(contentsOf: $0) } }
        converted[index].1 = RawSafetensors.Tensor(dtype: "F16", shape: ft.tensors[name]!.shape, bytes: halves)
        try PatchTestSupport.write(converted, to: tmp("f16.safetensors"))
        let two = try PatchVerifier.verify(patch: patch, base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(tmp("f16.safetensors")))
        XCTAssertEqual(two.differences.count, 1)
        XCTAssertTrue(two.differences.first?.reason.contains("is F16") ?? false, "\(two.differences)")
    }
}
