extension Double {
    /// `10` for 10.0, `0.5` for 0.5.
    var compactDescription: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
