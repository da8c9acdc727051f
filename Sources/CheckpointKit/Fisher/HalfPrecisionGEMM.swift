import Foundation

/// A decoder's weight matrix `W [out, in]` (PyTorch `Linear` orientation, `y = x W^T`): either
/// decoded to `Float` once, or left as BF16/F16 in the checkpoint's read-only file mapping and
/// decoded one panel at a time by ``HalfPrecisionGEMM`` (so a BF16 model costs its mapped pages,
/// not an F32 copy twice its size).
final class DecoderWeight: @unchecked Sendable {
    /// Rows `offset ..< offset + rows` of `W`, stored in one tensor as `[rows, in]`, or as
    /// `[in, rows]` when `transposed` (GPT-2's `Conv1D`).
    struct Block {
        var base: UnsafeRawPointer
        var dtype: DType
        var offset: Int
        var rows: Int
        var transposed: Bool
    }

    enum Storage {
        case float(FloatStorage)
        /// Blocks in the mapping of `checkpoint`, which the weight keeps alive: a checkpoint whose
        /// ``Checkpoint/bytesAreFileMapped`` hands out views of a mapping that lives as long as it does.
        case half(checkpoint: any Checkpoint, blocks: [Block])
    }

    let storage: Storage
    let outFeatures: Int
    let inFeatures: Int

    init(_ values: FloatStorage, out: Int, in inF: Int) {
        storage = .float(values)
        outFeatures = out
        inFeatures = inF
    }

    init(checkpoint: any Checkpoint, blocks: [Block], out: Int, in inF: Int) {
        storage = .half(checkpoint: checkpoint, blocks: blocks)
        outFeatures = out
        inFeatures = inF
    }

    /// Bytes the weight holds in memory of its own (zero for a mapped one).
    var ownedBytes: Int {
        if case let .float(values) = storage { return values.count * 4 }
        return 0
    }

    /// Row `r` of `W` (an embedding) into `out[0..<in]`.
    func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch storage {
        case let .float(values):
            out.update(from: values.pointer + r * inFeatures, count: inFeatures)
        case let .half(_, blocks):
            let block = blocks.first { r >= $0.offset && r < $0.offset + $0.rows }!
            precondition(!block.transposed, "embedding rows are stored contiguously")
            HalfPrecisionGEMM.decode(block, element: (r - block.offset) * inFeatures, count: inFeatures, into: out)
        }
    }
}

/// Whether a decoder keeps its BF16/F16 weight matrices in the file mapping (``HalfPrecisionGEMM``)
/// or widens them to an F32 copy at load. Norm and bias vectors are always widened (they are few and
/// are the parameters a Fisher estimate covers).
public enum HalfPrecisionWeights: Sendable, Equatable {
    case widened
    case panels
    /// Panels when the checkpoint's BF16/F16 matrices would widen to more than
    /// ``automaticThresholdBytes`` of F32, else widened (faster).
    case automatic

    /// F32 bytes above which ``automatic`` decodes per panel: 512 MiB (a 128M-parameter model).
    /// Panels cost a decode of every weight per product: 6% of the time of a 160M-parameter BF16
    /// Llama at 128 tokens, relatively more for short sequences and small models, where memory
    /// does not matter.
    public static let automaticThresholdBytes = 1 << 29

    /// Whether the weights of `checkpoint` are read per panel.
    func usesPanels(_ checkpoint: any Checkpoint) -> Bool {
        guard checkpoint.bytesAreFileMapped else { return false }
        switch self {
        case .widened: return false
        case .panels: return true
        case .automatic:
            let halfElements = checkpoint.tensors.filter { $0.dtype == .bf16 || $0.dtype == .f16 }.reduce(0) { $0 + $1.elementCount }
            return halfElements * 4 > Self.automaticThresholdBytes
        }
    }
}

/// Dense products with a ``DecoderWeight``: an F32 weight goes straight to ``BLAS``; a BF16/F16
/// weight is decoded a panel of rows at a time (about 1 MiB of `Float`, ``panelElements``) into a
/// reusable buffer and multiplied with sgemm, so no F32 copy of the whole matrix ever exists. The
/// cost is one decode of every weight element per product (a forward and each backward pass).
enum HalfPrecisionGEMM {
    /// Floats in one decoded panel: 1 MiB, about a core's L2 cache.
    static let panelElements = 1 << 18

