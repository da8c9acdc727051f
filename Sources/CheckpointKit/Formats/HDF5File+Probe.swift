import Glibc

/// Content detection: whether a file is HDF5, read with plain POSIX calls (never libhdf5).
extension HDF5File {
    /// Whether `path` is an HDF5 file: the signature at byte 0, 512, 1024, 2048, ... (the HDF5
    /// specification lets a user block of those sizes precede the superblock). Reads at most a few
    /// dozen bytes and never calls libhdf5, so a format detector can use it on any file.
    public static func isHDF5(path: String) -> Bool {
        guard let probe = try? probe(path) else { return false }
        return probe.signatureOffset != nil
    }

    /// What the first bytes of a file say, read with plain POSIX calls.
    struct Probe {
        var size: Int
        /// Where the HDF5 signature is, if anywhere.
        var signatureOffset: Int?
        /// Up to the first 512 bytes (to recognise Git LFS pointers and HTML pages).
        var prefix: [UInt8]
    }

    static func probe(_ path: String) throws(CheckpointError) -> Probe {
        let (fd, size) = try MappedFile.openRegularFile(path)
        defer { close(fd) }

        func readBytes(at offset: Int, count: Int) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return n > 0 ? Array(bytes[0..<n]) : []
        }
        let prefix = readBytes(at: 0, count: min(size, 512))
        var offset = 0
        while offset + signature.count <= size {
            if readBytes(at: offset, count: signature.count) == signature {
                return Probe(size: size, signatureOffset: offset, prefix: prefix)
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        return Probe(size: size, signatureOffset: nil, prefix: prefix)
    }
}
