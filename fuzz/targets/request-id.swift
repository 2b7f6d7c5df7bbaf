// libFuzzer target: client-supplied X-Request-ID values (RequestID).
@testable import TalosCore
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestID(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let id = RequestID(validating: text) {
        precondition(id.value == text, "a kept id is kept as sent")
        precondition(!id.value.isEmpty && id.value.utf8.count <= 64)
    }
    return 0
}
