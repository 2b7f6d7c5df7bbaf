#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The three roles of the permission matrix.
public enum Role: String, Sendable, Codable, CaseIterable {
    case superAdmin = "super_admin"
    /// A data owner.
    case owner
    /// A data consumer.
    case consumer
}

/// Where an account is in its life.
public enum AccountStatus: String, Sendable, Codable {
    /// Created, waiting for its holder to set a password with the one-time token.
    case pending
    case active
    case disabled
}

/// A person's account. Passwords and tokens are never part of this value.
public struct Account: Sendable, Equatable {
    public var id: UUID
    public var email: EmailAddress
    public var role: Role
    public var status: AccountStatus
    public var createdAt: String

    public init(id: UUID, email: EmailAddress, role: Role, status: AccountStatus, createdAt: String) {
        self.id = id
        self.email = email
        self.role = role
        self.status = status
        self.createdAt = createdAt
    }
}

/// A syntactically plausible, normalized (trimmed, lower-cased) email address.
public struct EmailAddress: Sendable, Hashable, CustomStringConvertible {
    public let value: String

    /// Nil unless `text` is 3–254 characters with one `@`, a 1–64 character
    /// local part, a dotted domain, and no spaces or control characters.
    public init?(_ text: String) {
        var trimmed = Substring(text)
        while let first = trimmed.first, first.isWhitespace { trimmed.removeFirst() }
        while let last = trimmed.last, last.isWhitespace { trimmed.removeLast() }
        let normalized = trimmed.lowercased()
        guard (3...254).contains(normalized.utf8.count) else { return nil }
        let parts = normalized.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...64).contains(parts[0].utf8.count) else { return nil }
        let domain = parts[1]
        guard domain.contains("."), !domain.hasPrefix("."), !domain.hasSuffix("."), !domain.contains("..") else {
            return nil
        }
        for scalar in normalized.unicodeScalars {
            let forbidden: Set<Unicode.Scalar> = [",", ";", "<", ">", "\"", "\\", "(", ")", "[", "]"]
            if scalar.value <= 0x20 || scalar.value == 0x7f || forbidden.contains(scalar) { return nil }
        }
        self.value = normalized
    }

    public var description: String { value }

    /// The part before `@`, for password policy checks.
    public var localPart: String { String(value.prefix { $0 != "@" }) }
}

/// A one-time token's stored form: only its SHA-256, never the token.
public struct OneTimeToken: Sendable, Equatable {
    public enum Purpose: String, Sendable {
        /// Lets a bootstrap super admin set a password.
        case enrollment
        /// Lets an invited owner or consumer set a password.
        case invitation
        /// Finishes a password sign-in with a second factor (5 minutes).
        case mfaLogin = "mfa_login"
    }

    public var hash: String
    public var accountID: UUID
    public var purpose: Purpose
    public var expiresAt: String
    public var createdAt: String

    public init(hash: String, accountID: UUID, purpose: Purpose, expiresAt: String, createdAt: String) {
        self.hash = hash
        self.accountID = accountID
        self.purpose = purpose
        self.expiresAt = expiresAt
        self.createdAt = createdAt
    }
}

/// Storage of accounts and their one-time tokens.
public protocol AccountRepository: Sendable {
    /// Creates `account` with `token`, atomically, unless that would exceed
    /// `maximum` accounts of the account's role (nil: no maximum).
    ///
    /// Throws ``IdentityError/duplicateEmail`` if the email is taken and
    /// ``IdentityError/roleLimitReached`` if the role is full. Concurrent
    /// callers, in any process, cannot both pass the limit.
    /// `invitedBy` is the account that invited this one, if any.
    func create(_ account: Account, token: OneTimeToken, maximumOfRole maximum: Int?, invitedBy: UUID?) async throws

    /// The account with this id, or nil.
    func account(id: UUID) async throws -> Account?

    /// The account with this email, or nil.
    func account(email: EmailAddress) async throws -> Account?

    /// How many accounts hold `role`, whatever their status.
    func count(role: Role) async throws -> Int
}

/// Why an identity operation was refused.
public struct IdentityError: Error, Equatable, CustomStringConvertible {
    private enum Code: Equatable {
        case duplicateEmail
        case roleLimitReached
        case invalidEmail
        case lastSuperAdmin
    }

    private let code: Code
    public let reason: String

    private init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }

    public static func == (lhs: IdentityError, rhs: IdentityError) -> Bool { lhs.code == rhs.code }

    public static let duplicateEmail = IdentityError(.duplicateEmail, "an account with this email already exists")
    public static func roleLimitReached(_ role: Role, maximum: Int) -> IdentityError {
        IdentityError(.roleLimitReached, "there are already \(maximum) \(role.rawValue) accounts, the configured maximum")
    }
    public static let roleLimitReached = IdentityError(.roleLimitReached, "role limit reached")
    public static let invalidEmail = IdentityError(.invalidEmail, "not a valid email address")
    public static let lastSuperAdmin = IdentityError(.lastSuperAdmin, "the last active super admin cannot be removed")
}
