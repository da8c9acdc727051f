/// The layouts a task data file can have.
public enum TaskDataFormat: String, Sendable, CaseIterable {
    /// GLUE-style tab-separated values with a header line (no quoting).
    case tsv
    /// Comma-separated values with a header line, RFC 4180 quoting.
    case csv
    /// One JSON object per line; `input_ids` (and `token_type_ids`) may replace the text columns.
    case jsonl

    /// The format a file name implies (`.tsv`, `.csv`, `.jsonl`/`.json`/`.ndjson`), if any.
    public init?(fileName: String) {
        let lower = fileName.lowercased()
        if lower.hasSuffix(".tsv") || lower.hasSuffix(".txt") { self = .tsv }
        else if lower.hasSuffix(".csv") { self = .csv }
        else if lower.hasSuffix(".jsonl") || lower.hasSuffix(".json") || lower.hasSuffix(".ndjson") { self = .jsonl }
        else { return nil }
    }
}
