// swift-tools-version:6.0
import PackageDescription

/// A package that uses CheckpointKit the way another project would: by version, from a git URL.
/// `scripts/check-consumer.sh` tags a clone of this repository and sets `CKPT_PACKAGE_URL` to its
/// `file://` URL; SwiftPM refuses a dependency taken by version whose manifest uses unsafe flags, so
/// this package building at all is the proof that CheckpointKit's does not.
let url = Context.environment["CKPT_PACKAGE_URL"] ?? "https://github.com/example/ckpt.git"

let package = Package(
    name: "ckpt-consumer",
    dependencies: [
        .package(url: url, from: "1.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "consumer",
            dependencies: [.product(name: "CheckpointKit", package: "ckpt")]),
    ]
)
