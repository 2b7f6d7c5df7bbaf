#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Citadel
import Hummingbird
import TalosCore

/// Request bodies: every string is bounded before any work is done on it.
enum Field {
    static let emailBytes = 320
    static let passwordBytes = 1024
    static let tokenBytes = 512
    static let codeBytes = 64

    static func bounded(_ value: String, _ limit: Int, _ name: String) throws -> String {
        guard value.utf8.count <= limit else {
            throw Problem(
                status: .unprocessableContent, type: "invalid-input", title: "The request is invalid",
                detail: "\(name) is longer than \(limit) bytes."
            )
        }
        return value
    }

    static func secret(_ value: String, _ limit: Int, _ name: String) throws -> Secret<String> {
        Secret(try bounded(value, limit, name))
    }
}

struct TokenResponse: ResponseEncodable {
    let access_token: String
    let token_type = "Bearer"
    let expires_in: Int
    let refresh_token: String

    init(_ pair: TokenPair) {
        access_token = pair.accessToken.unsafeValue
        expires_in = pair.expiresIn
        refresh_token = pair.refreshToken.unsafeValue
    }
}

struct MFARequiredResponse: ResponseEncodable {
    let mfa_required = true
    let mfa_token: String
}

struct AccountResponse: ResponseEncodable {
    let id: String
    let email: String
    let role: String
    let status: String
    let mfa_enabled: Bool
    let locked: Bool
    let created_at: String

    init(_ credentials: Credentials, now: String = Timestamp.now()) {
        id = credentials.account.id.uuidString.lowercased()
        email = credentials.account.email.value
        role = credentials.account.role.rawValue
        status = credentials.account.status.rawValue
        mfa_enabled = credentials.mfaEnabled
        locked = credentials.isLocked(at: now)
        created_at = credentials.account.createdAt
    }
}

func parseRole(_ text: String) throws -> Role {
    guard let role = Role(rawValue: text) else {
        throw Problem(
            status: .unprocessableContent, type: "invalid-input", title: "The request is invalid",
            detail: "role must be one of super_admin, owner, consumer."
        )
    }
    return role
}

func parseID(_ context: TalosRequestContext, _ name: String = "id") throws -> UUID {
    guard let text = context.parameters.get(name), let id = UUID(uuidString: text) else { throw Problem.notFound }
    return id
}
