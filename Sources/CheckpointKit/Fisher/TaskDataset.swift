import Foundation

/// A task data file read into examples: GLUE-style TSV, CSV or JSONL.
public struct TaskDataset: Sendable {
    public var path: String
    public var format: TaskDataFormat
    /// The header's columns (TSV/CSV) or the keys of the first object (JSONL).
    public var columns: [String]
    public var textColumn: String?
    public var textPairColumn: String?
    public var examples: [TaskExample]

    static let defaultPairs: [(String, String)] = [("sentence1", "sentence2"), ("question1", "question2"),
                                                   ("question", "sentence"), ("premise", "hypothesis")]
    static let defaultSingles = ["sentence", "text"]

    /// Largest data file read, in bytes; checked before the file is read into memory.
    public static let maxFileBytes = 1 << 30
    /// Longest line (TSV, JSONL) or CSV field, in UTF-8 bytes. A JSONL line of 512 `input_ids`
    /// takes about 4 KB; an example longer than this cannot be meant for a 512-token encoder.
    public static let maxLineBytes = 1 << 20
    /// Most examples one run reads (`ckpt fisher --samples` is refused above it); the Fisher
    /// estimate converges long before.
    public static let maxExamples = 1_000_000

    /// Reads `path`. Errors name the file and line; a missing column lists the columns there are.
    public static func load(path: String, options: TaskDatasetOptions = TaskDatasetOptions()) throws(FisherError) -> TaskDataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw .cannotReadData(path: path, reason: "no such file")
        }
        let bytes: [UInt8]
        do { bytes = try MappedFile.contents(of: path, maxBytes: maxFileBytes) } catch {
            if case let .cannotOpen(_, reason) = error { throw .cannotReadData(path: path, reason: reason) }
            throw .cannotReadData(path: path, reason: "cannot read the file")
        }
        guard var text = String(validating: bytes, as: UTF8.self) else {
            throw .cannotReadData(path: path, reason: "not UTF-8 text")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        guard let format = options.format ?? TaskDataFormat(fileName: path) else {
            throw .cannotReadData(path: path, reason: "cannot tell the format from the file name", remedy: .stateDataFormat)
        }
        switch format {
        case .tsv, .csv: return try loadDelimited(path: path, text: text, format: format, options: options)
        case .jsonl: return try loadJSONL(path: path, text: text, options: options)
        }
    }

    /// Picks the text columns from the options or the GLUE defaults.
    static func chooseColumns(_ columns: [String], options: TaskDatasetOptions, path: String, allowIds: Bool) throws(FisherError) -> (String?, String?) {
        let present = Set(columns)
        if let text = options.textColumn {
            guard present.contains(text) else { throw .missingColumn(path: path, column: text, available: columns) }
            if let pair = options.textPairColumn, !pair.isEmpty {
                guard present.contains(pair) else { throw .missingColumn(path: path, column: pair, available: columns) }
                return (text, pair)
            }
            if options.textPairColumn == nil, let pair = defaultPairs.first(where: { $0.0 == text })?.1, present.contains(pair) {
                return (text, pair)
            }
            return (text, nil)
        }
        if options.textPairColumn?.isEmpty != true {
            for (a, b) in defaultPairs where present.contains(a) && present.contains(b) {
                if let pair = options.textPairColumn {
                    guard present.contains(pair) else { throw .missingColumn(path: path, column: pair, available: columns) }
                    return (a, pair)
                }
                return (a, b)
            }
        }
        for single in defaultSingles + defaultPairs.map(\.0) where present.contains(single) {
            if let pair = options.textPairColumn, !pair.isEmpty {
                guard present.contains(pair) else { throw .missingColumn(path: path, column: pair, available: columns) }
                return (single, pair)
            }
            return (single, nil)
        }
        if allowIds, present.contains("input_ids") { return (nil, nil) }
        throw .missingColumn(path: path, column: "sentence", available: columns)
    }

    static func loadDelimited(path: String, text: String, format: TaskDataFormat, options: TaskDatasetOptions) throws(FisherError) -> TaskDataset {
        let records = format == .tsv ? try splitTSV(text, path: path) : try splitCSV(text, path: path)
        guard let header = records.first else { throw .emptyData(path: path) }
        let columns = header.fields
        let (textColumn, pairColumn) = try chooseColumns(columns, options: options, path: path, allowIds: false)
        guard let labelIndex = columns.firstIndex(of: options.labelColumn) else {
            throw .missingColumn(path: path, column: options.labelColumn, available: columns)
        }
        let textIndex = textColumn.flatMap { columns.firstIndex(of: $0) }!
        let pairIndex = pairColumn.flatMap { columns.firstIndex(of: $0) }
        var examples: [TaskExample] = []
        let limit = min(options.limit ?? maxExamples, maxExamples)
        for record in records.dropFirst() {
            if examples.count >= limit { break }
            if record.fields.count == 1, record.fields[0].isEmpty { continue }
            guard record.fields.count == columns.count else {
                throw .invalidData(path: path, line: record.line, reason: "\(record.fields.count) fields, the header has \(columns.count)")
            }
            examples.append(TaskExample(text: record.fields[textIndex], textPair: pairIndex.map { record.fields[$0] },
                                        label: record.fields[labelIndex].trimmingCharacters(in: .whitespaces), line: record.line))
        }
        guard !examples.isEmpty else { throw .emptyData(path: path) }
        return TaskDataset(path: path, format: format, columns: columns, textColumn: textColumn, textPairColumn: pairColumn, examples: examples)
    }

    struct Record {
        var fields: [String]
        var line: Int
    }

    static func splitTSV(_ text: String, path: String) throws(FisherError) -> [Record] {
        var records: [Record] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            guard line.utf8.count <= maxLineBytes else { throw lineTooLong(path: path, line: lineNumber) }
            var line = Substring(line)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty { continue }
            records.append(Record(fields: line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init), line: lineNumber))
        }
        return records
    }

    static func splitCSV(_ text: String, path: String) throws(FisherError) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var fieldWasQuoted = false
        var scalars = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func endRecord() {
            fields.append(field)
            if !(fields.count == 1 && fields[0].isEmpty && !fieldWasQuoted) {
                records.append(Record(fields: fields, line: recordLine))
            }
            fields = []
            field = ""
            fieldWasQuoted = false
        }
        while let c = pending ?? scalars.next() {
            pending = nil
            if inQuotes {
                if c == "\"" {
                    let next = scalars.next()
                    if next == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = next }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                    if field.utf8.count > maxLineBytes { throw lineTooLong(path: path, line: recordLine) }
                }
                continue
            }
            switch c {
            case "\"" where field.isEmpty && !fieldWasQuoted:
                inQuotes = true
                fieldWasQuoted = true
            case ",":
                fields.append(field)
                field = ""
                fieldWasQuoted = false
            case "\r":
                break
            case "\n":
                endRecord()
                line += 1
                recordLine = line
            default:
                field.unicodeScalars.append(c)
                if field.utf8.count > maxLineBytes { throw lineTooLong(path: path, line: recordLine) }
            }
        }
        if inQuotes { throw .invalidData(path: path, line: recordLine, reason: "unterminated quoted field") }
        if !field.isEmpty || !fields.isEmpty || fieldWasQuoted { endRecord() }
        return records
    }

    static func loadJSONL(path: String, text: String, options: TaskDatasetOptions) throws(FisherError) -> TaskDataset {
        var examples: [TaskExample] = []
        var columns: [String] = []
        var chosen: (String?, String?)?
        var lineNumber = 0
        let limit = min(options.limit ?? maxExamples, maxExamples)
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if examples.count >= limit { break }
            guard rawLine.utf8.count <= maxLineBytes else { throw lineTooLong(path: path, line: lineNumber) }
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let object: JSONValue
            do { object = try JSONValue.parse(Array(line.utf8)) } catch {
                throw .invalidData(path: path, line: lineNumber, reason: "invalid JSON: \(error)")
            }
            guard let members = object.objectValue else {
                throw .invalidData(path: path, line: lineNumber, reason: "not a JSON object")
            }
            let keys = members.map(\.key)
            if chosen == nil {
                columns = keys
                chosen = try chooseColumns(keys, options: options, path: path, allowIds: true)
            }
            let (textColumn, pairColumn) = chosen!
            guard let labelValue = object[options.labelColumn] else {
                throw .missingColumn(path: path, column: options.labelColumn, available: keys)
            }
            let label: String
            switch labelValue {
            case let .string(s): label = s
            case let .integer(i): label = String(i)
            case let .number(d): label = String(d)
            case let .bool(b): label = b ? "1" : "0"
            default: throw .invalidData(path: path, line: lineNumber, reason: "label is not a number or string")
            }
            var example = TaskExample(label: label, line: lineNumber)
            if let textColumn {
                guard let value = object[textColumn] else { throw .missingColumn(path: path, column: textColumn, available: keys) }
                guard let s = value.stringValue else { throw .invalidData(path: path, line: lineNumber, reason: "'\(textColumn)' is not a string") }
                example.text = s
                if let pairColumn {
                    guard let pair = object[pairColumn] else { throw .missingColumn(path: path, column: pairColumn, available: keys) }
                    guard let s = pair.stringValue else { throw .invalidData(path: path, line: lineNumber, reason: "'\(pairColumn)' is not a string") }
                    example.textPair = s
                }
            } else {
                guard let ids = object["input_ids"] else { throw .missingColumn(path: path, column: "input_ids", available: keys) }
                example.inputIds = try intArray(ids, key: "input_ids", path: path, line: lineNumber)
                if let types = object["token_type_ids"] {
                    example.tokenTypeIds = try intArray(types, key: "token_type_ids", path: path, line: lineNumber)
                    guard example.tokenTypeIds!.count == example.inputIds!.count else {
                        throw .invalidData(path: path, line: lineNumber, reason: "token_type_ids has \(example.tokenTypeIds!.count) ids, input_ids \(example.inputIds!.count)")
                    }
                }
                guard !example.inputIds!.isEmpty else { throw .invalidData(path: path, line: lineNumber, reason: "input_ids is empty") }
            }
            examples.append(example)
        }
        guard !examples.isEmpty else { throw .emptyData(path: path) }
        return TaskDataset(path: path, format: .jsonl, columns: columns, textColumn: chosen?.0, textPairColumn: chosen?.1, examples: examples)
    }

    static func lineTooLong(path: String, line: Int) -> FisherError {
        .invalidData(path: path, line: line, reason: "longer than \(maxLineBytes) bytes")
    }

    static func intArray(_ value: JSONValue, key: String, path: String, line: Int) throws(FisherError) -> [Int32] {
        guard let array = value.arrayValue else { throw .invalidData(path: path, line: line, reason: "'\(key)' is not an array") }
        var out: [Int32] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let i = element.intValue, let v = Int32(exactly: i), v >= 0 else {
                throw .invalidData(path: path, line: line, reason: "'\(key)' holds a value that is not a non-negative integer")
            }
            out.append(v)
        }
        return out
    }
}
