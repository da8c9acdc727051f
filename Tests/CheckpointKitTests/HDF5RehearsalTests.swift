import Foundation
import XCTest
@testable import CheckpointKit

/// HDF5Rehearsal: a file whose structure crashes or hangs libhdf5 in the helper process is
/// refused with a one-line error, and the calling process survives.
///
/// The verdicts are tested with `/bin/sh` scripts as helpers (each dies, hangs or prints the way a
/// helper inside libhdf5 would: the outcome, not libhdf5, is under test); the real helper, `ckpt
/// _rehearse-hdf5`, with the built binary beside the test bundle (``CommandRunner``).
final class HDF5RehearsalTests: XCTestCase {
    private var savedHelper: HDF5Rehearsal.Helper?
    private var savedTimeLimit: UInt32 = 0

    override func setUp() {
        savedHelper = HDF5Rehearsal.helper
        savedTimeLimit = HDF5Rehearsal.timeLimitSeconds
    }

    override func tearDown() {
        HDF5Rehearsal.helper = savedHelper
        HDF5Rehearsal.timeLimitSeconds = savedTimeLimit
    }

    /// A helper that runs `script` in /bin/sh (its `$1` is the time limit, `$2` the file).
    private func useShellHelper(_ script: String) {
        HDF5Rehearsal.helper = HDF5Rehearsal.Helper(executable: "/bin/sh", arguments: ["-c", script, "sh"])
    }

    /// The rehearsal's verdict on `model.h5` with a helper running `script`.
    private func rehearse(_ script: String) -> Result<Void, CheckpointError> {
        useShellHelper(script)
        return Result { () throws(CheckpointError) in _ = try HDF5Rehearsal.run("model.h5") {} }
    }

    func testCrashInTheHelperIsABadInputError() {
        XCTAssertThrowsError(try rehearse("kill -SEGV $$").get()) { error in
            XCTAssertEqual(String(describing: error),
                           "model.h5: HDF5 error: reading the file's structure (libhdf5 crashed with signal 11 in the child process reading it); the file is malformed")
            XCTAssertEqual((error as? CategorizedError)?.category, .badInput)
        }
        XCTAssertThrowsError(try rehearse("kill -ABRT $$").get()) { error in
            XCTAssertTrue(String(describing: error).contains("signal 6"), "\(error)")
        }
    }

    /// A helper that exits with a status other than "read" (0) or "reported an error" (3), as
    /// AddressSanitizer's exit on a wild `free` does (1), refuses the file.
    func testUnexpectedExitStatusIsABadInputError() {
        XCTAssertThrowsError(try rehearse("exit 1").get()) { error in
            XCTAssertEqual(String(describing: error),
                           "model.h5: HDF5 error: reading the file's structure (the child process reading it exited with status 1); the file is malformed")
        }
    }

