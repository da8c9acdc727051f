import XCTest
@testable import CheckpointKit

/// The shortcuts of the many-tensor naming path (issue 14) answer as the plain tests they stand for.
final class NameScanTests: XCTestCase {
    /// ``Component/ordinal`` is the position in `allCases`, which tallies rely on for their order.
    func testComponentOrdinalIsItsPosition() {
        for (index, component) in Component.allCases.enumerated() {
            XCTAssertEqual(component.ordinal, index, component.rawValue)
        }
    }

    /// Splitting matches `split(separator: ".")` (empty segments dropped), on clean names and on
    /// names with leading, trailing and doubled dots.
    func testDottedNameSplitsLikeSplit() {
        let names = ["", ".", "..", "a", "a.b", ".a", "a.", "a..b", "..a..b..", "model.layers.12.mlp.experts.7.down_proj.weight",
                     "layers.0.experts.1.w2", "é.ü..x"]
        for name in names {
            let parts = DottedName(name)
            let expected = name.split(separator: ".").map(String.init)
            XCTAssertEqual(parts.segments.map { String(decoding: parts.bytes[$0], as: UTF8.self) }, expected, name)
            XCTAssertEqual(String(decoding: parts.bytes, as: UTF8.self), expected.joined(separator: "."), name)
        }
    }

    /// The byte-pair filter never changes an answer: for every fragment and every name built
    /// around it (or not holding it), the filtered search agrees with a plain substring search of
    /// the joined name.
    func testFragmentFilterAgreesWithSubstringSearch() {
        let fragments = ["attention.self.query", ".q_proj.", "mlp.down_proj", "ln_1", "Wqkv", "embeddings_project", "a", "ab"]
        var names = ["model.layers.0.mlp.experts.7.down_proj.weight", "layers.1.self_attn.q_proj.bias", "bert.embeddings.LayerNorm.weight",
                     "h.0.ln_1.weight", "cls.predictions.bias", "transformer.h.3.attn.c_attn.weight", "x"]
        for fragment in fragments { names += [fragment, "x.\(fragment).weight", "model.layers.3.\(fragment)x"] }
        for name in names {
            let parts = DottedName(name)
            let joined = String(decoding: parts.bytes, as: UTF8.self)
            for fragment in fragments {
                XCTAssertEqual(parts.contains(anyOf: FragmentTable([fragment])), joined.contains(fragment), "\(fragment) in \(name)")
            }
            XCTAssertEqual(parts.contains(anyOf: FragmentTable(fragments)), fragments.contains { joined.contains($0) }, name)
        }
    }
}
