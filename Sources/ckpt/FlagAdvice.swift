import ArgumentParser
import CheckpointKit

/// The library's errors in the command line's terms. The library names no option: its errors carry
/// a typed ``ErrorRemedy`` or a typed invalid value, and this is the one place that turns them into
/// option names ("--force applies it anyway", "--keep must be a percentage in (0, 100]").
enum FlagAdvice {
    /// The one-line message `ckpt` prints for `error` (after "ckpt: ").
    static func message(for error: any Error) -> String {
        if let error = error as? FisherError, let text = optionMessage(error) { return text }
        if case let .invalidSelection(spec, reason)? = error as? PatchError {
            return "invalid --select '\(spec)': \(reason)"
        }
        let text = "\(error)"
        guard let remedy = (error as? CategorizedError)?.remedy else { return text }
        return text + advice(remedy)
    }

    /// The options that carry out `remedy`, as the tail of a message.
    static func advice(_ remedy: ErrorRemedy) -> String {
        switch remedy {
        case .applyAnyway: return "; --force applies it anyway"
        case .stateDataFormat: return "; use --format tsv|csv|jsonl"
        case .supplyGradients: return "; compute squared gradients in your framework and pass them with --from-grads"
        case .freshHead: return "; pass --num-labels N --seed S to initialise a fresh head"
        case .nameLabels: return " (name the labels in class order with --label-names A,B,...)"
        case .stateSampleCount: return "; pass --samples N (the number of examples summed)"
        case let .keepOnly(selection): return "; --select \(selection) exports only those (the rest is dropped and reported in ckpt.json)"
        }
    }

    /// An invalid option value, named by its option (nil for errors about inputs).
    static func optionMessage(_ error: FisherError) -> String? {
        switch error {
        case .noFisherFiles: return "Missing expected argument '<fisher> ...'"
        case .combinationNeeded: return "Several Fisher files: pass --union or --intersect"
        case .invalidKeepPercentage: return "--keep must be a percentage in (0, 100]"
        case .invalidKeepCount: return "--count must be at least 1"
        case .invalidSampleCount: return "--samples must be positive"
        case let .tooManySamples(_, limit): return "--samples must be at most \(limit)"
        case .invalidMaxLength: return "--max-length must be at least 3"
        case .invalidBatchSize: return "--batch-size must be at least 1"
        case .invalidLabelCount: return "--num-labels must be at least 1"
        default: return nil
        }
    }

    /// Runs the library's own checks of option values from a command's `validate()`, so that a bad
    /// value is a usage error (exit 64) named by its option, and the rule exists once, in the library.
    static func validating(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch {
            throw ValidationError(message(for: error))
        }
    }
}
