/// The opcodes: what each one pushes, pops or builds (Python's `Lib/pickletools.py` documents them).
extension PickleMachine {
    mutating func step(_ opcode: UInt8) throws(CheckpointError) {
        switch opcode {
        case 0x80: _ = try take(1)                                   // PROTO
        case 0x95: _ = try take(8)                                   // FRAME
        case UInt8(ascii: "("): marks.append(stack.count)            // MARK
        case UInt8(ascii: "0"): _ = try pop()                        // POP
        case UInt8(ascii: "1"): _ = try popMark()                    // POP_MARK
        case UInt8(ascii: "2"): stack.append(try top())              // DUP
        case UInt8(ascii: "N"): stack.append(.none)
        case 0x88: stack.append(.bool(true))                         // NEWTRUE
        case 0x89: stack.append(.bool(false))                        // NEWFALSE
        default: try stepNumbersAndText(opcode)
        }
    }

    mutating func stepNumbersAndText(_ opcode: UInt8) throws(CheckpointError) {
        switch opcode {
        case UInt8(ascii: "J"): stack.append(.int(Int(Int32(truncatingIfNeeded: try uint(4)))))  // BININT
        case UInt8(ascii: "K"): stack.append(.int(try uint(1)))      // BININT1
        case UInt8(ascii: "M"): stack.append(.int(try uint(2)))      // BININT2
        case 0x8A: stack.append(.int(try long(try uint(1))))         // LONG1
        case 0x8B: stack.append(.int(try long(try uint(4))))         // LONG4
        case UInt8(ascii: "I"): stack.append(try textInt(try line()))  // INT
        case UInt8(ascii: "L"): stack.append(try textInt(String(try line().dropLast(1))))  // LONG
        case UInt8(ascii: "G"): stack.append(.float(Double(bitPattern: UInt64(bigEndian: try take(8).loadUnaligned(as: UInt64.self)))))
        case UInt8(ascii: "F"):                                      // FLOAT
            guard let value = Double(try line()) else { throw invalid("a FLOAT that is not a number") }
            stack.append(.float(value))
        case UInt8(ascii: "X"): stack.append(.string(try utf8(try take(try uint(4)))))  // BINUNICODE
        case 0x8C: stack.append(.string(try utf8(try take(try uint(1)))))              // SHORT_BINUNICODE
        case 0x8D: stack.append(.string(try utf8(try take(try uint(8)))))              // BINUNICODE8
        case UInt8(ascii: "T"): stack.append(.string(try latin1(try take(try uint(4)))))  // BINSTRING
        case UInt8(ascii: "U"): stack.append(.string(try latin1(try take(try uint(1)))))  // SHORT_BINSTRING
        case UInt8(ascii: "B"): stack.append(.bytes(Array(try take(try uint(4)))))      // BINBYTES
        case UInt8(ascii: "C"): stack.append(.bytes(Array(try take(try uint(1)))))      // SHORT_BINBYTES
        case 0x8E: stack.append(.bytes(Array(try take(try uint(8)))))                   // BINBYTES8
        default: try stepContainers(opcode)
        }
    }

    mutating func stepContainers(_ opcode: UInt8) throws(CheckpointError) {
        switch opcode {
        case UInt8(ascii: "]"): pushContainer(.list(PickleList()))    // EMPTY_LIST
        case UInt8(ascii: "l"): pushContainer(.list(PickleList(try popMark())))  // LIST
        case UInt8(ascii: "a"):                                      // APPEND
            let value = try pop()
            try list().items.append(value)
        case UInt8(ascii: "e"):                                      // APPENDS
            let values = try popMark()
            try list().items.append(contentsOf: values)
        case UInt8(ascii: ")"): pushContainer(.tuple(PickleList()))   // EMPTY_TUPLE
        case UInt8(ascii: "t"): pushContainer(.tuple(PickleList(try popMark())))  // TUPLE
        case 0x85: let a = try pop(); pushContainer(.tuple(PickleList([a])))  // TUPLE1
        case 0x86: let b = try pop(), a = try pop(); pushContainer(.tuple(PickleList([a, b])))  // TUPLE2
        case 0x87: let c = try pop(), b = try pop(), a = try pop(); pushContainer(.tuple(PickleList([a, b, c])))  // TUPLE3
        case UInt8(ascii: "}"): pushContainer(.dict(PickleDict()))    // EMPTY_DICT
        case UInt8(ascii: "d"):                                      // DICT
            let dict = PickleDict()
            try setItems(dict, try popMark())
            pushContainer(.dict(dict))
        case UInt8(ascii: "s"):                                      // SETITEM
            let value = try pop(), key = try pop()
            try setItems(try dict(), [key, value])
        case UInt8(ascii: "u"):                                      // SETITEMS
            let values = try popMark()
            try setItems(try dict(), values)
        default: try stepMemoAndCalls(opcode)
        }
    }

