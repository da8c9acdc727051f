import Foundation
import XCTest
@testable import CheckpointKit

/// The HDF5 reader and writer against fixtures/hdf5/, whose expected values h5py read back when
/// fixtures/make_hdf5_fixtures.py wrote them.
final class HDF5FileTests: XCTestCase {
    struct ExpectedTensor {
        var name: String
        var dtype: String
        var shape: [Int]
        var values: [Double]
    }

    struct ExpectedFile {
        var format: String
        var tensors: [ExpectedTensor]
        var skipped: [String]
        var links: [String]
        var metadata: [String: String]
    }

    /// fixtures/hdf5/expected.json (small: parsed per use). Parsed with JSONValue, whose numbers
    /// come from `Double(String)`: Foundation's JSONSerialization on Linux is off by a few ULPs for
    /// some 17-digit doubles, and the values are compared exactly.
    static func expected() throws -> [String: Any] {
        let bytes = try [UInt8](Data(contentsOf: Fixtures.root.appendingPathComponent("hdf5/expected.json")))
        return try XCTUnwrap(plain(try JSONValue.parse(bytes)) as? [String: Any])
    }

    /// A JSONValue as Foundation-style values (objects, arrays, String, Int, Double, Bool, NSNull).
    static func plain(_ value: JSONValue) -> Any {
        switch value {
        case let .object(members): return Dictionary(members.map { ($0.key, plain($0.value)) }, uniquingKeysWith: { $1 })
        case let .array(elements): return elements.map(plain)
        case let .string(text): return text
        case let .integer(number): return number
        case let .number(number): return number
        case let .bool(flag): return flag
        case .null: return NSNull()
        }
    }

    static func path(_ name: String) -> String { Fixtures.path("hdf5/\(name)") }

    /// A JSON value written by the fixture script's json_float: number, null (NaN) or "inf"/"-inf".
    static func double(_ value: Any) -> Double {
        switch value {
        case let number as Double: return number
        case let number as Int: return Double(number)
        case let text as String: return text == "-inf" ? -.infinity : .infinity
        default: return .nan
        }
    }

    static func parseFile(_ value: Any?) throws -> ExpectedFile {
        let object = try XCTUnwrap(value as? [String: Any])
        let tensors = try XCTUnwrap(object["tensors"] as? [[String: Any]]).map { tensor in
            ExpectedTensor(
                name: tensor["name"] as! String, dtype: tensor["dtype"] as! String,
                shape: tensor["shape"] as! [Int], values: (tensor["values"] as! [Any]).map(double))
        }
        return ExpectedFile(
            format: object["format"] as! String, tensors: tensors,
            skipped: object["skipped"] as! [String], links: object["links"] as? [String] ?? [],
            metadata: object["metadata"] as! [String: String])
    }

    static func expectedFile(_ name: String) throws -> ExpectedFile {
        let files = try XCTUnwrap(try expected()["files"] as? [String: Any])
        return try parseFile(files[name])
    }

    /// Asserts that `values` equal `expected` exactly (NaN matching NaN).
    func assertSameValues(_ values: [Double], _ expected: [Double], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(values.count, expected.count, message, file: file, line: line)
        for (index, (value, wanted)) in zip(values, expected).enumerated() {
            if wanted.isNaN {
                XCTAssertTrue(value.isNaN, "\(message)[\(index)] = \(value), expected NaN", file: file, line: line)
            } else {
                XCTAssertEqual(value.bitPattern == wanted.bitPattern || value == wanted, true,
                               "\(message)[\(index)] = \(value), expected \(wanted)", file: file, line: line)
            }
        }
    }

