/// Short names of registered HDF5 filters that ship as plugins, for error messages (ids from the
/// HDF Group's list of registered filter plugins; a file's own name can be empty or a sentence).
enum HDF5Filters {
    static let knownNames: [Int: String] = [
        305: "lzo", 307: "bzip2", 32000: "lzf", 32001: "blosc", 32004: "lz4", 32008: "bitshuffle",
        32013: "zfp", 32015: "zstd", 32017: "sz", 32026: "blosc2",
    ]
}
