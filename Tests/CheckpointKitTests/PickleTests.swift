import XCTest
@testable import CheckpointKit

/// The pickle machine on opcode sequences written from Python's `pickletools` documentation (the
/// same bytes `pickle.dumps(..., protocol=2)` produces for these values), and on the ones it must
/// refuse.
final class PickleTests: XCTestCase {
    func load(_ bytes: [UInt8]) throws -> PickleValue {
        try bytes.withUnsafeBytes { raw in
            try PickleMachine.load(raw, path: "p.pkl", loadStorage: { _, key throws(CheckpointError) in
                PickleStorage(key: key, dtype: .f32)
            }) { root throws(CheckpointError) in try PyTorchStateDict(root: root, key: nil, path: "p.pkl") }
        }.others.first.map { .string($0.reason) } ?? .none
    }

    func listing(_ bytes: [UInt8]) throws -> [String] {
        try bytes.withUnsafeBytes { raw in
            try PickleMachine.load(raw, path: "p.pkl", loadStorage: { _, key throws(CheckpointError) in
                PickleStorage(key: key, dtype: .f32)
            }) { root throws(CheckpointError) in try PyTorchStateDict(root: root, key: nil, path: "p.pkl") }
        }.others.map { "\($0.name)=\($0.reason)" }
    }

    /// `pickle.dumps({'a': 1, 'b': [1.5, None, True], 'c': (300, -2, 'x'), 'd': 2**40}, protocol=2)`.
    func testScalarsAndContainers() throws {
        let bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x28, 0x58, 0x01, 0x00, 0x00, 0x00, 0x61, 0x71, 0x01, 0x4B, 0x01,
                              0x58, 0x01, 0x00, 0x00, 0x00, 0x62, 0x71, 0x02, 0x5D, 0x71, 0x03, 0x28, 0x47, 0x3F, 0xF8, 0x00,
                              0x00, 0x00, 0x00, 0x00, 0x00, 0x4E, 0x88, 0x65, 0x58, 0x01, 0x00, 0x00, 0x00, 0x63, 0x71, 0x04,
                              0x4D, 0x2C, 0x01, 0x4A, 0xFE, 0xFF, 0xFF, 0xFF, 0x58, 0x01, 0x00, 0x00, 0x00, 0x78, 0x71, 0x05,
                              0x87, 0x71, 0x06, 0x58, 0x01, 0x00, 0x00, 0x00, 0x64, 0x71, 0x07, 0x8A, 0x06, 0x00, 0x00, 0x00,
                              0x00, 0x00, 0x01, 0x75, 0x2E]
        XCTAssertEqual(try listing(bytes), ["a=int 1", "b=list of 3", "c=tuple of 3", "d=int 1099511627776"])
    }

    func testRefusals() throws {
        let cases: [([UInt8], String)] = [
            ([0x80, 0x02] + Array("cposix\nsystem\nX".utf8) + [0x01, 0x00, 0x00, 0x00, 0x61, 0x85, 0x52, 0x2E], "refuses to run `posix.system`"),
            ([0x80, 0x02] + Array("cnumpy\ndtype\n.".utf8), "refuses to run `numpy.dtype`"),
            ([0x80, 0x02, 0x8C, 0x02] + Array("os".utf8) + [0x8C, 0x06] + Array("system".utf8) + [0x93, 0x2E], "refuses to run `os.system`"),
            ([0x80, 0x02, 0x7D, 0x28, 0x69] + Array("os\nsystem\n".utf8), "INST"),
            ([0x80, 0x02, 0x7D, 0x81, 0x2E], "NEWOBJ"),
            ([0x80, 0x02, 0x7D], "ends without STOP"),
            ([0x80, 0x02, 0x58, 0xFF, 0xFF, 0xFF, 0x7F], "runs past the end"),
            ([0x80, 0x02, 0x8B, 0x00, 0x01, 0x00, 0x00], "over 64 bits"),
            ([0x80, 0x02, 0x68, 0x05, 0x2E], "memo entry 5 is read before it is written"),
            ([0x80, 0x02, 0x61, 0x2E], "stack underflow"),
            ([0x80, 0x02, 0x5D, 0x4E, 0x75, 0x2E], "no MARK"),
            ([0x80, 0x02] + Array("ccollections\nOrderedDict\nK".utf8) + [0x01, 0x85, 0x52, 0x2E], "collections.OrderedDict called with arguments it does not take"),
            ([0x80, 0x02] + Array("ctorch\nFloatStorage\n)R.".utf8), "only names a type"),
            ([0x80, 0x02, 0x4B, 0x01, 0x2E], "holds a int 1, not a dict"),
        ]
        for (bytes, message) in cases {
            XCTAssertThrowsError(try load(bytes), message) { error in
                XCTAssertTrue("\(error)".contains(message), "\(message): \(error)")
                XCTAssertTrue("\(error)".hasPrefix("p.pkl: "), "\(error)")
            }
        }
    }

    /// A pickle that only builds (an empty list appended to a list, millions of times) stops at
    /// the opcode limit instead of taking gigabytes.
    func testOpcodeLimit() {
        var bytes: [UInt8] = [0x80, 0x02, 0x5D]
        for _ in 0..<(PickleMachine.maxOpcodes / 2 + 1) { bytes += [0x5D, 0x61] }
        bytes.append(0x2E)
        XCTAssertThrowsError(try load(bytes)) { error in
            XCTAssertTrue("\(error)".contains("more than 4194304 opcodes"), "\(error)")
        }
    }

    /// A 200,000-deep list dropped by POP (and one dropped by an error) is freed without a stack
    /// frame per level (FuzzPyTorch found the overflow: crash-178084f9...).
    func testDeepValuesAreFreedWithoutRecursion() {
        let depth = 200_000
        let chain = [UInt8](repeating: 0x5D, count: depth) + [UInt8](repeating: 0x61, count: depth - 1)
        XCTAssertThrowsError(try load([0x80, 0x02] + chain + [0x30, 0x4E, 0x2E])) { error in
            XCTAssertTrue("\(error)".contains("holds a None"), "\(error)")
        }
        XCTAssertThrowsError(try load([0x80, 0x02, 0x4E] + chain + [0x73])) { error in
            XCTAssertTrue("\(error)".contains("stack underflow"), "\(error)")
        }
    }

    /// Every global of the allow-list is one `torch.load(weights_only=True)` allows too, and the
    /// ones that run code never are.
    func testAllowList() {
        XCTAssertEqual(PickleGlobal.named("torch._utils._rebuild_tensor_v2"), .rebuildTensorV2)
        XCTAssertEqual(PickleGlobal.named("torch.BFloat16Storage"), .storageType(.bf16))
        XCTAssertEqual(PickleGlobal.named("torch.float8_e4m3fn"), .dtype(.f8E4M3))
        for refused in ["os.system", "posix.system", "builtins.eval", "builtins.exec", "builtins.getattr",
                        "subprocess.Popen", "torch.load", "numpy.core.multiarray._reconstruct", "builtins.__import__"] {
            XCTAssertNil(PickleGlobal.named(refused), refused)
        }
    }
}