    mutating func stepMemoAndCalls(_ opcode: UInt8) throws(CheckpointError) {
        switch opcode {
        case UInt8(ascii: "q"): try put(try uint(1))                 // BINPUT
        case UInt8(ascii: "r"): try put(try uint(4))                 // LONG_BINPUT
        case UInt8(ascii: "p"): try put(try textIndex(try line()))   // PUT
        case 0x94: try put(memo.count)                               // MEMOIZE
        case UInt8(ascii: "h"): try get(try uint(1))                 // BINGET
        case UInt8(ascii: "j"): try get(try uint(4))                 // LONG_BINGET
        case UInt8(ascii: "g"): try get(try textIndex(try line()))   // GET
        case UInt8(ascii: "c"):                                      // GLOBAL
            let module = try line(), name = try line()
            stack.append(.global(try allowedGlobal(module + "." + name)))
        case 0x93:                                                   // STACK_GLOBAL
            guard case let .string(name) = try pop(), case let .string(module) = try pop() else {
                throw invalid("STACK_GLOBAL without two strings")
            }
            stack.append(.global(try allowedGlobal(module + "." + name)))
        case UInt8(ascii: "R"):                                      // REDUCE
            let arguments = try pop(), callable = try pop()
            pushContainer(try call(callable, arguments))
        case UInt8(ascii: "b"):                                      // BUILD
            let state = try pop()
            try build(on: try top(), state: state)
        case UInt8(ascii: "Q"):                                      // BINPERSID
            stack.append(try persistentLoad(try pop()))
        default:
            throw invalid("opcode 0x\(String(opcode, radix: 16)) ('\(opcodeName(opcode))') at byte \(position - 1) is not read (it builds arbitrary objects or is not a pickle opcode)")
        }
    }

    /// The names of the opcodes that are understood but refused, for the message.
    func opcodeName(_ opcode: UInt8) -> String {
        switch opcode {
        case UInt8(ascii: "i"): return "INST"
        case UInt8(ascii: "o"): return "OBJ"
        case 0x81: return "NEWOBJ"
        case 0x92: return "NEWOBJ_EX"
        case 0x82, 0x83, 0x84: return "EXT"
        case UInt8(ascii: "P"): return "PERSID"
        default: return "unknown"
        }
    }

    // MARK: operands and containers

    /// A little-endian two's complement integer of `count` bytes (LONG1/LONG4), at most 64 bits.
    mutating func long(_ count: Int) throws(CheckpointError) -> Int {
        guard count <= 8 else { throw invalid("an integer of \(count) bytes (over 64 bits)") }
        let raw = try take(count)
        guard count > 0 else { return 0 }
        var value: UInt64 = raw[count - 1] & 0x80 != 0 ? ~0 : 0
        for i in (0..<count).reversed() { value = value << 8 | UInt64(raw[i]) }
        return Int(bitPattern: UInt(value))
    }

    func textInt(_ text: String) throws(CheckpointError) -> PickleValue {
        if text == "01" { return .bool(true) }
        if text == "00" { return .bool(false) }
        guard let value = Int(text) else { throw invalid("an INT that is not a 64-bit integer") }
        return .int(value)
    }

    func textIndex(_ text: String) throws(CheckpointError) -> Int {
        guard let value = Int(text), value >= 0 else { throw invalid("a memo index that is not a number") }
        return value
    }

    func latin1(_ raw: UnsafeRawBufferPointer) throws(CheckpointError) -> String {
        String(decoding: raw.map { UInt16($0) }, as: UTF16.self)
    }

    mutating func list() throws(CheckpointError) -> PickleList {
        guard case let .list(list) = try top() else { throw invalid("APPEND to something that is not a list") }
        return list
    }

    mutating func dict() throws(CheckpointError) -> PickleDict {
        guard case let .dict(dict) = try top() else { throw invalid("SETITEM on something that is not a dict") }
        return dict
    }

    func setItems(_ dict: PickleDict, _ values: [PickleValue]) throws(CheckpointError) {
        guard values.count % 2 == 0 else { throw invalid("SETITEMS with an odd number of values") }
        for i in stride(from: 0, to: values.count, by: 2) {
            switch values[i] {
            case .string, .int, .bool, .none, .float, .tuple: break
            default: throw invalid("a dict key that is a \(values[i].summary)")
            }
            dict.items.append((values[i], values[i + 1]))
        }
    }

    func allowedGlobal(_ name: String) throws(CheckpointError) -> PickleGlobal {
        guard let global = PickleGlobal.named(name) else { throw .refusedPickleGlobal(path: path, global: name) }
        return global
    }
}
