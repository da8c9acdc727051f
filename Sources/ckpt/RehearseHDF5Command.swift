import ArgumentParser
import CheckpointKit

/// `ckpt _rehearse-hdf5 -- SECONDS FILE`: the helper process of ``HDF5Rehearsal``, hidden from
/// `--help`. Every HDF5 file ckpt opens is first read by a fresh ckpt process started this way;
/// a crash or endless loop inside libhdf5 then kills that process, not the one the user started.
/// It prints nothing; its exit status (or the signal that killed it) is its answer.
struct RehearseHDF5Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_rehearse-hdf5",
        abstract: "Read an HDF5 file's structure for another ckpt process (internal).",
        shouldDisplay: false)

    @Argument(help: "Seconds before the process stops itself.")
    var seconds: UInt32

    @Argument(help: "The HDF5 file.")
    var path: String

    func run() {
        HDF5Rehearsal.rehearseInThisProcess(path: path, timeLimitSeconds: seconds)
    }

    /// Runs the helper at once, without ArgumentParser, when the command line is exactly the one
    /// ``useThisBinaryAsHelper()`` makes (`_rehearse-hdf5 -- SECONDS FILE`); otherwise returns and
    /// the command line is parsed as usual. Why: parsing the command tree (ArgumentParser looks up
    /// every subcommand's option types at run time) took about 10% of a helper's 25 ms start, and
    /// every HDF5 file ckpt opens waits for a helper.
    static func runIfHelperCommandLine(_ arguments: [String]) {
        guard arguments.count == 5, arguments[1] == configuration.commandName, arguments[2] == "--",
              let seconds = UInt32(arguments[3]) else { return }
        HDF5Rehearsal.rehearseInThisProcess(path: arguments[4], timeLimitSeconds: seconds)
    }

    /// Makes this binary (`/proc/self/exe`: the very file running, even if it was replaced on disk
    /// since) this process's rehearsal helper. `--` keeps a file name that starts with `-` a file name.
    static func useThisBinaryAsHelper() {
        let subcommand = configuration.commandName ?? ""
        HDF5Rehearsal.helper = HDF5Rehearsal.Helper(executable: "/proc/self/exe", arguments: [subcommand, "--"])
    }
}
