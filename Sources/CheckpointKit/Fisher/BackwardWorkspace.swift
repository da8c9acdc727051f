/// Gradient buffers of ``BertRunner/backward(seed:layout:into:workspace:)``, reused across batches.
final class BackwardWorkspace {
    let dX = ScratchBuffer()
    let dA = ScratchBuffer()
    let dH1 = ScratchBuffer()
    let dCtx = ScratchBuffer()
    let dInter = ScratchBuffer()
    let dQKV = ScratchBuffer()
    let dScores = ScratchBuffer()
    let dPooled = ScratchBuffer()

    func reserve(rows n: Int, batch b: Int, hidden h: Int, intermediate: Int, maxLength: Int, embedding: Int) {
        for s in [dX, dA, dH1, dCtx] { s.reserve(n * max(h, embedding)) }
        dInter.reserve(n * intermediate)
        dQKV.reserve(n * 3 * h)
        dScores.reserve(maxLength * maxLength)
        dPooled.reserve(b * h)
    }
}
