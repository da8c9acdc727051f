import Foundation
import XCTest
@testable import CheckpointKit

/// Every way a patch can meet the wrong input: a clear typed error naming the file and tensor, and
/// nothing left behind in the output directory.
final class PatchBadInputTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    var basePath: String { Fixtures.path("tiny-bert/base/model.safetensors") }

    /// Asserts that applying fails with an error whose text contains every string in `contains`,
    /// and that the output directory holds no output and no temporary file.
    func assertApplyFails(base: String, patch: String, output: String? = nil, force: Bool = false, contains: [String],
                          file: StaticString = #filePath, line: UInt = #line, check: (Error) -> Void = { _ in }) {
        let out = output ?? tmp("out.safetensors")
        let outDirectory = URL(fileURLWithPath: out).deletingLastPathComponent()
        let before = PatchTestSupport.entries(outDirectory)
        XCTAssertThrowsError(try PatchTestSupport.apply(base: base, patch: patch, to: out, force: force), file: file, line: line) { error in
            for text in contains { XCTAssertTrue("\(error)".contains(text), "'\(text)' not in: \(error)", file: file, line: line) }
            check(error)
        }
        XCTAssertEqual(PatchTestSupport.entries(outDirectory), before, "output directory changed", file: file, line: line)
    }

    /// The base with one tensor's first byte changed.
    func alteredBase(tensor: String) throws -> String {
        var tensors = try PatchTestSupport.baseTensors()
        let i = try XCTUnwrap(tensors.firstIndex { $0.0 == tensor })
        tensors[i].1.bytes[tensors[i].1.bytes.startIndex] ^= 0x01
        let path = tmp("altered-\(tensor).safetensors")
        try PatchTestSupport.write(tensors, to: path)
        return path
    }

    func testPatchForAnotherBaseIsRefusedNamingTheTensor() throws {
        let other = try alteredBase(tensor: "encoder.layer.2.output.LayerNorm.bias")
        assertApplyFails(base: other, patch: Fixtures.path("patch/layernorm.patch"),
                         contains: ["made for another base", "encoder.layer.2.output.LayerNorm.bias", Fixtures.path("patch/layernorm.patch")]) { error in
            XCTAssertEqual((error as? PatchError)?.category, .mismatch)
            XCTAssertEqual((error as? PatchError)?.remedy, .applyAnyway)
        }
        // The whole fine-tune as "base": every touched tensor differs; the first is named.
        assertApplyFails(base: Fixtures.path("tiny-bert/variants/model-f16.safetensors"), patch: Fixtures.path("patch/layernorm.patch"),
                         contains: ["embeddings.LayerNorm.bias"])
        // --force applies it, and says which tensors were forced.
        let report = try PatchTestSupport.apply(base: other, patch: Fixtures.path("patch/layernorm.patch"), to: tmp("forced.safetensors"), force: true)
        XCTAssertEqual(report.forced, ["encoder.layer.2.output.LayerNorm.bias"])
        // A dense tensor replaces the base's whole: the forced output still equals the fine-tune there.
        let result = try RawSafetensors(path: tmp("forced.safetensors"))
        let finetuned = try RawSafetensors(path: Fixtures.path("tiny-bert/ft-layernorm"))
        XCTAssertEqual(result.tensors["encoder.layer.2.output.LayerNorm.bias"], finetuned.tensors["bert.encoder.layer.2.output.LayerNorm.bias"])
        // verify says it does not apply.
        let verification = try PatchVerifier.verify(patch: try PatchFile(path: Fixtures.path("patch/layernorm.patch")), base: try CheckpointOpener.open(other))
        XCTAssertFalse(verification.applies)
        XCTAssertFalse(verification.ok)
        XCTAssertTrue(verification.problems.joined().contains("encoder.layer.2.output.LayerNorm.bias"))
    }

    func testBaseWithAnotherTensorListIsRefusedNamingTheTensor() throws {
        var tensors = try PatchTestSupport.baseTensors()
        tensors.append(("extra.buffer", RawSafetensors.Tensor(dtype: "I64", shape: [2], bytes: Data(count: 16))))
        try PatchTestSupport.write(tensors, to: tmp("extra.safetensors"))
        assertApplyFails(base: tmp("extra.safetensors"), patch: Fixtures.path("patch/layernorm.patch"),
                         contains: ["base manifest differs", "'extra.buffer'"])
        tensors.removeLast()
        tensors.removeAll { $0.0 == "pooler.dense.weight" }
        try PatchTestSupport.write(tensors, to: tmp("fewer.safetensors"))
        assertApplyFails(base: tmp("fewer.safetensors"), patch: Fixtures.path("patch/layernorm.patch"),
                         contains: ["lacks 1 tensor the patch's base had"])
    }

    func testPatchNamingATensorTheBaseLacksIsRefused() throws {
        var tensors = try PatchTestSupport.baseTensors()
        tensors.removeAll { $0.0.hasPrefix("pooler.") }
        try PatchTestSupport.write(tensors, to: tmp("no-pooler.safetensors"))
        assertApplyFails(base: tmp("no-pooler.safetensors"), patch: Fixtures.path("patch/bias.patch"), force: true,
                         contains: ["'pooler.dense.bias'", "does not have"]) { error in
            XCTAssertEqual(error as? PatchError, .tensorMissingFromBase(patch: Fixtures.path("patch/bias.patch"), base: self.tmp("no-pooler.safetensors"), tensor: "pooler.dense.bias"))
            XCTAssertEqual((error as? PatchError)?.category, .mismatch)
        }
    }

    func testSparseIndexBeyondTheBaseTensorIsRefused() throws {
        var tensors = try PatchTestSupport.baseTensors()
        let i = try XCTUnwrap(tensors.firstIndex { $0.0 == "encoder.layer.0.attention.self.query.weight" })
        tensors[i].1.shape = [4, 32]
        tensors[i].1.bytes = tensors[i].1.bytes.prefix(4 * 32 * 4)
        try PatchTestSupport.write(tensors, to: tmp("small.safetensors"))
        assertApplyFails(base: tmp("small.safetensors"), patch: Fixtures.path("patch/mask-sparse.patch"), force: true,
                         contains: ["encoder.layer.0.attention.self.query.weight", "but the base tensor has 128 entries"])
    }

    func testTruncatedPatchIsRefused() throws {
        for name in ["layernorm", "mask-sparse", "full-all-compressed"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("patch/\(name).patch")))
            for cut in [data.count - 1, data.count - 100, data.count / 2, 100, 5] {
                let path = tmp("\(name)-\(cut).patch")
                try data.prefix(cut).write(to: URL(fileURLWithPath: path))
                XCTAssertThrowsError(try PatchFile(path: path), "\(name) cut at \(cut)") { error in
                    XCTAssertTrue("\(error)".contains(path), "\(error)")
                    XCTAssertTrue("\(error)".contains("truncated"), "\(name) cut at \(cut): \(error)")
                    XCTAssertEqual((error as? CategorizedError)?.category, .badInput)
                }
                assertApplyFails(base: basePath, patch: path, contains: ["truncated"])
            }
        }
    }

    /// Flips one byte at `offset` from the end of the file (inside the data).
    func tampered(_ name: String, byteFromEnd: Int) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("patch/\(name).patch")))
        data[data.count - byteFromEnd] ^= 0x20
        let path = tmp("tampered-\(name)-\(byteFromEnd).patch")
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func testTamperedPatchIsRefused() throws {
        // The last tensor of layernorm.patch is the new classifier.weight (dense).
        let dense = try tampered("layernorm", byteFromEnd: 3)
        XCTAssertThrowsError(try PatchFile(path: dense)) { error in
            guard case let .corruptPatch(path, tensor, _) = error as? PatchError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, dense)
            XCTAssertEqual(tensor, "classifier.weight")
        }
        assertApplyFails(base: basePath, patch: dense, contains: ["corrupt patch", "data_sha256"])
        // A sparse value (the values of encoder.layer.2.output.dense.weight sit before the head).
        let patch = try PatchFile(path: Fixtures.path("patch/mask-sparse.patch"))
        let tail = patch.tensors.filter { $0.storage == .new }.map(\.byteCount).reduce(0, +)
        let sparse = try tampered("mask-sparse", byteFromEnd: tail + 2)
        XCTAssertThrowsError(try PatchFile(path: sparse)) { error in
            guard case .corruptPatch = error as? PatchError else { return XCTFail("\(error)") }
        }
        // The compressed stream.
        let compressed = try tampered("full-all-compressed", byteFromEnd: 1000)
        XCTAssertThrowsError(try PatchFile(path: compressed)) { error in
            guard case .corruptPatch = error as? PatchError else { return XCTFail("\(error)") }
        }
    }

    /// A forger who also fixes data_sha256 is still caught by the result fingerprint before rename.
    func testTamperedValueWithMatchingChecksumFailsTheResultFingerprint() throws {
        let original = Fixtures.path("patch/mask-sparse.patch")
        let patch = try PatchFile(path: original)
        var data = try Data(contentsOf: URL(fileURLWithPath: original))
        let tail = patch.tensors.filter { $0.storage == .new }.map(\.byteCount).reduce(0, +)
        data[data.count - tail - 2] ^= 0x20
        let headerLength = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let newChecksum = PatchFormat.hash([UInt8](data.suffix(from: 8 + headerLength)))
        var header = String(decoding: data.subdata(in: 8..<(8 + headerLength)), as: UTF8.self)
        header = header.replacingOccurrences(of: patch.metadata.dataChecksum, with: newChecksum)
        data.replaceSubrange(8..<(8 + headerLength), with: Data(header.utf8))
        let path = tmp("forged.patch")
        try data.write(to: URL(fileURLWithPath: path))
        XCTAssertNoThrow(try PatchFile(path: path))
        assertApplyFails(base: basePath, patch: path, contains: ["encoder.layer.2.output.dense.weight", "result fingerprint"]) { error in
            guard case .resultMismatch = error as? PatchError else { return XCTFail("\(error)") }
        }
        let verification = try PatchVerifier.verify(patch: try PatchFile(path: path), base: try CheckpointOpener.open(basePath))
        XCTAssertEqual(verification.resultMismatches, ["encoder.layer.2.output.dense.weight"])
        XCTAssertFalse(verification.ok)
    }

    func testOtherFilesAreNotPatches() throws {
        XCTAssertThrowsError(try PatchFile(path: basePath)) { error in
            guard case .notAPatch = error as? PatchError else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("is it a checkpoint?"))
        }
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("patch/layernorm.patch")))
        let range = try XCTUnwrap(data.range(of: Data("\"version\":\"2\"".utf8)))
        data[range.upperBound - 2] = UInt8(ascii: "9")
        try data.write(to: URL(fileURLWithPath: tmp("v9.patch")))
        XCTAssertThrowsError(try PatchFile(path: tmp("v9.patch"))) { error in
            XCTAssertEqual(error as? PatchError, .unsupportedVersion(path: self.tmp("v9.patch"), version: "9"))
        }
    }

    func testOutputThatIsAnInputIsRefused() throws {
        // Work on copies: the refusal must leave them untouched.
        let base = tmp("base.safetensors"), patch = tmp("task.patch")
        try FileManager.default.copyItem(atPath: basePath, toPath: base)
        try FileManager.default.copyItem(atPath: Fixtures.path("patch/layernorm.patch"), toPath: patch)
        try FileManager.default.linkItem(atPath: base, toPath: tmp("hardlink.safetensors"))
        try FileManager.default.createSymbolicLink(atPath: tmp("symlink.safetensors"), withDestinationPath: base)
        let before = try [PatchTestSupport.sha256(base), PatchTestSupport.sha256(patch)]
        for output in [base, patch, tmp("hardlink.safetensors"), tmp("symlink.safetensors"), directory.path + "/./base.safetensors"] {
            assertApplyFails(base: base, patch: patch, output: output, contains: ["the output is the input"]) { error in
                guard case .outputIsInput = error as? PatchError else { return XCTFail("\(error)") }
            }
        }
        XCTAssertEqual(try [PatchTestSupport.sha256(base), PatchTestSupport.sha256(patch)], before)
    }

    func testSimulatedFullDiskLeavesNoPartialOutput() throws {
        let applier = PatchApplier(base: try CheckpointOpener.open(basePath), patch: try PatchFile(path: Fixtures.path("patch/layernorm.patch")))
        var options = PatchApplier.Options()
        options.simulatedWriteFailureAfterBytes = 50_000
        XCTAssertThrowsError(try applier.apply(to: tmp("out.safetensors"), options: options)) { error in
            XCTAssertEqual((error as? CheckpointError)?.category, .io)
            XCTAssertTrue("\(error)".contains("No space left on device"), "\(error)")
        }
        XCTAssertEqual(PatchTestSupport.entries(directory), [])
    }

    func testRealFullDiskLeavesNoPartialOutput() throws {
        let small = directory.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        try TestEnvironment.requireRoot("mounting a 64 KiB tmpfs")
        guard PatchTestSupport.mountTmpfs(small, size: "64k") else { throw TestEnvironment.cannotRun("cannot mount a tmpfs here") }
        defer { PatchTestSupport.unmount(small) }
        // The output (165 KB) does not fit in 64 KB.
        assertApplyFails(base: basePath, patch: Fixtures.path("patch/layernorm.patch"), output: small.appendingPathComponent("out.safetensors").path,
                         contains: ["cannot write", "No space left on device"]) { error in
            XCTAssertEqual((error as? CategorizedError)?.category, .io)
        }
        XCTAssertEqual(PatchTestSupport.entries(small), [])
        // Writing a patch that does not fit fails the same way.
        XCTAssertThrowsError(try PatchTestSupport.makePatch(base: basePath, finetuned: Fixtures.path("tiny-bert/ft-full"), select: ["all"],
                                                            to: small.appendingPathComponent("big.patch").path))
        XCTAssertEqual(PatchTestSupport.entries(small), [])
    }

    func testUnwritableDirectoryLeavesNothing() throws {
        let locked = directory.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true)
        var mounted = false
        if geteuid() == 0 {
            // root ignores permission bits: a read-only mount is what stops it.
            guard PatchTestSupport.mountTmpfs(locked, size: "1m", readOnly: true) else { throw TestEnvironment.cannotRun("cannot mount a read-only tmpfs here") }
            mounted = true
        } else {
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: locked.path)
        }
        defer {
            if mounted { PatchTestSupport.unmount(locked) }
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: locked.path)
        }
        assertApplyFails(base: basePath, patch: Fixtures.path("patch/layernorm.patch"), output: locked.appendingPathComponent("out.safetensors").path,
                         contains: ["cannot write", "temporary file"]) { error in
            XCTAssertEqual((error as? CategorizedError)?.category, .io)
        }
        XCTAssertThrowsError(try PatchTestSupport.makePatch(base: basePath, finetuned: Fixtures.path("tiny-bert/ft-layernorm"),
                                                            to: locked.appendingPathComponent("task.patch").path)) { error in
            XCTAssertEqual((error as? CategorizedError)?.category, .io)
        }
        XCTAssertEqual(PatchTestSupport.entries(locked), [])
    }

    func testSelectedTensorWithAnotherShapeIsAMismatch() throws {
        var tensors = try PatchTestSupport.baseTensors()
        let i = try XCTUnwrap(tensors.firstIndex { $0.0 == "pooler.dense.bias" })
        tensors[i].1.shape = [16]
        tensors[i].1.bytes = tensors[i].1.bytes.prefix(64)
        try PatchTestSupport.write(tensors, to: tmp("odd.safetensors"))
        XCTAssertThrowsError(try PatchTestSupport.makePatch(base: tmp("odd.safetensors"), finetuned: Fixtures.path("tiny-bert/ft-bias"), to: tmp("x.patch"))) { error in
            guard case .pairMismatch(_, _, let tensor, _) = error as? PatchError else { return XCTFail("\(error)") }
            XCTAssertEqual(tensor, "pooler.dense.bias")
            XCTAssertEqual((error as? PatchError)?.category, .mismatch)
        }
        // Outside the selection it is only a note.
        let plan = try PatchTestSupport.makePatch(base: tmp("odd.safetensors"), finetuned: Fixtures.path("tiny-bert/ft-bias"), select: ["layernorm"], to: tmp("y.patch"))
        XCTAssertTrue(plan.notes.contains { $0.hasPrefix("pooler.dense.bias: not compared") })
        XCTAssertEqual(PatchTestSupport.entries(directory).filter { $0.hasPrefix(".ckpt-tmp") }, [])
    }
}
