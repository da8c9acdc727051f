import Foundation
import XCTest
@testable import CheckpointKit

/// HDF5 datasets served from a map of the file (contiguous, unfiltered, little-endian), checked
/// against h5py: offsets from `id.get_offset()` and values' SHA-256 from
/// fixtures/make_hdf5_mapped_fixtures.py.
final class HDF5MappedTests: XCTestCase {
    static func path(_ name: String) -> String { Fixtures.path("hdf5/mapped/" + name) }

    func expected(_ file: String) throws -> [String: [String: Any]] {
        let document = try XCTUnwrap(Fixtures.json("hdf5/mapped/expected.json") as? [String: Any])
        return try XCTUnwrap(document[file] as? [String: [String: Any]])
    }

    /// Every dataset reads as h5py reads it; those h5py places contiguously in the file (and
    /// little-endian) are served from the file at h5py's offset, the rest through libhdf5.
    func testMixedFileReadsLikeH5py() throws {
        let file = try HDF5File(path: Self.path("mixed.h5"))
        let expected = try expected("mixed.h5")
        XCTAssertEqual(Set(file.tensors.map(\.name)), Set(expected.keys))
        for tensor in file.tensors {
            let entry = try XCTUnwrap(expected[tensor.name])
            XCTAssertEqual(tensor.shape, entry["shape"] as? [Int], tensor.name)
            let digest = try file.withBytes(of: tensor) { PatchFormat.hash($0, length: 64) }
            XCTAssertEqual(digest, entry["sha256"] as? String, tensor.name)
            let location = file.storedLocation(of: tensor)
            if let offset = entry["offset"] as? Int {
                XCTAssertEqual(location?.range, offset..<(offset + tensor.byteCount), tensor.name)
                XCTAssertEqual(entry["storage_size"] as? Int, tensor.byteCount, tensor.name)
            } else if tensor.byteCount == 0 {
                XCTAssertEqual(location?.range.isEmpty, true, tensor.name)
            } else {
                XCTAssertNil(location, tensor.name)
            }
        }
        XCTAssertFalse(file.bytesAreFileMapped, "big-endian and gzip datasets are read through libhdf5")
    }

    /// A file of contiguous little-endian datasets only is mapped as a whole, as safetensors is.
    func testContiguousFileIsFileMapped() throws {
        let file = try HDF5File(path: Self.path("contiguous.h5"))
        let expected = try expected("contiguous.h5")
        XCTAssertTrue(file.bytesAreFileMapped)
        for tensor in file.tensors {
            let entry = try XCTUnwrap(expected[tensor.name])
            XCTAssertEqual(try file.withBytes(of: tensor) { PatchFormat.hash($0, length: 64) }, entry["sha256"] as? String)
            let offset = try XCTUnwrap(entry["offset"] as? Int)
            XCTAssertEqual(file.storedLocation(of: tensor), StoredLocation(file: file.path, range: offset..<(offset + tensor.byteCount)))
        }
    }

    /// A dataset whose declared bytes lie outside the file (wholly, or its last 4 bytes) is one
    /// line naming the file and the dataset, when the file is opened.
    func testDatasetOutsideTheFileIsOneLineError() throws {
        for name in ["outside.h5", "overrun.h5"] {
            let entry = try XCTUnwrap(try expected(name)["w"])
            let offset = try XCTUnwrap(entry["offset"] as? Int), size = try XCTUnwrap(entry["storage_size"] as? Int)
            let fileSize = try XCTUnwrap(entry["file_size"] as? Int)
            XCTAssertThrowsError(try CheckpointOpener.open(Self.path(name)), name) { error in
                guard case let .invalidTensor(path, tensor, reason)? = error as? CheckpointError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, Self.path(name))
                XCTAssertEqual(tensor, "w")
                XCTAssertEqual(reason, "data declared at bytes \(offset)..<\(offset + size) lies outside the \(fileSize)-byte file")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
    }
}
