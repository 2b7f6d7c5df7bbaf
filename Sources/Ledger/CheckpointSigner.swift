public import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TalosCore

/// Signs audit checkpoints with an Ed25519 key that lives in the secrets
/// directory, never in the database, so rewriting the database cannot forge them.
public struct CheckpointSigner: Sendable {
    private let key: Curve25519.Signing.PrivateKey
    public let keyID: String

    public init(key: Curve25519.Signing.PrivateKey) {
        self.key = key
        self.keyID = Self.keyID(of: key.publicKey)
    }

    public var publicKey: Curve25519.Signing.PublicKey { key.publicKey }

    public func checkpoint(for record: AuditRecord, time: String) throws -> AuditCheckpoint {
        var checkpoint = AuditCheckpoint(seq: record.seq, hash: record.hash, keyID: keyID, signature: "", time: time)
        checkpoint.signature = Data(try key.signature(for: checkpoint.signedMessage)).base64EncodedString()
        return checkpoint
    }

    public static func keyID(of publicKey: Curve25519.Signing.PublicKey) -> String {
        String(Hex.encode(SHA256.hash(data: publicKey.rawRepresentation)).prefix(16))
    }

    /// True if `checkpoint` carries a valid signature by `publicKey`.
    public static func isValid(_ checkpoint: AuditCheckpoint, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let signature = Data(base64Encoded: checkpoint.signature) else { return false }
        return publicKey.isValidSignature(signature, for: checkpoint.signedMessage)
    }
}
