import Foundation
import XCTest
@testable import CheckpointKit

/// The shortcuts that keep a 100,000-tensor diff's bookkeeping small (issue 14) give the answers
/// of the plain way: a reader's position hint, the pairs built on every core, the two checkpoints
/// opened side by side, and the differences sharing one pair list.
final class ScaleBookkeepingTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try Fixtures.temporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    /// A `TensorInfo` listed by one file, handed to another that keeps the tensor elsewhere, or made
    /// by hand, still reads the other file's own bytes for that name: the hint is checked by name.
    func testPositionHintIsCheckedByName() throws {
        let names = (0..<1_000).map { "layers.\($0 / 10).experts.\($0 % 10).w" }
        let first = try SafetensorsFile(path: try ManyTensorsTests.writeFile(names, in: directory))
        let otherDirectory = directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: otherDirectory, withIntermediateDirectories: true)
        let second = try SafetensorsFile(path: try ManyTensorsTests.writeFile(names.reversed(), in: otherDirectory))
        for index in [0, 5, 500, 999] {
            let listed = first.tensors[index]
            XCTAssertEqual(try first.withBytes(of: listed) { $0.loadUnaligned(as: Float.self) }, Float(index))
            // In the second file the name sits at position 999 - index, holding that value.
            XCTAssertEqual(try second.withBytes(of: listed) { $0.loadUnaligned(as: Float.self) }, Float(999 - index))
            let byHand = TensorInfo(name: listed.name, dtype: .f32, shape: [1], byteCount: 4)
            XCTAssertEqual(try first.withBytes(of: byHand) { $0.loadUnaligned(as: Float.self) }, Float(index))
            XCTAssertEqual(first.fileRange(of: byHand), first.fileRange(of: listed))
            // The hint is no part of a tensor's identity.
            XCTAssertEqual(byHand, listed)
            XCTAssertEqual(byHand.hashValue, listed.hashValue)
            XCTAssertEqual(Set([byHand, listed, second.tensors[999 - index]]).count, 1)
        }
        var renamed = first.tensors[3]
        renamed.name = "not.in.the.file"
        XCTAssertNil(first.fileRange(of: renamed))
    }

    /// The parallel map is the serial map, element for element and in order.
    func testParallelMappingIsTheSerialMap() {
        for count in [0, 1, 2, 3, 8_191, 8_192, 20_001] {
            let parallel = [String](parallelMapping: count) { "tensor.\($0 * 7)" }
            XCTAssertEqual(parallel, (0..<count).map { "tensor.\($0 * 7)" }, "\(count)")
        }
        XCTAssertEqual([Int](parallelMapping: 5, minimumParallelCount: 1) { $0 * $0 }, [0, 1, 4, 9, 16])
    }

    /// Opened side by side, the checkpoints come back in the order asked; of two failures the
    /// first path's is the one reported.
    func testOpenAllKeepsOrderAndReportsTheFirstPathsError() throws {
        let first = try ManyTensorsTests.writeFile(["a.weight", "b.weight"], in: directory)
        let opened = try CheckpointOpener.openAll([first, first])
        XCTAssertEqual(opened.map(\.path), [first, first])
        XCTAssertEqual(opened[1].tensors.map(\.name), ["a.weight", "b.weight"])
        let missing = [directory.appendingPathComponent("base-missing").path, directory.appendingPathComponent("tuned-missing").path]
        XCTAssertThrowsError(try CheckpointOpener.openAll(missing)) { error in
            XCTAssertTrue("\(error)".contains("base-missing"), "\(error)")
        }
        XCTAssertThrowsError(try CheckpointOpener.openAll([first, missing[1]])) { error in
            XCTAssertTrue("\(error)".contains("tuned-missing"), "\(error)")
        }
    }

    /// Differences read their names, shapes and problems from the diff's shared pair list; setting a
    /// property moves that one value's identity to its own box and leaves the others as they were.
    func testSharedIdentitiesAndTheirCopies() throws {
        let base = directory.appendingPathComponent("base.safetensors")
        let tuned = directory.appendingPathComponent("tuned.safetensors")
        try PEFTImportTests.safetensors(#"{"x.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y.bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                                        data: 12, to: base)
        try PEFTImportTests.safetensors(#"{"x.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"y.bias":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#,
                                        data: 16, to: tuned)
        let diff = try CheckpointDiff(base: try SafetensorsFile(path: base.path), finetuned: try SafetensorsFile(path: tuned.path))
        XCTAssertEqual(diff.tensors.map(\.name), ["x.weight", "y.bias"])
        let mismatch = diff.tensors[0], same = diff.tensors[1]
        XCTAssertEqual(mismatch.problem, "shape [2] in base vs [3] in fine-tune")
        XCTAssertEqual(mismatch.baseShape, [2])
        XCTAssertEqual(mismatch.finetunedShape, [3])
        XCTAssertNil(mismatch.sums)
        XCTAssertNil(same.problem)
        XCTAssertTrue(same.isIdentical)
        XCTAssertEqual(same.role.kind, .bias)
        XCTAssertFalse(same.transposed)
        var copy = mismatch
        copy.finetunedName = "renamed"
        XCTAssertEqual(copy.problem, mismatch.problem)
        XCTAssertEqual(copy.baseShape, [2])
        XCTAssertEqual(copy.finetunedName, "renamed")
        XCTAssertEqual(mismatch.finetunedName, "x.weight")
        copy.problem = nil
        XCTAssertNil(copy.problem)
        XCTAssertEqual(diff.tensors[0].problem, "shape [2] in base vs [3] in fine-tune")
    }
}
