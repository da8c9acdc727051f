import Foundation

/// Maps metric values to colours of a sequential ramp (light yellow to dark purple) between the
/// smallest and largest non-zero value, so that differences between cells show even when every
/// cell changed by a similar amount. Spans of more than 30x use a logarithmic scale, so that
/// 1e-1 LayerNorm cells and 1e-5 weight cells are both visible. Values outside the span are
/// clamped to its ends.
struct ColorScale {
    static let stops = ["#fcfdbf", "#feca8d", "#fd9668", "#f1605d", "#cd4071", "#9e2f7f", "#721f81", "#440f76"]

    let low: Double
    let high: Double
    let isLogarithmic: Bool

    init(values: [Double]) {
        let positive = values.filter { $0 > 0 && $0.isFinite }
        let low = positive.min() ?? 0
        let high = positive.max() ?? 1
        isLogarithmic = low > 0 && high / low > 30
        self.low = low
        self.high = high > low ? high : (low > 0 ? low * 2 : 1)
    }

    /// Where `value` falls on the ramp, 0...1.
    func position(_ value: Double) -> Double {
        guard value.isFinite else { return value > 0 ? 1 : 0 }
        if isLogarithmic {
            let v = max(value, low)
            return min(1, max(0, log10(v / low) / log10(high / low)))
        }
        return min(1, max(0, (value - low) / (high - low)))
    }

    func color(_ value: Double) -> String {
        let p = position(value) * Double(ColorScale.stops.count - 1)
        let i = min(ColorScale.stops.count - 2, Int(p))
        let t = p - Double(i)
        let a = ColorScale.rgb(ColorScale.stops[i]), b = ColorScale.rgb(ColorScale.stops[i + 1])
        let mixed = (0..<3).map { Int((Double(a[$0]) * (1 - t) + Double(b[$0]) * t).rounded()) }
        return String(format: "#%02x%02x%02x", mixed[0], mixed[1], mixed[2])
    }

    /// Whether text on this colour should be white.
    func isDark(_ value: Double) -> Bool { position(value) > 0.55 }

    /// Five values to label the legend with.
    var ticks: [Double] {
        (0...4).map { i in
            let t = Double(i) / 4
            return isLogarithmic ? low * pow(high / low, t) : low + (high - low) * t
        }
    }

    static func rgb(_ hex: String) -> [Int] {
        let digits = Array(hex.dropFirst())
        return stride(from: 0, to: 6, by: 2).map { Int(String(digits[$0...$0 + 1]), radix: 16)! }
    }
}
