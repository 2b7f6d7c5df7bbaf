// libFuzzer target: numbers from hostile text (UntrustedNumber).
@testable import TalosCore
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNumbers(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let value = UntrustedNumber.finite(text) {
        precondition(value.isFinite, "finite() returned a non-finite value")
        for range in [0...0, 1...256, -5...5, 0...Int.max, Int.min...Int.max] {
            if let whole = UntrustedNumber.integer(value, in: range) { precondition(range.contains(whole)) }
        }
    }
    for range in [1...200, 0...Int.max] {
        if let whole = UntrustedNumber.integer(text, in: range) { precondition(range.contains(whole)) }
    }
    return 0
}
