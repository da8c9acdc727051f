import Foundation
import XCTest
@testable import CheckpointKit

/// The zip directory reader: entries as Python's `zipfile` lists them (names and data offsets of
/// the torch-written fixtures are checked against the offsets the fixture script's `write_zip`
/// and torch's writer record), and every malformed layout refused before anything is read.
final class ZipArchiveTests: XCTestCase {
    func archive(_ bytes: [UInt8]) throws -> ZipArchive {
        try bytes.withUnsafeBytes { try ZipArchive(bytes: $0, path: "test.zip") }
    }

    func fixture(_ name: String) throws -> (MappedFile, ZipArchive) {
        let file = try MappedFile(path: Fixtures.path("torch/" + name))
        return (file, try ZipArchive(bytes: file.bytes, path: name))
    }

    /// torch's own archive: every entry stored, named under one record directory, storages
    /// aligned to 64 bytes, the pickle where the central directory says.
    func testTorchArchiveLists() throws {
        let (file, zip) = try fixture("tied.bin")
        let names = zip.entries.map(\.name)
        XCTAssertEqual(names.first, "tied/data.pkl")
        XCTAssertTrue(names.contains("tied/byteorder"))
        XCTAssertTrue(names.contains("tied/data/0"))
        XCTAssertTrue(zip.entries.allSatisfy { $0.method == 0 })
        let storage = try XCTUnwrap(zip.storedRange(of: "tied/data/0", path: "tied.bin"))
        XCTAssertEqual(storage.lowerBound % 64, 0)
        XCTAssertEqual(storage.count, 12 * 4)
        let order = try XCTUnwrap(zip.storedRange(of: "tied/byteorder", path: "tied.bin"))
        XCTAssertEqual(String(decoding: file.bytes[order], as: UTF8.self), "little")
        let pickle = try XCTUnwrap(zip.storedRange(of: "tied/data.pkl", path: "tied.bin"))
        XCTAssertEqual(Array(file.bytes[pickle].prefix(2)), [0x80, 0x02])
        XCTAssertEqual(file.bytes[pickle].last, UInt8(ascii: "."))
    }

    /// The ZIP64 end record, locator and extra fields (all sizes and offsets 0xFFFFFFFF in the
    /// 32-bit fields).
    func testZip64Directory() throws {
        let (file, zip) = try fixture("zip64.bin")
        XCTAssertEqual(zip.entries.map(\.name), ["archive/data.pkl", "archive/byteorder", "archive/data/0", "archive/version"])
        let storage = try XCTUnwrap(zip.storedRange(of: "archive/data/0", path: "zip64.bin"))
        let floats = file.bytes[storage].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        XCTAssertEqual(floats, [0, 1, 2, 3])
    }

    func testMalformedArchivesAreRefused() throws {
        let (file, _) = try fixture("zip64.bin")
        let good = Array(file.bytes)
        XCTAssertThrowsError(try archive(Array(good.prefix(30)))) { error in
            XCTAssertTrue("\(error)".contains("end of central directory"), "\(error)")
        }
        XCTAssertThrowsError(try archive([UInt8](repeating: 0, count: 10)))
        // Every truncation of a valid archive is refused cleanly (never a crash).
        for length in stride(from: 0, to: good.count, by: 7) {
            var cut = Array(good.prefix(length))
            cut += [UInt8](repeating: 0, count: 0)
            _ = try? archive(cut)
        }
        // The central directory offset pointed past the end of the file.
        var broken = good
        let end = good.count - 22
        XCTAssertEqual(Array(good[end..<(end + 4)]), [0x50, 0x4B, 0x05, 0x06])
        let locator = end - 20
        broken[locator + 8] = 0xFF; broken[locator + 9] = 0xFF; broken[locator + 10] = 0xFF
        XCTAssertThrowsError(try archive(broken)) { error in
            XCTAssertTrue("\(error)".contains("past the end of the file"), "\(error)")
        }
    }

    func testCompressedAndOverlappingEntries() throws {
        let (_, compressed) = try fixture("hostile-compressed.bin")
        XCTAssertThrowsError(try compressed.storedRange(of: "archive/data/0", path: "x")) { error in
            XCTAssertEqual("\(error)", "x: invalid header: zip entry 'archive/data/0' is compressed (method 8); torch.save stores entries uncompressed, and only stored entries are read")
        }
        XCTAssertThrowsError(try fixture("hostile-overlap.bin")) { error in
            XCTAssertTrue("\(error)".contains("overlap"), "\(error)")
        }
    }
}
