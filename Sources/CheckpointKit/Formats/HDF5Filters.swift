/// Names of registered HDF5 filters that ship as plugins, for a file whose filter pipeline stores no
/// name (ids from the HDF Group's list of registered filter plugins).
enum HDF5Filters {
    static let knownNames: [Int: String] = [
        305: "lzo", 307: "bzip2", 32000: "lzf", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle",
        32013: "zfp", 32015: "zstd", 32017: "sz", 32026: "blosc2",
    ]
}
