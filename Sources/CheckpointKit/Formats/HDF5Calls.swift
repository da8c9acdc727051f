import CHDF5
import CHDF5Guard
import Glibc

// Every call CheckpointKit makes into libhdf5 is in this file (the model is swift-system's
// `Syscalls.swift`): each one runs while holding ``HDF5Library``'s lock, checks its return code,
// and turns a failure into a ``CheckpointError`` naming the file, the object and the most specific
// message libhdf5 left on its error stack. libhdf5 never prints to stderr.
//
// Written against libhdf5 1.10 (the API version Debian and Ubuntu ship): `H5Literate` reports a
// hard link's target as an address (`haddr_t`); 1.12 replaced addresses with tokens.

/// Process-wide access to libhdf5.
enum HDF5Library {
    /// libhdf5 is built thread-safe behind its own global lock, so parallel calls gain nothing. This
    /// lock makes the serialisation explicit and keeps a failing call together with the reading of
    /// its error stack. It is recursive: iteration callbacks and closes run inside locked sections.
    fileprivate static let lock = RecursiveLock()
    /// How many ``locked(_:)`` sections the lock holder is inside (only touched under the lock).
    nonisolated(unsafe) fileprivate static var depth = 0

    /// Runs `body` with libhdf5 to itself.
    ///
    /// The thread-safe libhdf5 keeps one error stack per thread, each created with automatic printing
    /// to stderr switched on, so printing is switched off for the calling thread on every entry rather
    /// than once per process.
    static func locked<R: ~Copyable, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try lock.withLock { () throws(E) -> R in
            if depth == 0 { _ = H5Eset_auto2(ckpt_H5E_DEFAULT(), nil, nil) }
            depth += 1
            defer { depth -= 1 }
            return try body()
        }
    }
}

/// Reads and clears the calling thread's libhdf5 error stack.
enum HDF5ErrorStack {
    private final class Messages { var list: [String] = [] }

    /// The descriptions on the stack, most specific (deepest inside libhdf5) first. Call it right
    /// after the failing call, under the same lock.
    static func takeMessages() -> [String] {
        let messages = Messages()
        _ = H5Ewalk2(ckpt_H5E_DEFAULT(), H5E_WALK_UPWARD, { _, entry, context in
            guard let entry, let context else { return 0 }
            let messages = Unmanaged<Messages>.fromOpaque(context).takeUnretainedValue()
            if let description = entry.pointee.desc {
                messages.list.append(String(cString: description))
            }
            return 0
        }, Unmanaged.passUnretained(messages).toOpaque())
        _ = H5Eclear2(ckpt_H5E_DEFAULT())
        return withExtendedLifetime(messages) { messages.list }
    }
}

/// An open libhdf5 identifier, closed exactly once when the value goes away.
struct HDF5Handle: ~Copyable {
    enum Kind { case file, object, dataset, datatype, dataspace, attribute, propertyList }

    let id: hid_t
    let kind: Kind

    init(_ id: hid_t, _ kind: Kind) {
        self.id = id
        self.kind = kind
    }

    deinit {
        let id = id, kind = kind
        HDF5Library.locked { _ = HDF5Handle.close(id, kind) }
    }

    /// Closes now and reports a failure: closing a file opened for writing writes out its metadata.
    consuming func close(_ context: HDF5Context) throws(CheckpointError) {
        let id = id, kind = kind
        discard self
        try HDF5Library.locked { () throws(CheckpointError) in
            guard HDF5Handle.close(id, kind) >= 0 else { throw context.failure("H5Fclose", "closing") }
        }
    }

    private static func close(_ id: hid_t, _ kind: Kind) -> herr_t {
        switch kind {
        case .file: return H5Fclose(id)
        case .object: return H5Oclose(id)
        case .dataset: return H5Dclose(id)
        case .datatype: return H5Tclose(id)
        case .dataspace: return H5Sclose(id)
        case .attribute: return H5Aclose(id)
        case .propertyList: return H5Pclose(id)
        }
    }
}

