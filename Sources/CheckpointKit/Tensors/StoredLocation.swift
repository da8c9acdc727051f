/// Where a tensor's raw bytes lie in a file when the file stores them exactly as
/// ``Checkpoint/withBytes(of:_:)`` hands them out (little-endian, row-major, uncompressed), so that
/// a writer may copy them file to file without reading them into memory.
public struct StoredLocation: Sendable, Equatable {
    /// The file holding the bytes.
    public var file: String
    /// Byte offsets in `file`, from the start of the file.
    public var range: Range<Int>

    public init(file: String, range: Range<Int>) {
        self.file = file
        self.range = range
    }
}
