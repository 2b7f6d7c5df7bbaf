#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import TalosCore

extension IdentityService {
    // MARK: Me

    public func account(of principal: Principal) async throws -> Credentials {
        guard let credentials = try await store.credentials(id: principal.accountID) else { throw CitadelError.notFound }
        return credentials
    }

    public func sessions(of principal: Principal) async throws -> [SessionRecord] {
        try await store.liveSessions(accountID: principal.accountID, now: Timestamp.string(from: clock()))
    }

    public func logout(_ principal: Principal, origin: RequestOrigin) async throws {
        _ = try await store.revokeSession(
            id: principal.sessionID, accountID: principal.accountID, reason: "logout", now: Timestamp.string(from: clock())
        )
        try await record("session.revoke", actor: principal.actor, target: Self.text(principal.sessionID), .success, origin, ["reason": "logout"])
    }

    /// Revokes one of the caller's own sessions; another account's session
    /// is answered as not found, so ids cannot be probed.
    public func revokeSession(_ id: UUID, of principal: Principal, origin: RequestOrigin) async throws {
        guard
            try await store.revokeSession(
                id: id, accountID: principal.accountID, reason: "revoked_by_owner", now: Timestamp.string(from: clock())
            )
        else {
            try await record("session.revoke", actor: principal.actor, target: Self.text(id), .denied, origin, ["reason": "not_own_or_over"])
            throw CitadelError.notFound
        }
        try await record("session.revoke", actor: principal.actor, target: Self.text(id), .success, origin, ["reason": "revoked_by_owner"])
    }

    /// Revokes every session of the caller but the current one.
    public func revokeOtherSessions(of principal: Principal, origin: RequestOrigin) async throws -> Int {
        let count = try await store.revokeSessions(
            accountID: principal.accountID, except: principal.sessionID, reason: "revoked_by_owner",
            now: Timestamp.string(from: clock())
        )
        try await record("session.revoke_others", actor: principal.actor, target: principal.actor, .success, origin, ["count": String(count)])
        return count
    }

    /// Changes the password (the current one must be right) and ends every
    /// other session.
    public func changePassword(
        of principal: Principal, current: Secret<String>, new: Secret<String>, origin: RequestOrigin
    ) async throws {
        let now = clock()
        let credentials = try await account(of: principal)
        let account = credentials.account
        // A stolen access token must not make this a guessing oracle: the
        // check is a counted attempt, refused while the account is locked.
        let right = try await guardedCheck(account, reason: "bad_password", action: "account.password_change", origin: origin, now: now) {
            try await hasher.verify(current, against: credentials.passwordHash) != .mismatch
        }
        guard right else { throw CitadelError.wrongPassword }
        let violations = policy.violations(of: new.unsafeValue, email: EmailLocalPart(account.email.localPart))
        guard violations.isEmpty else {
            try await record("account.password_change", account: account, .failure, origin, ["reason": "weak_password"])
            throw CitadelError.weakPassword(violations)
        }
        try await store.setPasswordHash(accountID: account.id, hash: try await hasher.hash(new), now: Timestamp.string(from: now))
        let revoked = try await store.revokeSessions(
            accountID: account.id, except: principal.sessionID, reason: "password_changed", now: Timestamp.string(from: now)
        )
        try await record("account.password_change", account: account, .success, origin, ["sessions_revoked": String(revoked)])
    }

    /// Deletes the caller's account and everything hanging off it.
    public func deleteAccount(of principal: Principal, origin: RequestOrigin) async throws {
        let credentials = try await account(of: principal)
        try await keepingLastSuperAdmin(credentials.account.id, by: principal, action: "account.delete", origin: origin) {
            try await store.deleteAccount(id: principal.accountID)
        }
        try await record("account.delete", account: credentials.account, .success, origin, ["role": credentials.account.role.rawValue])
    }

    // MARK: Administration

    public func listAccounts(after email: String?, limit: Int) async throws -> [Credentials] {
        try await store.listCredentials(after: email, limit: min(max(limit, 1), 100))
    }

    public func changeRole(of id: UUID, to role: Role, by principal: Principal, origin: RequestOrigin) async throws -> Credentials {
        guard let target = try await store.credentials(id: id) else { throw CitadelError.notFound }
        let from = target.account.role
        if from == role { return target }
        do {
            try await keepingLastSuperAdmin(id, by: principal, action: "account.role_change", origin: origin) {
                try await store.setRole(
                    accountID: id, role: role, maximumOfRole: role == .superAdmin ? settings.maximumSuperAdmins : nil,
                    now: Timestamp.string(from: clock())
                )
            }
        } catch let error as IdentityError where error == .roleLimitReached {
            try await record(
                "account.role_change", actor: principal.actor, target: Self.text(id), .denied, origin,
                ["from": from.rawValue, "to": role.rawValue, "reason": "super_admin_limit"]
            )
            throw CitadelError.conflict("There are already \(settings.maximumSuperAdmins) super admins, the configured maximum.")
        }
        try await record(
            "account.role_change", actor: principal.actor, target: Self.text(id), .success, origin, ["from": from.rawValue, "to": role.rawValue]
        )
        return try await store.credentials(id: id) ?? target
    }

    /// Disables an account (ending its sessions) or enables it again.
    public func setDisabled(_ disabled: Bool, id: UUID, by principal: Principal, origin: RequestOrigin) async throws -> Credentials {
        guard let target = try await store.credentials(id: id) else { throw CitadelError.notFound }
        let stamp = Timestamp.string(from: clock())
        if disabled {
            guard target.account.status == .active else { throw CitadelError.conflict("Only an active account can be disabled.") }
            try await keepingLastSuperAdmin(id, by: principal, action: "account.disable", origin: origin) {
                try await store.setStatus(accountID: id, status: .disabled, now: stamp)
            }
            let revoked = try await store.revokeSessions(accountID: id, except: nil, reason: "account_disabled", now: stamp)
            try await record("account.disable", actor: principal.actor, target: Self.text(id), .success, origin, ["sessions_revoked": String(revoked)])
        } else {
            guard target.account.status == .disabled else { throw CitadelError.conflict("The account is not disabled.") }
            try await store.setStatus(accountID: id, status: .active, now: stamp)
            try await record("account.enable", actor: principal.actor, target: Self.text(id), .success, origin)
        }
        return try await store.credentials(id: id) ?? target
    }

    public func unlock(_ id: UUID, by principal: Principal, origin: RequestOrigin) async throws -> Credentials {
        guard let target = try await store.credentials(id: id) else { throw CitadelError.notFound }
        let lifted = try await store.unlock(accountID: id)
        try await record("account.unlock", actor: principal.actor, target: Self.text(id), .success, origin, ["was_locked": String(lifted)])
        return try await store.credentials(id: id) ?? target
    }

    /// There must always be an active super admin to administer the system:
    /// the store refuses, atomically, a change that would leave none, and
    /// the refusal is audited here.
    func keepingLastSuperAdmin(
        _ target: UUID, by principal: Principal, action: String, origin: RequestOrigin, _ change: () async throws -> Void
    ) async throws {
        do {
            try await change()
        } catch let error as IdentityError where error == .lastSuperAdmin {
            try await record(action, actor: principal.actor, target: Self.text(target), .denied, origin, ["reason": "last_super_admin"])
            throw CitadelError.conflict("This is the last active super admin.")
        }
    }
}
