import XCTest
@testable import CheckpointKit

/// ``DTypeConversion`` against PyTorch: for every pair of float dtypes ckpt converts, the SHA-256
/// of the converted bytes of a fixed set of inputs equals the one `torch.Tensor.to(dtype)` gave
/// (fixtures/precision/conversions.json, made by fixtures/make_precision_fixtures.py, which
/// builds the same inputs: every 16-bit pattern of F16/BF16, every byte of the FP8 types, and for
/// F32 and F64 every high half with low halves chosen to hit ties, near-ties and NaN payloads).
final class DTypeConversionTests: XCTestCase {
    static let f32Low: [UInt32] = [0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x2000, 0x3000, 0x7FFF, 0x8000, 0x8001, 0xE000, 0xFFFF]

    /// The inputs of `make_precision_fixtures.py`'s `inputs(source)`, as little-endian bytes.
    static func inputs(_ source: DType) -> [UInt8] {
        switch source {
        case .f16, .bf16:
            return (0..<65536).flatMap { i in [UInt8(i & 0xFF), UInt8(i >> 8)] }
        case .f32:
            return f32Patterns().flatMap(bytes)
        case .f64:
            var out: [UInt64] = []
            for pattern in f32Patterns() {
                let value = Double(Float(bitPattern: pattern))
                for nudge in [0.0, 0x1p-30, -0x1p-30] { out.append((value * (1.0 + nudge)).bitPattern) }
            }
            out += [0x7FF0_0000_0000_0001, 0xFFF0_0000_0000_0001, 0x7FF8_0000_0000_0001, 0x7FF4_0000_0000_0000,
                    0x7FEF_FFFF_FFFF_FFFF, 0x0000_0000_0000_0001, 0x8000_0000_0000_0001]
            return out.flatMap(bytes)
        default:
            return (0..<256).map { UInt8($0) }
        }
    }

    static func f32Patterns() -> [UInt32] {
        (0..<UInt32(65536)).flatMap { high in f32Low.map { high << 16 | $0 } }
    }

    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    func testEveryConversionMatchesPyTorchBitForBit() throws {
        let fixture = try XCTUnwrap(Fixtures.json("precision/conversions.json") as? [String: Any])
        let expected = try XCTUnwrap(fixture["sha256"] as? [String: String])
        XCTAssertEqual(expected.count, 64)
        var inputCache: [DType: [UInt8]] = [:]
        for (key, hash) in expected.sorted(by: { $0.key < $1.key }) {
            let parts = key.components(separatedBy: "->")
            let from = try XCTUnwrap(DType(rawValue: parts[0])), to = try XCTUnwrap(DType(rawValue: parts[1]))
            let input = inputCache[from] ?? DTypeConversionTests.inputs(from)
            inputCache[from] = input
            let count = input.count / (from.bitWidth / 8)
            var output = [UInt8](repeating: 0, count: count * to.bitWidth / 8)
            let outcome: String
            do {
                try input.withUnsafeBytes { src in
                    try output.withUnsafeMutableBytes { dst in
                        try DTypeConversion.convert(src, from: from, to: to, count: count, into: dst, path: "fixture", tensor: key)
                    }
                }
                outcome = PatchFormat.hash(output, length: 64)
            } catch {
                // F64 -> BF16 refuses NaN; the rest of it is checked without the NaNs below.
                XCTAssertEqual(key, "F64->BF16", "\(error)")
                continue
            }
            XCTAssertEqual(outcome, hash, key)
        }
    }

    /// F64 -> BF16 refuses NaN; the rest of the F64 inputs round as PyTorch rounds them.
    func testF64ToBF16WithoutNaNMatchesPyTorch() throws {
        let fixture = try XCTUnwrap(Fixtures.json("precision/conversions.json") as? [String: Any])
        let hash = try XCTUnwrap((fixture["sha256_without_nan"] as? [String: String])?["F64->BF16"])
        let input = DTypeConversionTests.inputs(.f64)
        var finite: [UInt8] = []
        for k in stride(from: 0, to: input.count, by: 8) {
            let bits = input[k..<(k + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            if !Double(bitPattern: bits).isNaN { finite += input[k..<(k + 8)] }
        }
        let count = finite.count / 8
        var output = [UInt8](repeating: 0, count: count * 2)
        try finite.withUnsafeBytes { src in
            try output.withUnsafeMutableBytes { dst in
                try DTypeConversion.convert(src, from: .f64, to: .bf16, count: count, into: dst, path: "fixture", tensor: "F64->BF16")
            }
        }
        XCTAssertEqual(PatchFormat.hash(output, length: 64), hash)
    }

    func testF64ToBF16WithoutNaNMatchesF32Route() throws {
        // PyTorch rounds F64 to F32 first: 1 + 2^-8 + 2^-40 is a BF16 tie after that rounding and
        // goes to the even 1.0 (0x3F80), not up to 0x3F81 as direct rounding would.
        let value = 1.0 + 0x1p-8 + 0x1p-40
        var out: [UInt8] = [0, 0]
        try DTypeConversionTests.bytes(value.bitPattern).withUnsafeBytes { src in
            try out.withUnsafeMutableBytes { dst in
                try DTypeConversion.convert(src, from: .f64, to: .bf16, count: 1, into: dst, path: "p", tensor: "t")
            }
        }
        XCTAssertEqual(out, [0x80, 0x3F])
    }

    func testRefusals() {
        XCTAssertNotNil(DTypeConversion.refusal(from: .f32, to: .f8E8M0))
        XCTAssertNotNil(DTypeConversion.refusal(from: .f4, to: .f32))
        XCTAssertNotNil(DTypeConversion.refusal(from: .f32, to: .i32))
        XCTAssertNil(DTypeConversion.refusal(from: .f32, to: .bf16))
        XCTAssertNil(DTypeConversion.refusal(from: .f8E8M0, to: .f16))
        XCTAssertTrue(DTypeConversion.isWidening(from: .bf16, to: .f32))
        XCTAssertTrue(DTypeConversion.isWidening(from: .f16, to: .f64))
        XCTAssertFalse(DTypeConversion.isWidening(from: .f16, to: .bf16))
        XCTAssertFalse(DTypeConversion.isWidening(from: .f32, to: .bf16))
        var out: [UInt8] = [0]
        XCTAssertThrowsError(try [UInt8](repeating: 0, count: 4).withUnsafeBytes { src in
            try out.withUnsafeMutableBytes { dst in
                try DTypeConversion.convert(src, from: .f32, to: .f8E8M0, count: 1, into: dst, path: "a.safetensors", tensor: "w")
            }
        }) { error in
            XCTAssertTrue("\(error)".contains("a.safetensors: tensor 'w': converting F32 to F8_E8M0"), "\(error)")
        }
    }
}