    /// What the helper prints before it dies (glibc's `free(): invalid pointer`, a sanitizer's
    /// report) never reaches the user: the parent's one line is the whole message. The test points
    /// this process's standard output and error at a file for the call, as a shell redirection would.
    func testWhatTheHelperPrintsIsNotShown() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let capture = directory.appendingPathComponent("output").path
        let captureDescriptor = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(captureDescriptor, 0)
        fflush(nil)
        let savedOut = dup(STDOUT_FILENO), savedErr = dup(STDERR_FILENO)
        dup2(captureDescriptor, STDOUT_FILENO)
        dup2(captureDescriptor, STDERR_FILENO)
        let thrown = rehearse("echo 'free(): invalid pointer' >&2; echo report; kill -ABRT $$")
        dup2(savedOut, STDOUT_FILENO)
        dup2(savedErr, STDERR_FILENO)
        close(savedOut)
        close(savedErr)
        close(captureDescriptor)
        XCTAssertThrowsError(try thrown.get()) { error in
            XCTAssertTrue(String(describing: error).contains("signal 6"), "\(error)")
        }
        // The size, not the text: Foundation leaks its buffer reading an empty file (see lsan.supp).
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: capture)[.size] as? Int)
        XCTAssertEqual(size, 0, size > 0 ? (try? String(contentsOfFile: capture, encoding: .utf8)) ?? "" : "")
    }

    /// A trap in the helper is a bug in ckpt, not a bad file: the caller is let through to repeat
    /// the work in process, where it traps with Swift's own message.
    func testTrapInTheHelperLetsTheCallerRepeatTheWork() throws {
        try rehearse("kill -ILL $$").get()
        try rehearse("kill -TRAP $$").get()
    }

    /// The caller's deadline stops a helper that never ends, whether or not the helper's own alarm
    /// works (this one ignores SIGALRM), and kills it.
    func testHangInTheHelperIsStoppedByTheTimeLimit() throws {
        HDF5Rehearsal.timeLimitSeconds = 1
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pidFile = directory.appendingPathComponent("pid").path
        let start = Date()
        XCTAssertThrowsError(try rehearse("trap '' ALRM; echo $$ > '\(pidFile)'; while :; do :; done").get()) { error in
            XCTAssertEqual(String(describing: error),
                           "model.h5: HDF5 error: reading the file's structure (libhdf5 did not finish in 1 s; it can loop forever on a damaged file); the file is malformed")
        }
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(elapsed, 1)
        XCTAssertLessThan(elapsed, 10)
        let pid = try XCTUnwrap(pid_t(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertEqual(kill(pid, 0), -1, "the helper still runs")
    }

    /// The helper is started with the file after the time limit, and its answers 0 (read) and 3
    /// (libhdf5 or ckpt reported an error, which the caller meets again in process) let the caller read.
    func testFinishedOrReportedErrorLetsTheCallerRead() throws {
        HDF5Rehearsal.timeLimitSeconds = 7
        try rehearse("[ \"$1\" = 7 ] && [ \"$2\" = model.h5 ] && exit 0; kill -SEGV $$").get()
        try rehearse("exit 3").get()
        HDF5Rehearsal.timeLimitSeconds = 0  // no limit, as `alarm(0)`
        try rehearse("sleep 0.2; exit 0").get()
    }

    /// The helper runs with glibc's malloc filling every block it hands out (and no per-thread
    /// cache, which would skip the filling), so that libhdf5's use of memory it never initialised
    /// fails in the helper whatever the heap held (see ``HDF5Rehearsal/helperMallocTunables``).
    func testTheHelperGetsTheMallocPerturbation() throws {
        try rehearse("[ \"$GLIBC_TUNABLES\" = glibc.malloc.tcache_count=0:glibc.malloc.perturb=165 ] || exit 1").get()
    }

    /// Without a helper, or when it cannot be started, the file is read in process without a
    /// rehearsal (the documented fallback for programs other than ckpt).
    func testWithoutAHelperTheFileIsReadInProcess() throws {
        HDF5Rehearsal.helper = nil
        try HDF5Rehearsal.run("model.h5") { XCTFail("the rehearsal ran in the calling process") }
        HDF5Rehearsal.helper = HDF5Rehearsal.Helper(executable: "/nonexistent/ckpt")
        try HDF5Rehearsal.run("model.h5") {}
        let file = try HDF5File(path: Fixtures.path("hdf5/tf_model.h5"))
        XCTAssertFalse(file.tensors.isEmpty)
    }

    /// `ckpt _rehearse-hdf5` reads a good file (exit 0, nothing printed) and answers 3 for one
    /// libhdf5 or ckpt refuses with an ordinary error; a name starting with `-` stays a name.
    func testTheCkptHelperAnswersWithItsExitStatus() throws {
        let good = try CommandRunner.run(["_rehearse-hdf5", "--", "60", Fixtures.path("hdf5/tf_model.h5")])
        XCTAssertEqual(good.status, 0, good.stderr)
        XCTAssertEqual(good.stdout + good.stderr, "")
        for bad in ["hdf5/truncated.h5", "hdf5/not-hdf5.h5", "hdf5/guard/free-space-zero.h5", "hdf5/no-such-file.h5"] {
            let result = try CommandRunner.run(["_rehearse-hdf5", "--", "60", Fixtures.path(bad)])
            XCTAssertEqual(result.status, HDF5Rehearsal.reportedError, bad)
            XCTAssertEqual(result.stdout + result.stderr, "", bad)
        }
        let dashed = try CommandRunner.run(["_rehearse-hdf5", "--", "60", "-model.h5"])
        XCTAssertEqual(dashed.status, HDF5Rehearsal.reportedError, dashed.stderr)
    }

    /// With ckpt as the helper (as the command line runs), good files open with the tensors, in
    /// the order, h5py listed (fixtures/hdf5/expected.json).
    func testGoodFilesOpenWithTheCkptHelper() throws {
        HDF5Rehearsal.helper = try .builtCkpt()
        for name in ["tf_model.h5", "keras2.h5", "keras3.weights.h5", "datasets.h5"] {
            let expected = try HDF5FileTests.expectedFile(name)
            let file = try HDF5File(path: Fixtures.path("hdf5/" + name))
            XCTAssertEqual(file.tensors.map(\.name), expected.tensors.map(\.name), name)
            XCTAssertEqual(file.skippedDatasets.map(\.name).sorted(), (expected.skipped + expected.links).sorted(), name)
        }
    }

    /// Files opened on several threads at once (as `diff` opens its two inputs) each get their own
    /// helper and verdict: the hostile one is refused, the good ones open.
    func testRehearsalsOnSeveralThreadsAtOnce() throws {
        HDF5Rehearsal.helper = try .builtCkpt()
        let hostile = Fixtures.root.deletingLastPathComponent()
            .appendingPathComponent("Fuzz/regressions/FuzzHDF5/compact-group-uninitialised-link-free.h5").path
        let paths = [Fixtures.path("hdf5/tf_model.h5"), hostile, Fixtures.path("hdf5/keras2.h5"), Fixtures.path("hdf5/keras3.weights.h5")]
        final class Verdicts: @unchecked Sendable {
            let lock = NSLock()
            var opened: [Int: Bool] = [:]
        }
        let verdicts = Verdicts()
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            let opened = (try? HDF5File(path: paths[index])) != nil
            verdicts.lock.withLock { verdicts.opened[index] = opened }
        }
        XCTAssertEqual(verdicts.opened, [0: true, 1: false, 2: true, 3: true])
    }

    func testTheHelperCommandIsHiddenFromHelp() throws {
        let help = try CommandRunner.run(["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("inspect"), help.stdout)
        XCTAssertFalse(help.stdout.contains("rehearse"), help.stdout)
    }

    /// External raw-data files and virtual datasets name paths on the reader's machine
    /// (fixtures/hdf5/guard/other-files.h5 names /etc/hostname and elsewhere.h5): listed as
    /// skipped, never read. h5py reported the layouts in expected.json.
    func testDatasetsStoredInOtherFilesAreSkipped() throws {
        let expected = try XCTUnwrap(Fixtures.json("hdf5/guard/expected.json") as? [String: Any])
        let layouts = try XCTUnwrap(expected["other_files"] as? [String: String])
        let file = try HDF5File(path: Fixtures.path("hdf5/guard/other-files.h5"))
        XCTAssertEqual(file.tensors.map(\.name), layouts.filter { $0.value == "contiguous" }.map(\.key))
        XCTAssertEqual(Set(file.skippedDatasets.map(\.name)), Set(layouts.filter { $0.value != "contiguous" }.map(\.key)))
        for skipped in file.skippedDatasets {
            XCTAssertEqual(skipped.reason, "stored in other files (a virtual or external dataset; never read)")
        }
    }

    /// The damaged global heap collections of fixtures/hdf5/guard/ (h5py with HDF5 2.0.0 refuses
    /// or hangs on each: expected.json) give `ckpt inspect` exit 2 and one line naming the file.
    func testHostileGuardFixturesAreOneLineErrors() throws {
        let expected = try XCTUnwrap(Fixtures.json("hdf5/guard/expected.json") as? [String: Any])
        let files = try XCTUnwrap(expected["files"] as? [String: Any])
        let hostile = files.keys.filter { $0 != "long-string-heap.h5" }.sorted()
        XCTAssertEqual(hostile.count, 4, "\(files.keys)")
        for name in hostile {
            let input = Fixtures.path("hdf5/guard/" + name)
            let result = try CommandRunner.run(["inspect", input])
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertEqual(result.stdout, "", name)
            XCTAssertTrue(result.stderr.hasPrefix("ckpt: \(input): HDF5 error"), result.stderr)
            XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
        }
    }

    /// FuzzHDF5 find: a compact group whose link messages do not decode makes libhdf5 1.10 free an
    /// uninitialised pointer in `H5G__link_release_table` (inside `H5Literate`). The release
    /// `ckpt inspect` died of SIGSEGV. Whether the pointer is bad depends on what the heap held
    /// before, so a build may instead get libhdf5's own error ("bad version number for message");
    /// either way the answer is exit 2 and one line naming the file.
    func testLibHDF5CrashOnAFuzzedFileIsExitTwo() throws {
        let input = Fixtures.root.deletingLastPathComponent()
            .appendingPathComponent("Fuzz/regressions/FuzzHDF5/compact-group-uninitialised-link-free.h5").path
        let result = try CommandRunner.run(["inspect", input])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertEqual(result.stdout, "")
        XCTAssertTrue(result.stderr.hasPrefix("ckpt: \(input): HDF5 error"), result.stderr)
        XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
    }
}

extension HDF5Rehearsal.Helper {
    /// The built `ckpt` (beside the test bundle, see ``CommandRunner``) as the helper, as the
    /// command line sets itself up.
    static func builtCkpt() throws -> Self {
        Self(executable: try CommandRunner.binary().path, arguments: ["_rehearse-hdf5", "--"])
    }
}
