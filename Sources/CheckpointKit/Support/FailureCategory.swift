/// The classes of failure a caller may want to tell apart (the command line maps each to its own
/// exit status, see `man ckpt`; the library itself knows no exit codes).
public enum FailureCategory: Sendable, Equatable {
    /// An input file is missing, unreadable, or not a valid checkpoint / patch / data file.
    case badInput
    /// Inputs are valid but do not belong together (a patch for another base, names that do not match).
    case mismatch
    /// Writing an output failed (full disk, permissions).
    case io
}
