// swift-tools-version:6.0
import PackageDescription

/// No unsafe flags: a package that uses them cannot be depended upon by version. The hot numeric
/// loops live in the C target `CKernels`, which carries an AVX2/FMA/F16C copy of each kernel next to
/// a portable one and picks at run time, so one binary runs on any x86-64 or arm64 CPU.
/// Supported and tested: Linux x86-64 (see the README's Platforms).
///
/// `MemberImportVisibility`: a file sees the members of the modules it imports itself, so a file that
/// uses Foundation says so.
let swiftSettings: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "ckpt",
    products: [
        .executable(name: "ckpt", targets: ["ckpt"]),
        .library(name: "CheckpointKit", targets: ["CheckpointKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        .target(
            name: "CHDF5Guard",
            dependencies: ["CHDF5"]),
        .target(
            name: "CBLASLoader",
            linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "CKernels",
            linkerSettings: [.linkedLibrary("m")]),
        .target(
            name: "CheckpointKit",
            dependencies: [
                "CBLASLoader", "CHDF5", "CHDF5Guard", "CKernels", "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "ckpt",
            dependencies: [
                "CheckpointKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "CheckpointKitTests",
            dependencies: ["CheckpointKit", "CKernels"],
            swiftSettings: swiftSettings),
    ]
)
