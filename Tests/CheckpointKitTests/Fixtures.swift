import Foundation
@testable import CheckpointKit

/// Locations of the committed fixtures (see fixtures/README.md), found from this source file so
/// that tests run from any working directory.
enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    /// The checkout the fixtures belong to (where `data/` and `.build/` are).
    static let checkout: URL = root.deletingLastPathComponent()

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// A fresh empty directory for a test's outputs.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Parses a JSON file of expected values written by fixtures/make_fixtures.py.
    ///
    /// Parsed with CheckpointKit's strict parser rather than JSONSerialization, which on Linux
    /// rounds some doubles in the last digit and drops the sign of -0.0. Numbers come back as
    /// `Int` or `Double`, objects as `[String: Any]`, null as `NSNull`.
    static func json(_ relative: String) throws -> Any {
        let bytes = [UInt8](try Data(contentsOf: root.appendingPathComponent(relative)))
        return foundationValue(try JSONValue.parse(bytes, maxDepth: 512))
    }

    private static func foundationValue(_ value: JSONValue) -> Any {
        switch value {
        case let .object(members):
            var dictionary: [String: Any] = [:]
            for (key, member) in members { dictionary[key] = foundationValue(member) }
            return dictionary
        case let .array(elements): return elements.map(foundationValue)
        case let .string(s): return s
        case let .integer(i): return i
        case let .number(d): return d
        case let .bool(b): return b
        case .null: return NSNull()
        }
    }
}
