import Glibc

/// A read-only memory map of a whole file.
///
/// Checkpoints are read through the page cache rather than copied: opening a multi-gigabyte
/// safetensors file touches only the pages of its header, and a tensor's bytes are paged in when an
/// analysis reads them. The map lives as long as this object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// File size in bytes.
    public let size: Int
    private let base: UnsafeRawPointer?

    /// Maps `path` read-only.
    public init(path: String) throws(CheckpointError) {
        self.path = path
        let (fd, size) = try MappedFile.openRegularFile(path)
        defer { close(fd) }
        self.size = size
        if size == 0 {
            base = nil
            return
        }
        let pointer = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let pointer, pointer != MAP_FAILED else {
            throw .cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(pointer)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The whole file.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

    /// The bytes in `range`, which must lie inside the file.
    public func bytes(in range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= size)
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// Tells the kernel the whole range will be read front to back (larger read-ahead).
    public func adviseSequential(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_SEQUENTIAL)
    }
}

extension MappedFile {
    /// Opens `path` read-only, refusing anything but a regular file; returns the descriptor (the
    /// caller closes it) and the size in bytes.
    static func openRegularFile(_ path: String) throws(CheckpointError) -> (descriptor: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .cannotOpen(path: path, reason: reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .cannotOpen(path: path, reason: "not a regular file")
        }
        return (fd, Int(info.st_size))
    }

    /// The whole contents of a small file (a tokenizer, a data file, a config), refused above
    /// `maxBytes` before anything is copied.
    ///
    /// Read through a map rather than Foundation's `FileManager.contents(atPath:)`, which on Linux
    /// leaks its 4 KB read buffer for an empty file (found by the FuzzTaskData and FuzzTokenizer
    /// targets; see docs/reliability.md).
    public static func contents(of path: String, maxBytes: Int) throws(CheckpointError) -> [UInt8] {
        let file = try MappedFile(path: path)
        guard file.size <= maxBytes else {
            throw .cannotOpen(path: path, reason: "the file is \(file.size) bytes, over the \(maxBytes)-byte limit")
        }
        return Array(file.bytes)
    }
}
