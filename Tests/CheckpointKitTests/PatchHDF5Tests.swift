import XCTest
@testable import CheckpointKit

/// A patch made against a real transformers `tf_model.h5` applies to it and gives an HDF5 file
/// whose LayerNorm datasets hold the PyTorch fine-tune's bytes and whose other datasets are unchanged.
final class PatchHDF5Tests: XCTestCase {
    func testLayerNormPatchAppliesToTFModelH5() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = Fixtures.path("tiny-bert/variants/tf_model.h5")
        let finetuned = Fixtures.path("tiny-bert/ft-layernorm")
        let patch = directory.appendingPathComponent("ln.patch").path
        let output = directory.appendingPathComponent("out.h5").path
        let plan = try PatchTestSupport.makePatch(base: base, finetuned: finetuned,
                                                  select: ["layernorm", "exclude:classifier*"], to: patch)
        XCTAssertGreaterThan(plan.tensors.count, 0)
        try PatchTestSupport.apply(base: base, patch: patch, to: output)

        let reference = try RawSafetensors(path: finetuned)
        let original = try HDF5File(path: base)
        let written = try HDF5File(path: output)
        XCTAssertEqual(written.format, .huggingFaceTFH5)
        XCTAssertEqual(written.tensors.map(\.name), original.tensors.map(\.name))
        var patched = 0
        for tensor in written.tensors {
            let bytes = try written.withBytes(of: tensor) { Data($0) }
            let canonical = ParameterNames.canonicalize(tensor.name).name
            if ParameterNames.role(of: tensor.name).kind.isLayerNorm {
                XCTAssertEqual(bytes, reference.tensors["bert." + canonical]?.bytes, tensor.name)
                patched += 1
            } else {
                XCTAssertEqual(bytes, try original.withBytes(of: original.tensor(named: tensor.name)!) { Data($0) }, tensor.name)
            }
        }
        XCTAssertEqual(patched, 18)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(), ["ln.patch", "out.h5"])
    }

    /// A patch that adds head tensors cannot go into an HDF5 base in place: a clear refusal, no output.
    func testAddingTensorsToHDF5IsRefused() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = Fixtures.path("tiny-bert/variants/tf_model.h5")
        let patch = directory.appendingPathComponent("head.patch").path
        try PatchTestSupport.makePatch(base: base, finetuned: Fixtures.path("tiny-bert/ft-layernorm"), select: ["layernorm", "head"], to: patch)
        XCTAssertThrowsError(try PatchTestSupport.apply(base: base, patch: patch, to: directory.appendingPathComponent("out.h5").path)) { error in
            XCTAssertTrue("\(error)".contains("classifier"), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["head.patch"])
    }
}
