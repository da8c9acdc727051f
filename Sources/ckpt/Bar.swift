/// Horizontal bars from Unicode block characters, with eighth-width resolution.
enum Bar {
    static let partials = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

    static func text(_ value: Double, maximum: Double, width: Int) -> String {
        if value.isInfinite, value > 0 { return String(repeating: "█", count: width) + " (base all zeros)" }
        guard maximum > 0, value.isFinite, value > 0 else { return "" }
        let eighths = Int((min(value, maximum) / maximum * Double(width * 8)).rounded())
        return String(repeating: "█", count: eighths / 8) + partials[eighths % 8]
    }
}