    /// Checks one opened file against what h5py read.
    func assertMatches(_ checkpoint: HDF5File, _ expected: ExpectedFile, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(checkpoint.format.rawValue, expected.format, checkpoint.path, file: file, line: line)
        XCTAssertEqual(checkpoint.tensors.map(\.name), expected.tensors.map(\.name), "tensor order", file: file, line: line)
        for (tensor, wanted) in zip(checkpoint.tensors, expected.tensors) {
            XCTAssertEqual(tensor.dtype.rawValue, wanted.dtype, tensor.name, file: file, line: line)
            XCTAssertEqual(tensor.shape, wanted.shape, tensor.name, file: file, line: line)
            XCTAssertEqual(tensor.byteCount, wanted.shape.reduce(1, *) * tensor.dtype.byteWidth!, tensor.name, file: file, line: line)
            let values = try TensorDecoder.doubles(of: tensor, in: checkpoint)
            assertSameValues(values, wanted.values, tensor.name, file: file, line: line)
        }
        XCTAssertEqual(checkpoint.skippedDatasets.map(\.name).sorted(), (expected.skipped + expected.links).sorted(), "skipped", file: file, line: line)
        XCTAssertEqual(checkpoint.metadata.keys.sorted(), expected.metadata.keys.sorted(), "metadata keys", file: file, line: line)
        for (key, value) in expected.metadata {
            let got = try XCTUnwrap(checkpoint.metadata[key], file: file, line: line)
            if value.utf8.count <= HDF5File.maxMetadataValueBytes {
                XCTAssertEqual(got, value, key, file: file, line: line)
            } else {
                XCTAssertTrue(got.hasPrefix(String(decoding: value.utf8.prefix(HDF5File.maxMetadataValueBytes), as: UTF8.self)), key, file: file, line: line)
                XCTAssertTrue(got.hasSuffix("[truncated, \(value.utf8.count) bytes]"), got, file: file, line: line)
            }
        }
    }

    // MARK: Reading

