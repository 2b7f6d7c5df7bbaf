import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TalosCore

/// Encrypts small secrets at rest (TOTP secrets, signing keys) with
/// AES-256-GCM under a key derived from the master key for one purpose, with
/// the owning record's id as associated data, so a sealed value copied to
/// another row does not open.
public struct SecretSealer: Sendable {
    let key: SymmetricKey

    /// - Parameter purpose: separates the keys of different uses.
    public init(masterKey: Secret<[UInt8]>, purpose: String) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: masterKey.unsafeValue),
            info: Data(("talos " + purpose + " v1").utf8), outputByteCount: 32
        )
    }

    public func seal(_ plaintext: [UInt8], boundTo context: String) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw CitadelError.corruptData("sealed secret") }
        return combined.base64EncodedString()
    }

    public func open(_ sealed: String, boundTo context: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: sealed) else { throw CitadelError.corruptData("sealed secret") }
        do {
            return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key, authenticating: Data(context.utf8)))
        } catch {
            throw CitadelError.corruptData("sealed secret")
        }
    }

    /// A keyed hash for stored one-time codes: without the master key, a
    /// stolen database does not let anyone test guesses offline.
    public func mac(_ text: String) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key))
    }
}
