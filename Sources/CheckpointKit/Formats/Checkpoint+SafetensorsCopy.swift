/// The default ``Checkpoint/writeModifiedCopy(_:to:verify:)``: a safetensors file with every tensor
/// of the checkpoint in its order (replaced ones from the edit, the rest copied file to file where
/// the reader gives a ``Checkpoint/storedLocation(of:)``, else through ``Checkpoint/withBytes(of:_:)``),
/// then the edit's added tensors, with ``Checkpoint/copyMetadata`` as its `__metadata__`.
extension Checkpoint {
    public func writeModifiedCopy(_ edit: CheckpointEdit, to output: String,
                                  verify: (_ temporaryPath: String) throws -> Void) throws -> CheckpointEdit.Result {
        var replaced: [String: CheckpointEdit.Tensor] = [:]
        for tensor in edit.replaced { replaced[tensor.info.name] = tensor }
        var entries: [SafetensorsWriter.Entry] = []
        entries.reserveCapacity(tensors.count + edit.added.count)
        for tensor in tensors {
            if let new = replaced[tensor.name] {
                entries.append(SafetensorsWriter.Entry(name: tensor.name, dtype: new.info.dtype, shape: new.info.shape, bytes: new.bytes))
            } else {
                entries.append(SafetensorsWriter.Entry(name: tensor.name, dtype: tensor.dtype, shape: tensor.shape,
                                                       location: storedLocation(of: tensor)) { consume in
                    try self.withBytes(of: tensor) { try consume($0) }
                })
            }
        }
        for tensor in edit.added {
            entries.append(SafetensorsWriter.Entry(name: tensor.info.name, dtype: tensor.info.dtype, shape: tensor.info.shape, bytes: tensor.bytes))
        }
        var writer = SafetensorsWriter(metadata: copyMetadata, entries: entries)
        writer.simulatedWriteFailureAfterBytes = edit.simulatedWriteFailureAfterBytes
        let written = try writer.write(to: output, verify: verify)
        return CheckpointEdit.Result(bytes: written.bytes, streamingSeconds: written.streamingSeconds)
    }
}
