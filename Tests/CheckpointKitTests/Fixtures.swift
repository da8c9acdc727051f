import Foundation

/// Locations of the committed fixtures (see fixtures/README.md), found from this source file so
/// that tests run from any working directory.
enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures")

    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// A fresh empty directory for a test's outputs.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ckpt-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Parses a JSON file of expected values written by fixtures/make_fixtures.py.
    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent(relative)))
    }
}
