/// Signing and verifying access tokens (EdDSA): the half of the codec that
/// needs keys. Parsing and claim checks are in `UnverifiedAccessToken`.
public import Crypto
public import Foundation

extension AccessTokenCodec {
    struct Header: Codable {
        var alg: String
        var kid: String
        var typ: String
    }

    public static func sign(_ claims: AccessTokenClaims, kid: String, key: Curve25519.Signing.PrivateKey) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = try encoder.encode(Header(alg: algorithm, kid: kid, typ: type))
        let payload = try encoder.encode(claims)
        let input = Base64URL.encode(Array(header)) + "." + Base64URL.encode(Array(payload))
        let signature = try key.signature(for: Data(input.utf8))
        return input + "." + Base64URL.encode(Array(signature))
    }

    /// Verifies `token`; `key(kid)` returns a published key or nil.
    public static func verify(
        _ token: String, issuer: String, audience: String, now: Date,
        key: (String) async throws -> Curve25519.Signing.PublicKey?
    ) async throws(Failure) -> VerifiedAccessToken {
        let unverified = try UnverifiedAccessToken(parsing: token)
        let publicKey: Curve25519.Signing.PublicKey?
        do {
            publicKey = try await key(unverified.kid)
        } catch {
            throw .unknownKey
        }
        guard let publicKey else { throw .unknownKey }
        guard unverified.signature.count == 64, publicKey.isValidSignature(unverified.signature, for: unverified.signingInput) else {
            throw .badSignature
        }
        return try unverified.checkingClaimsOfAVerifiedSignature(issuer: issuer, audience: audience, now: now)
    }
}
