import CKernels
import Glibc

/// Turns a tensor's raw little-endian bytes into real numbers.
///
/// Inputs are never assumed aligned (safetensors offsets need not be). F16 and BF16 to `Float`, and
/// F32/F16/BF16 to `Double`, convert in C kernels (`CKernels`) that use F16C/AVX2 where the CPU has
/// them; the five 8-bit float formats go through 256-entry tables built from their
/// definitions (OCP FP8 E4M3/E5M2, the E8M0 scale format, and the FNUZ variants used by AMD).
public enum TensorDecoder {
    /// Decodes `output.count` elements of `dtype` from `raw` into `Float`.
    ///
    /// Integer, F64 and I64 values are rounded to the nearest Float; use the `Double` overload where
    /// that matters. `dtype` must be ``DType/isDecodable``.
    public static func decode(_ raw: UnsafeRawBufferPointer, as dtype: DType, into output: UnsafeMutableBufferPointer<Float>) {
        let n = output.count
        guard n > 0, let out = output.baseAddress, let src = raw.baseAddress else { return }
        switch dtype {
        case .f32:
            precondition(raw.count >= n * 4)
            memcpy(out, src, n * 4)
        case .f16:
            precondition(raw.count >= n * 2)
            ckpt_decode_f16(src, out, Int64(n))
        case .bf16:
            precondition(raw.count >= n * 2)
            ckpt_decode_bf16(src, out, Int64(n))
        case .f64:
            for i in 0..<n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ:
            let table = FP8Tables.table(for: dtype)
            precondition(raw.count >= n)
            let bytes = src.assumingMemoryBound(to: UInt8.self)
            table.withUnsafeBufferPointer { ckpt_decode_table8(bytes, $0.baseAddress!, out, Int64(n)) }
        default:
            let values = UnsafeMutableBufferPointer<Double>.allocate(capacity: n)
            defer { values.deallocate() }
            decode(raw, as: dtype, into: values)
            for i in 0..<n { out[i] = Float(values[i]) }
        }
    }

    /// Decodes `output.count` elements of `dtype` from `raw` into `Double`, exactly for every
    /// decodable type (integers beyond 2^53 round).
    public static func decode(_ raw: UnsafeRawBufferPointer, as dtype: DType, into output: UnsafeMutableBufferPointer<Double>) {
        let n = output.count
        guard n > 0, let out = output.baseAddress, let src = raw.baseAddress else { return }
        precondition(dtype.isDecodable, "\(dtype) cannot be decoded")
        precondition(raw.count * 8 >= n * dtype.bitWidth)
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            T(littleEndian: src.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
        }
        switch dtype {
        case .bool: for i in 0..<n { out[i] = load(UInt8.self, i) != 0 ? 1 : 0 }
        case .u8: for i in 0..<n { out[i] = Double(load(UInt8.self, i)) }
        case .i8: for i in 0..<n { out[i] = Double(load(Int8.self, i)) }
        case .u16: for i in 0..<n { out[i] = Double(load(UInt16.self, i)) }
        case .i16: for i in 0..<n { out[i] = Double(load(Int16.self, i)) }
        case .u32: for i in 0..<n { out[i] = Double(load(UInt32.self, i)) }
        case .i32: for i in 0..<n { out[i] = Double(load(Int32.self, i)) }
        case .u64: for i in 0..<n { out[i] = Double(load(UInt64.self, i)) }
        case .i64: for i in 0..<n { out[i] = Double(load(Int64.self, i)) }
        case .f64: for i in 0..<n { out[i] = Double(bitPattern: load(UInt64.self, i)) }
        case .f32: ckpt_widen(src, CKPT_LANE_F32, out, Int64(n))
        case .f16: ckpt_widen(src, CKPT_LANE_F16, out, Int64(n))
        case .bf16: ckpt_widen(src, CKPT_LANE_BF16, out, Int64(n))
        case .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ:
            let table = FP8Tables.table(for: dtype)
            for i in 0..<n { out[i] = Double(table[Int(load(UInt8.self, i))]) }
        case .f4, .f6E2M3, .f6E3M2, .c64:
            preconditionFailure("\(dtype) cannot be decoded")
        }
    }

    /// Decodes a whole tensor of `checkpoint` into a new `[Float]`.
    public static func floats(of tensor: TensorInfo, in checkpoint: any Checkpoint) throws -> [Float] {
        guard tensor.dtype.isDecodable else {
            throw CheckpointError.unsupportedDType(path: checkpoint.path, tensor: tensor.name, dtype: tensor.dtype, operation: "decoding")
        }
        return try checkpoint.withBytes(of: tensor) { raw in
            [Float](unsafeUninitializedCapacity: tensor.elementCount) { buffer, count in
                decode(raw, as: tensor.dtype, into: buffer)
                count = tensor.elementCount
            }
        }
    }

    /// Decodes a whole tensor of `checkpoint` into a new `[Double]`.
    public static func doubles(of tensor: TensorInfo, in checkpoint: any Checkpoint) throws -> [Double] {
        guard tensor.dtype.isDecodable else {
            throw CheckpointError.unsupportedDType(path: checkpoint.path, tensor: tensor.name, dtype: tensor.dtype, operation: "decoding")
        }
        return try checkpoint.withBytes(of: tensor) { raw in
            [Double](unsafeUninitializedCapacity: tensor.elementCount) { buffer, count in
                decode(raw, as: tensor.dtype, into: buffer)
                count = tensor.elementCount
            }
        }
    }
}
