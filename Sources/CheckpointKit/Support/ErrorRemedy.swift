/// What the user can do about an error besides fixing the input, for a front end to phrase in its
/// own terms (a command line names its option; the library names none).
public enum ErrorRemedy: Sendable, Equatable {
    /// The operation can be forced past this check (the result is then not verified).
    case applyAnyway
    /// The data file's format has to be stated, because its name does not tell it.
    case stateDataFormat
    /// The model cannot be run natively; squared gradients from another framework can be used.
    case supplyGradients
    /// The checkpoint has no head; a fresh one needs a label count and a seed.
    case freshHead
    /// Labels written as words need the class names in class order.
    case nameLabels
    /// The number of examples summed has to be given.
    case stateSampleCount
    /// Only some kinds of change can be exported as a PEFT adapter; keeping just those (a selection
    /// specification such as `layernorm,bias,head`, the rest dropped and reported as lossy) would work.
    case keepOnly(selection: String)
}
