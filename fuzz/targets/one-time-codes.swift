// libFuzzer target: submitted second factors (SecondFactorCode): TOTP codes
// and recovery codes, and the constant-time comparison they go through.
@testable import Citadel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneTimeCodes(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    switch SecondFactorCode(text) {
    case .totp(let digits):
        precondition(digits.utf8.count == SecondFactorCode.totpDigits && digits.utf8.allSatisfy { $0 >= 48 && $0 <= 57 })
    case .recovery(let code):
        precondition(code.count == SecondFactorCode.recoveryLength)
        precondition(SecondFactorCode(SecondFactorCode.format(recoveryCode: code)) == .recovery(code), "a shown code reads back")
    case .unusable: break
    }
    let half = bytes.count / 2
    let equal = ConstantTime.equal(Array(bytes[..<half]), Array(bytes[half...]))
    precondition(equal == (Array(bytes[..<half]) == Array(bytes[half...])))
    return 0
}
