public import Crypto
public import Foundation
public import TalosCore

/// The claims of a Talos access token (RFC 9068 shape).
public struct AccessTokenClaims: Codable, Sendable, Equatable {
    public var iss: String
    public var sub: String
    public var aud: String
    public var exp: Int64
    public var iat: Int64
    public var nbf: Int64
    public var jti: String
    public var sid: String
    public var role: String
    public var amr: [String]
    public var auth_time: Int64

    public init(
        iss: String, sub: String, aud: String, exp: Int64, iat: Int64, nbf: Int64, jti: String, sid: String, role: String,
        amr: [String], auth_time: Int64
    ) {
        self.iss = iss
        self.sub = sub
        self.aud = aud
        self.exp = exp
        self.iat = iat
        self.nbf = nbf
        self.jti = jti
        self.sid = sid
        self.role = role
        self.amr = amr
        self.auth_time = auth_time
    }
}

/// A token whose signature, key, algorithm, issuer, audience and times all
/// checked out.
public struct VerifiedAccessToken: Sendable, Equatable {
    public let claims: AccessTokenClaims
    public let accountID: UUID
    public let sessionID: UUID
    public let role: Role
}

/// Compact JWS with EdDSA (Ed25519) only.
///
/// Verification is deliberately narrow: the header must say exactly
/// `alg: EdDSA`, `typ: at+jwt` and a `kid` we published, and nothing else, so
/// `alg: none`, HMAC with the public key as secret, an unknown or missing
/// `kid`, and `crit` extensions all fail before any signature is checked.
public enum AccessTokenCodec {
    public static let type = "at+jwt"
    public static let algorithm = "EdDSA"
    /// Longer tokens are refused unread.
    public static let maximumLength = 4096
    /// Tolerated clock difference for `nbf` and `iat`.
    public static let leewaySeconds: Int64 = 30

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

    public enum Failure: String, Error, Sendable {
        case malformed
        case unsupportedHeader = "unsupported_header"
        case unknownKey = "unknown_key"
        case badSignature = "bad_signature"
        case wrongIssuer = "wrong_issuer"
        case wrongAudience = "wrong_audience"
        case expired
        case notYetValid = "not_yet_valid"
        case badClaims = "bad_claims"
    }

    /// Verifies `token`; `key(kid)` returns a published key or nil.
    public static func verify(
        _ token: String, issuer: String, audience: String, now: Date,
        key: (String) async throws -> Curve25519.Signing.PublicKey?
    ) async throws(Failure) -> VerifiedAccessToken {
        guard token.utf8.count <= maximumLength else { throw .malformed }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerBytes = Base64URL.decode(parts[0]),
            let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed }
        guard
            let object = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
            Set(object.keys) == ["alg", "kid", "typ"],
            object["alg"] as? String == algorithm, object["typ"] as? String == type,
            let kid = object["kid"] as? String
        else { throw .unsupportedHeader }
        let publicKey: Curve25519.Signing.PublicKey?
        do {
            publicKey = try await key(kid)
        } catch {
            throw .unknownKey
        }
        guard let publicKey else { throw .unknownKey }
        let input = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard signature.count == 64, publicKey.isValidSignature(signature, for: input) else { throw .badSignature }
        guard let claims = try? JSONDecoder().decode(AccessTokenClaims.self, from: Data(payloadBytes)) else {
            throw .badClaims
        }
        guard claims.iss == issuer else { throw .wrongIssuer }
        guard claims.aud == audience else { throw .wrongAudience }
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        guard claims.exp > seconds else { throw .expired }
        guard claims.nbf <= seconds + leewaySeconds, claims.iat <= seconds + leewaySeconds else { throw .notYetValid }
        guard let accountID = UUID(uuidString: claims.sub), let sessionID = UUID(uuidString: claims.sid),
            let role = Role(rawValue: claims.role)
        else { throw .badClaims }
        return VerifiedAccessToken(claims: claims, accountID: accountID, sessionID: sessionID, role: role)
    }
}

/// base64url without padding (RFC 7515 §2); decoding refuses padding and
/// characters outside the alphabet.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = String(text.compactMap { character -> Character? in
            switch character {
            case "+": "-"
            case "/": "_"
            case "=": nil
            default: character
            }
        })
        return text
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var standard = ""
        standard.reserveCapacity(text.utf8.count + 3)
        for character in text {
            switch character {
            case "-": standard.append("+")
            case "_": standard.append("/")
            case "A"..."Z", "a"..."z", "0"..."9": standard.append(character)
            default: return nil
            }
        }
        guard standard.count % 4 != 1 else { return nil }
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard).map(Array.init)
    }
}