/// The calls, one Swift function per libhdf5 operation. Handles passed in must be open.
enum HDF5 {
    /// Opens `path` read-only, or read-write for modifying a copy.
    ///
    /// Read-only opens go through the guarded file driver (`CHDF5Guard`), which refuses malformed
    /// global heap collections that make libhdf5 1.10 loop forever or read out of bounds (found by
    /// FuzzHDF5). Writable opens are only ever of ckpt's own copy of a file already read that way.
    /// Errors name `shown` when given (the output a temporary file stands for), else `path`.
    static func openFile(_ path: String, writable: Bool, reportingAs shown: String? = nil) throws(CheckpointError) -> HDF5Handle {
        try HDF5Library.locked { () throws(CheckpointError) -> HDF5Handle in
            let flags = writable ? ckpt_H5F_ACC_RDWR() : ckpt_H5F_ACC_RDONLY()
            // The error stack is read before the access list is closed: every API call clears it.
            let id: hid_t
            var messages: [String] = []
            if writable {
                id = H5Fopen(path, flags, ckpt_H5P_DEFAULT())
                if id < 0 { messages = HDF5ErrorStack.takeMessages() }
            } else {
                let access = try guardedFileAccess(path)
                id = H5Fopen(path, flags, access.id)
                if id < 0 { messages = HDF5ErrorStack.takeMessages() }
            }
            guard id >= 0 else {
                if let message = messages.first(where: { $0.contains("truncated file") }) {
                    throw .truncated(path: shown ?? path, reason: truncationReason(message))
                }
                throw .hdf5(path: shown ?? path, object: "", operation: "opening the file (H5Fopen: \(messages.first ?? "no detail from libhdf5"))")
            }
            let file = HDF5Handle(id, .file)
            if !writable { try tellGuardLengthWidth(file, HDF5Context(path: path)) }
            return file
        }
    }

    /// A file access property list that selects the guarded read-only driver.
    private static func guardedFileAccess(_ path: String) throws(CheckpointError) -> HDF5Handle {
        let driver = ckpt_guard_driver()
        guard driver >= 0 else { throw HDF5Context(path: path).failure("H5FDregister", "registering the guarded file driver") }
        let id = H5Pcreate(ckpt_H5P_FILE_ACCESS())
        guard id >= 0 else { throw HDF5Context(path: path).failure("H5Pcreate", "creating a file access list") }
        let access = HDF5Handle(id, .propertyList)
        guard H5Pset_driver(access.id, driver, nil) >= 0 else {
            throw HDF5Context(path: path).failure("H5Pset_driver", "selecting the guarded file driver")
        }
        return access
    }

    /// Passes the file's length width (`sizeof_size`, from its superblock) to the guarded driver,
    /// which needs it to walk global heap collections.
    private static func tellGuardLengthWidth(_ file: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) {
        let id = H5Fget_create_plist(file.id)
        guard id >= 0 else { throw context.failure("H5Fget_create_plist", "reading the superblock's sizes") }
        let creation = HDF5Handle(id, .propertyList)
        var addressWidth = 0
        var lengthWidth = 0
        guard H5Pget_sizes(creation.id, &addressWidth, &lengthWidth) >= 0 else {
            throw context.failure("H5Pget_sizes", "reading the superblock's sizes")
        }
        guard ckpt_guard_set_length_width(file.id, UInt32(lengthWidth)) >= 0 else {
            throw context.failure("ckpt_guard_set_length_width", "setting up the guarded file driver")
        }
    }

    /// libhdf5 says "truncated file: eof = 17912, sblock->base_addr = 0, stored_eof = 35824".
    private static func truncationReason(_ message: String) -> String {
        func number(after key: String) -> Int? {
            guard let range = message.firstRange(of: key) else { return nil }
            return Int(message[range.upperBound...].prefix { $0.isNumber })
        }
        if let actual = number(after: " eof = "), let expected = number(after: "stored_eof = ") {
            return "the file is \(actual) bytes but its superblock says \(expected)"
        }
        return message
    }

