/// Gradient buffers of ``BertRunner/backward(seed:layout:into:workspace:)``, reused across batches.
final class BackwardWorkspace {
    let dX = FloatStorage(count: 0)
    let dA = FloatStorage(count: 0)
    let dH1 = FloatStorage(count: 0)
    let dCtx = FloatStorage(count: 0)
    let dInter = FloatStorage(count: 0)
    let dQKV = FloatStorage(count: 0)
    let dScores = FloatStorage(count: 0)
    let dPooled = FloatStorage(count: 0)
    let dCLS = FloatStorage(count: 0)

    func reserve(rows n: Int, batch b: Int, hidden h: Int, intermediate: Int, maxLength: Int, embedding: Int) {
        for s in [dX, dA, dH1, dCtx] { s.reserve(n * max(h, embedding)) }
        dInter.reserve(n * intermediate)
        dQKV.reserve(n * 3 * h)
        dScores.reserve(maxLength * maxLength)
        dPooled.reserve(b * h)
        dCLS.reserve(b * h)
    }
}
