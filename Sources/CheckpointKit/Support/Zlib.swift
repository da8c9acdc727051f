import CZlib

/// zlib (RFC 1950) compression of whole buffers.
enum Zlib {
    static func compress(_ input: [UInt8], path: String) throws -> [UInt8] {
        var bound = compressBound(uLong(input.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let status = out.withUnsafeMutableBufferPointer { o in
            input.withUnsafeBufferPointer { i in
                compress2(o.baseAddress, &bound, i.baseAddress, uLong(input.count), Z_BEST_COMPRESSION)
            }
        }
        guard status == Z_OK else {
            throw CheckpointError.writeFailed(path: path, reason: "zlib compression failed (status \(status))")
        }
        out.removeSubrange(Int(bound)...)
        return out
    }

    /// Why a zlib stream did not inflate (the caller names the file and object in its error).
    struct Failure: Error {
        var reason: String
    }

    /// Inflates `input`, which must decompress to exactly `size` bytes, into a new buffer the caller
    /// deallocates.
    static func decompress(_ input: UnsafeRawBufferPointer, size: Int) throws(Failure) -> UnsafeMutableRawBufferPointer {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
        var stream = z_stream()
        var status = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            out.deallocate()
            throw Failure(reason: "zlib cannot start (status \(status))")
        }
        defer { inflateEnd(&stream) }
        // avail_in/avail_out are 32-bit: feed and drain at most 1 GiB at a time.
        let step = 1 << 30
        var inOffset = 0, outOffset = 0
        let inBase = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        let outBase = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
        repeat {
            if stream.avail_in == 0, inOffset < input.count {
                let n = min(step, input.count - inOffset)
                stream.next_in = inBase.map { $0 + inOffset }
                stream.avail_in = uInt(n)
                inOffset += n
            }
            if stream.avail_out == 0, outOffset < size {
                let n = min(step, size - outOffset)
                stream.next_out = outBase.map { $0 + outOffset }
                stream.avail_out = uInt(n)
                outOffset += n
            }
            status = inflate(&stream, Z_NO_FLUSH)
        } while status == Z_OK && (stream.avail_in > 0 || inOffset < input.count) && (stream.avail_out > 0 || outOffset < size)
        if status == Z_OK, stream.avail_out == 0, outOffset == size {
            // Output full: one more call tells whether the stream ends here.
            var probe: UInt8 = 0
            withUnsafeMutablePointer(to: &probe) { p in
                stream.next_out = p
                stream.avail_out = 1
                status = inflate(&stream, Z_NO_FLUSH)
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == size, Int(stream.total_in) == input.count else {
            out.deallocate()
            let reason = status == Z_STREAM_END
                ? "the zlib stream holds \(stream.total_out) bytes and ends after \(stream.total_in) of \(input.count) bytes; inner_size says \(size)"
                : "the zlib stream is damaged or cut short (zlib status \(status)\(stream.msg.map { ", " + String(cString: $0) } ?? ""))"
            throw Failure(reason: reason)
        }
        return UnsafeMutableRawBufferPointer(rebasing: out[0..<size])
    }
}
