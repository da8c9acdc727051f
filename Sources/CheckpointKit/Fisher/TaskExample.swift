/// One labelled example of a task data file.
public struct TaskExample: Sendable, Equatable {
    public var text: String?
    public var textPair: String?
    /// Pre-tokenized ids (JSONL `input_ids`), used instead of the text.
    public var inputIds: [Int32]?
    public var tokenTypeIds: [Int32]?
    /// The label as written (`1`, `0.75`, `positive`); the head decides how to read it.
    public var label: String
    /// 1-based line of the file where the example starts.
    public var line: Int

    public init(text: String? = nil, textPair: String? = nil, inputIds: [Int32]? = nil, tokenTypeIds: [Int32]? = nil, label: String, line: Int) {
        self.text = text
        self.textPair = textPair
        self.inputIds = inputIds
        self.tokenTypeIds = tokenTypeIds
        self.label = label
        self.line = line
    }
}
