/// The on-disk family a checkpoint was read from.
public enum CheckpointFormat: String, Sendable, Codable {
    case safetensors
    case shardedSafetensors = "safetensors-sharded"
    /// Hugging Face's legacy TensorFlow `tf_model.h5` (root attribute `layer_names`).
    case huggingFaceTFH5 = "hdf5-tf-model"
    /// Keras 2 full-model `.h5` (`model_weights/` group).
    case keras2H5 = "hdf5-keras2"
    /// Keras 3 `.weights.h5` (`layers/<name>/vars/<i>`).
    case keras3WeightsH5 = "hdf5-keras3"
    /// Any other HDF5 file: every dataset is a tensor.
    case hdf5 = "hdf5"
    /// A `torch.save` zip file (`pytorch_model.bin`, `.pt`, `.pth`), read without unpickling code.
    case pyTorch = "pytorch"
    /// PyTorch shards named by a `pytorch_model.bin.index.json`.
    case shardedPyTorch = "pytorch-sharded"
    /// A PEFT adapter directory (`adapter_config.json` + adapter weights), read on its own.
    case peftAdapter = "peft-adapter"

    /// Whether the checkpoint was read from PyTorch pickle files, which nothing writes back (a
    /// modified copy is safetensors).
    public var isPyTorch: Bool { self == .pyTorch || self == .shardedPyTorch }
}
