/// Which columns of a data file hold the text(s) and the label.
public struct TaskDatasetOptions: Sendable, Equatable {
    /// Column of the (first) text; `nil` picks the first of the GLUE names present:
    /// `sentence1`+`sentence2`, `question1`+`question2`, `question`+`sentence`, `premise`+`hypothesis`,
    /// `sentence`, `text`.
    public var textColumn: String?
    /// Column of the second text of a pair; `nil` follows the default pairing above. An empty string
    /// means "single sentences" even where a default pair column exists.
    public var textPairColumn: String?
    public var labelColumn: String
    /// `nil` infers the format from the file name.
    public var format: TaskDataFormat?
    /// Read at most this many examples (the rest of the file is not parsed).
    public var limit: Int?

    public init(textColumn: String? = nil, textPairColumn: String? = nil, labelColumn: String = "label",
                format: TaskDataFormat? = nil, limit: Int? = nil) {
        self.textColumn = textColumn
        self.textPairColumn = textPairColumn
        self.labelColumn = labelColumn
        self.format = format
        self.limit = limit
    }
}
