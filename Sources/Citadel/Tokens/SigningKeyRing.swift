public import Crypto
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import TalosCore

/// The Ed25519 keys that sign access tokens.
///
/// Keys live in the database, their private halves sealed under the master
/// key, so every process sharing the database signs with the same current key
/// and trusts the same set. A key signs for ``rotation`` and is then replaced
/// (by whichever process first needs a signature); it stays published until
/// every token it signed has expired.
public actor SigningKeyRing {
    public struct Published: Sendable {
        public let kid: String
        public let publicKey: Curve25519.Signing.PublicKey
        let privateKey: Curve25519.Signing.PrivateKey?
        let signUntil: String
        let publishUntil: String
    }

    let store: any IdentityStore
    let sealer: SecretSealer
    public let rotation: TimeInterval
    public let tokenLifetime: TimeInterval
    /// How often an unknown `kid` may trigger a reload, so forged kids cannot
    /// turn into a database query each.
    let reloadInterval: TimeInterval = 5

    private var keys: [String: Published] = [:]
    private var loadedAt: Date?

    public init(store: any IdentityStore, masterKey: Secret<[UInt8]>, rotation: TimeInterval, tokenLifetime: TimeInterval) {
        self.store = store
        self.sealer = SecretSealer(masterKey: masterKey, purpose: "jwt signing key")
        self.rotation = rotation
        self.tokenLifetime = tokenLifetime
    }

    /// The key to sign with now, creating the next one when the current one
    /// has served its period.
    public func signingKey(now: Date) async throws -> Published {
        let stamp = Timestamp.string(from: now)
        if let key = currentKey(at: stamp) { return key }
        try await reload(now: now)
        if let key = currentKey(at: stamp) { return key }
        _ = try await store.insertSigningKey(try makeKey(now: now), unlessSignableAt: stamp)
        try await store.deleteSigningKeys(publishedBefore: Timestamp.string(from: now.addingTimeInterval(-86_400)))
        try await reload(now: now)
        guard let key = currentKey(at: stamp) else { throw CitadelError.corruptData("signing keys") }
        return key
    }

    private func currentKey(at stamp: String) -> Published? {
        keys.values.filter { $0.privateKey != nil && $0.signUntil > stamp }.max { $0.signUntil < $1.signUntil }
    }

    /// A published key by `kid`, or nil.
    public func verificationKey(kid: String, now: Date) async throws -> Curve25519.Signing.PublicKey? {
        let stamp = Timestamp.string(from: now)
        if let key = keys[kid] { return key.publishUntil > stamp ? key.publicKey : nil }
        if let loadedAt, now.timeIntervalSince(loadedAt) < reloadInterval { return nil }
        try await reload(now: now)
        return keys[kid].flatMap { $0.publishUntil > stamp ? $0.publicKey : nil }
    }

    /// Every published key, newest first, as a JWK Set (RFC 7517, RFC 8037).
    public func jwks(now: Date) async throws -> [[String: String]] {
        if loadedAt.map({ now.timeIntervalSince($0) >= reloadInterval }) ?? true { try await reload(now: now) }
        let stamp = Timestamp.string(from: now)
        return keys.values.filter { $0.publishUntil > stamp }.sorted { $0.signUntil > $1.signUntil }.map { key in
            [
                "kty": "OKP", "crv": "Ed25519", "x": Base64URL.encode(Array(key.publicKey.rawRepresentation)),
                "kid": key.kid, "alg": AccessTokenCodec.algorithm, "use": "sig",
            ]
        }
    }

    private func reload(now: Date) async throws {
        var loaded: [String: Published] = [:]
        for stored in try await store.signingKeys() {
            guard let rawPublic = Base64URL.decode(stored.publicKey),
                let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: rawPublic)
            else { throw CitadelError.corruptData("signing key \(stored.kid)") }
            let privateKey = try Curve25519.Signing.PrivateKey(
                rawRepresentation: try sealer.open(stored.sealedPrivateKey, boundTo: stored.kid)
            )
            guard privateKey.publicKey.rawRepresentation == publicKey.rawRepresentation else {
                throw CitadelError.corruptData("signing key \(stored.kid)")
            }
            loaded[stored.kid] = Published(
                kid: stored.kid, publicKey: publicKey, privateKey: privateKey, signUntil: stored.signUntil,
                publishUntil: stored.publishUntil
            )
        }
        keys = loaded
        loadedAt = now
    }

    private func makeKey(now: Date) throws -> StoredSigningKey {
        let key = Curve25519.Signing.PrivateKey()
        let x = Base64URL.encode(Array(key.publicKey.rawRepresentation))
        let kid = Self.thumbprint(x: x)
        let signUntil = now.addingTimeInterval(rotation)
        return StoredSigningKey(
            kid: kid, sealedPrivateKey: try sealer.seal(Array(key.rawRepresentation), boundTo: kid), publicKey: x,
            createdAt: Timestamp.string(from: now), signUntil: Timestamp.string(from: signUntil),
            publishUntil: Timestamp.string(from: signUntil.addingTimeInterval(CitadelSettings.maximumAccessTokenLifetime + 60))
        )
    }

    /// RFC 7638 JWK thumbprint of an Ed25519 key (RFC 8037 §2).
    static func thumbprint(x: String) -> String {
        let canonical = #"{"crv":"Ed25519","kty":"OKP","x":"\#(x)"}"#
        return Base64URL.encode(Array(SHA256.hash(data: Data(canonical.utf8))))
    }
}
