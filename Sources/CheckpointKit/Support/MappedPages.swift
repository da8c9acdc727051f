import Glibc

/// Releases pages of a file mapping that a streaming pass has finished with.
///
/// A mapped file's pages stay in the process's resident set once touched, so a pass over two
/// 1.3 GB checkpoints would end with 2.6 GB resident although it only ever needs a few megabytes
/// at a time. `MADV_DONTNEED` on a read-only file mapping drops the pages from this process only:
/// they stay in the page cache and a later read faults them back in from there.
enum MappedPages {
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Releases the whole pages inside `bytes`, which must lie in a read-only file mapping (never
    /// call this on heap memory: it would be zeroed).
    static func release(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let start = (Int(bitPattern: base) + pageSize - 1) / pageSize * pageSize
        let end = (Int(bitPattern: base) + bytes.count) / pageSize * pageSize
        guard end > start, let pointer = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(pointer, end - start, MADV_DONTNEED)
    }
}
