import XCTest
@testable import CheckpointKit

/// HDF5RehearsalReport: the helper's report carries exactly what the walk in process finds, and
/// the decoder refuses anything else (the caller then walks the file itself), never trapping.
final class HDF5RehearsalReportTests: XCTestCase {
    static let fixtures = ["tf_model.h5", "keras2.h5", "keras3.weights.h5", "datasets.h5", "userblock.h5",
                           "long-layer-names.h5", "blosc.h5", "guard/other-files.h5", "mapped/mixed.h5"]
    private var savedHelper: HDF5Rehearsal.Helper?

    override func setUp() { savedHelper = HDF5Rehearsal.helper }
    override func tearDown() { HDF5Rehearsal.helper = savedHelper }

    /// A fixture's structure and metadata read in process, and their report.
    private func inProcess(_ name: String) throws -> (HDF5File.Structure, [String: String], [UInt8]) {
        let path = Fixtures.path("hdf5/" + name)
        let size = try HDF5File.probe(path).size
        let file = try HDF5.openFile(path, writable: false)
        let structure = try HDF5File.readStructure(of: file, path: path, fileSize: size)
        let metadata = try HDF5File.readMetadata(of: file, format: structure.format, HDF5Context(path: path))
        return (structure, metadata, HDF5RehearsalReport.encode(structure, metadata: metadata))
    }

    func testReportsDecodeToWhatTheWalkFound() throws {
        for name in Self.fixtures {
            let (structure, metadata, report) = try inProcess(name)
            let decoded = try XCTUnwrap(report.withUnsafeBytes { HDF5RehearsalReport.decode($0) }, name)
            XCTAssertEqual(decoded.structure.format, structure.format, name)
            XCTAssertEqual(decoded.structure.layout, structure.layout, name)
            XCTAssertEqual(decoded.metadata, metadata, name)
            XCTAssertEqual(decoded.structure.walk.skipped.map { $0.name + ": " + $0.reason },
                           structure.walk.skipped.map { $0.name + ": " + $0.reason }, name)
            XCTAssertEqual(decoded.structure.walk.datasets.count, structure.walk.datasets.count, name)
            for (got, walked) in zip(decoded.structure.walk.datasets, structure.walk.datasets) {
                XCTAssertEqual(got.info, walked.info, name)
                XCTAssertEqual(got.info.byteCount, walked.info.byteCount, name)
                XCTAssertEqual(got.memoryType, walked.memoryType, name)
                XCTAssertEqual(got.storage, walked.storage, name)
                XCTAssertEqual(got.extent.map { [$0.offset, $0.size] }, walked.extent.map { [$0.offset, $0.size] }, name)
            }
        }
    }

    func testCutOrLengthenedReportsAreRefused() throws {
        let (_, _, report) = try inProcess("tf_model.h5")
        XCTAssertTrue(HDF5RehearsalReport.isWellFormed(report))
        for length in 0..<report.count {
            XCTAssertFalse(HDF5RehearsalReport.isWellFormed(Array(report[..<length])), "cut to \(length) bytes")
        }
        XCTAssertFalse(HDF5RehearsalReport.isWellFormed(report + [0]))
    }

    /// Every single byte changed decodes to something or to nil (the fuzz target FuzzHDF5Report
    /// tries far more).
    func testChangedBytesNeverTrap() throws {
        let (_, _, report) = try inProcess("keras3.weights.h5")
        for index in report.indices {
            var changed = report
            changed[index] ^= 0xFF
            _ = HDF5RehearsalReport.isWellFormed(changed)
        }
    }

    /// A memory type libhdf5 has no predefined type for would trap when read: such a report is refused.
    func testImpossibleMemoryTypesAreRefused() throws {
        let (structure, metadata, _) = try inProcess("datasets.h5")
        for impossible in [HDF5MemoryType.integer(size: 3, signed: true), .ieeeFloat(size: 2), .ieeeFloat(size: 16)] {
            var changed = structure
            changed.walk.datasets[0].memoryType = impossible
            XCTAssertFalse(HDF5RehearsalReport.isWellFormed(HDF5RehearsalReport.encode(changed, metadata: metadata)), "\(impossible)")
        }
    }

    /// A helper that exits 0 with a report that does not decode: the file is read in process, as
    /// without reports.
    func testAMalformedReportIsIgnored() throws {
        HDF5Rehearsal.helper = HDF5Rehearsal.Helper(executable: "/bin/sh", arguments: ["-c", "printf garbage > \"$CKPT_HDF5_REHEARSAL_REPORT\"", "sh"])
        let file = try HDF5File(path: Fixtures.path("hdf5/tf_model.h5"))
        XCTAssertEqual(file.tensors.map(\.name), try HDF5FileTests.expectedFile("tf_model.h5").tensors.map(\.name))
    }

    /// With the ckpt helper (whose report is used) a file opens exactly as when read in process.
    func testTheCkptHelpersReportGivesTheSameFile() throws {
        for name in Self.fixtures {
            HDF5Rehearsal.helper = nil
            let walked = try HDF5File(path: Fixtures.path("hdf5/" + name))
            HDF5Rehearsal.helper = try .builtCkpt()
            let reported = try HDF5File(path: Fixtures.path("hdf5/" + name))
            XCTAssertEqual(reported.tensors, walked.tensors, name)
            XCTAssertEqual(reported.format, walked.format, name)
            XCTAssertEqual(reported.metadata, walked.metadata, name)
            XCTAssertEqual(reported.skipped.map(\.name), walked.skipped.map(\.name), name)
            XCTAssertEqual(reported.tensors.map { reported.storedLocation(of: $0)?.range }, walked.tensors.map { walked.storedLocation(of: $0)?.range }, name)
        }
    }
}
