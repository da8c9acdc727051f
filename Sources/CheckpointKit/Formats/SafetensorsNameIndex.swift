import CKernels

/// The tensor names of one safetensors header -> their tensors' indices: the header's duplicate-key
/// check while it is scanned, kept afterwards as the file's name index.
///
/// An open-addressing table of 8-byte slots (a 32-bit hash of the name's UTF-8 bytes beside the
/// 32-bit index), at most half full, instead of a `[String: Int]`: 100,000 names cost a 2 MB table
/// that is probed by integer compares, and the name itself is only read when the hashes match.
/// The hash is SipHash (Swift's `Hasher`, itself seeded per process) over a seed drawn once per
/// process, so a hostile header cannot choose names that collide. The scanner hashes a name's
/// bytes as they stand in the JSON and prefetches its slot before it parses the entry, so the probe
/// after it finds the slot in cache.
///
/// Names are compared byte for byte, which is what Swift's `String` equality (canonical
/// equivalence) means for ASCII names only. The first name with a byte over 0x7F therefore moves
/// every name into a `[String: Int]` and the table is not used again: such a header refuses the
/// same duplicates as before (`"K"` and `"\u{212A}"`, the Kelvin sign, are one key).
///
/// The names are not stored here: each call passes `nameAt`, the name of a stored index.
struct SafetensorsNameIndex {
    /// Per slot: the name's hash in the upper 32 bits, its index + 1 in the lower 32; 0 is empty.
    private var slots: [UInt64]
    /// The number of names added.
    private(set) var count = 0
    /// Every name once a non-ASCII one was added (then `slots` is unused).
    private var strings: [String: Int]?

    /// Drawn once per process.
    private static let seed = UInt64.random(in: .min ... .max)

    /// A table sized for `expectedCount` names (it grows past that); `expectedCount` is bounded by
    /// the caller (a header of at most 100,000,000 bytes holds at most ~2,000,000 names).
    init(expectedCount: Int) {
        var capacity = 16
        while capacity < 2 * expectedCount { capacity *= 2 }
        slots = [UInt64](repeating: 0, count: capacity)
    }

    /// Adds `name` with index ``count``, or returns the index of the name equal to it (nothing
    /// added). `hash` is ``hash(of:)`` of `name`.
    mutating func insert(_ name: String, hash: UInt32?, nameAt: (Int) -> String) -> Int? {
        if strings == nil, let hash {
            if let existing = find(name, hash: hash, nameAt: nameAt) { return existing }
            if 2 * (count + 1) > slots.count { grow() }
            place(hash: hash, index: count)
        } else {
            if strings == nil { moveToStrings(nameAt: nameAt) }
            if let existing = strings![name] { return existing }
            strings![name] = count
        }
        count += 1
        return nil
    }

    /// The index of the name equal to `name`, if any.
    func index(of name: String, nameAt: (Int) -> String) -> Int? {
        index(of: name, hash: SafetensorsNameIndex.hash(of: name), nameAt: nameAt)
    }

    /// The index of the name equal to `name`, if any; `hash` is ``hash(of:)`` of `name`.
    func index(of name: String, hash: UInt32?, nameAt: (Int) -> String) -> Int? {
        if let strings { return strings[name] }
        guard let hash else {
            // Only canonical equivalence can match an ASCII name (the Kelvin sign is "K").
            return (0..<count).first { nameAt($0) == name }
        }
        return find(name, hash: hash, nameAt: nameAt)
    }

    /// Starts loading the slot where a name of hash `hash` is looked for first.
    func prefetch(_ hash: UInt32?) {
        guard let hash, strings == nil else { return }
        slots.withUnsafeBufferPointer { ckpt_prefetch($0.baseAddress! + (Int(hash) & ($0.count - 1))) }
    }

    /// Gives every name the index `newIndex[old]` (a permutation of `0..<count`).
    mutating func renumber(_ newIndex: [Int]) {
        if let strings {
            self.strings = strings.mapValues { newIndex[$0] }
            return
        }
        for slot in slots.indices where slots[slot] != 0 {
            let old = Int(truncatingIfNeeded: slots[slot] & 0xFFFF_FFFF) - 1
            slots[slot] = slots[slot] & ~0xFFFF_FFFF | UInt64(newIndex[old] + 1)
        }
    }

    private func find(_ name: String, hash: UInt32, nameAt: (Int) -> String) -> Int? {
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while slots[slot] != 0 {
            if UInt32(truncatingIfNeeded: slots[slot] >> 32) == hash {
                let index = Int(truncatingIfNeeded: slots[slot] & 0xFFFF_FFFF) - 1
                if nameAt(index).utf8.elementsEqual(name.utf8) { return index }
            }
            slot = (slot + 1) & mask
        }
        return nil
    }

    private mutating func place(hash: UInt32, index: Int) {
        let mask = slots.count - 1
        var slot = Int(hash) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = UInt64(hash) << 32 | UInt64(index + 1)
    }

    /// Doubles the table (the hashes are kept in the slots: nothing is hashed again).
    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: 2 * old.count)
        for entry in old where entry != 0 {
            place(hash: UInt32(truncatingIfNeeded: entry >> 32), index: Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1)
        }
    }

    private mutating func moveToStrings(nameAt: (Int) -> String) {
        var strings = [String: Int](minimumCapacity: count + 1)
        for index in 0..<count { strings[nameAt(index)] = index }
        self.strings = strings
        slots = []
    }

    /// The seeded hash of `name`'s UTF-8 bytes, or nil when one of them is over 0x7F.
    static func hash(of name: String) -> UInt32? {
        var name = name
        return name.withUTF8 { bytes -> UInt32? in
            var high: UInt8 = 0
            for byte in bytes { high |= byte }
            return high < 0x80 ? hash(ascii: UnsafeRawBufferPointer(bytes)) : nil
        }
    }

    /// The seeded hash of a name's UTF-8 bytes, all of them ASCII (checked by the caller).
    static func hash(ascii bytes: UnsafeRawBufferPointer) -> UInt32 {
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(bytes: bytes)
        return UInt32(truncatingIfNeeded: hasher.finalize())
    }
}
