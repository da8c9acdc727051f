import XCTest
@testable import CheckpointKit

final class ParameterNamesTests: XCTestCase {
    /// TF dataset names of a real transformers `tf_model.h5` convert to the PyTorch names that
    /// transformers itself maps them to (fixtures/expected/tf-name-map.json, written by
    /// transformers' own TF->PT loading), and kernels are flagged for transposition.
    func testTFNamesConvertLikeTransformers() throws {
        let document = try XCTUnwrap(Fixtures.json("expected/tf-name-map.json") as? [String: Any])
        let map = try XCTUnwrap(document["map"] as? [[String: Any]])
        XCTAssertGreaterThan(map.count, 30)
        for entry in map {
            let tf = try XCTUnwrap(entry["tf"] as? String)
            let (name, isKernel) = ParameterNames.canonicalize(tf)
            XCTAssertEqual(name, entry["pt"] as? String, tf)
            let role = ParameterNames.role(of: tf, dtype: .f32)
            XCTAssertEqual(role.isTFKernel, entry["transpose"] as? Bool, tf)
            XCTAssertEqual(isKernel && role.kind == .weight, entry["transpose"] as? Bool, tf)
            XCTAssertEqual(role.component, ParameterNames.role(of: entry["pt"] as! String).component, tf)
        }
    }

    /// Prefixed, unprefixed and legacy spellings of one parameter share a canonical name.
    func testPrefixesAndLegacyNamesLineUp() {
        let spellings = [
            "encoder.layer.3.output.LayerNorm.weight",
            "bert.encoder.layer.3.output.LayerNorm.weight",
            "bert.encoder.layer.3.output.LayerNorm.gamma",
            "base_model.model.bert.encoder.layer.3.output.LayerNorm.weight",
        ]
        for name in spellings {
            XCTAssertEqual(ParameterNames.canonicalize(name).name, "encoder.layer.3.output.LayerNorm.weight", name)
        }
        XCTAssertEqual(ParameterNames.canonicalize("distilbert.transformer.layer.0.ffn.lin1.bias").name,
                       ParameterNames.canonicalize("transformer.layer.0.ffn.lin1.bias").name)
        XCTAssertEqual(ParameterNames.canonicalize("transformer.h.0.ln_1.weight").name,
                       ParameterNames.canonicalize("h.0.ln_1.weight").name)
    }

    /// Components, kinds and layers of the module names transformers' BERT, DistilBERT, GPT-2 and
    /// LLaMA implementations define.
    func testRolesAcrossFamilies() {
        let cases: [(String, Component, ParameterKind, Int?)] = [
            ("bert.embeddings.word_embeddings.weight", .embeddings, .embedding, nil),
            ("embeddings.position_ids", .embeddings, .buffer, nil),
            ("bert.embeddings.LayerNorm.bias", .embeddingsLayerNorm, .layerNormBias, nil),
            ("encoder.layer.0.attention.self.query.bias", .query, .bias, 0),
            ("encoder.layer.0.attention.self.key.weight", .key, .weight, 0),
            ("encoder.layer.0.attention.self.value.bias", .value, .bias, 0),
            ("encoder.layer.1.attention.output.dense.bias", .attentionOutput, .bias, 1),
            ("encoder.layer.1.attention.output.LayerNorm.weight", .attentionLayerNorm, .layerNormWeight, 1),
            ("encoder.layer.11.intermediate.dense.bias", .intermediate, .bias, 11),
            ("encoder.layer.11.output.dense.weight", .output, .weight, 11),
            ("encoder.layer.11.output.LayerNorm.bias", .outputLayerNorm, .layerNormBias, 11),
            ("bert.pooler.dense.weight", .pooler, .weight, nil),
            ("classifier.bias", .head, .bias, nil),
            ("cls.predictions.transform.LayerNorm.weight", .pretrainingHead, .layerNormWeight, nil),
            ("distilbert.transformer.layer.2.attention.q_lin.bias", .query, .bias, 2),
            ("distilbert.transformer.layer.2.sa_layer_norm.weight", .attentionLayerNorm, .layerNormWeight, 2),
            ("distilbert.transformer.layer.2.ffn.lin1.weight", .intermediate, .weight, 2),
            ("distilbert.transformer.layer.2.output_layer_norm.bias", .outputLayerNorm, .layerNormBias, 2),
            ("pre_classifier.weight", .head, .weight, nil),
            ("transformer.h.5.attn.c_attn.bias", .fusedQKV, .bias, 5),
            ("transformer.h.5.attn.c_proj.weight", .attentionOutput, .weight, 5),
            ("transformer.h.5.attn.bias", .other, .buffer, 5),
            ("transformer.h.5.ln_1.weight", .attentionLayerNorm, .layerNormWeight, 5),
            ("transformer.h.5.mlp.c_fc.bias", .intermediate, .bias, 5),
            ("transformer.h.5.mlp.c_proj.bias", .output, .bias, 5),
            ("transformer.h.5.ln_2.bias", .outputLayerNorm, .layerNormBias, 5),
            ("transformer.ln_f.weight", .finalLayerNorm, .layerNormWeight, nil),
            ("transformer.wte.weight", .embeddings, .embedding, nil),
            ("model.layers.7.self_attn.q_proj.weight", .query, .weight, 7),
            ("model.layers.7.self_attn.o_proj.weight", .attentionOutput, .weight, 7),
            ("model.layers.7.mlp.gate_proj.weight", .intermediateGate, .weight, 7),
            ("model.layers.7.mlp.up_proj.weight", .intermediate, .weight, 7),
            ("model.layers.7.mlp.down_proj.weight", .output, .weight, 7),
            ("model.layers.7.input_layernorm.weight", .attentionLayerNorm, .layerNormWeight, 7),
            ("model.layers.7.post_attention_layernorm.weight", .outputLayerNorm, .layerNormWeight, 7),
            ("model.norm.weight", .finalLayerNorm, .layerNormWeight, nil),
            ("model.embed_tokens.weight", .embeddings, .embedding, nil),
            ("lm_head.weight", .pretrainingHead, .weight, nil),
        ]
        for (name, component, kind, layer) in cases {
            let role = ParameterNames.role(of: name)
            XCTAssertEqual(role.component, component, name)
            XCTAssertEqual(role.kind, kind, name)
            XCTAssertEqual(role.layer, layer, name)
        }
        XCTAssertEqual(ParameterNames.role(of: "embeddings.position_ids", dtype: .i64).kind, .buffer)
        XCTAssertEqual(ParameterNames.role(of: "encoder.layer.0.attention.self.query.bias").biasType, "query")
        XCTAssertEqual(ParameterNames.role(of: "encoder.layer.0.output.LayerNorm.bias").biasType, "output_layernorm")
        XCTAssertNil(ParameterNames.role(of: "encoder.layer.0.output.LayerNorm.weight").biasType)
    }

