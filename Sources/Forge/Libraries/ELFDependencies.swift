/// What the dynamic loader needs to start one ELF file: its interpreter
/// (`PT_INTERP`), the libraries it names (`DT_NEEDED`) and where it asks for
/// them to be looked up first (`DT_RUNPATH`, or `DT_RPATH` when there is none).
///
/// Only 64-bit little-endian files are read, the only kind the runtimes run
/// on. Every offset and size comes from the file and is checked before use:
/// a truncated or hostile file gives `nil` or fewer names, never a trap.
struct ELFDependencies: Equatable {
    /// The first bytes of every ELF file.
    static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]

    var interpreter: String?
    var needed: [String]
    var searchPath: [String]
    /// `ET_DYN` with a `PT_DYNAMIC` segment: a shared object or a
    /// position-independent executable.
    var isShared: Bool

    /// Bounds that keep a hostile header from asking for unbounded work.
    static let maximumProgramHeaders = 512
    static let maximumDynamicEntries = 8_192
    static let maximumStringBytes = 4_096

    /// Parses through `read(offset, count)`, which answers at most `count`
    /// bytes from `offset` (fewer at the end of the file) or nil on failure.
    static func parse(read: (Int, Int) -> [UInt8]?) -> ELFDependencies? {
        guard let header = read(0, 64), header.count == 64, Array(header[0..<4]) == magic,
            header[4] == 2,  // ELFCLASS64
            header[5] == 1  // little-endian
        else { return nil }
        let bytes = LittleEndianBytes(header)
        guard let type = bytes.u16(16), let programOffset = bytes.int(32, width: 8),
            let entrySize = bytes.u16(54).map(Int.init), let entryCount = bytes.u16(56).map(Int.init),
            entrySize >= 56, entryCount <= maximumProgramHeaders
        else { return nil }
        guard entryCount > 0, let tableSize = checked(entrySize.multipliedReportingOverflow(by: entryCount)),
            let table = read(programOffset, tableSize), table.count == tableSize
        else {
            return ELFDependencies(interpreter: nil, needed: [], searchPath: [], isShared: false)
        }
        let programs = LittleEndianBytes(table)
        var loads: [(virtual: Int, offset: Int, size: Int)] = []
        var dynamic: (offset: Int, size: Int)?
        var interpreter: String?
        for index in 0..<entryCount {
            let base = index * entrySize
            guard let kind = programs.u32(base), let offset = programs.int(base + 8, width: 8),
                let virtual = programs.int(base + 16, width: 8), let fileSize = programs.int(base + 32, width: 8)
            else { return nil }
            switch kind {
            case 1: loads.append((virtual, offset, fileSize))  // PT_LOAD
            case 2: dynamic = (offset, fileSize)  // PT_DYNAMIC
            case 3:  // PT_INTERP
                interpreter = string(at: offset, limit: min(fileSize, maximumStringBytes), read: read)
            default: break
            }
        }
        guard let dynamic else {
            return ELFDependencies(interpreter: interpreter, needed: [], searchPath: [], isShared: false)
        }
        let dynamicSize = min(dynamic.size, maximumDynamicEntries * 16)
        guard let entries = read(dynamic.offset, dynamicSize) else { return nil }
        let table16 = LittleEndianBytes(entries)
        var neededOffsets: [Int] = []
        var runPath: Int?
        var rPath: Int?
        var stringTable: Int?
        var index = 0
        while index + 16 <= entries.count {
            guard let tag = table16.u64(index), let value = table16.int(index + 8, width: 8) else { break }
            index += 16
            switch tag {
            case 0: index = entries.count  // DT_NULL
            case 1: neededOffsets.append(value)  // DT_NEEDED
            case 5: stringTable = value  // DT_STRTAB, a virtual address
            case 15: rPath = value  // DT_RPATH
            case 29: runPath = value  // DT_RUNPATH
            default: break
            }
        }
        // The string table is named by address: find the loaded segment that holds it.
        let stringsAt = stringTable.flatMap { address in
            loads.first(where: { address >= $0.virtual && address - $0.virtual < $0.size })
                .flatMap { checked((address - $0.virtual).addingReportingOverflow($0.offset)) }
        }
        func name(_ offset: Int) -> String? {
            guard let stringsAt, let position = checked(stringsAt.addingReportingOverflow(offset)) else { return nil }
            return string(at: position, limit: maximumStringBytes, read: read)
        }
        let searchPath = (runPath ?? rPath).flatMap(name).map { $0.split(separator: ":").map(String.init) } ?? []
        return ELFDependencies(
            interpreter: interpreter, needed: neededOffsets.prefix(1_024).compactMap(name), searchPath: searchPath,
            isShared: type == 3  // ET_DYN
        )
    }

    /// A NUL-terminated string of at most `limit` bytes at `offset`.
    private static func string(at offset: Int, limit: Int, read: (Int, Int) -> [UInt8]?) -> String? {
        guard limit > 0, let bytes = read(offset, limit), let end = bytes.firstIndex(of: 0), end > 0 else { return nil }
        return String(validating: bytes[0..<end], as: UTF8.self)
    }
}

/// Bounds-checked little-endian loads from a byte array.
private struct LittleEndianBytes {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func u16(_ at: Int) -> UInt16? { load(at, width: 2).map { UInt16(truncatingIfNeeded: $0) } }
    func u32(_ at: Int) -> UInt32? { load(at, width: 4).map { UInt32(truncatingIfNeeded: $0) } }
    func u64(_ at: Int) -> UInt64? { load(at, width: 8) }

    /// A value that must also fit a non-negative `Int` (offsets and sizes).
    func int(_ at: Int, width: Int) -> Int? {
        load(at, width: width).flatMap { Int(exactly: $0) }
    }

    private func load(_ at: Int, width: Int) -> UInt64? {
        guard at >= 0, width <= 8, at <= bytes.count - width else { return nil }
        var value: UInt64 = 0
        for offset in (0..<width).reversed() { value = value << 8 | UInt64(bytes[at + offset]) }
        return value
    }
}

/// The value of a reported-overflow operation, or nil when it overflowed.
private func checked(_ result: (partialValue: Int, overflow: Bool)) -> Int? {
    result.overflow ? nil : result.partialValue
}
