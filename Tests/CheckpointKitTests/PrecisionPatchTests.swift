import XCTest
@testable import CheckpointKit

/// `ckpt patch` / `apply` / `verify` across a change of precision (issue 18), on the real MiniLM
/// data: the default patch records the conversion (version 2, `convert`, storage `c`), stores only
/// the entries that differ from the converted base, and applies to every tensor of the fine-tune
/// bit for bit — checked against the SHA-256 PyTorch gave each tensor
/// (fixtures/minilm/precision.json).
final class PrecisionPatchTests: XCTestCase {
    /// One scratch directory per test case, removed by `addTeardownBlock`.
    lazy var directory: URL = {
        let url = try! Fixtures.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }()

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The SHA-256 of every tensor of `path`, keyed by name without a `bert.` prefix.
    static func tensorHashes(_ path: String) throws -> [String: String] {
        let checkpoint = try CheckpointOpener.open(path)
        var out: [String: String] = [:]
        for t in checkpoint.tensors {
            let name = t.name.hasPrefix("bert.") ? String(t.name.dropFirst(5)) : t.name
            out[name] = try checkpoint.withBytes(of: t) { PatchFormat.hash($0, length: 64) }
        }
        return out
    }

    func testDefaultPatchesReproduceEveryTensorOfTheFinetune() throws {
        let fixture = try XCTUnwrap(Fixtures.json("minilm/precision.json") as? [String: Any])
        // The pairs whose dtypes differ: a patch records a conversion, not a rounding through BF16.
        for c in PrecisionDiffTests.cases where !c.clause.contains("rounded through") {
            let base = try DiffRealCheckpointTests.present(c.base), finetuned = try DiffRealCheckpointTests.present(c.finetuned)
            let name = String(c.finetuned.dropFirst("precision/".count))
            let torch = try XCTUnwrap((fixture[name] as? [String: Any])?["sha256"] as? [String: String])
            let patch = tmp("\(name).patch"), output = tmp("\(name).safetensors")
            try PatchTestSupport.makePatch(base: base, finetuned: finetuned, to: patch)
            let file = try PatchFile(path: patch)
            XCTAssertEqual(file.version, 2)
            XCTAssertTrue(file.tensors.contains { $0.storage == .converted })
            if name == "ft-layernorm-bf16" {
                XCTAssertLessThanOrEqual(file.fileSize, 40_000)
            }
            try PatchTestSupport.apply(base: base, patch: patch, to: output)
            let result = try Self.tensorHashes(output)
            let expected = torch.reduce(into: [String: String]()) { $0[$1.key.hasPrefix("bert.") ? String($1.key.dropFirst(5)) : $1.key] = $1.value }
            for (tensor, hash) in expected {
                XCTAssertEqual(result[tensor], hash, "\(name): \(tensor)")
            }
            let verification = try PatchVerifier.verify(patch: file, base: try CheckpointOpener.open(base),
                                                        finetuned: try CheckpointOpener.open(finetuned))
            XCTAssertEqual(verification.reproduces, true, "\(name): \(verification.differences)")
        }
    }

    func testConvertMetadataListsTheConvertedTensorsInStorageOrder() throws {
        let base = try DiffRealCheckpointTests.present("base"), finetuned = try DiffRealCheckpointTests.present("precision/ft-layernorm-bf16")
        let patch = tmp("ln.patch")
        try PatchTestSupport.makePatch(base: base, finetuned: finetuned, to: patch)
        let raw = try RawSafetensors(path: patch)
        XCTAssertEqual(raw.metadata["version"], "2")
        let convert = try XCTUnwrap(JSONValue.parse(Array(try XCTUnwrap(raw.metadata["convert"]).utf8), maxDepth: 4).objectValue)
        let storage = Array(try XCTUnwrap(raw.metadata["storage"]))
        XCTAssertEqual(convert.count, storage.filter { $0 != "n" }.count)
        XCTAssertTrue(convert.allSatisfy { $0.value.stringValue == "BF16" })
        // A converted-only tensor stores nothing.
        let file = try PatchFile(path: patch)
        for t in file.tensors where t.storage == .converted {
            XCTAssertFalse(raw.order.contains(t.name))
            XCTAssertEqual(t.byteCount, 0)
        }
    }

    /// A refused conversion is named with file, tensor and dtypes.
    func testUnreproducibleConversionIsRefused() throws {
        let base = tmp("base.safetensors"), finetuned = tmp("ft.safetensors")
        try PatchTestSupport.write([("w", .init(dtype: "F64", shape: [1], bytes: Data(withUnsafeBytes(of: Double.nan.bitPattern.littleEndian) { Array($0) })))], to: base)
        try PatchTestSupport.write([("w", .init(dtype: "BF16", shape: [1], bytes: Data([0xC0, 0x7F])))], to: finetuned)
        XCTAssertThrowsError(try PatchTestSupport.makePatch(base: base, finetuned: finetuned, select: ["all"], to: tmp("x.patch"))) { error in
            XCTAssertTrue("\(error)".contains("tensor 'w': converting F64 to BF16"), "\(error)")
        }
    }

    /// A damaged `convert` key is refused when the patch is opened (fixtures/precision/
    /// tiny-layernorm-bf16.patch: the tiny F32 base against the BF16 fine-tune PyTorch saved).
    func testDamagedConvertMetadataIsRefused() throws {
        let raw = try RawSafetensors(path: Fixtures.path("precision/tiny-layernorm-bf16.patch"))
        let path = "p.patch"
        XCTAssertNoThrow(try PatchMetadata.decode(raw.metadata, entryNames: raw.order, path: path))
        let convert = try XCTUnwrap(JSONValue.parse(Array(try XCTUnwrap(raw.metadata["convert"]).utf8), maxDepth: 4).objectValue)
        func object(_ members: [(String, String)]) -> String {
            var o = JSONOrderedObject()
            for (k, v) in members { o.append(k, v) }
            return o.text
        }
        let names = convert.map(\.key)
        let damaged: [(String?, String)] = [
            (nil, "more converted tensors than 'convert' lists"),
            (object(names.map { ($0, "F8_E8M0") }), "names no dtype ckpt converts to"),
            (object(names.reversed().map { ($0, "BF16") }), "invalid patch"),
            ("[1]", "is not a JSON object"),
        ]
        for (value, message) in damaged {
            var m = raw.metadata
            m["convert"] = value
            XCTAssertThrowsError(try PatchMetadata.decode(m, entryNames: raw.order, path: path), message) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
    }
}
