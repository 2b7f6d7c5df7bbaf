// libFuzzer target: access tokens as sent (UnverifiedAccessToken): the split,
// base64url, the header, and, as if the signature had held, the claims.
@testable import Citadel
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    if let token = try? UnverifiedAccessToken(parsing: text) {
        precondition(token.signingInput.count < text.utf8.count, "the signing input is a prefix of the token")
        _ = try? token.checkingClaimsOfAVerifiedSignature(issuer: "https://talos.test", audience: "talos", now: Date(timeIntervalSince1970: 1_800_000_000))
    }
    // The input as a payload under a well-formed header, so claim parsing is
    // reached without a signature to guess.
    let header = Base64URL.encode(Array(#"{"alg":"EdDSA","kid":"k","typ":"at+jwt"}"#.utf8))
    let crafted = header + "." + Base64URL.encode(bytes) + "." + Base64URL.encode([UInt8](repeating: 0, count: 64))
    if let token = try? UnverifiedAccessToken(parsing: crafted) {
        precondition(token.kid == "k" && token.signature.count == 64)
        if let verified = try? token.checkingClaimsOfAVerifiedSignature(issuer: "https://talos.test", audience: "talos", now: Date(timeIntervalSince1970: 1_800_000_000)) {
            precondition(verified.claims.exp > 1_800_000_000 && verified.claims.aud == "talos")
        }
    }
    if let decoded = Base64URL.decode(text) { precondition(Base64URL.decode(Base64URL.encode(decoded)) == decoded) }
    return 0
}
