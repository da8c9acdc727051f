import Foundation
import XCTest

/// Runs the built `ckpt` binary as a user would and checks exit codes, stderr and the JSON
/// contract of `inspect`. (`make test` builds the binary before the tests run.)
final class CommandLineTests: XCTestCase {
    typealias Result = CommandResult

    func run(_ arguments: [String]) throws -> Result { try CommandRunner.run(arguments) }

    func testInspectJSONHasTheDocumentedFields() throws {
        let result = try run(["inspect", Fixtures.path("tiny-bert/ft-layernorm"), "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(document["format"] as? String, "safetensors")
        let expected = try XCTUnwrap(Fixtures.json("expected/inspect/tiny-bert__ft-layernorm__model.safetensors.json") as? [String: Any])
        XCTAssertEqual(document["elements"] as? Int, expected["parameter_count"] as? Int)
        XCTAssertNotNil(document["parameters"] as? Int)
        let tensors = try XCTUnwrap(document["tensors"] as? [[String: Any]])
        XCTAssertEqual(tensors.count, expected["tensor_count"] as? Int)
        for tensor in tensors {
            for key in ["name", "dtype", "shape", "component", "kind", "layer"] {
                XCTAssertTrue(tensor.keys.contains(key), "tensor entry lacks \(key)")
            }
        }
        let classifier = try XCTUnwrap(tensors.first { $0["name"] as? String == "classifier.weight" })
        XCTAssertEqual(classifier["component"] as? String, "head")
        let layerNorm = try XCTUnwrap(tensors.first { $0["name"] as? String == "bert.encoder.layer.3.output.LayerNorm.weight" })
        XCTAssertEqual(layerNorm["component"] as? String, "output.LayerNorm")
        XCTAssertEqual(layerNorm["kind"] as? String, "layernorm_weight")
        XCTAssertEqual(layerNorm["layer"] as? Int, 3)
    }

    func testBadInputExitsWithOneLineAndCodeTwo() throws {
        let path = Fixtures.path("bad/lfs-pointer/model.safetensors")
        let result = try run(["inspect", path])
        XCTAssertEqual(result.status, 2)
        XCTAssertEqual(result.stdout, "")
        XCTAssertTrue(result.stderr.hasPrefix("ckpt: \(path): "), result.stderr)
        XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
    }

    func testMissingFileAndUsageErrors() throws {
        let missing = try run(["inspect", "/nonexistent/model.safetensors"])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/model.safetensors"))
        let usage = try run(["inspect", "--no-such-flag", Fixtures.path("tiny-bert/base")])
        XCTAssertEqual(usage.status, 64)
    }
}
