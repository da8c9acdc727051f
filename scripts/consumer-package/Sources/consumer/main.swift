import CheckpointKit
import Foundation

// Opens the checkpoint named on the command line and prints how many tensors it holds.
let arguments = CommandLine.arguments
guard arguments.count == 2 else {
    print("usage: consumer CHECKPOINT")
    exit(64)
}
let checkpoint = try CheckpointOpener.open(arguments[1])
print("\(checkpoint.tensors.count) tensors")
