import Foundation
import XCTest
@testable import CheckpointKit

/// HDF5Rehearsal: a file whose structure crashes or hangs libhdf5 in the child process is refused
/// with a one-line error, and the calling process survives.
final class HDF5RehearsalTests: XCTestCase {
    func testCrashInTheChildIsABadInputError() {
        XCTAssertThrowsError(try HDF5Rehearsal.run("model.h5") { raise(SIGSEGV) }) { error in
            XCTAssertEqual(String(describing: error),
                           "model.h5: HDF5 error: reading the file's structure (libhdf5 crashed with signal 11 in the child process reading it); the file is malformed")
            XCTAssertEqual((error as? CategorizedError)?.category, .badInput)
        }
        XCTAssertThrowsError(try HDF5Rehearsal.run("model.h5") { abort() }) { error in
            XCTAssertTrue(String(describing: error).contains("signal 6"), "\(error)")
        }
    }

    /// What the child prints before it dies (glibc's `free(): invalid pointer`, a sanitizer's
    /// report) never reaches the user: the parent's one line is the whole message. The test points
    /// this process's standard error at a file for the call, as a shell redirection would.
    func testWhatTheChildPrintsIsNotShown() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let capture = directory.appendingPathComponent("stderr").path
        let captureDescriptor = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        XCTAssertGreaterThanOrEqual(captureDescriptor, 0)
        let saved = dup(STDERR_FILENO)
        dup2(captureDescriptor, STDERR_FILENO)
        let thrown = Result { try HDF5Rehearsal.run("model.h5") { _ = write(STDERR_FILENO, "free(): invalid pointer\n", 24); abort() } }
        dup2(saved, STDERR_FILENO)
        close(saved)
        close(captureDescriptor)
        XCTAssertThrowsError(try thrown.get()) { error in
            XCTAssertTrue(String(describing: error).contains("signal 6"), "\(error)")
        }
        // The size, not the text: Foundation leaks its buffer reading an empty file (see lsan.supp).
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: capture)[.size] as? Int)
        XCTAssertEqual(size, 0, size > 0 ? (try? String(contentsOfFile: capture, encoding: .utf8)) ?? "" : "")
    }

    /// A trap in the child is a bug in ckpt, not a bad file: the caller is let through to repeat
    /// the work in process, where it traps with Swift's own message.
    func testTrapInTheChildLetsTheCallerRepeatTheWork() throws {
        try HDF5Rehearsal.run("model.h5") { raise(SIGILL) }
        try HDF5Rehearsal.run("model.h5") { raise(SIGTRAP) }
    }

    func testHangInTheChildIsStoppedByTheTimeLimit() {
        let saved = HDF5Rehearsal.timeLimitSeconds
        HDF5Rehearsal.timeLimitSeconds = 1
        defer { HDF5Rehearsal.timeLimitSeconds = saved }
        XCTAssertThrowsError(try HDF5Rehearsal.run("model.h5") { while true { sleep(1) } }) { error in
            XCTAssertEqual(String(describing: error),
                           "model.h5: HDF5 error: reading the file's structure (libhdf5 did not finish in 1 s; it can loop forever on a damaged file); the file is malformed")
        }
    }

    func testFinishedOrReportedErrorLetsTheCallerRead() throws {
        try HDF5Rehearsal.run("model.h5") {}
        struct Reported: Error {}
        try HDF5Rehearsal.run("model.h5") { throw Reported() }
    }

    /// The child must be able to call libhdf5 although the parent held the library lock at the fork.
    func testChildCanUseLibHDF5() throws {
        let path = Fixtures.path("hdf5/tf_model.h5")
        try HDF5Rehearsal.run(path) {
            let file = try HDF5File(path: path, rehearsed: true)
            if file.tensors.isEmpty { raise(SIGSEGV) }
        }
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
