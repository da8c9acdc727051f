/// A coding key chosen at run time: the member names of a parsed object, or a field whose name
/// depends on the value (the `name` / `component` / `layer` of a mask report's groups).
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ stringValue: String) { self.stringValue = stringValue }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
