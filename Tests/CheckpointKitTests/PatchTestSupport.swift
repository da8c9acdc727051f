import Foundation
import XCTest
@testable import CheckpointKit

/// An independent safetensors reader for the patch tests' references: Foundation's JSON parser
/// and plain byte slicing, none of CheckpointKit's reading code.
struct RawSafetensors {
    struct Tensor: Equatable {
        var dtype: String
        var shape: [Int]
        var bytes: Data
    }

    var metadata: [String: String]
    var tensors: [String: Tensor]
    /// Tensor names in data order.
    var order: [String]

    init(path: String) throws {
        var file = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            file = path + "/model.safetensors"
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let n = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + n))) as? [String: Any])
        metadata = (header["__metadata__"] as? [String: String]) ?? [:]
        var tensors: [String: Tensor] = [:]
        var offsets: [(String, Int)] = []
        for (name, value) in header where name != "__metadata__" {
            let entry = try XCTUnwrap(value as? [String: Any])
            let range = try XCTUnwrap(entry["data_offsets"] as? [Int])
            tensors[name] = Tensor(dtype: try XCTUnwrap(entry["dtype"] as? String), shape: try XCTUnwrap(entry["shape"] as? [Int]),
                                   bytes: data.subdata(in: (8 + n + range[0])..<(8 + n + range[1])))
            offsets.append((name, range[0]))
        }
        self.tensors = tensors
        order = offsets.sorted { $0.1 < $1.1 }.map(\.0)
    }

    /// F32 values of a tensor.
    func floats(_ name: String) -> [Float] {
        tensors[name]!.bytes.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}

enum PatchTestSupport {
    static let tiny = "tiny-bert"

    static func sha256(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return PatchFormat.hash([UInt8](data), length: 64)
    }

    /// Makes a patch with the library and returns its path.
    @discardableResult
    static func makePatch(base: String, finetuned: String, select: [String] = [], compress: Bool = false, to path: String) throws -> PatchPlan {
        let maker = try PatchMaker(base: try CheckpointOpener.open(base), finetuned: try CheckpointOpener.open(finetuned),
                                   selection: try PatchSelection(specs: select))
        let plan = try maker.plan()
        try maker.write(plan, to: path, compress: compress)
        return plan
    }

    /// Applies `patch` to `base` with the library.
    @discardableResult
    static func apply(base: String, patch: String, to output: String, force: Bool = false) throws -> PatchApplier.Report {
        try PatchApplier(base: try CheckpointOpener.open(base), patch: try PatchFile(path: patch)).apply(to: output, options: .init(force: force))
    }

    /// Files in a directory, temporary ones included.
    static func entries(_ directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    /// Writes a safetensors file from raw tensors (for crafted bases).
    static func write(_ tensors: [(String, RawSafetensors.Tensor)], metadata: [String: String] = ["format": "pt"], to path: String) throws {
        let entries = tensors.map { name, t in
            SafetensorsWriter.Entry(name: name, dtype: DType(rawValue: t.dtype)!, shape: t.shape, data: [UInt8](t.bytes))
        }
        try SafetensorsWriter(metadata: metadata, entries: entries).write(to: path)
    }

    /// The base's tensors in file order, for editing.
    static func baseTensors() throws -> [(String, RawSafetensors.Tensor)] {
        let base = try RawSafetensors(path: Fixtures.path("tiny-bert/base"))
        return base.order.map { ($0, base.tensors[$0]!) }
    }

    /// Runs `command` (a shell line) and returns its exit status.
    @discardableResult
    static func shell(_ command: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Mounts a tmpfs of `size` at `directory` (root only); false if this machine does not allow it.
    static func mountTmpfs(_ directory: URL, size: String, readOnly: Bool = false) -> Bool {
        guard geteuid() == 0 else { return false }
        return shell("mount -t tmpfs -o size=\(size)\(readOnly ? ",ro" : "") tmpfs '\(directory.path)'") == 0
    }

    static func unmount(_ directory: URL) {
        shell("umount '\(directory.path)'")
    }
}
