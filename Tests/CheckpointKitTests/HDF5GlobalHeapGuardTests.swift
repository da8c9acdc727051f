import Foundation
import XCTest
@testable import CheckpointKit

/// The guarded file driver against fixtures/hdf5/guard/ (fixtures/make_guard_fixtures.py): one file
/// whose 20 KB global heap collection is intact and four with one field of it broken. h5py 3.16
/// (HDF5 2.0.0) read the intact one as recorded in expected.json, refused three broken ones and
/// hung on the fourth; libhdf5 1.10 hangs or reads out of bounds on them. ckpt must read the first
/// as h5py did and refuse each of the others with a one-line error, promptly.
final class HDF5GlobalHeapGuardTests: XCTestCase {
    static let directory = "hdf5/guard/"

    func expected() throws -> [String: Any] {
        try XCTUnwrap(Fixtures.json(Self.directory + "expected.json") as? [String: Any])
    }

    func testIntactLongCollectionReadsAsH5pyDoes() throws {
        let expected = try expected()
        let files = try XCTUnwrap(expected["files"] as? [String: Any])
        let reference = try XCTUnwrap(files["long-string-heap.h5"] as? [String: Any])
        let metadata = try XCTUnwrap(reference["metadata"] as? [String: String])
        let values = try XCTUnwrap(reference["w"] as? [Double])

        let file = try HDF5File(path: Fixtures.path(Self.directory + "long-string-heap.h5"))
        XCTAssertEqual(file.metadata["backend"], metadata["backend"])
        // Metadata values are cut at maxMetadataValueBytes; the 10,000-character string lies in a
        // collection larger than libhdf5's first 4 KB read, so the driver checked it whole.
        let config = try XCTUnwrap(metadata["model_config"])
        XCTAssertEqual(config.utf8.count, 10_000)
        let read = try XCTUnwrap(file.metadata["model_config"])
        XCTAssertTrue(read.hasPrefix(String(config.prefix(HDF5File.maxMetadataValueBytes))), read)
        XCTAssertEqual(try TensorDecoder.doubles(of: try XCTUnwrap(file.tensors.first), in: file), values)
    }

    func testBrokenCollectionsAreRefusedNamingTheFault() throws {
        let expected = try expected()
        let collection = try XCTUnwrap(expected["collection"] as? [String: Any])
        let offset = try XCTUnwrap(collection["offset"] as? Int)
        let size = try XCTUnwrap(collection["size"] as? Int)
        let freeSpace = try XCTUnwrap(collection["free_space_offset"] as? Int)
        let firstObject = try XCTUnwrap(collection["first_object_offset"] as? Int)
        let files = try XCTUnwrap(expected["files"] as? [String: Any])
        let cases: [(file: String, reason: String)] = [
            ("free-space-zero.h5", "free space at offset \(freeSpace) has size 0"),
            ("free-space-past-end.h5", "free space at offset \(freeSpace) claims 1099511627776 bytes, past the end of the \(size)-byte collection"),
            ("object-past-end.h5", "object 1 at offset \(firstObject) claims 18446744073709551615 bytes, past the end of the \(size)-byte collection"),
            ("collection-too-small.h5", "declares 8 bytes, less than its own header"),
        ]
        for (name, reason) in cases {
            // The independent view: h5py refused the file or hung on it.
            let view = try XCTUnwrap(files[name] as? [String: Any], name)
            XCTAssertNotNil(view["error"], "\(name): h5py read it: \(view)")

            let path = Fixtures.path(Self.directory + name)
            XCTAssertThrowsError(try HDF5File(path: path), name) { error in
                let message = String(describing: error)
                XCTAssertTrue(message.contains(path), message)
                XCTAssertTrue(message.contains("malformed global heap collection at byte \(offset): \(reason)"), message)
                XCTAssertFalse(message.contains("\n"), message)
                XCTAssertEqual((error as? CategorizedError)?.category, .badInput, message)
            }
        }
    }

    /// The FuzzHDF5 find (a Keras 3 file whose `dtype` attribute's collection has a zero-size free
    /// space entry) used to hang `ckpt inspect`; the CLI now exits 2 with the reason.
    func testFuzzFindNoLongerHangsTheCommand() throws {
        let input = Fixtures.root.deletingLastPathComponent()
            .appendingPathComponent("Fuzz/regressions/FuzzHDF5/global-heap-zero-free-space-hang.h5").path
        let result = try CommandRunner.run(["inspect", input])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertEqual(result.stdout, "")
        XCTAssertTrue(result.stderr.contains("malformed global heap collection at byte 12464: free space at offset 88 has size 0"), result.stderr)
    }
}
