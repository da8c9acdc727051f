import Glibc

/// File identity checks: an output must never be one of the inputs.
public enum FileIdentity {
    /// Whether both paths exist and are the same file (same device and inode: hard links and
    /// symbolic links included).
    public static func same(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
