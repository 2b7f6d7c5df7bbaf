// libFuzzer target: GNU ld scripts (LinkerScript), read when a runtime's
// link inputs are resolved.
@testable import Forge

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLinkerScript(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let inputs = LinkerScript.inputs(of: text) {
        precondition(!inputs.isEmpty && inputs.allSatisfy { !$0.isEmpty && !$0.contains("..") && !$0.contains("(") })
    }
    return 0
}
