import XCTest
@testable import CheckpointKit

/// Every input the fuzzers (Fuzz/run.sh) ever crashed on, replayed through the same code path:
/// each must now give a typed error or open cleanly.
final class FuzzRegressionTests: XCTestCase {
    static let root = Fixtures.root.deletingLastPathComponent().appendingPathComponent("Fuzz/regressions")

    func inputs(_ target: String) throws -> [URL] {
        let directory = Self.root.appendingPathComponent(target)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
    }

    func testSafetensorsRegressions() throws {
        for input in try inputs("FuzzSafetensors") {
            try replay(input, as: "model.safetensors")
        }
    }

    /// The first find: an empty index file made Foundation's `Data(contentsOf:)` leak its buffer;
    /// the index is now mapped like every other input.
    func testShardIndexRegressions() throws {
        for input in try inputs("FuzzShardIndex") {
            try replay(input, as: "model.safetensors.index.json")
        }
    }

    /// The FuzzTokenizer find: an empty `vocab.txt` / `tokenizer.json` made Foundation's
    /// `FileManager.contents(atPath:)` leak its read buffer; tokenizer files are now mapped
    /// (`MappedFile.contents(of:maxBytes:)`). Replayed as both files, then encoded as text.
    func testTokenizerRegressions() throws {
        for input in try inputs("FuzzTokenizer") {
            for name in ["vocab.txt", "tokenizer.json"] {
                let directory = try Fixtures.temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: directory) }
                try FileManager.default.copyItem(atPath: input.path, toPath: directory.appendingPathComponent(name).path)
                do {
                    let tokenizer = try WordPieceTokenizer.load(directory: directory.path)
                    let text = String(decoding: try Data(contentsOf: input), as: UTF8.self)
                    _ = tokenizer.encode(text, pair: text, maxLength: 16)
                } catch {
                    _ = error // typed throws: a FisherError, always categorized; reaching here without a trap is the test
                }
            }
        }
    }

    /// The FuzzTaskData find: the same leak for an empty data file; data files are now mapped.
    /// Replayed as TSV, CSV and JSONL.
    func testTaskDataRegressions() throws {
        for input in try inputs("FuzzTaskData") {
            for name in ["data.tsv", "data.csv", "data.jsonl"] {
                let directory = try Fixtures.temporaryDirectory()
                defer { try? FileManager.default.removeItem(at: directory) }
                let path = directory.appendingPathComponent(name).path
                try FileManager.default.copyItem(atPath: input.path, toPath: path)
                do {
                    _ = try TaskDataset.load(path: path)
                } catch {
                    _ = error // typed throws: a FisherError, always categorized; reaching here without a trap is the test
                }
            }
        }
    }

    /// FuzzHDF5 find: an object header with a bad checksum met while walking a group makes
    /// libhdf5 1.10 lose one 56-byte block (suppressed in Fuzz/lsan.supp and Tests/lsan.supp); we
    /// must still answer with a typed error.
    ///
    /// As in ckpt and FuzzHDF5, each file's structure is read first by a helper process
    /// (HDF5Rehearsal), here the built ckpt: without one, libhdf5's wild `free` on
    /// compact-group-uninitialised-link-free.h5 would kill this process.
    func testHDF5Regressions() throws {
        let savedHelper = HDF5Rehearsal.helper
        HDF5Rehearsal.helper = try .builtCkpt()
        defer { HDF5Rehearsal.helper = savedHelper }
        for input in try inputs("FuzzHDF5") {
            try replay(input, as: "model.h5")
        }
    }

    func replay(_ input: URL, as name: String) throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: input.path, toPath: path)
        do {
            let checkpoint = try CheckpointOpener.open(path)
            for tensor in checkpoint.tensors where tensor.dtype.isDecodable {
                _ = try TensorDecoder.doubles(of: tensor, in: checkpoint)
            }
        } catch {
            XCTAssertTrue(error is CategorizedError, "\(input.lastPathComponent): untyped error \(error)")
        }
    }
}
