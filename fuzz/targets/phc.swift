// libFuzzer target: stored argon2id PHC strings (Argon2Parameters).
@testable import Citadel
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPHC(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let parameters = Argon2Parameters(phc: text) { _ = parameters.description }
    return 0
}