    /// Writes out everything buffered for `file`.
    static func flush(_ file: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) {
        try HDF5Library.locked { () throws(CheckpointError) in
            guard H5Fflush(file.id, H5F_SCOPE_LOCAL) >= 0 else { throw context.failure("H5Fflush", "flushing") }
        }
    }

    /// The links in `group` (a group, or a file for its root group), by name in strcmp order.
    static func links(in group: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> [HDF5Link] {
        final class Collected { var links: [HDF5Link] = [] }
        let collected = Collected()
        try HDF5Library.locked { () throws(CheckpointError) in
            let status = H5Literate(group.id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, info, context in
                guard let name, let info, let context else { return -1 }
                let collected = Unmanaged<Collected>.fromOpaque(context).takeUnretainedValue()
                let kind: HDF5Link.Kind
                switch info.pointee.type {
                case H5L_TYPE_HARD: kind = .hard(address: UInt64(info.pointee.u.address))
                case H5L_TYPE_SOFT: kind = .soft
                case H5L_TYPE_EXTERNAL: kind = .external
                default: kind = .userDefined
                }
                collected.links.append(HDF5Link(name: String(cString: name), kind: kind))
                return 0
            }, Unmanaged.passUnretained(collected).toOpaque())
            guard status >= 0 else { throw context.failure("H5Literate", "listing the group") }
        }
        return withExtendedLifetime(collected) { collected.links }
    }

