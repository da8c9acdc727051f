import ArgumentParser
import CheckpointKit

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that a patch applies to a base and reproduces the fine-tune.",
        discussion: """
        Says whether TASK.patch applies to BASE (every touched tensor hashes to the recorded SHA-256, \
        the tensor list matches, every index fits) and whether applying it gives the patch's recorded \
        result. With --finetuned, also whether the result equals FT byte for byte on every tensor of \
        FT: those the patch holds against the patched result, the others (by name, shape, dtype and \
        bytes) against the base tensor the result keeps, so a tensor FT changed or resized that the \
        patch leaves out is a difference, named. Nothing is written.

        EXIT STATUS: 0 it applies (and reproduces FT); 1 it does not; 2 bad input (unreadable or \
        corrupt patch or checkpoint); 70 internal error.
        """)

    @Argument(help: "The patch file.")
    var patch: String

    @Option(help: "The base checkpoint.")
    var base: String

    @Option(help: "The fine-tuned checkpoint the patch should reproduce (a PEFT adapter directory: BASE with the adapter merged).")
    var finetuned: String?

    @OptionGroup var stateDict: StateDictKeyOption

    @Flag(help: "Print a JSON report instead of the text one.")
    var json = false

    func run() throws {
        var ok = false
        try runReportingFailures {
            let patchFile = try PatchFile(path: patch)
            let baseCheckpoint = try stateDict.open(base)
            let finetunedCheckpoint = try finetuned.map { try stateDict.open($0, onto: baseCheckpoint) }
            let report = try PatchVerifier.verify(patch: patchFile, base: baseCheckpoint, finetuned: finetunedCheckpoint)
            ok = report.ok
            if json {
                try printJSON(report)
            } else {
                print(VerifyCommand.text(report, patch: patchFile))
            }
        }
        if !ok { throw ExitCode(ExitStatus.different) }
    }

    static func text(_ r: PatchVerification, patch: PatchFile) -> String {
        var lines = [r.patch]
        lines.append("  applies to \(r.base): \(r.applies ? "yes" : "no")")
        for problem in r.problems.prefix(10) { lines.append("    \(problem)") }
        if r.problems.count > 10 { lines.append("    ... and \(r.problems.count - 10) more") }
        let total = patch.tensors.count
        if r.resultMismatches.isEmpty {
            lines.append("  result fingerprints: \(r.tensorsChecked) of \(total) tensors checked, all match")
        } else {
            lines.append("  result fingerprints: \(r.resultMismatches.count) of \(r.tensorsChecked) checked do not match: \(r.resultMismatches.prefix(5).joined(separator: ", "))")
        }
        if let finetuned = r.finetuned, let reproduces = r.reproduces {
            let count = r.finetunedTensors ?? 0
            let ways = "\(r.checkedInPatch ?? 0) held by the patch, \(r.checkedAgainstBase ?? 0) left as the base has them"
            if reproduces {
                lines.append("  reproduces \(finetuned): yes, byte for byte on all \(count) tensors of the fine-tune (\(ways))")
                for d in r.comparedOnSharedRows { lines.append("    \(d.tensor): on the rows both have only; \(d.reason)") }
            } else {
                lines.append("  reproduces \(finetuned): no, \(r.differences.count) of \(count) tensors of the fine-tune differ (checked \(ways))")
                for d in r.differences.prefix(10) { lines.append("    \(d.tensor): \(d.reason)") }
                if r.differences.count > 10 { lines.append("    ... and \(r.differences.count - 10) more") }
            }
            if !r.notInPatch.isEmpty {
                lines.append("  not in the patch: \(r.notInPatch.count) tensor\(r.notInPatch.count == 1 ? "" : "s") the fine-tune changed that the selection left out, so the result is not the fine-tune (\(r.notInPatch.prefix(3).joined(separator: ", "))\(r.notInPatch.count > 3 ? ", ..." : ""))")
            }
        }
        lines.append(r.ok ? "OK" : "FAILED")
        return lines.joined(separator: "\n")
    }
}
