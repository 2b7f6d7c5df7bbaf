#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TalosCore

/// An invitation's token, shown once to the inviter.
public struct Invitation: Sendable {
    public let email: EmailAddress
    public let role: Role
    public let token: Secret<String>
    public let expiresAt: String
}

extension IdentityService {
    /// Invites `email` into `role`. The answer has the same shape whether or
    /// not the email is registered: for a taken address the token is a decoy
    /// that opens nothing, and the trail records the refusal.
    public func invite(email text: String, role: Role, by principal: Principal, origin: RequestOrigin) async throws -> Invitation {
        guard let permission = PermissionMatrix.invitePermission(for: role), PermissionMatrix.allows(principal.role, permission)
        else {
            try await record(
                "invitation.create", actor: principal.actor, target: "(refused)", .denied, origin,
                ["reason": "role_not_invitable", "role": role.rawValue]
            )
            throw CitadelError.forbidden
        }
        guard let email = EmailAddress(text) else { throw CitadelError.invalidInput("Not a valid email address.") }
        let now = clock()
        let stamp = Timestamp.string(from: now)
        let token = OneTimeTokens.generate()
        let expiresAt = Timestamp.string(from: now.addingTimeInterval(settings.invitationLifetime))
        let invitation = Invitation(email: email, role: role, token: token, expiresAt: expiresAt)
        func stored(for accountID: UUID) -> OneTimeToken {
            OneTimeToken(
                hash: OneTimeTokens.hash(token.unsafeValue), accountID: accountID, purpose: .invitation, expiresAt: expiresAt,
                createdAt: stamp
            )
        }
        if let existing = try await store.credentials(email: email) {
            let account = existing.account
            if account.status == .pending, account.role == role {
                // Only the original inviter or a super admin may re-issue:
                // anyone else would void another owner's invitation.
                let inviter = principal.role == .superAdmin ? nil : principal.accountID
                if try await store.reissueInvitation(of: account.id, with: stored(for: account.id), inviter: inviter) {
                    try await record("invitation.create", actor: principal.actor, target: Self.text(account.id), .success, origin, ["role": role.rawValue, "reissued": "true"])
                } else {
                    try await record("invitation.create", actor: principal.actor, target: Self.text(account.id), .denied, origin, ["reason": "invited_by_another", "role": role.rawValue])
                }
            } else {
                try await record("invitation.create", actor: principal.actor, target: Self.text(account.id), .denied, origin, ["reason": "email_registered", "role": role.rawValue])
            }
            return invitation
        }
        let account = Account(id: UUID(), email: email, role: role, status: .pending, createdAt: stamp)
        do {
            try await store.create(account, token: stored(for: account.id), maximumOfRole: nil, invitedBy: principal.accountID)
        } catch let error as IdentityError where error == .duplicateEmail {
            try await record("invitation.create", actor: principal.actor, target: "(raced)", .denied, origin, ["reason": "email_registered"])
            return invitation
        }
        try await record("invitation.create", actor: principal.actor, target: Self.text(account.id), .success, origin, ["role": role.rawValue])
        return invitation
    }

    /// Sets the password of an invited (or bootstrap) account and activates
    /// it. A refused password leaves the token unspent.
    public func acceptInvitation(token: Secret<String>, password: Secret<String>, origin: RequestOrigin) async throws -> Account {
        let now = clock()
        let stamp = Timestamp.string(from: now)
        let hash = OneTimeTokens.hash(token.unsafeValue)
        let purposes: [OneTimeToken.Purpose] = [.invitation, .enrollment]
        guard let account = try await store.tokenAccount(hash: hash, purposes: purposes, now: stamp) else {
            try await record("invitation.accept", actor: "anonymous", target: "(unknown)", .failure, origin, ["reason": "invalid_token"])
            throw CitadelError.invalidToken
        }
        let violations = policy.violations(of: password.unsafeValue, email: EmailLocalPart(account.email.localPart))
        guard violations.isEmpty else {
            try await record("invitation.accept", account: account, .failure, origin, ["reason": "weak_password"])
            throw CitadelError.weakPassword(violations)
        }
        let passwordHash = try await hasher.hash(password)
        guard let activated = try await store.activate(tokenHash: hash, purposes: purposes, passwordHash: passwordHash, now: stamp) else {
            try await record("invitation.accept", account: account, .failure, origin, ["reason": "token_spent"])
            throw CitadelError.invalidToken
        }
        try await record("invitation.accept", account: activated, .success, origin, ["role": activated.role.rawValue])
        return activated
    }

    /// Open self-registration (only when configured): a new consumer. The
    /// answer never says whether the email was taken.
    public func register(email text: String, password: Secret<String>, origin: RequestOrigin) async throws {
        guard settings.openRegistration else { throw CitadelError.notFound }
        guard let email = EmailAddress(text) else { throw CitadelError.invalidInput("Not a valid email address.") }
        let violations = policy.violations(of: password.unsafeValue, email: EmailLocalPart(email.localPart))
        guard violations.isEmpty else { throw CitadelError.weakPassword(violations) }
        let passwordHash = try await hasher.hash(password)
        let account = Account(id: UUID(), email: email, role: .consumer, status: .active, createdAt: Timestamp.string(from: clock()))
        do {
            try await store.createActive(account, passwordHash: passwordHash)
        } catch let error as IdentityError where error == .duplicateEmail {
            try await record("account.register", actor: "anonymous", target: "(taken)", .denied, origin, ["reason": "email_registered"])
            return
        }
        try await record("account.register", account: account, .success, origin, ["role": Role.consumer.rawValue])
    }
}
