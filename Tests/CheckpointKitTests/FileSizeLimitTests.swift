import Foundation
import XCTest
@testable import CheckpointKit

/// A full disk without root: each output of `ckpt apply`, `patch` and `diff --csv/--html`, and a
/// report on standard output redirected to a file, is written under a file size limit (`ulimit -f`,
/// see `CommandRunner.run(_:fileSizeLimitBlocks:standardOutput:)`) that it does not fit. Every run
/// must exit 4 with one line naming the output and the limit, leave no temporary file, keep the
/// output's old content and leave the inputs untouched. (The small-tmpfs tests check the same for
/// ENOSPC, but need root to mount it.)
final class FileSizeLimitTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = try Fixtures.temporaryDirectory()
        if let reason = try Self.binaryCannotStartUnderALimit.get() { throw TestEnvironment.cannotRun(reason) }
    }

    /// Whether the built binary starts at all under a one-block limit. ThreadSanitizer's runtime
    /// does not: it dies of SIGBUS before `main` (`ckpt --version` too), so under
    /// `swift test --sanitize=thread` these tests would test the sanitizer, not ckpt.
    static let binaryCannotStartUnderALimit = Result<String?, Error> {
        let result = try CommandRunner.run(["--version"], fileSizeLimitBlocks: 1)
        guard result.status != 0 else { return nil }
        return "the ckpt binary does not start under `ulimit -f 1` (status \(result.status)); a sanitizer runtime? \(result.stderr.prefix(200))"
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    var base: String { Fixtures.path("tiny-bert/base") }
    var baseFile: String { Fixtures.path("tiny-bert/base/model.safetensors") }
    var layerNormPatch: String { Fixtures.path("patch/layernorm.patch") }

    /// What `CheckpointError.writeReason` says for EFBIG.
    static let tooLarge = "File too large (the file size limit, `ulimit -f`, or the file system's largest file size was reached)"

    /// Puts old content at `output`, runs `arguments` under a limit of `blocks` 512-byte blocks,
    /// and checks the contract: exit 4, the one-line message, no new file in the directory, the old
    /// content kept, `inputs` unchanged.
    func assertStopsAtTheLimit(_ arguments: [String], output: String, blocks: Int, inputs: [String],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let old = Data("old content of \(output)\n".utf8)
        try old.write(to: URL(fileURLWithPath: output))
        let before = try inputs.map(PatchTestSupport.sha256)
        let entries = PatchTestSupport.entries(directory)
        let result = try CommandRunner.run(arguments, fileSizeLimitBlocks: blocks)
        XCTAssertEqual(result.status, 4, "\(arguments) (a status of 25 is a SIGXFSZ kill): \(result.stderr)", file: file, line: line)
        XCTAssertEqual(result.stderr, "ckpt: \(output): cannot write: \(Self.tooLarge)\n", file: file, line: line)
        XCTAssertEqual(PatchTestSupport.entries(directory), entries, "a temporary file was left", file: file, line: line)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: output)), old, "the old output changed", file: file, line: line)
        XCTAssertEqual(try inputs.map(PatchTestSupport.sha256), before, "an input changed", file: file, line: line)
    }

    /// The limit only stops outputs that do not fit: under 512 KiB the same `apply` succeeds (this
    /// also checks that the shell counts `ulimit -f` in 512-byte blocks, as the other tests assume).
    func testApplyThatFitsUnderTheLimitSucceeds() throws {
        let result = try CommandRunner.run(["apply", base, layerNormPatch, "-o", tmp("out.safetensors")], fileSizeLimitBlocks: 1024)
        XCTAssertEqual(result.status, 0, result.stderr)
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: tmp("out.safetensors"))[.size] as? Int)
        XCTAssertGreaterThan(size, 128 * 512, "the output must not fit under the 128-block limit of the tests below")
        XCTAssertEqual(PatchTestSupport.entries(directory), ["out.safetensors"])
    }

    /// 512 bytes: the header alone does not fit, so the limit is hit by `write` (FileSink's buffer).
    func testApplyStopsAtTheLimitInABufferedWrite() throws {
        try assertStopsAtTheLimit(["apply", base, layerNormPatch, "-o", tmp("out.safetensors")],
                                  output: tmp("out.safetensors"), blocks: 1, inputs: [baseFile, layerNormPatch])
    }

    /// The limit placed in the middle of the longest run of tensors the patch does not touch, which
    /// `apply` copies from the base with `sendfile`: the limit is hit inside that kernel copy.
    func testApplyStopsAtTheLimitInsideSendfile() throws {
        let complete = try CommandRunner.run(["apply", base, layerNormPatch, "-o", tmp("complete.safetensors")])
        XCTAssertEqual(complete.status, 0, complete.stderr)
        let written = try SafetensorsFile(path: tmp("complete.safetensors"))
        let touched = Set(try PatchFile(path: layerNormPatch).tensors.map(\.name))
        var runs: [Range<Int>] = []
        var current: Range<Int>?
        for info in written.tensors.sorted(by: { written.fileRange(of: $0)!.lowerBound < written.fileRange(of: $1)!.lowerBound }) {
            let range = try XCTUnwrap(written.fileRange(of: info))
            if touched.contains(info.name) {
                if let run = current { runs.append(run) }
                current = nil
            } else {
                current = current.map { $0.lowerBound..<range.upperBound } ?? range
            }
        }
        if let run = current { runs.append(run) }
        let longest = try XCTUnwrap(runs.max { $0.count < $1.count })
        let blocks = (longest.lowerBound + longest.count / 2) / 512
        XCTAssertGreaterThan(blocks * 512, longest.lowerBound)
        XCTAssertLessThan(blocks * 512, longest.upperBound)
        try FileManager.default.removeItem(atPath: tmp("complete.safetensors"))
        try assertStopsAtTheLimit(["apply", base, layerNormPatch, "-o", tmp("out.safetensors")],
                                  output: tmp("out.safetensors"), blocks: blocks, inputs: [baseFile, layerNormPatch])
    }

    /// An HDF5 base is copied whole (FileCopy) before its datasets are overwritten: 64 KiB of its
    /// 258 KB fit.
    func testApplyToHDF5StopsAtTheLimitWhileCopyingTheBase() throws {
        let h5 = Fixtures.path("tiny-bert/variants/tf_model.h5")
        let patch = tmp("ln.patch")
        try PatchTestSupport.makePatch(base: h5, finetuned: Fixtures.path("tiny-bert/ft-layernorm"),
                                       select: ["layernorm", "exclude:classifier*"], to: patch)
        try assertStopsAtTheLimit(["apply", h5, patch, "-o", tmp("out.h5")], output: tmp("out.h5"), blocks: 128, inputs: [h5, patch])
    }

    /// `ckpt patch --select all` writes about 160 KB through SafetensorsWriter (as `fisher` and
    /// `mask` do); 64 KiB fit.
    func testPatchStopsAtTheLimit() throws {
        let finetuned = Fixtures.path("tiny-bert/ft-full")
        try assertStopsAtTheLimit(["patch", base, finetuned, "--select", "all", "-o", tmp("task.patch")],
                                  output: tmp("task.patch"), blocks: 128, inputs: [baseFile, finetuned + "/model.safetensors"])
    }

    /// `ckpt diff --csv` and `--html` reports (about 20 KB and more) under a 512-byte limit.
    func testDiffReportsStopAtTheLimit() throws {
        let finetuned = Fixtures.path("tiny-bert/ft-full")
        for option in ["--csv", "--html"] {
            let output = tmp("report." + option.dropFirst(2))
            try assertStopsAtTheLimit(["diff", base, finetuned, option, output], output: output, blocks: 1,
                                      inputs: [baseFile, finetuned + "/model.safetensors"])
        }
    }

    /// Reports on standard output redirected to a file that hits the limit: `print` drops the
    /// error and `FileHandle.write` traps on it, so `ckpt` checks standard output before it exits.
    /// A cut-short report must not pass for a complete one: exit 4 (2 under `diff --exit-code`).
    func testReportToStandardOutputStopsAtTheLimit() throws {
        let finetuned = Fixtures.path("tiny-bert/ft-full")
        let cases: [([String], Int32)] = [
            (["inspect", base, "--json"], 4),                // printJSON
            (["diff", base, finetuned], 4),                  // the terminal report, through print
            (["diff", base, finetuned, "--json"], 4),        // the diff document
            (["diff", base, finetuned, "--exit-code"], 2),   // differ (1), but the report is cut short
        ]
        for (arguments, status) in cases {
            let result = try CommandRunner.run(arguments, fileSizeLimitBlocks: 1, standardOutput: tmp("report.txt"))
            XCTAssertEqual(result.status, status, "\(arguments) (a status of 25 is a SIGXFSZ kill, 132 a trap): \(result.stderr)")
            XCTAssertEqual(result.stderr, "ckpt: standard output: cannot write: \(Self.tooLarge)\n", "\(arguments)")
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: tmp("report.txt"))[.size] as? Int)
            XCTAssertEqual(size, 512, "\(arguments)")
        }
        let fits = try CommandRunner.run(["inspect", base, "--json"], fileSizeLimitBlocks: 1024, standardOutput: tmp("report.txt"))
        XCTAssertEqual(fits.status, 0, fits.stderr)
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp("report.txt")))))
    }
}
