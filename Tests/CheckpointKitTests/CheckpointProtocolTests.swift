import Foundation
import XCTest
@testable import CheckpointKit

/// The members of ``Checkpoint`` that callers use instead of naming a format: files, stored
/// locations, mapping, skipped objects and modified copies. Expected byte ranges come from
/// fixtures/make_stored_locations.py (struct + json, checked against the safetensors library).
final class CheckpointProtocolTests: XCTestCase {
    static func expectedLocations() throws -> [String: Any] {
        try XCTUnwrap(try Fixtures.json("expected/stored-locations.json") as? [String: Any])
    }

    func testSafetensorsFilesAndStoredLocationsMatchTheHeaders() throws {
        for (relative, value) in try Self.expectedLocations() {
            let expected = try XCTUnwrap(value as? [String: Any])
            let checkpoint = try CheckpointOpener.open(Fixtures.path(relative))
            XCTAssertEqual(checkpoint.files, try XCTUnwrap(expected["files"] as? [String]).map(Fixtures.path), relative)
            XCTAssertTrue(checkpoint.bytesAreFileMapped, relative)
            XCTAssertTrue(checkpoint.skipped.isEmpty, relative)
            let tensors = try XCTUnwrap(expected["tensors"] as? [String: Any])
            XCTAssertEqual(Set(checkpoint.tensors.map(\.name)), Set(tensors.keys), relative)
            for tensor in checkpoint.tensors {
                let wanted = try XCTUnwrap(tensors[tensor.name] as? [String: Any])
                let range = try XCTUnwrap(wanted["range"] as? [Int])
                let location = try XCTUnwrap(checkpoint.storedLocation(of: tensor), tensor.name)
                XCTAssertEqual(location, StoredLocation(file: Fixtures.path(try XCTUnwrap(wanted["file"] as? String)), range: range[0]..<range[1]), tensor.name)
            }
        }
    }

    /// Only contiguous little-endian datasets have a stored location (issue 14), and there the file
    /// holds exactly the bytes `withBytes` hands out (which HDF5FileTests checks against h5py).
    func testHDF5ListsSkippedObjectsAndStoredLocationsOfContiguousDatasets() throws {
        let checkpoint = try CheckpointOpener.open(Fixtures.path("hdf5/datasets.h5"))
        let expected = try HDF5FileTests.expectedFile("datasets.h5")
        XCTAssertEqual(checkpoint.skipped.map(\.name).sorted(), (expected.skipped + expected.links).sorted())
        XCTAssertEqual(checkpoint.files, [Fixtures.path("hdf5/datasets.h5")])
        XCTAssertFalse(checkpoint.bytesAreFileMapped)
        XCTAssertEqual(checkpoint.editCapabilities, [])
        let file = try MappedFile(path: Fixtures.path("hdf5/datasets.h5"))
        var located = 0, unlocated = 0
        for tensor in checkpoint.tensors {
            guard let location = checkpoint.storedLocation(of: tensor) else { unlocated += 1; continue }
            located += 1
            let stored = Array(file.bytes(in: location.range))
            XCTAssertEqual(try checkpoint.withBytes(of: tensor) { Array($0) }, stored, tensor.name)
        }
        XCTAssertGreaterThan(located, 0)
        XCTAssertGreaterThan(unlocated, 0, "the gzip-chunked and big-endian datasets have none")
    }

    /// The default modified copy: untouched tensors equal the source file's bytes at the ranges
    /// Python computed, the replaced one holds the new bytes, the added one comes last.
    func testModifiedCopyKeepsUntouchedBytesAndAppends() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let relative = "tiny-bert/variants/sharded/model.safetensors.index.json"
        let expected = try XCTUnwrap(try Self.expectedLocations()[relative] as? [String: Any])
        let locations = try XCTUnwrap(expected["tensors"] as? [String: Any])
        let source = try CheckpointOpener.open(Fixtures.path(relative))
        let replacedInfo = try XCTUnwrap(source.tensors.first { $0.name.hasSuffix("LayerNorm.bias") })
        let zeros = [UInt8](repeating: 0, count: replacedInfo.byteCount)
        let added = TensorInfo(name: "classifier.bias", dtype: .u8, shape: [3], byteCount: 3)
        let edit = CheckpointEdit(replaced: [.init(info: replacedInfo) { try zeros.withUnsafeBytes($0) }],
                                  added: [.init(info: added) { try [UInt8]([7, 8, 9]).withUnsafeBytes($0) }])
        let output = directory.appendingPathComponent("copy.safetensors").path
        var verified = false
        _ = try source.writeModifiedCopy(edit, to: output) { _ in verified = true }
        XCTAssertTrue(verified)
        let copy = try CheckpointOpener.open(output)
        XCTAssertEqual(copy.tensors.map(\.name), source.tensors.map(\.name) + ["classifier.bias"])
        for tensor in source.tensors where tensor.name != replacedInfo.name {
            let wanted = try XCTUnwrap(locations[tensor.name] as? [String: Any])
            let range = try XCTUnwrap(wanted["range"] as? [Int])
            let file = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(try XCTUnwrap(wanted["file"] as? String))))
            let got = try copy.withBytes(of: try XCTUnwrap(copy.tensor(named: tensor.name))) { Array($0) }
            XCTAssertEqual(got, Array(file[range[0]..<range[1]]), tensor.name)
        }
        XCTAssertEqual(try copy.withBytes(of: try XCTUnwrap(copy.tensor(named: replacedInfo.name))) { Array($0) }, zeros)
        XCTAssertEqual(try copy.withBytes(of: try XCTUnwrap(copy.tensor(named: "classifier.bias"))) { Array($0) }, [7, 8, 9])
    }

    /// A reader that implements only the required members plugs in: summaries, copies and
    /// identity checks work through the defaults.
    func testMinimalReaderUsesTheDefaults() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let reader = InMemoryCheckpoint(path: directory.appendingPathComponent("memory").path,
                                        tensors: [("a", [1, 2, 3, 4]), ("b", [5, 6])])
        XCTAssertEqual(reader.files, [reader.path])
        XCTAssertNil(reader.storedLocation(of: reader.tensors[0]))
        XCTAssertFalse(reader.bytesAreFileMapped)
        XCTAssertEqual(CheckpointSummary(reader).tensorCount, 2)
        let output = directory.appendingPathComponent("out.safetensors").path
        let result = try reader.writeModifiedCopy(CheckpointEdit(), to: output) { _ in }
        let copy = try CheckpointOpener.open(output)
        XCTAssertEqual(copy.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(try copy.withBytes(of: copy.tensors[0]) { Array($0) }, [1, 2, 3, 4])
        XCTAssertEqual(try copy.withBytes(of: copy.tensors[1]) { Array($0) }, [5, 6])
        XCTAssertEqual(result.bytes, try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: output)[.size] as? Int))
    }
}

/// U8 tensors held in memory: the least a reader implements.
private final class InMemoryCheckpoint: Checkpoint, @unchecked Sendable {
    let path: String
    var format: CheckpointFormat { .safetensors }
    let tensors: [TensorInfo]
    var metadata: [String: String] { [:] }
    var fileSize: Int { data.values.reduce(0) { $0 + $1.count } }
    private let data: [String: [UInt8]]

    init(path: String, tensors: [(String, [UInt8])]) {
        self.path = path
        self.tensors = tensors.map { TensorInfo(name: $0.0, dtype: .u8, shape: [$0.1.count], byteCount: $0.1.count) }
        data = Dictionary(uniqueKeysWithValues: tensors)
    }

    func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try data[tensor.name]!.withUnsafeBytes(body)
    }
}