    /// Rows of `W` per panel for an input width of `inFeatures`.
    static func panelRows(_ inFeatures: Int) -> Int { max(8, panelElements / max(inFeatures, 1)) }

    /// `Y[rows x out] = X[rows x in] W^T (+ Y if accumulate)`.
    static func linear(_ x: UnsafePointer<Float>, rows: Int, weight: DecoderWeight, into y: UnsafeMutablePointer<Float>,
                       accumulate: Bool = false, panel: ScratchBuffer) {
        let (out, inF) = (weight.outFeatures, weight.inFeatures)
        switch weight.storage {
        case let .float(values):
            BLAS.linear(x, rows: rows, inFeatures: inF, weight: values.pointer, outFeatures: out, into: y, accumulate: accumulate)
        case let .half(_, blocks):
            forEachPanel(blocks, inFeatures: inF, panel: panel) { block, start, count, p in
                BLAS.gemm(m: rows, n: count, k: inF, a: x, lda: inF,
                          b: p, ldb: block.transposed ? count : inF, transposeB: !block.transposed,
                          c: y + block.offset + start, ldc: out, beta: accumulate ? 1 : 0)
            }
        }
    }

    /// `dX[rows x in] = dY[rows x out] W (+ dX if accumulate)`: the input gradient of ``linear``.
    static func linearBackward(_ dy: UnsafePointer<Float>, rows: Int, weight: DecoderWeight, into dx: UnsafeMutablePointer<Float>,
                               accumulate: Bool = false, panel: ScratchBuffer) {
        let (out, inF) = (weight.outFeatures, weight.inFeatures)
        switch weight.storage {
        case let .float(values):
            BLAS.linearBackward(dy, rows: rows, outFeatures: out, weight: values.pointer, inFeatures: inF, into: dx, accumulate: accumulate)
        case let .half(_, blocks):
            // Each panel adds its rows' share of dX; the first one overwrites unless accumulating.
            var first = true
            forEachPanel(blocks, inFeatures: inF, panel: panel) { block, start, count, p in
                BLAS.gemm(m: rows, n: inF, k: count, a: dy + block.offset + start, lda: out,
                          b: p, ldb: block.transposed ? count : inF, transposeB: block.transposed,
                          c: dx, ldc: inF, beta: first && !accumulate ? 0 : 1)
                first = false
            }
        }
    }

    /// Decodes each panel of rows `start ..< start + count` of each block into `panel` and calls
    /// `body` with it: laid out `[count, in]`, or `[in, count]` for a transposed block.
    private static func forEachPanel(_ blocks: [DecoderWeight.Block], inFeatures inF: Int, panel: ScratchBuffer,
                                     _ body: (DecoderWeight.Block, Int, Int, UnsafePointer<Float>) -> Void) {
        let size = panelRows(inF)
        panel.reserve(size * inF)
        let p = panel.pointer
        for block in blocks {
            for start in stride(from: 0, to: block.rows, by: size) {
                let count = min(size, block.rows - start)
                if block.transposed {
                    for i in 0..<inF { decode(block, element: i * block.rows + start, count: count, into: p + i * count) }
                } else {
                    decode(block, element: start * inF, count: count * inF, into: p)
                }
                body(block, start, count, p)
            }
        }
    }

    /// `count` elements of `block` from element `element` widened to `Float`.
    static func decode(_ block: DecoderWeight.Block, element: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        TensorDecoder.decode(UnsafeRawBufferPointer(start: block.base + 2 * element, count: 2 * count), as: block.dtype,
                             into: UnsafeMutableBufferPointer(start: out, count: count))
    }

    /// Index of the first BF16/F16 element of `raw` that is NaN or infinite (all exponent bits set).
    static func firstNonFinite(_ raw: UnsafeRawBufferPointer, dtype: DType) -> Int? {
        let exponent: UInt16 = dtype == .bf16 ? 0x7F80 : 0x7C00
        for i in 0..<(raw.count / 2) where UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) & exponent == exponent {
            return i
        }
        return nil
    }
}
