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

    public typealias Failure = AccessTokenFailure
}

/// Why a token was refused.
public enum AccessTokenFailure: String, Error, Sendable {
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

/// A compact JWS split and its header checked, its signature not yet: the
/// only thing to do with one is verify it (`AccessTokenCodec.verify`).
///
/// Parsing is deliberately narrow: the header must say exactly `alg: EdDSA`,
/// `typ: at+jwt` and a `kid`, and nothing else, so `alg: none`, HMAC with
/// the public key as secret, a missing `kid`, and `crit` extensions all fail
/// before any key is looked up.
public struct UnverifiedAccessToken: Sendable {
    public let kid: String
    /// The bytes the signature covers: `header.payload` as sent.
    public let signingInput: Data
    public let signature: Data
    let payload: Data

    public init(parsing token: String) throws(AccessTokenFailure) {
        guard token.utf8.count <= AccessTokenCodec.maximumLength else { throw .malformed }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerBytes = Base64URL.decode(parts[0]),
            let payloadBytes = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed }
        guard
            let object = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
            Set(object.keys) == ["alg", "kid", "typ"],
            object["alg"] as? String == AccessTokenCodec.algorithm, object["typ"] as? String == AccessTokenCodec.type,
            let kid = object["kid"] as? String
        else { throw .unsupportedHeader }
        self.kid = kid
        self.signingInput = Data(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        self.signature = Data(signature)
        self.payload = Data(payloadBytes)
    }

    /// The claims, checked for issuer, audience, times and shape.
    /// - Warning: only for a token whose signature was just verified.
    func checkingClaimsOfAVerifiedSignature(issuer: String, audience: String, now: Date) throws(AccessTokenFailure) -> VerifiedAccessToken {
        guard let claims = try? JSONDecoder().decode(AccessTokenClaims.self, from: payload) else { throw .badClaims }
        guard claims.iss == issuer else { throw .wrongIssuer }
        guard claims.aud == audience else { throw .wrongAudience }
        let seconds = Int64(now.timeIntervalSince1970.rounded(.down))
        guard claims.exp > seconds else { throw .expired }
        let leeway = AccessTokenCodec.leewaySeconds
        guard claims.nbf <= seconds + leeway, claims.iat <= seconds + leeway else { throw .notYetValid }
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
