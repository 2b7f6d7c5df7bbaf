// libFuzzer target: the ELF reader that computes the boxes' library mounts
// (ELFDependencies). Every offset and size it reads comes from the input.
@testable import Forge

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let parsed = ELFDependencies.parse { offset, count in
        guard offset >= 0, count >= 0, offset <= bytes.count else { return nil }
        return Array(bytes[offset..<(offset + min(count, bytes.count - offset))])
    }
    if let parsed {
        precondition(parsed.needed.count <= 1_024, "DT_NEEDED names are bounded")
        precondition(parsed.needed.allSatisfy { !$0.isEmpty && $0.utf8.count <= ELFDependencies.maximumStringBytes })
    }
    return 0
}
