/// The two layouts of decoder-only language models the native engine runs. They share the
/// pre-norm residual block (norm, causal self-attention, residual; norm, MLP, residual; a final
/// norm; an `lm_head`) and differ in every part of it.
public enum DecoderArchitecture: String, Sendable, Equatable {
    /// GPT-2: learned positions, LayerNorm (weight and bias), `Conv1D` projections stored
    /// `(in, out)` with biases everywhere, a fused `c_attn`, the tanh GELU (`gelu_new`), `ln_f`,
    /// and an `lm_head` tied to `wte`.
    case gpt2
    /// Llama, Mistral and Qwen2: rotary positions, RMSNorm (weight only), separate q/k/v/o
    /// projections with grouped-query attention, SwiGLU, no biases except where the config asks
    /// for them (Qwen2: q/k/v), a tied or untied `lm_head`.
    case llama

    /// Whether the norms are LayerNorms (mean and variance, with a bias) rather than RMSNorms.
    var hasLayerNorm: Bool { self == .gpt2 }
}
