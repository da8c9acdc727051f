/// A pickle-opcode interpreter that runs nothing: it reads the opcodes `torch.save` writes
/// (protocol 2, plus the protocol 3-5 ones a newer writer may use) and builds only
/// ``PickleValue``s. A global outside ``PickleGlobal``'s allow-list is refused by name, and a call
/// (`REDUCE`) of an allowed global is checked against the arguments it takes; `INST`, `OBJ`,
/// `NEWOBJ`, extension codes and text persistent ids are refused outright.
///
/// Bounded by construction: one pass over the bytes with no recursion, every length checked against
/// the bytes left before anything is allocated, at most ``maxStack`` values on the stack and
/// ``maxOpcodes`` opcodes (each builds at most one value, so memory stays under a few hundred MB
/// whatever the pickle; a BERT-large state dict takes about 12,000, an optimizer state a few dozen per
/// tensor).
public struct PickleMachine {
    /// The most values on the stack (a state dict never has more than a few dozen).
    public static let maxStack = 1 << 20
    /// The most opcodes interpreted.
    public static let maxOpcodes = 4 << 20

    let bytes: UnsafeRawBufferPointer
    let path: String
    /// Called for each persistent id `('storage', type, key, location, numel)`; checks the key.
    let loadStorage: (_ type: PickleGlobal, _ key: String) throws(CheckpointError) -> PickleStorage
    var position = 0
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    /// Every list, tuple and dict built, held until ``dismantle()``: one dropped from the stack
    /// while it holds itself would otherwise leak, and one dropped while deeply nested would be
    /// freed recursively.
    var containers: [PickleValue] = []

    init(bytes: UnsafeRawBufferPointer, path: String,
         loadStorage: @escaping (_ type: PickleGlobal, _ key: String) throws(CheckpointError) -> PickleStorage) {
        self.bytes = bytes
        self.path = path
        self.loadStorage = loadStorage
    }

    /// Interprets the whole pickle and calls `body` with the value `STOP` leaves. Every list and
    /// dict built is taken apart afterwards (see ``dismantle()``), so `body` must copy out what it
    /// keeps.
    public static func load<R>(_ bytes: UnsafeRawBufferPointer, path: String,
                               loadStorage: @escaping (_ type: PickleGlobal, _ key: String) throws(CheckpointError) -> PickleStorage,
                               _ body: (PickleValue) throws(CheckpointError) -> R) throws(CheckpointError) -> R {
        var machine = PickleMachine(bytes: bytes, path: path, loadStorage: loadStorage)
        defer { machine.dismantle() }
        return try body(try machine.run())
    }

    /// Empties every list, tuple and dict built, one at a time from a work list: freeing a deeply
    /// nested value would otherwise recurse once per level in its deinitializers (a 100,000-deep
    /// list overflows the stack), and a list that holds itself would never be freed.
    mutating func dismantle() {
        var work: [PickleValue] = containers
        containers = []
        stack = []
        memo = [:]
        while let value = work.popLast() {
            switch value {
            case let .list(list), let .tuple(list):
                work.append(contentsOf: list.items)
                list.items = []
            case let .dict(dict):
                for item in dict.items { work.append(item.key); work.append(item.value) }
                dict.items = []
            default: break
            }
        }
    }

    func invalid(_ reason: String) -> CheckpointError { .invalidPickle(path: path, reason: reason) }

    mutating func run() throws(CheckpointError) -> PickleValue {
        var opcodes = 0
        while position < bytes.count {
            opcodes += 1
            guard opcodes <= PickleMachine.maxOpcodes else {
                throw invalid("more than \(PickleMachine.maxOpcodes) opcodes (a pickle that builds too much)")
            }
            let opcode = bytes[position]
            position += 1
            if opcode == UInt8(ascii: ".") {
                guard stack.count == 1, marks.isEmpty else { throw invalid("STOP with \(stack.count) values on the stack") }
                return stack[0]
            }
            try step(opcode)
            guard stack.count <= PickleMachine.maxStack else { throw invalid("more than \(PickleMachine.maxStack) values on the stack") }
        }
        throw invalid("the pickle ends without STOP")
    }

    // MARK: reading operands

    mutating func take(_ count: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= bytes.count - position else {
            throw invalid("an operand of \(count) bytes runs past the end of the pickle")
        }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
    }

    mutating func uint(_ width: Int) throws(CheckpointError) -> Int {
        let raw = try take(width)
        var value: UInt64 = 0
        for i in (0..<width).reversed() { value = value << 8 | UInt64(raw[i]) }
        guard value <= UInt64(Int.max) else { throw invalid("a length of \(value) bytes") }
        return Int(value)
    }

    /// A newline-terminated text operand (GLOBAL, INT, FLOAT, PUT, GET).
    mutating func line() throws(CheckpointError) -> String {
        var end = position
        while end < bytes.count, bytes[end] != 0x0A { end += 1 }
        guard end < bytes.count, end - position <= 1024 else { throw invalid("an unterminated text operand") }
        let text = try utf8(UnsafeRawBufferPointer(rebasing: bytes[position..<end]))
        position = end + 1
        return text
    }

    func utf8(_ raw: UnsafeRawBufferPointer) throws(CheckpointError) -> String {
        guard let text = String(validating: raw, as: UTF8.self) else { throw invalid("a string that is not UTF-8") }
        return text
    }

    // MARK: the stack

    mutating func pop() throws(CheckpointError) -> PickleValue {
        guard let value = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw invalid("stack underflow") }
        return value
    }

    mutating func popMark() throws(CheckpointError) -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw invalid("no MARK for an opcode that needs one") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    mutating func top() throws(CheckpointError) -> PickleValue {
        guard let value = stack.last, stack.count > (marks.last ?? 0) else { throw invalid("stack underflow") }
        return value
    }

    /// Pushes a value, keeping it in ``containers`` when it is a list, tuple or dict.
    mutating func pushContainer(_ value: PickleValue) {
        switch value {
        case .list, .tuple, .dict: containers.append(value)
        default: break
        }
        stack.append(value)
    }

    mutating func put(_ index: Int) throws(CheckpointError) {
        memo[index] = try top()
    }

    mutating func get(_ index: Int) throws(CheckpointError) {
        guard let value = memo[index] else { throw invalid("memo entry \(index) is read before it is written") }
        stack.append(value)
    }
}
