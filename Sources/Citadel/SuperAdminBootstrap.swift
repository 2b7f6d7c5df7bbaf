import Crypto
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Ledger
public import TalosCore

/// The only way the first account comes to exist: `talos admin create`
/// makes a super admin in the `pending` state and hands out a one-time
/// enrollment token, valid 24 hours and stored only as its hash.
public struct SuperAdminBootstrap: Sendable {
    let accounts: any AccountRepository
    let audit: AuditLog
    let maximumSuperAdmins: Int

    /// How long an enrollment token stays valid.
    public static let enrollmentLifetime: TimeInterval = 24 * 3600

    public init(accounts: any AccountRepository, audit: AuditLog, maximumSuperAdmins: Int) {
        self.accounts = accounts
        self.audit = audit
        self.maximumSuperAdmins = maximumSuperAdmins
    }

    public struct Created: Sendable {
        public let account: Account
        /// Shown once to the operator; only its hash is stored.
        public let enrollmentToken: Secret<String>
        public let expiresAt: String
    }

    /// Creates a pending super admin; refuses a duplicate email and a super
    /// admin beyond the configured maximum. Every outcome is audited.
    public func create(email text: String, now: Date = Date()) async throws -> Created {
        guard let email = EmailAddress(text) else {
            try await audit.record(event(target: "(invalid email)", outcome: .failure, reason: "invalid_email"))
            throw IdentityError.invalidEmail
        }
        let account = Account(
            id: UUID(), email: email, role: .superAdmin, status: .pending, createdAt: Timestamp.string(from: now)
        )
        let token = OneTimeTokens.generate()
        let expiresAt = Timestamp.string(from: now.addingTimeInterval(Self.enrollmentLifetime))
        let stored = OneTimeToken(
            hash: OneTimeTokens.hash(token.unsafeValue), accountID: account.id, purpose: .enrollment,
            expiresAt: expiresAt, createdAt: account.createdAt
        )
        do {
            try await accounts.create(account, token: stored, maximumOfRole: maximumSuperAdmins, invitedBy: nil)
        } catch let error as IdentityError {
            let reason = error == .duplicateEmail ? "duplicate_email" : "super_admin_limit"
            try await audit.record(event(target: "(refused)", outcome: .denied, reason: reason))
            throw error
        }
        try await audit.record(event(target: account.id.uuidString.lowercased(), outcome: .success, reason: nil))
        return Created(account: account, enrollmentToken: token, expiresAt: expiresAt)
    }

    private func event(target: String, outcome: AuditOutcome, reason: String?) -> AuditEvent {
        var details = ["role": Role.superAdmin.rawValue]
        if let reason { details["reason"] = reason }
        return AuditEvent(actor: "cli", action: "account.create_super_admin", target: target, outcome: outcome, details: details)
    }
}

/// One-time tokens: 256 random bits, base64url; stored as SHA-256 hex.
public enum OneTimeTokens {
    public static func generate() -> Secret<String> {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Secret(Base64URL.encode(bytes))
    }

    public static func hash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Data(token.utf8)))
    }
}