    /// A prefixed fine-tune aligns with an unprefixed base; the new head and dropped buffers are
    /// reported on their side (names from the committed fixtures, which transformers wrote).
    func testAlignmentOfBaseAndTaskModel() throws {
        let base = try CheckpointOpener.open(Fixtures.path("tiny-bert/base"))
        let tuned = try CheckpointOpener.open(Fixtures.path("tiny-bert/ft-layernorm"))
        let alignment = CheckpointAlignment(base: base, finetuned: tuned)
        let baseNames = Set(base.tensors.map(\.name))
        let tunedNames = Set(tuned.tensors.map(\.name))
        let common = baseNames.filter { tunedNames.contains("bert." + $0) }
        XCTAssertEqual(alignment.pairs.count, common.count)
        XCTAssertTrue(alignment.pairs.allSatisfy { $0.finetuned.name == "bert." + $0.base.name && $0.problem == nil && $0.isDirect })
        XCTAssertEqual(Set(alignment.onlyInFinetuned.map(\.name)), tunedNames.filter { !baseNames.contains(String($0.dropFirst(5))) || !$0.hasPrefix("bert.") })
        XCTAssertTrue(alignment.onlyInFinetuned.contains { $0.name == "classifier.weight" })
    }

    /// A TF kernel (in, out) pairs with a PyTorch weight (out, in) as a transpose; 3-D attention
    /// kernels are viewed as 2-D; a real shape mismatch is reported, not paired silently.
    func testKernelLayouts() {
        let tf = TensorInfo(name: "bert/tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0", dtype: .f32, shape: [32, 4, 8], byteCount: 4096)
        let pt = TensorInfo(name: "encoder.layer.0.attention.self.query.weight", dtype: .f32, shape: [32, 32], byteCount: 4096)
        let pair = CheckpointAlignment(base: [tf], finetuned: [pt]).pairs[0]
        XCTAssertEqual(pair.baseLayout, .transposed(rows: 32, columns: 32))
        let out = TensorInfo(name: "bert/tf_bert_model/bert/encoder/layer_._0/attention/output/dense/kernel:0", dtype: .f32, shape: [4, 8, 64], byteCount: 8192)
        let ptOut = TensorInfo(name: "encoder.layer.0.attention.output.dense.weight", dtype: .f32, shape: [64, 32], byteCount: 8192)
        XCTAssertEqual(CheckpointAlignment(base: [out], finetuned: [ptOut]).pairs[0].baseLayout, .transposed(rows: 32, columns: 64))
        let wrong = TensorInfo(name: "encoder.layer.0.attention.output.dense.weight", dtype: .f32, shape: [16, 16], byteCount: 1024)
        let bad = TensorInfo(name: "encoder.layer.0.attention.output.dense.weight", dtype: .f32, shape: [32, 32], byteCount: 4096)
        XCTAssertNotNil(CheckpointAlignment(base: [wrong], finetuned: [bad]).pairs[0].problem)
    }
}
