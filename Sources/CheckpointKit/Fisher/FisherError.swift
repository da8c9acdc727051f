/// Everything that can be wrong with the inputs of `ckpt fisher` and `ckpt mask`. Each case renders
/// as one line naming the file (and line, column or tensor) so that the message alone is enough to
/// fix the input. Nothing is written when one of these is thrown.
public enum FisherError: Error, CustomStringConvertible, Equatable, CategorizedError {
    /// The model directory has no `config.json`.
    case missingConfig(directory: String)
    /// `config.json` is not valid JSON or lacks a required field.
    case invalidConfig(path: String, reason: String)
    /// The configuration describes an encoder the native engine does not run.
    case unsupportedArchitecture(path: String, modelType: String, reason: String)
    /// A weight the forward pass needs is not in the checkpoint.
    case missingTensor(path: String, tensor: String)
    /// A weight has the wrong shape for the configuration.
    case wrongShape(path: String, tensor: String, expected: [Int], actual: [Int])
    /// The checkpoint has no classification head (`classifier.weight`/`.bias`, ELECTRA:
    /// `classifier.out_proj.*`) and no `--num-labels` was given.
    case noHead(path: String, tensor: String)
    /// The directory has neither `tokenizer.json` nor `vocab.txt`.
    case missingTokenizer(directory: String)
    /// The tokenizer files are invalid or describe a tokenizer other than BERT's WordPiece.
    case invalidTokenizer(path: String, reason: String)
    /// The data file cannot be read.
    case cannotReadData(path: String, reason: String)
    /// A line of the data file is malformed.
    case invalidData(path: String, line: Int, reason: String)
    /// A column the options name (or the defaults look for) is not in the data file.
    case missingColumn(path: String, column: String, available: [String])
    /// A label is not a class index of the head.
    case labelOutOfRange(path: String, line: Int, label: String, numLabels: Int)
    /// The data file holds no example.
    case emptyData(path: String)
    /// A Fisher or squared-gradient file is not what the command expects.
    case invalidFisherFile(path: String, reason: String)
    /// The tensors of a Fisher file do not match the model's or another Fisher file's.
    case namesMismatch(path: String, reason: String)
    /// An option value is invalid.
    case invalidOption(String)

    /// Exit-code class: names that do not match are a mismatch (3), everything else bad input (2).
    public var category: FailureCategory {
        switch self {
        case .namesMismatch: return .mismatch
        default: return .badInput
        }
    }

    public var description: String {
        switch self {
        case let .missingConfig(directory):
            return "\(directory): no config.json (ckpt fisher needs a Hugging Face model directory: config.json, weights, tokenizer)"
        case let .invalidConfig(path, reason):
            return "\(path): invalid model configuration: \(reason)"
        case let .unsupportedArchitecture(path, modelType, reason):
            return "\(path): unsupported architecture '\(modelType)': \(reason); compute squared gradients in your framework and pass them with --from-grads"
        case let .missingTensor(path, tensor):
            let hint = tensor.hasPrefix("pooler.") ? " (the sequence-classification head reads the pooler; this checkpoint was saved without one)" : ""
            return "\(path): missing tensor '\(tensor)' needed by the BERT forward pass\(hint)"
        case let .wrongShape(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)' has shape \(actual), the configuration needs \(expected)"
        case let .noHead(path, tensor):
            return "\(path): no classification head (\(tensor).weight/\(tensor).bias); pass --num-labels N --seed S to initialise a fresh head"
        case let .missingTokenizer(directory):
            return "\(directory): no tokenizer.json or vocab.txt (or give pre-tokenized input_ids in a JSONL data file)"
        case let .invalidTokenizer(path, reason):
            return "\(path): unsupported tokenizer: \(reason)"
        case let .cannotReadData(path, reason):
            return "\(path): cannot read data: \(reason)"
        case let .invalidData(path, line, reason):
            return "\(path):\(line): \(reason)"
        case let .missingColumn(path, column, available):
            return "\(path): no column '\(column)' (columns: \(available.joined(separator: ", ")))"
        case let .labelOutOfRange(path, line, label, numLabels):
            let hint = Int(label) == nil && Double(label) == nil ? " (name the labels in class order with --label-names A,B,...)" : ""
            return "\(path):\(line): label '\(label)' is outside the head's range 0..<\(numLabels)\(hint)"
        case let .emptyData(path):
            return "\(path): no examples in the data file"
        case let .invalidFisherFile(path, reason):
            return "\(path): \(reason)"
        case let .namesMismatch(path, reason):
            return "\(path): tensor names do not match: \(reason)"
        case let .invalidOption(message):
            return message
        }
    }
}
