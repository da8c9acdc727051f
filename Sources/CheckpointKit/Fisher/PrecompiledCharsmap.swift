import Foundation

/// SentencePiece's normalization rules as `tokenizers`' `Precompiled` normalizer holds them (XLM-R's
/// `nmt_nfkc`): `precompiled_charsmap`, base64 of a little-endian `u32` trie size in bytes, a
/// darts-clone double-array trie over UTF-8 source strings whose values are offsets into the last
/// part, NUL-terminated UTF-8 replacements.
///
/// Applied as `tokenizers` (after `spm_precompiled`) applies it: each extended grapheme cluster under
/// 6 bytes is replaced whole by the rule of the shortest source that is a prefix of it; otherwise (or
/// when none matches) each of its characters is replaced the same way or kept. The blob is untrusted:
/// its sizes are checked against its length, and every trie step against the array bounds.
struct PrecompiledCharsmap: Sendable, Equatable {
    private let units: [UInt32]
    private let replacements: [UInt8]

    init?(base64 text: String) {
        guard let data = Data(base64Encoded: text), data.count >= 4 else { return nil }
        let bytes = [UInt8](data)
        let trieBytes = Int(UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24)
        guard trieBytes % 4 == 0, trieBytes >= 4, trieBytes <= bytes.count - 4 else { return nil }
        units = stride(from: 4, to: 4 + trieBytes, by: 4).map { i in
            UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        }
        replacements = Array(bytes[(4 + trieBytes)...])
        guard String(validating: replacements, as: UTF8.self) != nil else { return nil }
    }

    private static func offset(_ unit: UInt32) -> Int { Int((unit >> 10) << ((unit & (1 << 9)) >> 6)) }

    /// The replacement of the shortest rule whose source is a prefix of `key` (darts-clone's
    /// common-prefix search, stopping at a NUL byte as it does).
    func transform(_ key: [UInt8]) -> String? {
        var position = Self.offset(units[0])
        for c in key {
            guard c != 0 else { return nil }
            position ^= Int(c)
            guard position < units.count else { return nil }
            let unit = units[position]
            guard unit & (1 << 31 | 0xFF) == UInt32(c) else { return nil }
            position ^= Self.offset(unit)
            guard position < units.count else { return nil }
            if (unit >> 8) & 1 == 1 { return replacement(at: Int(units[position] & 0x7FFF_FFFF)) }
        }
        return nil
    }

    private func replacement(at start: Int) -> String? {
        guard start <= replacements.count else { return nil }
        let end = replacements[start...].firstIndex(of: 0) ?? replacements.count
        return String(validating: replacements[start..<end], as: UTF8.self)
    }

    func apply(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for grapheme in text {
            let bytes = Array(String(grapheme).utf8)
            if bytes.count < 6, let whole = transform(bytes) {
                out += whole
                continue
            }
            for scalar in grapheme.unicodeScalars {
                if let r = transform(Array(String(scalar).utf8)) { out += r } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
