// swift-tools-version:6.0
import PackageDescription

/// libFuzzer targets for every parser that reads untrusted files. Build and run them with
/// `Fuzz/run.sh` (it passes `--sanitize=fuzzer --sanitize=address`); each target's source is one
/// `LLVMFuzzerTestOneInput` function.
let fuzzTargets = ["FuzzSafetensors", "FuzzShardIndex", "FuzzHDF5", "FuzzHDF5Report", "FuzzPatch", "FuzzTokenizer", "FuzzTaskData", "FuzzPyTorch", "FuzzPEFTAdapter", "FuzzTokenizerJSON", "FuzzDecoderInputs", "FuzzFisherShard"]

let package = Package(
    name: "ckpt-fuzz",
    dependencies: [.package(name: "ckpt", path: "..")],
    targets: [
        .target(name: "FuzzCommon", dependencies: [.product(name: "CheckpointKit", package: "ckpt")]),
    ] + fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: ["FuzzCommon", .product(name: "CheckpointKit", package: "ckpt")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    }
)
