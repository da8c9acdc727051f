import Foundation
import XCTest
@testable import CheckpointKit

/// The error contract of `ckpt` (man/ckpt.1, EXIT STATUS and DIAGNOSTICS), one test per exit-code
/// row, each running the built binary: 0 success, 1 different, 2 bad input, 3 mismatch, 4 I/O
/// failure, 64 usage. Every failure prints exactly one line on stderr, `ckpt: ` followed by the
/// message (usage errors excepted: ArgumentParser prints the usage after its line).
///
/// Exit code 70 (internal error) has no test: it is what `runReportingFailures` reports for an error
/// that is not a `CategorizedError`, which no input can produce; every library error is typed (the
/// fuzz targets check exactly that), so 70 cannot be triggered from outside the process. Exit
/// code 69 (OpenBLAS could not be loaded, `CBLASLoader`) needs a machine without the library; it
/// was checked by hand on a copy of the binary whose library names were edited.
final class ErrorContractTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }
    var base: String { Fixtures.path("tiny-bert/base") }
    var layerNormPatch: String { Fixtures.path("patch/layernorm.patch") }

    typealias Result = CommandResult

    func run(_ arguments: [String]) throws -> Result { try CommandRunner.run(arguments) }

    /// A failure's stderr is one line: `ckpt: <message>`, the message containing `needle`.
    func assertOneLine(_ result: Result, contains needle: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(result.stderr.hasPrefix("ckpt: "), result.stderr, file: file, line: line)
        XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(needle), "'\(needle)' not in \(result.stderr)", file: file, line: line)
    }

    func testExit0Success() throws {
        let result = try run(["apply", base, layerNormPatch, "-o", tmp("out.safetensors")])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp("out.safetensors")))
    }

    func testExit1Different() throws {
        let result = try run(["verify", layerNormPatch, "--base", base, "--finetuned", Fixtures.path("tiny-bert/ft-bias")])
        XCTAssertEqual(result.status, 1, result.stdout + result.stderr)
        XCTAssertEqual(result.stderr, "")
    }

    func testExit2BadInput() throws {
        let truncated = tmp("model.safetensors")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tiny-bert/base/model.safetensors")))
        bytes.removeLast(100)
        try bytes.write(to: URL(fileURLWithPath: truncated))
        let result = try run(["inspect", truncated])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertEqual(result.stdout, "")
        assertOneLine(result, contains: "\(truncated): truncated")
    }

    func testExit3Mismatch() throws {
        // A checkpoint without the tensors the patch changes as the base.
        let result = try run(["apply", Fixtures.path("tiny-bert/ft-bias"), layerNormPatch, "-o", tmp("out.safetensors")])
        XCTAssertEqual(result.status, 3, result.stderr)
        assertOneLine(result, contains: "which the base \(Fixtures.path("tiny-bert/ft-bias/model.safetensors")) does not have")
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp("out.safetensors")))
    }

    /// The library's errors name no option; `ckpt` adds the one that helps: a typed remedy
    /// (`--force`) or an invalid value named by its option (a usage error, 64).
    func testCommandLineNamesTheOptionThatHelps() throws {
        var tensors = try PatchTestSupport.baseTensors()
        let i = try XCTUnwrap(tensors.firstIndex { $0.0 == "encoder.layer.2.output.LayerNorm.bias" })
        tensors[i].1.bytes[tensors[i].1.bytes.startIndex] ^= 0x01
        let other = tmp("other.safetensors")
        try PatchTestSupport.write(tensors, to: other)
        let forcible = try run(["apply", other, layerNormPatch, "-o", tmp("out.safetensors")])
        XCTAssertEqual(forcible.status, 3, forcible.stderr)
        assertOneLine(forcible, contains: "encoder.layer.2.output.LayerNorm.bias")
        XCTAssertTrue(forcible.stderr.hasSuffix("; --force applies it anyway\n"), forcible.stderr)
        let keep = try run(["mask", tmp("fisher.safetensors"), "--keep", "0", "-o", tmp("mask.safetensors")])
        XCTAssertEqual(keep.status, 64, keep.stderr)
        XCTAssertTrue(keep.stderr.contains("--keep must be a percentage in (0, 100]"), keep.stderr)
    }

    func testExit4IOFailure() throws {
        // The output's directory is a regular file: the temporary file cannot be created.
        let notADirectory = tmp("file")
        _ = FileManager.default.createFile(atPath: notADirectory, contents: Data("x".utf8))
        let result = try run(["apply", base, layerNormPatch, "-o", notADirectory + "/out.safetensors"])
        XCTAssertEqual(result.status, 4, result.stderr)
        assertOneLine(result, contains: "cannot write")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["file"])
    }

    func testExit64Usage() throws {
        let unknown = try run(["apply", base, layerNormPatch, "-o", tmp("out.safetensors"), "--no-such-flag"])
        XCTAssertEqual(unknown.status, 64, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("--no-such-flag"), unknown.stderr)
        let missing = try run(["apply", base])
        XCTAssertEqual(missing.status, 64, missing.stderr)
        let badValue = try run(["patch", base, Fixtures.path("tiny-bert/ft-full")])
        XCTAssertEqual(badValue.status, 64, badValue.stderr)
    }
}
