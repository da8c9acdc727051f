/// Everything that can be wrong with the inputs of a Fisher estimate or a Fisher mask. Each case renders
/// as one line naming the file (and line, column or tensor) so that the message alone is enough to
/// fix the input. Nothing is written when one of these is thrown.
public enum FisherError: Error, CustomStringConvertible, Equatable, CategorizedError {
    /// The model directory has no `config.json`.
    case missingConfig(directory: String)
    /// `config.json` is not valid JSON or lacks a required field.
    case invalidConfig(path: String, reason: String)
    /// The configuration describes an encoder the native engine does not run.
    case unsupportedArchitecture(path: String, modelType: String, reason: String)
    /// The kind of Fisher cannot be estimated for this model (`kind`: `expected`, `sampled`, ...).
    case unsupportedKind(path: String, kind: String, reason: String)
    /// A weight the forward pass needs is not in the checkpoint.
    case missingTensor(path: String, tensor: String)
    /// A weight has the wrong shape for the configuration.
    case wrongShape(path: String, tensor: String, expected: [Int], actual: [Int])
    /// A weight holds NaN or an infinity: every gradient through it would be NaN, so no Fisher
    /// value could be trusted (a fine-tune that diverged, a bad conversion).
    case nonFiniteWeight(path: String, tensor: String, index: Int)
    /// The checkpoint has no classification head (`classifier.weight`/`.bias`, ELECTRA:
    /// `classifier.out_proj.*`) and no fresh head was asked for.
    case noHead(path: String, tensor: String)
    /// The directory has neither `tokenizer.json` nor `vocab.txt`.
    case missingTokenizer(directory: String)
    /// The tokenizer files are invalid or describe a tokenizer other than BERT's WordPiece.
    case invalidTokenizer(path: String, reason: String)
    /// The data file cannot be read (`remedy`: what else would let it be read).
    case cannotReadData(path: String, reason: String, remedy: ErrorRemedy? = nil)
    /// A line of the data file is malformed.
    case invalidData(path: String, line: Int, reason: String)
    /// A column the options name (or the defaults look for) is not in the data file.
    case missingColumn(path: String, column: String, available: [String])
    /// A label is not a class index of the head.
    case labelOutOfRange(path: String, line: Int, label: String, numLabels: Int)
    /// The data file holds no example.
    case emptyData(path: String)
    /// A Fisher or squared-gradient file is not what the operation expects (`remedy`: what the
    /// caller can supply instead).
    case invalidFisherFile(path: String, reason: String, remedy: ErrorRemedy? = nil)
    /// The tensors of a Fisher file do not match the model's or another Fisher file's.
    case namesMismatch(path: String, reason: String)
    /// No Fisher file was given to choose a mask from.
    case noFisherFiles
    /// Several Fisher files, and no union or intersection chosen to combine their masks.
    case combinationNeeded(files: Int)
    /// A percentage of entries to keep outside (0, 100].
    case invalidKeepPercentage(Double)
    /// A number of entries to keep below 1.
    case invalidKeepCount(Int)
    /// A number of examples below 1.
    case invalidSampleCount(Int)
    /// A number of examples above what a data file is read for (``TaskDataset/maxExamples``).
    case tooManySamples(Int, limit: Int)
    /// A token limit per example below 3 (the special tokens and one word need three).
    case invalidMaxLength(Int)
    /// A batch size below 1.
    case invalidBatchSize(Int)
    /// A fresh head with fewer than one label.
    case invalidLabelCount(Int)

    /// Names that do not match are a mismatch, everything else bad input.
    public var category: FailureCategory {
        switch self {
        case .namesMismatch: return .mismatch
        default: return .badInput
        }
    }

    public var remedy: ErrorRemedy? {
        switch self {
        case .unsupportedArchitecture: return .supplyGradients
        case .noHead: return .freshHead
        case let .labelOutOfRange(_, _, label, _): return Int(label) == nil && Double(label) == nil ? .nameLabels : nil
        case let .cannotReadData(_, _, remedy), let .invalidFisherFile(_, _, remedy): return remedy
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case let .missingConfig(directory):
            return "\(directory): no config.json (ckpt fisher needs a Hugging Face model directory: config.json, weights, tokenizer)"
        case let .invalidConfig(path, reason):
            return "\(path): invalid model configuration: \(reason)"
        case let .unsupportedArchitecture(path, modelType, reason):
            return "\(path): unsupported architecture '\(modelType)': \(reason)"
        case let .unsupportedKind(path, kind, reason):
            return "\(path): cannot estimate the \(kind) Fisher: \(reason)"
        case let .missingTensor(path, tensor):
            let hint = tensor.hasPrefix("pooler.") ? " (the sequence-classification head reads the pooler; this checkpoint was saved without one)" : ""
            return "\(path): missing tensor '\(tensor)' needed by the forward pass\(hint)"
        case let .wrongShape(path, tensor, expected, actual):
            return "\(path): tensor '\(tensor)' has shape \(actual), the configuration needs \(expected)"
        case let .nonFiniteWeight(path, tensor, index):
            return "\(path): tensor '\(tensor)' holds a non-finite value (entry \(index)); every gradient through it would be NaN"
        case let .noHead(path, tensor):
            return "\(path): no classification head (\(tensor).weight/\(tensor).bias)"
        case let .missingTokenizer(directory):
            return "\(directory): no tokenizer.json or vocab.txt (or give pre-tokenized input_ids in a JSONL data file)"
        case let .invalidTokenizer(path, reason):
            return "\(path): unsupported tokenizer: \(reason)"
        case let .cannotReadData(path, reason, _):
            return "\(path): cannot read data: \(reason)"
        case let .invalidData(path, line, reason):
            return "\(path):\(line): \(reason)"
        case let .missingColumn(path, column, available):
            return "\(path): no column '\(column)' (columns: \(available.joined(separator: ", ")))"
        case let .labelOutOfRange(path, line, label, numLabels):
            return "\(path):\(line): label '\(label)' is outside the head's range 0..<\(numLabels)"
        case let .emptyData(path):
            return "\(path): no examples in the data file"
        case let .invalidFisherFile(path, reason, _):
            return "\(path): \(reason)"
        case let .namesMismatch(path, reason):
            return "\(path): tensor names do not match: \(reason)"
        case .noFisherFiles:
            return "no Fisher file given"
        case let .combinationNeeded(files):
            return "\(files) Fisher files: choose union or intersection to say how their masks combine"
        case let .invalidKeepPercentage(p):
            return "the percentage of entries to keep must be in (0, 100] (got \(p))"
        case let .invalidKeepCount(k):
            return "the number of entries to keep must be at least 1 (got \(k))"
        case let .invalidSampleCount(n):
            return "the number of examples must be positive (got \(n))"
        case let .tooManySamples(n, limit):
            return "the number of examples must be at most \(limit) (got \(n))"
        case let .invalidMaxLength(n):
            return "the token limit per example must be at least 3 (got \(n))"
        case let .invalidBatchSize(n):
            return "the batch size must be at least 1 (got \(n))"
        case let .invalidLabelCount(n):
            return "a fresh head needs at least 1 label (got \(n))"
        }
    }
}
