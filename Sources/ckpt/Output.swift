import CheckpointKit
import Foundation

/// Formatting helpers shared by the commands' terminal reports.
enum Format {
    /// 1234567 -> "1,234,567".
    static func count(_ n: Int) -> String { NumberText.grouped(n) }

    /// Bytes in binary units: "1.3 GiB".
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func percent(_ fraction: Double, digits: Int = 2) -> String {
        String(format: "%.\(digits)f%%", fraction * 100)
    }

    /// A number in scientific notation with 3 significant digits.
    static func scientific(_ x: Double) -> String {
        x == 0 ? "0" : String(format: "%.3e", x)
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }

    static func padLeft(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}

/// Writes a report and a newline to standard output as ``JSONOutput`` formats every report:
/// pretty-printed, keys sorted, non-finite numbers as the strings "nan", "inf" and "-inf". The
/// document goes out in pieces as it is written (``JSONOutput/writeReport(_:to:)``): one `String`
/// of it was one more copy in memory (145 MB for a 100,000-tensor `diff --json`). Nothing is
/// printed when encoding fails. Through `print`, like every other report, so that
/// ``standardOutputFailure()`` sees a failed write (`FileHandle.write` traps on one: a full disk
/// under `--json > FILE` crashed instead of exiting 4).
func printJSON<T: Encodable>(_ value: T) throws {
    try JSONOutput.writeReport(value) { printUTF8($0) }
    print("")
}

/// Prints UTF-8 bytes in pieces of about 1 MiB, each cut before a character's first byte.
func printUTF8(_ bytes: UnsafeBufferPointer<UInt8>) {
    var start = 0
    while start < bytes.count {
        var end = min(bytes.count, start + (1 << 20))
        // Never inside a character: step back over UTF-8 continuation bytes (10xxxxxx).
        while end < bytes.count, end > start + 1, bytes[end] & 0xC0 == 0x80 { end -= 1 }
        print(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self), terminator: "")
        start = end
    }
}