    func testTFModelLayout() throws {
        let checkpoint = try HDF5File(path: Self.path("tf_model.h5"))
        try assertMatches(checkpoint, try Self.expectedFile("tf_model.h5"))
        XCTAssertEqual(checkpoint.format, .huggingFaceTFH5)
        let gamma = try XCTUnwrap(checkpoint.tensor(named: "bert/tf_bert_for_sequence_classification/bert/encoder/layer_._0/attention/output/LayerNorm/gamma:0"))
        XCTAssertEqual(gamma.shape, [8])
        let kernel = try XCTUnwrap(checkpoint.tensor(named: "classifier/tf_bert_for_sequence_classification/classifier/kernel:0"))
        XCTAssertEqual(kernel.shape, [8, 2])
        XCTAssertEqual(checkpoint.metadata, ["backend": "tensorflow", "keras_version": "2.15.0"])
        XCTAssertEqual(checkpoint.fileSize, try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.size] as? Int)
    }

    func testLayerNamesSplitAcrossAttributes() throws {
        let checkpoint = try HDF5File(path: Self.path("long-layer-names.h5"))
        try assertMatches(checkpoint, try Self.expectedFile("long-layer-names.h5"))
        // zeta_embed is listed in layer_names0, alpha_head in layer_names1: layout order, not alphabetical.
        XCTAssertEqual(checkpoint.tensors.first?.name, "zeta_embed/zeta_embed/embeddings:0")
    }

    func testKeras2Layout() throws {
        let checkpoint = try HDF5File(path: Self.path("keras2.h5"))
        try assertMatches(checkpoint, try Self.expectedFile("keras2.h5"))
        XCTAssertEqual(checkpoint.metadata["keras_version"], "2.15.0")
        XCTAssertEqual(checkpoint.metadata["backend"], "tensorflow")
        XCTAssertTrue(checkpoint.metadata["model_config"]!.contains("truncated"))
    }

    func testKeras3Layout() throws {
        let checkpoint = try HDF5File(path: Self.path("keras3.weights.h5"))
        try assertMatches(checkpoint, try Self.expectedFile("keras3.weights.h5"))
        XCTAssertEqual(checkpoint.tensor(named: "layers/dense_1/vars/0")?.dtype, .bf16)
        let block = checkpoint.tensors.map(\.name).filter { $0.hasPrefix("layers/custom_block/") }
        XCTAssertEqual(block, (0..<12).map { "layers/custom_block/vars/\($0)" })
    }

    func testDtypesCompressionByteOrderScalarsEmptyAndSkipped() throws {
        let checkpoint = try HDF5File(path: Self.path("datasets.h5"))
        let expected = try Self.expectedFile("datasets.h5")
        try assertMatches(checkpoint, expected)
        XCTAssertEqual(checkpoint.format, .hdf5)
        XCTAssertEqual(Set(checkpoint.tensors.map(\.dtype)), [.bool, .u8, .i8, .u16, .i16, .u32, .i32, .u64, .i64, .f16, .f32, .f64])
        XCTAssertEqual(checkpoint.tensor(named: "meta/scale")?.shape, [])
        XCTAssertEqual(checkpoint.tensor(named: "meta/empty")?.byteCount, 0)
        XCTAssertEqual(checkpoint.tensor(named: "compressed/empty")?.shape, [0, 4])
        // A dataset reached through two hard links is listed once, under the first name walked.
        XCTAssertNotNil(checkpoint.tensor(named: "links/hard_alias"))
        XCTAssertNil(checkpoint.tensor(named: "plain/i8"))
        let reasons = Dictionary(uniqueKeysWithValues: checkpoint.skippedDatasets.map { ($0.name, $0.reason) })
        XCTAssertEqual(reasons["meta/vocab"], "string elements")
        XCTAssertEqual(reasons["meta/pairs"], "compound elements")
        XCTAssertEqual(reasons["meta/null"], "null dataspace (no data)")
        XCTAssertEqual(reasons["meta/colour"], "enum (RED, GREEN, BLUE) that is not h5py's bool")
        XCTAssertEqual(reasons["links/soft"], "soft link (not followed)")
        XCTAssertEqual(reasons["links/external"], "external link to another file (not followed)")
        // Big-endian on disk, little-endian in hand: the raw F32 bytes of the first element.
        let first = try XCTUnwrap(expected.tensors.first { $0.name == "plain/f32_be" }?.values.first)
        let tensor = try XCTUnwrap(checkpoint.tensor(named: "plain/f32_be"))
        try checkpoint.withBytes(of: tensor) { raw in
            XCTAssertEqual(Array(raw.prefix(4)), withUnsafeBytes(of: Float(first).bitPattern.littleEndian) { Array($0) })
        }
    }

    func testUserBlock() throws {
        XCTAssertTrue(HDF5File.isHDF5(path: Self.path("userblock.h5")))
        try assertMatches(try HDF5File(path: Self.path("userblock.h5")), try Self.expectedFile("userblock.h5"))
    }

    func testIsHDF5ChecksTheSignatureOnly() throws {
        for name in ["tf_model.h5", "keras2.h5", "keras3.weights.h5", "datasets.h5", "truncated.h5", "userblock.h5"] {
            XCTAssertTrue(HDF5File.isHDF5(path: Self.path(name)), name)
        }
        XCTAssertFalse(HDF5File.isHDF5(path: Self.path("not-hdf5.h5")))
        XCTAssertFalse(HDF5File.isHDF5(path: Self.path("expected.json")))
        XCTAssertFalse(HDF5File.isHDF5(path: Self.path("no-such-file.h5")))
        XCTAssertFalse(HDF5File.isHDF5(path: Self.path("")))
    }

    func testNumericAwareOrder() {
        let names = ["a/vars/10", "a/vars/9", "a/vars/0", "a/b", "a/vars/1", "a-b/x"]
        XCTAssertEqual(names.sorted(by: HDF5File.numericAwarePrecedes),
                       ["a/b", "a/vars/0", "a/vars/1", "a/vars/9", "a/vars/10", "a-b/x"].sorted(by: HDF5File.numericAwarePrecedes))
        XCTAssertEqual(names.sorted(by: HDF5File.numericAwarePrecedes), ["a/b", "a/vars/0", "a/vars/1", "a/vars/9", "a/vars/10", "a-b/x"].sorted { lhs, rhs in
            // The walk's own order for the non-numeric parts: component by component, strcmp.
            let l = lhs.split(separator: "/").map { $0.allSatisfy(\.isNumber) ? String(repeating: "0", count: 8 - $0.count) + $0 : String($0) }
            let r = rhs.split(separator: "/").map { $0.allSatisfy(\.isNumber) ? String(repeating: "0", count: 8 - $0.count) + $0 : String($0) }
            return l.lexicographicallyPrecedes(r)
        })
    }

    func testNestedAndConcurrentReads() throws {
        let checkpoint = try HDF5File(path: Self.path("datasets.h5"))
        let expected = try Self.expectedFile("datasets.h5")
        let values = Dictionary(uniqueKeysWithValues: expected.tensors.map { ($0.name, $0.values) })
        let outer = try XCTUnwrap(checkpoint.tensor(named: "compressed/f32"))
        let inner = try XCTUnwrap(checkpoint.tensor(named: "compressed/f64"))
        try checkpoint.withBytes(of: outer) { outerBytes in
            let before = Array(outerBytes)
            XCTAssertEqual(try TensorDecoder.doubles(of: inner, in: checkpoint), values[inner.name])
            XCTAssertEqual(Array(outerBytes), before, "a nested read must not reuse the outer buffer")
        }
        let tensors = checkpoint.tensors
        let failures = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 64) { index in
            let tensor = tensors[index % tensors.count]
            guard let decoded = try? TensorDecoder.doubles(of: tensor, in: checkpoint),
                  let wanted = values[tensor.name],
                  decoded.count == wanted.count,
                  zip(decoded, wanted).allSatisfy({ $0 == $1 || ($0.isNaN && $1.isNaN) }) else {
                failures.increment()
                return
            }
        }
        XCTAssertEqual(failures.value, 0)
    }

    // MARK: Files written by transformers / Keras / h5py (fixtures/tiny-bert/variants)

    /// Every HDF5 variant of the tiny BERT matches the reference inspect summary (h5py: names,
    /// dtypes, shapes, sizes, string metadata) and checksums (h5py + ml_dtypes: fsum, first values).
    func testTinyBertVariantsMatchReference() throws {
        let formats: [String: CheckpointFormat] = [
            "tf_model.h5": .huggingFaceTFH5, "long-layer-names.h5": .huggingFaceTFH5,
            "keras2.h5": .keras2H5, "keras3.weights.h5": .keras3WeightsH5, "gzip.h5": .hdf5,
        ]
        for (name, format) in formats.sorted(by: { $0.key < $1.key }) {
            let relative = "tiny-bert/variants/\(name)"
            let key = relative.replacingOccurrences(of: "/", with: "__") + ".json"
            func load(_ path: String) throws -> [String: Any] {
                let bytes = try [UInt8](Data(contentsOf: Fixtures.root.appendingPathComponent(path)))
                return try XCTUnwrap(Self.plain(try JSONValue.parse(bytes)) as? [String: Any], path)
            }
            let inspect = try load("expected/inspect/\(key)")
            let checksums = try XCTUnwrap(try load("expected/checksums/\(key)")["tensors"] as? [String: Any])

            XCTAssertTrue(HDF5File.isHDF5(path: Fixtures.path(relative)), name)
            let checkpoint = try HDF5File(path: Fixtures.path(relative))
            XCTAssertEqual(checkpoint.format, format, name)
            XCTAssertTrue(checkpoint.skippedDatasets.isEmpty, "\(name): \(checkpoint.skippedDatasets)")
            let tensors = try XCTUnwrap(inspect["tensors"] as? [[String: Any]])
            XCTAssertEqual(checkpoint.tensors.map(\.name).sorted(), tensors.map { $0["name"] as! String }, name)
            for wanted in tensors {
                let tensorName = wanted["name"] as! String
                let tensor = try XCTUnwrap(checkpoint.tensor(named: tensorName), tensorName)
                XCTAssertEqual(tensor.dtype.rawValue, wanted["dtype"] as? String, tensorName)
                XCTAssertEqual(tensor.shape, wanted["shape"] as? [Int], tensorName)
                XCTAssertEqual(tensor.elementCount, wanted["numel"] as? Int, tensorName)
                XCTAssertEqual(tensor.byteCount, wanted["nbytes"] as? Int, tensorName)

                let sums = try XCTUnwrap(checksums[tensorName] as? [String: Any], tensorName)
                let values = try TensorDecoder.doubles(of: tensor, in: checkpoint)
                let first = try XCTUnwrap(sums["first"] as? [Any]).map(Self.double)
                assertSameValues(Array(values.prefix(first.count)), first, tensorName)
                let finite = values.filter(\.isFinite)
                let sum = finite.reduce(0, +), sumAbs = finite.reduce(0) { $0 + abs($1) }
                XCTAssertEqual(sum, Self.double(sums["sum"]!), accuracy: 1e-9 * max(1, sumAbs), tensorName)
                XCTAssertEqual(sumAbs, Self.double(sums["sum_abs"]!), accuracy: 1e-9 * max(1, sumAbs), tensorName)
            }
            XCTAssertEqual(checkpoint.tensors.count, inspect["tensor_count"] as? Int, name)
            XCTAssertEqual(checkpoint.elementCount, inspect["parameter_count"] as? Int, name)
            XCTAssertEqual(checkpoint.tensors.reduce(0) { $0 + $1.byteCount }, inspect["total_bytes"] as? Int, name)
            // The reference lists every scalar root attribute; ours keeps the strings (cut at 1 KB).
            let metadata = try XCTUnwrap(inspect["metadata"] as? [String: Any])
            let strings = metadata.compactMapValues { $0 as? String }
            XCTAssertEqual(checkpoint.metadata.keys.sorted(), strings.keys.sorted(), name)
            for (key, value) in strings {
                let got = try XCTUnwrap(checkpoint.metadata[key], key)
                XCTAssertEqual(got, HDF5File.shortened(value), "\(name): \(key)")
                XCTAssertTrue(got.hasPrefix(String(value.prefix(500))), key)
            }
        }
    }

    /// tf_model.h5 as transformers 4.46.3 writes it: tensors in the order of `layer_names` and the
    /// layer's `weight_names` (embeddings first, then layer 0, 1, ..., pooler last).
    func testTransformersTFModelOrder() throws {
        let checkpoint = try HDF5File(path: Fixtures.path("tiny-bert/variants/tf_model.h5"))
        let names = checkpoint.tensors.map(\.name)
        XCTAssertEqual(names.first, "bert/tf_bert_model/bert/embeddings/word_embeddings/weight:0")
        XCTAssertEqual(names.last, "bert/tf_bert_model/bert/pooler/dense/bias:0")
        let layers = names.compactMap { name -> Int? in
            guard let range = name.range(of: "layer_._") else { return nil }
            return Int(name[range.upperBound...].prefix { $0.isNumber })
        }
        XCTAssertEqual(layers, layers.sorted(), "encoder layers in order")
        XCTAssertNotEqual(names, names.sorted(), "layout order, not alphabetical")
    }

    // MARK: Bad input

    /// fixtures/bad/bad.h5 (a text file named .h5): the message names HDF5.
    func testBadH5FromTheSharedCases() {
        let path = Fixtures.path("bad/bad.h5")
        XCTAssertFalse(HDF5File.isHDF5(path: path))
        XCTAssertThrowsError(try HDF5File(path: path)) { error in
            XCTAssertTrue("\(error)".lowercased().contains("hdf5"), "\(error)")
        }
    }

    func testNotAnHDF5File() {
        let path = Self.path("not-hdf5.h5")
        XCTAssertThrowsError(try HDF5File(path: path)) { error in
            guard case .unrecognizedFormat? = error as? CheckpointError else { return XCTFail("\(error)") }
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix(path), message)
            XCTAssertTrue(message.contains("not an HDF5 file"), message)
            XCTAssertFalse(message.contains("\n"), message)
        }
    }

    func testTruncatedFile() {
        let path = Self.path("truncated.h5")
        XCTAssertThrowsError(try HDF5File(path: path)) { error in
            guard case let .truncated(errorPath, reason)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertEqual(errorPath, path)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
            XCTAssertEqual(reason, "the file is \(size) bytes but its superblock says \(size * 2)")
            XCTAssertFalse("\(error)".contains("\n"))
        }
    }

    func testGitLFSPointerNamedH5() {
        XCTAssertThrowsError(try HDF5File(path: Fixtures.path("bad/lfs-pointer/model.safetensors"))) { error in
            guard case .gitLFSPointer? = error as? CheckpointError else { return XCTFail("\(error)") }
        }
    }

    func testWriteModifiedCopyRefusesToOverwriteTheSource() throws {
        let directory = try Fixtures.temporaryDirectory()
        let source = directory.appendingPathComponent("source.h5").path
        try FileManager.default.copyItem(atPath: Self.path("tf_model.h5"), toPath: source)
        let before = try Data(contentsOf: URL(fileURLWithPath: source))
        XCTAssertThrowsError(try HDF5File.writeModifiedCopy(of: source, to: source, replacing: [:])) { error in
            guard case .writeFailed? = error as? CheckpointError else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: source)), before)
    }

    func testMissingFileAndDirectory() {
        XCTAssertThrowsError(try HDF5File(path: Self.path("no-such-file.h5"))) { error in
            guard case .cannotOpen? = error as? CheckpointError else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try HDF5File(path: Fixtures.path("hdf5"))) { error in
            guard case .cannotOpen? = error as? CheckpointError else { return XCTFail("\(error)") }
        }
    }

    func testGroupsNestedTooDeep() {
        XCTAssertThrowsError(try HDF5File(path: Self.path("deep.h5"))) { error in
            guard case let .invalidHeader(_, reason)? = error as? CheckpointError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.hasPrefix("groups nested more than \(HDF5File.maxGroupDepth) deep"), reason)
        }
    }

    /// fixtures/hdf5/blosc.h5: `i1` is Blosc-compressed (hdf5plugin), which the libhdf5 here has no
    /// plugin for. Reading it names the filter id and name h5py reports (blosc.expected.json); the
    /// gzip+shuffle dataset beside it still reads h5py's values.
    func testDatasetWithAnUnavailableFilterNamesTheFilter() throws {
        let path = Self.path("blosc.h5")
        let bytes = try [UInt8](Data(contentsOf: Fixtures.root.appendingPathComponent("hdf5/blosc.expected.json")))
        let expected = try XCTUnwrap(Self.plain(try JSONValue.parse(bytes)) as? [String: Any])
        let dataset = try XCTUnwrap(expected["dataset"] as? String)
        let filter = try XCTUnwrap(expected["filter_id"] as? Int)
        let name = try XCTUnwrap(expected["filter_name"] as? String)
        let checkpoint = try HDF5File(path: path)
        let tensor = try XCTUnwrap(checkpoint.tensors.first { $0.name == dataset })
        XCTAssertThrowsError(try TensorDecoder.doubles(of: tensor, in: checkpoint)) { error in
            XCTAssertEqual(error as? CheckpointError, .unavailableFilter(path: path, dataset: dataset, filter: filter, name: name))
            XCTAssertEqual("\(error)", "\(path): dataset '\(dataset)' is compressed with filter \(filter) (\(name)), which libhdf5 here cannot decode (not installed)")
        }
        let readable = try XCTUnwrap(expected["readable"] as? [String: Any])
        let gzip = try XCTUnwrap(checkpoint.tensors.first { $0.name == "gzip" })
        assertSameValues(try TensorDecoder.doubles(of: gzip, in: checkpoint), try XCTUnwrap(readable["gzip"] as? [Any]).map(Self.double), "gzip")
    }

    /// A command that reads the data refuses the file with one line naming the filter, exit 2.
    func testCommandLineRefusesAnUnavailableFilterWithOneLine() throws {
        let path = Self.path("blosc.h5")
        let result = try CommandRunner.run(["diff", path, path])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("filter 32001 (blosc)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("not installed"), result.stderr)
    }

    /// libhdf5 prints its error stack to stderr unless told not to, once per thread: failures on a
    /// fresh thread must stay silent too.
    func testFailuresPrintNothingOnAnyThread() throws {
        let captured = try Fixtures.temporaryDirectory().appendingPathComponent("stderr.txt").path
        let capture = open(captured, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(capture, 0)
        let saved = dup(2)
        dup2(capture, 2)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            _ = try? HDF5File(path: Self.path("truncated.h5"))
            _ = try? HDF5File(path: Self.path("deep.h5"))
            done.signal()
        }
        thread.start()
        done.wait()
        _ = try? HDF5File(path: Self.path("truncated.h5"))
        dup2(saved, 2)
        close(saved)
        close(capture)
        XCTAssertEqual(try String(contentsOfFile: captured, encoding: .utf8), "")
    }

    // MARK: Writing

    /// Little-endian bytes of `values` in `dtype`.
    static func encode(_ values: [Double], as dtype: DType) -> [UInt8] {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        for value in values {
            switch dtype {
            case .f16: append(Float16(value).bitPattern)
            case .bf16: append(UInt16(Float(value).bitPattern >> 16))
            case .f32: append(Float(value).bitPattern)
            case .f64: append(value.bitPattern)
            case .bool, .u8: append(UInt8(value))
            case .i8: append(Int8(value))
            case .i16: append(Int16(value))
            case .u16: append(UInt16(value))
            case .i32: append(Int32(value))
            case .u32: append(UInt32(value))
            case .i64: append(Int64(value))
            case .u64: append(UInt64(value))
            default: fatalError("no encoding for \(dtype)")
            }
        }
        return bytes
    }

    /// Runs writeModifiedCopy the way `ckpt apply` will: inside an AtomicFile write.
    func writeModifiedCopy(of source: String, replacing: [String: [UInt8]]) throws -> String {
        let destination = try Fixtures.temporaryDirectory().appendingPathComponent("modified.h5").path
        try AtomicFile(destination: destination).write { sink in
            try HDF5File.writeModifiedCopy(of: source, to: sink.temporaryPath, replacing: replacing)
        }
        return destination
    }

    func testWriteModifiedCopyMatchesH5pyAndKeepsTheSource() throws {
        let modify = try XCTUnwrap(Self.expected()["modify"] as? [String: Any])
        let source = Self.path(modify["file"] as! String)
        let sourceBytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let original = try HDF5File(path: source)
        var replacing: [String: [UInt8]] = [:]
        for (name, values) in try XCTUnwrap(modify["replacements"] as? [String: [Double]]) {
            replacing[name] = Self.encode(values, as: try XCTUnwrap(original.tensor(named: name)).dtype)
        }

        let destination = try writeModifiedCopy(of: source, replacing: replacing)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: source)), sourceBytes, "the source must not change")
        let modified = try HDF5File(path: destination)
        // Every dataset has the value h5py saw after making the same change with h5py.
        try assertMatches(modified, try Self.parseFile(modify["after"]))
        for (name, bytes) in replacing {
            let tensor = try XCTUnwrap(modified.tensor(named: name))
            try modified.withBytes(of: tensor) { XCTAssertEqual(Array($0), bytes, name) }
        }
        for tensor in original.tensors where replacing[tensor.name] == nil {
            let before = try original.withBytes(of: tensor) { Array($0) }
            try modified.withBytes(of: tensor) { XCTAssertEqual(Array($0), before, tensor.name) }
        }
        // The on-disk type is unchanged: still big-endian.
        let file = try HDF5.openFile(destination, writable: false)
        let dataset = try HDF5.openDataset("plain/f32_be", in: file, HDF5Context(path: destination))
        XCTAssertTrue(try HDF5.elementType(of: dataset, HDF5Context(path: destination)).bigEndian)
    }

    /// Keras 3 bf16 datasets (opaque |V2 and uint16, each with attribute dtype="bfloat16") keep
    /// their on-disk type and attribute.
    func testWriteModifiedCopyKeepsBFloat16StorageType() throws {
        let modify = try XCTUnwrap(Self.expected()["modify_bf16"] as? [String: Any])
        let source = Self.path(modify["file"] as! String)
        let replacements = try XCTUnwrap(modify["replacements"] as? [String: [Double]])
        let destination = try writeModifiedCopy(of: source, replacing: replacements.mapValues { Self.encode($0, as: .bf16) })
        let modified = try HDF5File(path: destination)
        XCTAssertEqual(modified.format, .keras3WeightsH5)
        for (name, values) in replacements {
            let tensor = try XCTUnwrap(modified.tensor(named: name))
            XCTAssertEqual(tensor.dtype, .bf16)
            XCTAssertEqual(try TensorDecoder.doubles(of: tensor, in: modified), values)
            try modified.withBytes(of: tensor) { XCTAssertEqual(Array($0), Self.encode(values, as: .bf16)) }
            let before = try HDF5.openFile(source, writable: false)
            let after = try HDF5.openFile(destination, writable: false)
            let sourceType = try HDF5.elementType(of: try HDF5.openDataset(name, in: before, HDF5Context(path: source)), HDF5Context(path: source))
            let modifiedType = try HDF5.elementType(of: try HDF5.openDataset(name, in: after, HDF5Context(path: destination)), HDF5Context(path: destination))
            XCTAssertEqual(sourceType, modifiedType, name)
        }
        let kinds = try replacements.keys.sorted().map { name in
            let file = try HDF5.openFile(destination, writable: false)
            return try HDF5.elementType(of: try HDF5.openDataset(name, in: file, HDF5Context(path: destination)), HDF5Context(path: destination)).kind
        }
        XCTAssertEqual(kinds, [.opaque, .integer(signed: false)])
    }

    func testWriteModifiedCopyRejectsBadReplacements() throws {
        let source = Self.path("datasets.h5")
        let destination = try Fixtures.temporaryDirectory().appendingPathComponent("never.h5").path
        func assertRejected(_ replacing: [String: [UInt8]], _ check: (CheckpointError) -> Void) {
            XCTAssertThrowsError(try HDF5File.writeModifiedCopy(of: source, to: destination, replacing: replacing)) { error in
                guard let error = error as? CheckpointError else { return XCTFail("\(error)") }
                check(error)
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: destination), "nothing is written before the checks pass")
        }
        assertRejected(["compressed/f32": [0, 0, 0, 0]]) { error in
            XCTAssertEqual(error, .invalidReplacement(path: source, tensor: "compressed/f32", reason: "got 4 bytes, but F32 [20, 7] takes 560"))
        }
        assertRejected(["compressed/bool": [UInt8](repeating: 2, count: 9)]) { error in
            guard case .invalidReplacement(_, "compressed/bool", _) = error else { return XCTFail("\(error)") }
        }
        assertRejected(["meta/vocab": [1, 2, 3]]) { error in
            guard case .invalidReplacement(_, "meta/vocab", let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("string"), reason)
        }
        assertRejected(["no/such/tensor": []]) { error in
            XCTAssertEqual(error, .noSuchTensor(path: source, tensor: "no/such/tensor"))
        }
    }
}

/// A counter safe to bump from concurrentPerform.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