    /// Opens the object a hard link called `name` in `group` points to.
    static func openObject(_ name: String, in group: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5Handle {
        try HDF5Library.locked { () throws(CheckpointError) -> HDF5Handle in
            let id = H5Oopen(group.id, name, ckpt_H5P_DEFAULT())
            guard id >= 0 else { throw context.failure("H5Oopen", "opening") }
            return HDF5Handle(id, .object)
        }
    }

    /// Whether an object opened with ``openObject(_:in:_:)`` is a group, a dataset or a named datatype.
    static func objectType(_ object: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5ObjectType {
        try HDF5Library.locked { () throws(CheckpointError) -> HDF5ObjectType in
            switch H5Iget_type(object.id) {
            case H5I_GROUP: return .group
            case H5I_DATASET: return .dataset
            case H5I_DATATYPE: return .namedDatatype
            case H5I_BADID: throw context.failure("H5Iget_type", "finding the object's type")
            default: return .other
            }
        }
    }

    /// Opens the dataset at `name` (a path from the root group).
    static func openDataset(_ name: String, in file: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5Handle {
        try HDF5Library.locked { () throws(CheckpointError) -> HDF5Handle in
            let id = H5Dopen2(file.id, name, ckpt_H5P_DEFAULT())
            guard id >= 0 else { throw context.failure("H5Dopen2", "opening the dataset") }
            return HDF5Handle(id, .dataset)
        }
    }

    /// Where a dataset's elements are stored.
    enum Storage: Equatable {
        /// One run of bytes in the file.
        case contiguous
        /// Chunks found through a B-tree or other index, possibly filtered (deflate, shuffle).
        case chunked
        /// Inside the dataset's object header.
        case compact
        /// In other files: a virtual dataset's source files, or an external raw-data file list.
        /// Both name arbitrary paths on the reader's machine, so such datasets are never read.
        case otherFiles
    }

    /// How `dataset` stores its elements (`H5Pget_layout`, `H5Pget_external_count`).
    static func storage(of dataset: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> Storage {
        try HDF5Library.locked { () throws(CheckpointError) -> Storage in
            let id = H5Dget_create_plist(dataset.id)
            guard id >= 0 else { throw context.failure("H5Dget_create_plist", "reading the storage layout") }
            let creation = HDF5Handle(id, .propertyList)
            let external = H5Pget_external_count(creation.id)
            guard external >= 0 else { throw context.failure("H5Pget_external_count", "reading the storage layout") }
            if external > 0 { return .otherFiles }
            switch H5Pget_layout(creation.id) {
            case H5D_CONTIGUOUS: return .contiguous
            case H5D_CHUNKED: return .chunked
            case H5D_COMPACT: return .compact
            case H5D_VIRTUAL: return .otherFiles
            default: throw context.failure("H5Pget_layout", "reading the storage layout")
            }
        }
    }

    /// Where a contiguous dataset's bytes lie in the file, as libhdf5 declares them
    /// (`H5Dget_offset`: an absolute file offset, user block included; `H5Dget_storage_size`: the
    /// bytes allocated), or nil when no storage is allocated yet (the dataset reads as its fill
    /// value). Nothing here is checked against the file: the caller does that.
    static func contiguousExtent(of dataset: borrowing HDF5Handle) -> (offset: UInt64, size: UInt64)? {
        HDF5Library.locked { () -> (offset: UInt64, size: UInt64)? in
            let offset = H5Dget_offset(dataset.id)
            let size = H5Dget_storage_size(dataset.id)
            _ = HDF5ErrorStack.takeMessages()
            guard offset != haddr_t.max else { return nil }
            return (UInt64(offset), UInt64(size))
        }
    }

    /// The first filter in `dataset`'s pipeline that libhdf5 here cannot apply (a compression plugin
    /// such as Blosc that is not installed), as its id and name, or nil when every filter is
    /// available. Asked before reading, because H5Dread's own failure names only the plugin
    /// directory it searched. The name is the registered one (the file's own can be a sentence:
    /// "bitshuffle; see https://..."), else the one stored in the file.
    static func unavailableFilter(of dataset: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> (id: Int, name: String)? {
        try HDF5Library.locked { () throws(CheckpointError) -> (id: Int, name: String)? in
            let id = H5Dget_create_plist(dataset.id)
            guard id >= 0 else { throw context.failure("H5Dget_create_plist", "reading the filters") }
            let creation = HDF5Handle(id, .propertyList)
            let count = H5Pget_nfilters(creation.id)
            guard count >= 0 else { throw context.failure("H5Pget_nfilters", "reading the filters") }
            for index in 0..<UInt32(count) {
                var flags: UInt32 = 0, valueCount = 0, config: UInt32 = 0
                var name = [CChar](repeating: 0, count: 256)
                let filter = H5Pget_filter2(creation.id, index, &flags, &valueCount, nil, name.count, &name, &config)
                guard filter >= 0 else { throw context.failure("H5Pget_filter2", "reading the filters") }
                // A filter libhdf5 cannot load answers 0 or fails while searching the plugin path.
                let available = H5Zfilter_avail(filter)
                _ = HDF5ErrorStack.takeMessages()
                guard available <= 0 else { continue }
                let stored = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return (Int(filter), HDF5Filters.knownNames[Int(filter)] ?? (stored.isEmpty ? "unknown" : stored))
            }
            return nil
        }
    }

    /// The dataset's element type.
    static func elementType(of dataset: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5TypeFacts {
        try HDF5Library.locked { () throws(CheckpointError) -> HDF5TypeFacts in
            let type = H5Dget_type(dataset.id)
            guard type >= 0 else { throw context.failure("H5Dget_type", "reading the element type") }
            let handle = HDF5Handle(type, .datatype)
            return try facts(of: handle, context)
        }
    }

    private static func facts(of type: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5TypeFacts {
        let typeClass = H5Tget_class(type.id)
        guard typeClass != H5T_NO_CLASS else { throw context.failure("H5Tget_class", "reading the element type") }
        let size = H5Tget_size(type.id)
        guard size > 0 else { throw context.failure("H5Tget_size", "reading the element type") }
        var facts = HDF5TypeFacts(kind: .other(""), size: size, precision: size * 8, bitOffset: 0, bigEndian: false)
        switch typeClass {
        case H5T_INTEGER, H5T_FLOAT:
            let precision = H5Tget_precision(type.id)
            let offset = H5Tget_offset(type.id)
            let order = H5Tget_order(type.id)
            guard precision > 0, offset >= 0, order != H5T_ORDER_ERROR else {
                throw context.failure("H5Tget_precision", "reading the element type")
            }
            facts.precision = precision
            facts.bitOffset = Int(offset)
            facts.bigEndian = order == H5T_ORDER_BE
            if typeClass == H5T_INTEGER {
                let sign = H5Tget_sign(type.id)
                guard sign != H5T_SGN_ERROR else { throw context.failure("H5Tget_sign", "reading the element type") }
                facts.kind = .integer(signed: sign == H5T_SGN_2)
            } else {
                var signBit = 0, exponentBit = 0, exponentBits = 0, mantissaBit = 0, mantissaBits = 0
                guard H5Tget_fields(type.id, &signBit, &exponentBit, &exponentBits, &mantissaBit, &mantissaBits) >= 0 else {
                    throw context.failure("H5Tget_fields", "reading the floating-point layout")
                }
                let bias = H5Tget_ebias(type.id)
                let norm = H5Tget_norm(type.id)
                guard bias > 0, norm != H5T_NORM_ERROR else { throw context.failure("H5Tget_ebias", "reading the floating-point layout") }
                facts.kind = .float(HDF5FloatLayout(
                    signBit: signBit, exponentBit: exponentBit, exponentBits: exponentBits,
                    mantissaBit: mantissaBit, mantissaBits: mantissaBits, exponentBias: bias,
                    impliedLeadingBit: norm == H5T_NORM_IMPLIED))
            }
        case H5T_ENUM:
            facts.kind = try enumeration(type, context)
        case H5T_STRING: facts.kind = .other("string")
        case H5T_COMPOUND: facts.kind = .other("compound")
        case H5T_OPAQUE: facts.kind = .opaque
        case H5T_BITFIELD: facts.kind = .other("bitfield")
        case H5T_REFERENCE: facts.kind = .other("reference")
        case H5T_VLEN: facts.kind = .other("variable-length sequence")
        case H5T_ARRAY: facts.kind = .other("array-of-arrays")
        case H5T_TIME: facts.kind = .other("time")
        default: facts.kind = .other("unknown type class \(typeClass.rawValue)")
        }
        return facts
    }

    /// An enum type's members and base size. Only small integer enums are looked at in detail.
    private static func enumeration(_ type: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5TypeFacts.Kind {
        let base = H5Tget_super(type.id)
        guard base >= 0 else { throw context.failure("H5Tget_super", "reading the enum type") }
        let baseHandle = HDF5Handle(base, .datatype)
        let baseFacts = try facts(of: baseHandle, context)
        guard case let .integer(signed) = baseFacts.kind, baseFacts.size <= 8 else {
            return .other("enum")
        }
        let count = H5Tget_nmembers(type.id)
        guard count >= 0 else { throw context.failure("H5Tget_nmembers", "reading the enum type") }
        guard count <= 64 else { return .enumeration(baseSize: baseFacts.size, members: [:]) }
        var members: [String: Int64] = [:]
        for index in 0..<UInt32(count) {
            guard let name = H5Tget_member_name(type.id, index) else {
                throw context.failure("H5Tget_member_name", "reading the enum type")
            }
            let memberName = String(cString: name)
            _ = H5free_memory(name)
            var raw: UInt64 = 0
            guard H5Tget_member_value(type.id, index, &raw) >= 0 else {
                throw context.failure("H5Tget_member_value", "reading the enum type")
            }
            // The value is in the base type's memory layout: the low `size` bytes on this
            // little-endian host.
            let bits = baseFacts.size * 8
            var value = Int64(bitPattern: bits == 64 ? raw : raw & ((1 << UInt64(bits)) - 1))
            if signed, bits < 64, value >= Int64(1) << (bits - 1) { value -= Int64(1) << bits }
            members[memberName] = value
        }
        return .enumeration(baseSize: baseFacts.size, members: members)
    }

    /// The dataset's dimensions (empty for a scalar), or nil for a null dataspace (no data at all).
    static func shape(of dataset: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> [Int]? {
        try HDF5Library.locked { () throws(CheckpointError) -> [Int]? in
            let space = H5Dget_space(dataset.id)
            guard space >= 0 else { throw context.failure("H5Dget_space", "reading the dataspace") }
            let handle = HDF5Handle(space, .dataspace)
            return try dimensions(of: handle, context)
        }
    }

    private static func dimensions(of space: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> [Int]? {
        switch H5Sget_simple_extent_type(space.id) {
        case H5S_NULL: return nil
        case H5S_SCALAR: return []
        case H5S_SIMPLE:
            let rank = H5Sget_simple_extent_ndims(space.id)
            guard rank >= 0 else { throw context.failure("H5Sget_simple_extent_ndims", "reading the dataspace") }
            guard rank <= HDF5File.maxRank else {
                throw .invalidTensor(path: context.path, tensor: context.object, reason: "\(rank) dimensions (the limit is \(HDF5File.maxRank))")
            }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            guard H5Sget_simple_extent_dims(space.id, &dims, nil) == rank else {
                throw context.failure("H5Sget_simple_extent_dims", "reading the dataspace")
            }
            var shape: [Int] = []
            for dim in dims {
                guard let size = Int(exactly: dim) else {
                    throw .invalidTensor(path: context.path, tensor: context.object, reason: "dimension \(dim) is too large")
                }
                shape.append(size)
            }
            return shape
        default:
            throw context.failure("H5Sget_simple_extent_type", "reading the dataspace")
        }
    }

    /// The names of `object`'s attributes, in strcmp order.
    static func attributeNames(of object: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> [String] {
        final class Collected { var names: [String] = [] }
        let collected = Collected()
        try HDF5Library.locked { () throws(CheckpointError) in
            var index: hsize_t = 0
            let status = H5Aiterate2(object.id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
                guard let name, let context else { return -1 }
                Unmanaged<Collected>.fromOpaque(context).takeUnretainedValue().names.append(String(cString: name))
                return 0
            }, Unmanaged.passUnretained(collected).toOpaque())
            guard status >= 0 else { throw context.failure("H5Aiterate2", "listing attributes") }
        }
        return withExtendedLifetime(collected) { collected.names }
    }

    /// Whether `object` has an attribute called `name`.
    static func hasAttribute(_ name: String, on object: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> Bool {
        try HDF5Library.locked { () throws(CheckpointError) -> Bool in
            let exists = H5Aexists(object.id, name)
            guard exists >= 0 else { throw context.failure("H5Aexists", "looking for attribute '\(name)'") }
            return exists > 0
        }
    }

    /// The values of the string attribute `name` of `object` (a scalar or a one-dimensional array of
    /// fixed- or variable-length strings; an empty array of any type is an empty list), or nil when
    /// it is not a string attribute. Bytes that are not UTF-8 become U+FFFD.
    static func stringAttribute(_ name: String, of object: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5StringAttribute? {
        try HDF5Library.locked { () throws(CheckpointError) -> HDF5StringAttribute? in
            let attributeID = H5Aopen(object.id, name, ckpt_H5P_DEFAULT())
            guard attributeID >= 0 else { throw context.failure("H5Aopen", "opening attribute '\(name)'") }
            let attribute = HDF5Handle(attributeID, .attribute)
            let typeID = H5Aget_type(attribute.id)
            guard typeID >= 0 else { throw context.failure("H5Aget_type", "reading attribute '\(name)'") }
            let type = HDF5Handle(typeID, .datatype)
            let spaceID = H5Aget_space(attribute.id)
            guard spaceID >= 0 else { throw context.failure("H5Aget_space", "reading attribute '\(name)'") }
            let space = HDF5Handle(spaceID, .dataspace)
            // An empty list has no strings to type it: Keras' `weight_names` of a layer without
            // weights is `np.asarray([])`, an empty float64 array.
            guard let shape = try dimensions(of: space, context) else { return HDF5StringAttribute(values: [], isScalar: false) }
            guard shape.count <= 1 else { return nil }
            let count = shape.first ?? 1
            if count == 0 { return HDF5StringAttribute(values: [], isScalar: false) }
            guard H5Tget_class(type.id) == H5T_STRING else { return nil }
            guard count <= HDF5File.maxAttributeStrings else {
                throw .invalidTensor(path: context.path, tensor: context.object, reason: "attribute '\(name)' holds \(count) strings (the limit is \(HDF5File.maxAttributeStrings))")
            }

            let variable = H5Tis_variable_str(type.id)
            guard variable >= 0 else { throw context.failure("H5Tis_variable_str", "reading attribute '\(name)'") }
            var values: [String] = []
            values.reserveCapacity(count)
            if variable > 0 {
                let memoryID = H5Tcopy(ckpt_H5T_C_S1())
                guard memoryID >= 0 else { throw context.failure("H5Tcopy", "reading attribute '\(name)'") }
                let memory = HDF5Handle(memoryID, .datatype)
                guard H5Tset_size(memory.id, ckpt_H5T_VARIABLE()) >= 0,
                      H5Tset_cset(memory.id, H5Tget_cset(type.id)) >= 0 else {
                    throw context.failure("H5Tset_size", "reading attribute '\(name)'")
                }
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                guard H5Aread(attribute.id, memory.id, &pointers) >= 0 else {
                    throw context.failure("H5Aread", "reading attribute '\(name)'")
                }
                for pointer in pointers {
                    values.append(pointer.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) } ?? "")
                }
                guard H5Dvlen_reclaim(memory.id, space.id, ckpt_H5P_DEFAULT(), &pointers) >= 0 else {
                    throw context.failure("H5Dvlen_reclaim", "reading attribute '\(name)'")
                }
            } else {
                let size = H5Tget_size(type.id)
                guard size > 0 else { throw context.failure("H5Tget_size", "reading attribute '\(name)'") }
                let spacePadded = H5Tget_strpad(type.id) == H5T_STR_SPACEPAD
                let (total, overflow) = size.multipliedReportingOverflow(by: count)
                guard !overflow, total <= HDF5File.maxAttributeBytes else {
                    throw .invalidTensor(path: context.path, tensor: context.object, reason: "attribute '\(name)' declares \(count) strings of \(size) bytes (the limit is \(HDF5File.maxAttributeBytes) bytes)")
                }
                var bytes = [UInt8](repeating: 0, count: total)
                guard H5Aread(attribute.id, type.id, &bytes) >= 0 else {
                    throw context.failure("H5Aread", "reading attribute '\(name)'")
                }
                for index in 0..<count {
                    var value = bytes[(index * size)..<((index + 1) * size)]
                    if let nul = value.firstIndex(of: 0) { value = value[..<nul] }
                    if spacePadded { while value.last == 0x20 { value = value.dropLast() } }
                    values.append(String(decoding: value, as: UTF8.self))
                }
            }
            return HDF5StringAttribute(values: values, isScalar: shape.isEmpty)
        }
    }

    /// Reads the whole dataset into `buffer`, which holds exactly its elements in `memoryType`.
    /// libhdf5 undoes chunking and filters (deflate, shuffle, ...) and converts the byte order.
    static func read(_ dataset: borrowing HDF5Handle, as memoryType: HDF5MemoryType, into buffer: UnsafeMutableRawBufferPointer, _ context: HDF5Context) throws(CheckpointError) {
        try HDF5Library.locked { () throws(CheckpointError) in
            let memory = try makeMemoryType(memoryType, for: dataset, context)
            try checkSize(of: memory, for: dataset, bufferBytes: buffer.count, context)
            guard let base = buffer.baseAddress, buffer.count > 0 else { return }
            guard H5Dread(dataset.id, memory.id, ckpt_H5S_ALL(), ckpt_H5S_ALL(), ckpt_H5P_DEFAULT(), base) >= 0 else {
                throw context.failure("H5Dread", "reading the data")
            }
        }
    }

    /// Overwrites every element of the dataset with `bytes` (elements in `memoryType`).
    static func write(_ dataset: borrowing HDF5Handle, as memoryType: HDF5MemoryType, from bytes: UnsafeRawBufferPointer, _ context: HDF5Context) throws(CheckpointError) {
        try HDF5Library.locked { () throws(CheckpointError) in
            let memory = try makeMemoryType(memoryType, for: dataset, context)
            try checkSize(of: memory, for: dataset, bufferBytes: bytes.count, context)
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            guard H5Dwrite(dataset.id, memory.id, ckpt_H5S_ALL(), ckpt_H5S_ALL(), ckpt_H5P_DEFAULT(), base) >= 0 else {
                throw context.failure("H5Dwrite", "writing the data")
            }
        }
    }

    private static func makeMemoryType(_ memoryType: HDF5MemoryType, for dataset: borrowing HDF5Handle, _ context: HDF5Context) throws(CheckpointError) -> HDF5Handle {
        let id: hid_t
        switch memoryType {
        case let .integer(size, signed):
            switch (size, signed) {
            case (1, true): id = H5Tcopy(ckpt_H5T_STD_I8LE())
            case (1, false): id = H5Tcopy(ckpt_H5T_STD_U8LE())
            case (2, true): id = H5Tcopy(ckpt_H5T_STD_I16LE())
            case (2, false): id = H5Tcopy(ckpt_H5T_STD_U16LE())
            case (4, true): id = H5Tcopy(ckpt_H5T_STD_I32LE())
            case (4, false): id = H5Tcopy(ckpt_H5T_STD_U32LE())
            case (8, true): id = H5Tcopy(ckpt_H5T_STD_I64LE())
            case (8, false): id = H5Tcopy(ckpt_H5T_STD_U64LE())
            default: preconditionFailure("no standard \(size)-byte integer type")
            }
        case let .ieeeFloat(size):
            precondition(size == 4 || size == 8, "no standard \(size)-byte float type")
            id = H5Tcopy(size == 4 ? ckpt_H5T_IEEE_F32LE() : ckpt_H5T_IEEE_F64LE())
        case .ownType, .ownTypeLittleEndian:
            // H5Dget_type's copy is read-only when the dataset's type is: copy it again to change it.
            let stored = H5Dget_type(dataset.id)
            guard stored >= 0 else { throw context.failure("H5Dget_type", "making the memory type") }
            let storedHandle = HDF5Handle(stored, .datatype)
            id = H5Tcopy(storedHandle.id)
        }
        guard id >= 0 else { throw context.failure("H5Tcopy", "making the memory type") }
        let memory = HDF5Handle(id, .datatype)
        if memoryType == .ownTypeLittleEndian {
            guard H5Tset_order(memory.id, H5T_ORDER_LE) >= 0 else {
                throw context.failure("H5Tset_order", "making the memory type")
            }
        }
        return memory
    }

    /// Checks that `bufferBytes` is the dataset's element count times the memory type's size.
    private static func checkSize(of memory: borrowing HDF5Handle, for dataset: borrowing HDF5Handle, bufferBytes: Int, _ context: HDF5Context) throws(CheckpointError) {
        let spaceID = H5Dget_space(dataset.id)
        guard spaceID >= 0 else { throw context.failure("H5Dget_space", "reading the dataspace") }
        let space = HDF5Handle(spaceID, .dataspace)
        let count = H5Sget_simple_extent_npoints(space.id)
        let size = H5Tget_size(memory.id)
        guard count >= 0, size > 0 else { throw context.failure("H5Sget_simple_extent_npoints", "reading the dataspace") }
        let (needed, overflow) = Int(count).multipliedReportingOverflow(by: size)
        guard !overflow, needed == bufferBytes else {
            throw .invalidTensor(path: context.path, tensor: context.object, reason: "\(count) elements of \(size) bytes do not fit a buffer of \(bufferBytes) bytes")
        }
    }
}
