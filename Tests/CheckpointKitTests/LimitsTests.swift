import Foundation
import XCTest
@testable import CheckpointKit

/// The limits that make hostile input cheap (docs/reliability.md lists them): each is checked
/// before the memory it guards is allocated, and each refusal is a typed, one-line error.
final class LimitsTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    func tmp(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A safetensors file made of `header` (JSON text) and `data`.
    func safetensors(_ header: String, data: [UInt8] = [], name: String = "model.safetensors") throws -> String {
        var bytes = [UInt8](repeating: 0, count: 8)
        let json = Array(header.utf8)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        bytes += json + data
        let path = tmp(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertRefused(_ body: @autoclosure () throws -> Any, _ phrase: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertTrue(error is CategorizedError, "untyped \(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(phrase), "'\(error)' does not mention '\(phrase)'", file: file, line: line)
        }
    }

    // MARK: safetensors

    func testSafetensorsRankLimit() throws {
        let ones = { (n: Int) in Array(repeating: "1", count: n).joined(separator: ",") }
        let ok = try safetensors(#"{"t":{"dtype":"U8","shape":[\#(ones(SafetensorsFile.maxRank))],"data_offsets":[0,1]}}"#, data: [7])
        XCTAssertEqual(try SafetensorsFile(path: ok).tensors.first?.shape.count, SafetensorsFile.maxRank)
        let deep = try safetensors(#"{"t":{"dtype":"U8","shape":[\#(ones(SafetensorsFile.maxRank + 1))],"data_offsets":[0,1]}}"#, data: [7])
        assertRefused(try SafetensorsFile(path: deep), "longer than \(SafetensorsFile.maxRank)")
        // A shape array of a million entries is refused while parsing, not after building it.
        let huge = try safetensors(#"{"t":{"dtype":"U8","shape":[\#(ones(1_000_000))],"data_offsets":[0,1]}}"#, data: [7])
        assertRefused(try SafetensorsFile(path: huge), "array longer than")
    }

    func testSafetensorsTensorCountIsBoundedByTheHeaderSize() throws {
        // The smallest possible entry (plus its separating comma) takes minEntryBytes bytes.
        let smallest = #""":{"dtype":"U8","shape":[],"data_offsets":[0,0]},"#
        XCTAssertGreaterThanOrEqual(smallest.utf8.count, SafetensorsFile.minEntryBytes)
        XCTAssertLessThanOrEqual(SafetensorsFile.maxHeaderSize / SafetensorsFile.minEntryBytes, 2_000_000)
        // 20,000 empty tensors: accepted, and quickly.
        let entries = (0..<20_000).map { #""t\#($0)":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}"# }
        let path = try safetensors("{" + entries.joined(separator: ",") + "}")
        let start = Date()
        XCTAssertEqual(try SafetensorsFile(path: path).tensors.count, 20_000)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        // A header length over the limit is refused before anything is read.
        var bytes = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: UInt64(SafetensorsFile.maxHeaderSize + 1).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: tmp("big.safetensors")))
        assertRefused(try SafetensorsFile(path: tmp("big.safetensors")), "too large")
    }

    func testSafetensorsStringLimits() throws {
        let longName = String(repeating: "n", count: SafetensorsFile.maxTensorNameBytes + 1)
        let named = try safetensors(#"{"\#(longName)":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [1])
        assertRefused(try SafetensorsFile(path: named), "bytes long")
        let longValue = String(repeating: "v", count: SafetensorsFile.maxMetadataStringBytes + 1)
        let meta = try safetensors(#"{"__metadata__":{"k":"\#(longValue)"},"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, data: [1])
        assertRefused(try SafetensorsFile(path: meta), "longer than \(SafetensorsFile.maxMetadataStringBytes)")
    }

    // MARK: HDF5

    /// fixtures/bad/declared-huge.h5 (scripts/make-declared-huge-h5.c) declares a 16 GiB chunked
    /// dataset with no chunk written in a 1.4 KB file.
    func testHDF5DeclaredSizeAgainstFileSize() throws {
        let path = Fixtures.path("bad/declared-huge.h5")
        assertRefused(try HDF5File(path: path), "no compression reaches that")
        // Real files are far inside the limit.
        XCTAssertNoThrow(try HDF5File(path: Fixtures.path("hdf5/tf_model.h5")))
        XCTAssertLessThanOrEqual(HDF5File.maxRank, 32, "libhdf5 itself allows no more than 32 dimensions")
    }

    /// fixtures/hdf5/too-many-layer-names.h5 (make_hdf5_fixtures.py): a root `layer_names` of
    /// 65,537 one-byte strings, one over the limit, is refused from its dataspace before any
    /// string is read, as one bad-input line naming the file, the attribute and the limit.
    func testHDF5StringAttributeCountLimit() throws {
        let path = Fixtures.path("hdf5/too-many-layer-names.h5")
        XCTAssertEqual(HDF5File.maxAttributeStrings, 65_536, "the fixture holds one string more than this")
        let start = Date()
        XCTAssertThrowsError(try HDF5File(path: path)) { error in
            XCTAssertEqual((error as? CategorizedError)?.category, .badInput, "\(error)")
            XCTAssertEqual("\(error)", "\(path): tensor '/': attribute 'layer_names' holds 65537 strings (the limit is 65536)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
        let result = try CommandRunner.run(["inspect", path])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertEqual(result.stdout, "")
        XCTAssertEqual(result.stderr, "ckpt: \(path): tensor '/': attribute 'layer_names' holds 65537 strings (the limit is 65536)\n")
    }

    // MARK: Tokenizer

    func testTokenizerTokenLengthAndVocabularyLimits() throws {
        let special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        let long = String(repeating: "a", count: WordPieceTokenizer.maxTokenBytes + 1)
        try (special + [long]).joined(separator: "\n").write(toFile: tmp("vocab.txt"), atomically: true, encoding: .utf8)
        assertRefused(try WordPieceTokenizer.load(vocabTxt: tmp("vocab.txt")), "over the limit of \(WordPieceTokenizer.maxTokenBytes)")

        let vocab = special.enumerated().map { "\"\($1)\": \($0)" }.joined(separator: ", ")
        let tooBigId = #"{"model": {"type": "WordPiece", "vocab": {\#(vocab), "x": \#(WordPieceTokenizer.maxVocabularySize)}}}"#
        try tooBigId.write(toFile: tmp("tokenizer.json"), atomically: true, encoding: .utf8)
        assertRefused(try WordPieceTokenizer.load(tokenizerJSON: tmp("tokenizer.json")), "too large")

        let wordLimit = #"{"model": {"type": "WordPiece", "vocab": {\#(vocab)}, "max_input_chars_per_word": 1000000000}}"#
        try wordLimit.write(toFile: tmp("tokenizer.json"), atomically: true, encoding: .utf8)
        assertRefused(try WordPieceTokenizer.load(tokenizerJSON: tmp("tokenizer.json")), "max_input_chars_per_word")
    }

    func testTokenizerFileSizeIsCheckedBeforeReading() throws {
        let path = tmp("vocab.txt")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        XCTAssertEqual(truncate(path, off_t(WordPieceTokenizer.maxFileBytes + 1)), 0) // sparse: no disk, no memory
        assertRefused(try WordPieceTokenizer.load(vocabTxt: path), "byte limit")
    }

    // MARK: Data files

    func testDataFileLineLengthLimit() throws {
        let long = String(repeating: "w ", count: TaskDataset.maxLineBytes / 2 + 1)
        for (name, text) in [("d.tsv", "sentence\tlabel\n\(long)\t1\n"),
                             ("d.csv", "sentence,label\n\"\(long)\",1\n"),
                             ("d.jsonl", #"{"sentence": "\#(long)", "label": 1}"# + "\n")] {
            try text.write(toFile: tmp(name), atomically: true, encoding: .utf8)
            assertRefused(try TaskDataset.load(path: tmp(name)), "longer than \(TaskDataset.maxLineBytes) bytes")
        }
    }

    func testDataFileSizeAndSampleLimits() throws {
        let path = tmp("big.tsv")
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        XCTAssertEqual(truncate(path, off_t(TaskDataset.maxFileBytes + 1)), 0)
        assertRefused(try TaskDataset.load(path: path), "byte limit")
        // A limit above maxExamples reads at most maxExamples (here: all 3).
        try "sentence\tlabel\na\t0\nb\t1\nc\t0\n".write(toFile: tmp("small.tsv"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try TaskDataset.load(path: tmp("small.tsv"), options: TaskDatasetOptions(limit: .max)).examples.count, 3)
    }

    func testSamplesOptionUpperBound() throws {
        let result = try CommandRunner.run(["fisher", Fixtures.path("fisher/tiny-model"), "--data", Fixtures.path("fisher/data.tsv"),
                                            "--samples", String(TaskDataset.maxExamples + 1), "-o", tmp("f.safetensors")])
        XCTAssertEqual(result.status, 64, result.stderr)
        XCTAssertTrue(result.stderr.contains("--samples must be at most \(TaskDataset.maxExamples)"), result.stderr)
    }

    // MARK: Leftover temporary files

    func testStaleTemporaryFilesAreRemovedByTheNextWrite() throws {
        let stale = tmp(".ckpt-tmp-Ab3xYz"), fresh = tmp(".ckpt-tmp-Qw9eRt"), other = tmp(".ckpt-tmp-notours")
        for path in [stale, fresh, other] { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data([1]))) }
        let old = Date(timeIntervalSinceNow: -AtomicFile.staleTemporaryAge - 60)
        for path in [stale, other] { try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path) }
        try AtomicFile(destination: tmp("out.bin")).write { sink in try sink.write("new") }
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
        XCTAssertEqual(names, [".ckpt-tmp-Qw9eRt", ".ckpt-tmp-notours", "out.bin"])
    }
}
