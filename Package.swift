// swift-tools-version:6.0
import PackageDescription

/// The numeric kernels (dtype decoding, diff reductions, GEMM glue) are compiled optimised even in
/// debug builds and tests: unoptimised SIMD code is about 100x slower. On x86-64 they also target
/// Haswell (AVX2, FMA, F16C): without it `SIMD.addingProduct` becomes a library call per lane.
/// The resulting binary needs an AVX2 CPU (every x86-64 server since 2013); `make portable` drops it.
let portable = Context.environment["CKPT_PORTABLE"] != nil
#if arch(x86_64)
let cpuFlags: [String] = portable ? [] : ["-target-cpu", "haswell"]
#else
let cpuFlags: [String] = []
#endif
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-O"] + cpuFlags)]

let package = Package(
    name: "ckpt",
    platforms: [.macOS(.v13)],
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
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .target(
            name: "CHDF5Guard",
            dependencies: ["CHDF5"]),
        .target(
            name: "CheckpointKit",
            dependencies: [
                "CHDF5", "CHDF5Guard", "CZlib", "COpenBLAS",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: kernelSettings),
        .executableTarget(
            name: "ckpt",
            dependencies: [
                "CheckpointKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(
            name: "CheckpointKitTests",
            dependencies: ["CheckpointKit"],
            swiftSettings: kernelSettings),
    ]
)
