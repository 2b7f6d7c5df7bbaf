#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import SQLKit
public import TalosCore

/// ``IdentityStore`` over SQLite and PostgreSQL. Conditional changes are
/// single statements (`UPDATE … WHERE <condition> RETURNING`) or run in a
/// transaction, so concurrent processes cannot both win.
extension SQLAccountRepository: IdentityStore {
    static let signingKeyLockKey: Int64 = 0x7461_6c6f_7304

    private var sql: any SQLDatabase { database.sql }

    private static func text(_ id: UUID) -> String { id.uuidString.lowercased() }

    public func createActive(_ account: Account, passwordHash: String) async throws {
        try await database.transaction { sql in
            let taken = try await sql.select().column("id").from("accounts")
                .where("email", .equal, SQLBind(account.email.value)).first()
            if taken != nil { throw IdentityError.duplicateEmail }
            try await sql.insert(into: "accounts")
                .columns("id", "email", "role", "status", "password_hash", "created_at", "updated_at")
                .values(
                    SQLBind(Self.text(account.id)), SQLBind(account.email.value), SQLBind(account.role.rawValue),
                    SQLBind(account.status.rawValue), SQLBind(passwordHash), SQLBind(account.createdAt), SQLBind(account.createdAt)
                )
                .run()
        }
    }

    public func credentials(email: EmailAddress) async throws -> Credentials? {
        try await sql.select().column("*").from("accounts").where("email", .equal, SQLBind(email.value)).first()
            .map(Self.credentials(from:))
    }

    public func credentials(id: UUID) async throws -> Credentials? {
        try await sql.select().column("*").from("accounts").where("id", .equal, SQLBind(Self.text(id))).first()
            .map(Self.credentials(from:))
    }

    public func listCredentials(after email: String?, limit: Int) async throws -> [Credentials] {
        var query = sql.select().column("*").from("accounts")
        if let email { query = query.where("email", .greaterThan, SQLBind(email)) }
        return try await query.orderBy("email").limit(limit).all().map(Self.credentials(from:))
    }

    public func reserveAttempt(
        accountID: UUID, threshold: Int, now: Date, lockDuration: @escaping @Sendable (Int) -> TimeInterval
    ) async throws -> AttemptReservation {
        let id = Self.text(accountID)
        let stamp = Timestamp.string(from: now)
        return try await database.transaction { sql in
            // One conditional statement: concurrent attempts cannot both take
            // the last place before the lock.
            let counted = try await sql.raw(
                """
                UPDATE accounts SET failed_logins = failed_logins + 1
                WHERE id = \(bind: id) AND failed_logins < \(bind: threshold)
                AND (locked_until IS NULL OR locked_until <= \(bind: stamp))
                RETURNING failed_logins
                """
            ).first()
            if counted != nil { return .reserved }
            // Refused: locked, or every place before the lock is taken by an
            // attempt in flight (or by one whose process died mid-check). The
            // latter locks now, so a stranded count cannot refuse forever.
            return .refused(lockedUntil: try await Self.lock(sql, id: id, threshold: threshold, now: now, lockDuration: lockDuration))
        }
    }

    public func reserveDecoyAttempt(decoy: Int, threshold: Int, now: Date) async throws {
        let stamp = Timestamp.string(from: now)
        try await database.transaction { sql in
            // The reservation's write; the count wraps so the decoy never locks.
            try await sql.raw(
                """
                UPDATE sign_in_decoy SET failed_logins = (failed_logins + 1) % \(bind: max(1, threshold))
                WHERE id = \(bind: Self.decoyRow(decoy)) AND failed_logins < \(bind: threshold)
                AND (locked_until IS NULL OR locked_until <= \(bind: stamp))
                RETURNING failed_logins
                """
            ).run()
        }
    }

    public func settleDecoyAttempt(decoy: Int, threshold: Int, now: Date) async throws {
        let stamp = Timestamp.string(from: now)
        try await database.transaction { sql in
            // The settlement's check, which finds no lock due.
            try await sql.raw(
                """
                UPDATE sign_in_decoy SET failed_logins = 0, lock_count = lock_count + 1
                WHERE id = \(bind: Self.decoyRow(decoy)) AND failed_logins >= \(bind: threshold)
                AND (locked_until IS NULL OR locked_until <= \(bind: stamp))
                RETURNING lock_count
                """
            ).run()
        }
    }

    public func releaseDecoyAttempt(decoy: Int) async throws {
        try await sql.raw(
            "UPDATE sign_in_decoy SET failed_logins = failed_logins - 1 WHERE id = \(bind: Self.decoyRow(decoy)) AND failed_logins > 0"
        ).run()
    }

    /// Any number names a decoy row.
    static func decoyRow(_ decoy: Int) -> Int {
        let rows = Migration.signInDecoyRows
        return ((decoy % rows) + rows) % rows
    }

    public func settleFailedAttempt(
        accountID: UUID, threshold: Int, now: Date, lockDuration: @escaping @Sendable (Int) -> TimeInterval
    ) async throws -> String? {
        try await database.transaction { sql in
            try await Self.lock(sql, id: Self.text(accountID), threshold: threshold, now: now, lockDuration: lockDuration)
        }
    }

    /// Locks the account if `threshold` failures are counted and it is not
    /// locked already; returns the lock's end if this call locked it.
    private static func lock(
        _ sql: any SQLDatabase, id: String, threshold: Int, now: Date, lockDuration: @escaping @Sendable (Int) -> TimeInterval
    ) async throws -> String? {
        let stamp = Timestamp.string(from: now)
        guard
            let row = try await sql.raw(
                """
                UPDATE accounts SET failed_logins = 0, lock_count = lock_count + 1
                WHERE id = \(bind: id) AND failed_logins >= \(bind: threshold)
                AND (locked_until IS NULL OR locked_until <= \(bind: stamp))
                RETURNING lock_count
                """
            ).first()
        else { return nil }
        let locks = try row.decode(column: "lock_count", as: Int.self)
        let until = Timestamp.string(from: now.addingTimeInterval(lockDuration(locks)))
        try await sql.raw("UPDATE accounts SET locked_until = \(bind: until) WHERE id = \(bind: id)").run()
        return until
    }

    public func releaseAttempt(accountID: UUID) async throws {
        try await sql.raw(
            "UPDATE accounts SET failed_logins = failed_logins - 1 WHERE id = \(bind: Self.text(accountID)) AND failed_logins > 0"
        ).run()
    }

    public func recordSuccessfulLogin(accountID: UUID) async throws {
        try await sql.raw(
            """
            UPDATE accounts SET failed_logins = 0, lock_count = 0, locked_until = NULL
            WHERE id = \(bind: Self.text(accountID)) AND (failed_logins <> 0 OR lock_count <> 0 OR locked_until IS NOT NULL)
            """
        ).run()
    }

    public func unlock(accountID: UUID) async throws -> Bool {
        try await sql.raw(
            """
            UPDATE accounts SET failed_logins = 0, lock_count = 0, locked_until = NULL
            WHERE id = \(bind: Self.text(accountID)) AND locked_until IS NOT NULL RETURNING id
            """
        ).first() != nil
    }

    public func setPasswordHash(accountID: UUID, hash: String, now: String) async throws {
        try await sql.update("accounts").set("password_hash", to: SQLBind(hash)).set("updated_at", to: SQLBind(now))
            .where("id", .equal, SQLBind(Self.text(accountID))).run()
    }

    public func tokenAccount(hash: String, purposes: [OneTimeToken.Purpose], now: String) async throws -> Account? {
        try await sql.raw(
            """
            SELECT accounts.* FROM accounts JOIN one_time_tokens ON one_time_tokens.account_id = accounts.id
            WHERE one_time_tokens.token_hash = \(bind: hash) AND one_time_tokens.purpose IN (\(binds: purposes.map(\.rawValue)))
            AND one_time_tokens.used_at IS NULL AND one_time_tokens.expires_at > \(bind: now)
            AND accounts.status = \(bind: AccountStatus.pending.rawValue)
            """
        ).first().map(Self.account(from:))
    }

    public func activate(tokenHash: String, purposes: [OneTimeToken.Purpose], passwordHash: String, now: String) async throws
        -> Account?
    {
        try await database.transaction { sql in
            guard
                let row = try await sql.raw(
                    """
                    UPDATE one_time_tokens SET used_at = \(bind: now)
                    WHERE token_hash = \(bind: tokenHash) AND used_at IS NULL AND expires_at > \(bind: now)
                    AND purpose IN (\(binds: purposes.map(\.rawValue))) RETURNING account_id
                    """
                ).first()
            else { return nil }
            let accountID = try row.decode(column: "account_id", as: String.self)
            guard
                let account = try await sql.raw(
                    """
                    UPDATE accounts SET status = \(bind: AccountStatus.active.rawValue), password_hash = \(bind: passwordHash),
                    updated_at = \(bind: now) WHERE id = \(bind: accountID) AND status = \(bind: AccountStatus.pending.rawValue)
                    RETURNING *
                    """
                ).first()
            else { return nil }
            try await sql.delete(from: "one_time_tokens").where("account_id", .equal, SQLBind(accountID))
                .where("used_at", .is, SQLLiteral.null).run()
            return try Self.account(from: account)
        }
    }

    public func reissueInvitation(of accountID: UUID, with token: OneTimeToken, inviter: UUID?) async throws -> Bool {
        try await database.transaction { sql in
            var owner = sql.select().column("id").from("accounts").where("id", .equal, SQLBind(Self.text(accountID)))
                .where("status", .equal, SQLBind(AccountStatus.pending.rawValue))
            if let inviter { owner = owner.where("invited_by", .equal, SQLBind(Self.text(inviter))) }
            guard try await owner.first() != nil else { return false }
            try await sql.delete(from: "one_time_tokens").where("account_id", .equal, SQLBind(Self.text(accountID))).run()
            try await Self.insert(token, on: sql)
            return true
        }
    }

    public func insertToken(_ token: OneTimeToken) async throws {
        try await Self.insert(token, on: sql)
    }

    static func insert(_ token: OneTimeToken, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "one_time_tokens")
            .columns("token_hash", "account_id", "purpose", "expires_at", "created_at")
            .values(
                SQLBind(token.hash), SQLBind(text(token.accountID)), SQLBind(token.purpose.rawValue),
                SQLBind(token.expiresAt), SQLBind(token.createdAt)
            )
            .run()
    }

    public func consumeToken(hash: String, purpose: OneTimeToken.Purpose, now: String) async throws -> UUID? {
        guard
            let row = try await sql.raw(
                """
                UPDATE one_time_tokens SET used_at = \(bind: now)
                WHERE token_hash = \(bind: hash) AND purpose = \(bind: purpose.rawValue) AND used_at IS NULL
                AND expires_at > \(bind: now) RETURNING account_id
                """
            ).first()
        else { return nil }
        return UUID(uuidString: try row.decode(column: "account_id", as: String.self))
    }

    public func setRole(accountID: UUID, role: Role, maximumOfRole maximum: Int?, now: String) async throws {
        try await changingRoles(accountID) { sql, target in
            if target.role == .superAdmin, role != .superAdmin { try await Self.refuseRemovingLast(target, on: sql) }
            if let maximum, try await Self.count(role: role, on: sql) >= maximum {
                throw IdentityError.roleLimitReached(role, maximum: maximum)
            }
            try await sql.update("accounts").set("role", to: SQLBind(role.rawValue)).set("updated_at", to: SQLBind(now))
                .where("id", .equal, SQLBind(Self.text(accountID))).run()
        }
    }

    public func setStatus(accountID: UUID, status: AccountStatus, now: String) async throws {
        try await changingRoles(accountID) { sql, target in
            if status != .active { try await Self.refuseRemovingLast(target, on: sql) }
            try await sql.update("accounts").set("status", to: SQLBind(status.rawValue)).set("updated_at", to: SQLBind(now))
                .where("id", .equal, SQLBind(Self.text(accountID))).run()
        }
    }

    public func deleteAccount(id: UUID) async throws {
        try await changingRoles(id) { sql, target in
            try await Self.refuseRemovingLast(target, on: sql)
            try await sql.delete(from: "accounts").where("id", .equal, SQLBind(Self.text(id))).run()
        }
    }

    /// Runs `body` on the account as it stands, in a transaction that holds
    /// the role lock (PostgreSQL) or the write lock (SQLite), so a count and
    /// the write that depends on it cannot interleave with another's. An
    /// account that does not exist is left alone.
    private func changingRoles(
        _ accountID: UUID, _ body: @escaping @Sendable (any SQLDatabase, Account) async throws -> Void
    ) async throws {
        try await database.transaction { [dialect = database.dialect] sql in
            if dialect == .postgres {
                try await sql.raw("SELECT pg_advisory_xact_lock(\(unsafeRaw: String(Self.roleLockKey)))").run()
            }
            guard let row = try await sql.select().column("*").from("accounts").where("id", .equal, SQLBind(Self.text(accountID))).first()
            else { return }
            try await body(sql, try Self.account(from: row))
        }
    }

    /// Throws ``IdentityError/lastSuperAdmin`` if `target` is the only active super admin.
    private static func refuseRemovingLast(_ target: Account, on sql: any SQLDatabase) async throws {
        guard target.role == .superAdmin, target.status == .active else { return }
        guard
            let row = try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("accounts")
                .where("role", .equal, SQLBind(Role.superAdmin.rawValue)).where("status", .equal, SQLBind(AccountStatus.active.rawValue))
                .first()
        else { return }
        if try row.decode(column: "n", as: Int.self) <= 1 { throw IdentityError.lastSuperAdmin }
    }

    public func countActive(role: Role) async throws -> Int {
        guard
            let row = try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("accounts")
                .where("role", .equal, SQLBind(role.rawValue)).where("status", .equal, SQLBind(AccountStatus.active.rawValue))
                .first()
        else { return 0 }
        return try row.decode(column: "n", as: Int.self)
    }

    // MARK: Sessions

    public func createSession(_ session: SessionRecord, refreshToken: RefreshTokenRecord) async throws {
        try await database.transaction { sql in
            try await sql.insert(into: "sessions")
                .columns(
                    "id", "account_id", "created_at", "last_used_at", "ip", "user_agent", "auth_time", "amr", "expires_at"
                )
                .values(
                    SQLBind(Self.text(session.id)), SQLBind(Self.text(session.accountID)), SQLBind(session.createdAt),
                    SQLBind(session.lastUsedAt), SQLBind(session.ip), SQLBind(session.userAgent), SQLBind(session.authTime),
                    SQLBind(session.amr.joined(separator: " ")), SQLBind(session.expiresAt)
                )
                .run()
            try await Self.insert(refreshToken, on: sql)
        }
    }

    static func insert(_ token: RefreshTokenRecord, on sql: any SQLDatabase) async throws {
        try await sql.insert(into: "refresh_tokens").columns("token_hash", "session_id", "created_at", "expires_at")
            .values(SQLBind(token.hash), SQLBind(text(token.sessionID)), SQLBind(token.createdAt), SQLBind(token.expiresAt))
            .run()
    }

    public func session(id: UUID) async throws -> SessionRecord? {
        try await sql.select().column("*").from("sessions").where("id", .equal, SQLBind(Self.text(id))).first()
            .map(Self.session(from:))
    }

    public func rotateRefreshToken(hash: String, next: RefreshTokenRecord, now: String, ip: String, userAgent: String)
        async throws -> RefreshOutcome
    {
        try await database.transaction { sql in
            guard
                let token = try await sql.select().column("*").from("refresh_tokens")
                    .where("token_hash", .equal, SQLBind(hash)).first(),
                let session = try await sql.select().column("*").from("sessions")
                    .where("id", .equal, SQLBind(try token.decode(column: "session_id", as: String.self))).first()
                    .map(Self.session(from:))
            else { return .invalid }
            guard session.isLive(at: now) else { return .invalid }
            let spent = try await sql.raw(
                """
                UPDATE refresh_tokens SET rotated_at = \(bind: now)
                WHERE token_hash = \(bind: hash) AND rotated_at IS NULL RETURNING expires_at
                """
            ).first()
            guard let spent else {
                try await sql.raw(
                    """
                    UPDATE sessions SET revoked_at = \(bind: now), revoked_reason = 'refresh_reuse'
                    WHERE id = \(bind: Self.text(session.id)) AND revoked_at IS NULL
                    """
                ).run()
                return .reused(sessionID: session.id, accountID: session.accountID)
            }
            guard try spent.decode(column: "expires_at", as: String.self) > now else { return .invalid }
            var next = next
            next.sessionID = session.id
            try await Self.insert(next, on: sql)
            try await sql.update("sessions").set("last_used_at", to: SQLBind(now)).set("ip", to: SQLBind(ip))
                .set("user_agent", to: SQLBind(userAgent)).where("id", .equal, SQLBind(Self.text(session.id))).run()
            var touched = session
            touched.lastUsedAt = now
            touched.ip = ip
            touched.userAgent = userAgent
            return .rotated(touched)
        }
    }

    public func revokeSession(id: UUID, accountID: UUID, reason: String, now: String) async throws -> Bool {
        try await sql.raw(
            """
            UPDATE sessions SET revoked_at = \(bind: now), revoked_reason = \(bind: reason)
            WHERE id = \(bind: Self.text(id)) AND account_id = \(bind: Self.text(accountID)) AND revoked_at IS NULL
            RETURNING id
            """
        ).first() != nil
    }

    public func revokeSessions(accountID: UUID, except: UUID?, reason: String, now: String) async throws -> Int {
        try await sql.raw(
            """
            UPDATE sessions SET revoked_at = \(bind: now), revoked_reason = \(bind: reason)
            WHERE account_id = \(bind: Self.text(accountID)) AND revoked_at IS NULL
            AND id <> \(bind: except.map(Self.text) ?? "") RETURNING id
            """
        ).all().count
    }

    public func liveSessions(accountID: UUID, now: String) async throws -> [SessionRecord] {
        try await sql.select().column("*").from("sessions").where("account_id", .equal, SQLBind(Self.text(accountID)))
            .where("revoked_at", .is, SQLLiteral.null).where("expires_at", .greaterThan, SQLBind(now))
            .orderBy("created_at", .descending).all().map(Self.session(from:))
    }

    // MARK: TOTP

    public func totp(accountID: UUID) async throws -> TOTPCredential? {
        guard
            let row = try await sql.select().column("*").from("totp_credentials")
                .where("account_id", .equal, SQLBind(Self.text(accountID))).first()
        else { return nil }
        return TOTPCredential(
            accountID: accountID, sealedSecret: try row.decode(column: "secret_sealed", as: String.self),
            confirmedAt: try row.decode(column: "confirmed_at", as: String?.self),
            lastStep: try row.decode(column: "last_step", as: Int64.self)
        )
    }

    public func savePendingTOTP(accountID: UUID, sealedSecret: String, now: String) async throws -> Bool {
        try await database.transaction { sql in
            let existing = try await sql.select().column("confirmed_at").from("totp_credentials")
                .where("account_id", .equal, SQLBind(Self.text(accountID))).first()
            if let existing, try existing.decode(column: "confirmed_at", as: String?.self) != nil { return false }
            try await sql.delete(from: "totp_credentials").where("account_id", .equal, SQLBind(Self.text(accountID))).run()
            try await sql.insert(into: "totp_credentials").columns("account_id", "secret_sealed", "created_at")
                .values(SQLBind(Self.text(accountID)), SQLBind(sealedSecret), SQLBind(now)).run()
            return true
        }
    }

    public func confirmTOTP(accountID: UUID, step: Int64, recoveryCodeHashes: [String], now: String) async throws -> Bool {
        try await database.transaction { sql in
            guard
                try await sql.raw(
                    """
                    UPDATE totp_credentials SET confirmed_at = \(bind: now), last_step = \(bind: step)
                    WHERE account_id = \(bind: Self.text(accountID)) AND confirmed_at IS NULL AND last_step < \(bind: step)
                    RETURNING account_id
                    """
                ).first() != nil
            else { return false }
            try await sql.delete(from: "recovery_codes").where("account_id", .equal, SQLBind(Self.text(accountID))).run()
            for hash in recoveryCodeHashes {
                try await sql.insert(into: "recovery_codes").columns("account_id", "code_hash")
                    .values(SQLBind(Self.text(accountID)), SQLBind(hash)).run()
            }
            try await sql.update("accounts").set("mfa_enabled", to: SQLBind(1)).set("updated_at", to: SQLBind(now))
                .where("id", .equal, SQLBind(Self.text(accountID))).run()
            return true
        }
    }

    public func useTOTPStep(accountID: UUID, step: Int64) async throws -> Bool {
        try await sql.raw(
            """
            UPDATE totp_credentials SET last_step = \(bind: step)
            WHERE account_id = \(bind: Self.text(accountID)) AND confirmed_at IS NOT NULL AND last_step < \(bind: step)
            RETURNING account_id
            """
        ).first() != nil
    }

    public func useRecoveryCode(accountID: UUID, hash: String, now: String) async throws -> Bool {
        try await sql.raw(
            """
            UPDATE recovery_codes SET used_at = \(bind: now)
            WHERE account_id = \(bind: Self.text(accountID)) AND code_hash = \(bind: hash) AND used_at IS NULL
            RETURNING account_id
            """
        ).first() != nil
    }

    public func removeTOTP(accountID: UUID, now: String) async throws {
        try await database.transaction { sql in
            try await sql.delete(from: "totp_credentials").where("account_id", .equal, SQLBind(Self.text(accountID))).run()
            try await sql.delete(from: "recovery_codes").where("account_id", .equal, SQLBind(Self.text(accountID))).run()
            try await sql.update("accounts").set("mfa_enabled", to: SQLBind(0)).set("updated_at", to: SQLBind(now))
                .where("id", .equal, SQLBind(Self.text(accountID))).run()
        }
    }

    // MARK: Signing keys

    public func signingKeys() async throws -> [StoredSigningKey] {
        try await sql.select().column("*").from("signing_keys").orderBy("created_at", .descending).all().map { row in
            StoredSigningKey(
                kid: try row.decode(column: "kid", as: String.self),
                sealedPrivateKey: try row.decode(column: "private_sealed", as: String.self),
                publicKey: try row.decode(column: "public_key", as: String.self),
                createdAt: try row.decode(column: "created_at", as: String.self),
                signUntil: try row.decode(column: "sign_until", as: String.self),
                publishUntil: try row.decode(column: "publish_until", as: String.self)
            )
        }
    }

    public func insertSigningKey(_ key: StoredSigningKey, unlessSignableAt now: String) async throws -> Bool {
        try await database.transaction { [dialect = database.dialect] sql in
            if dialect == .postgres {
                try await sql.raw("SELECT pg_advisory_xact_lock(\(unsafeRaw: String(Self.signingKeyLockKey)))").run()
            }
            let signable = try await sql.select().column("kid").from("signing_keys")
                .where("sign_until", .greaterThan, SQLBind(now)).first()
            if signable != nil { return false }
            try await sql.insert(into: "signing_keys")
                .columns("kid", "private_sealed", "public_key", "created_at", "sign_until", "publish_until")
                .values(
                    SQLBind(key.kid), SQLBind(key.sealedPrivateKey), SQLBind(key.publicKey), SQLBind(key.createdAt),
                    SQLBind(key.signUntil), SQLBind(key.publishUntil)
                )
                .run()
            return true
        }
    }

    public func deleteSigningKeys(publishedBefore cutoff: String) async throws {
        try await sql.delete(from: "signing_keys").where("publish_until", .lessThan, SQLBind(cutoff)).run()
    }

    // MARK: Rows

    static func credentials(from row: any SQLRow) throws -> Credentials {
        Credentials(
            account: try account(from: row),
            passwordHash: try row.decode(column: "password_hash", as: String?.self),
            failedLogins: try row.decode(column: "failed_logins", as: Int.self),
            lockCount: try row.decode(column: "lock_count", as: Int.self),
            lockedUntil: try row.decode(column: "locked_until", as: String?.self),
            mfaEnabled: try row.decode(column: "mfa_enabled", as: Int.self) != 0
        )
    }

    static func session(from row: any SQLRow) throws -> SessionRecord {
        guard
            let id = UUID(uuidString: try row.decode(column: "id", as: String.self)),
            let accountID = UUID(uuidString: try row.decode(column: "account_id", as: String.self))
        else { throw StoreError.corruptRow("sessions") }
        return SessionRecord(
            id: id, accountID: accountID,
            createdAt: try row.decode(column: "created_at", as: String.self),
            lastUsedAt: try row.decode(column: "last_used_at", as: String.self),
            ip: try row.decode(column: "ip", as: String.self),
            userAgent: try row.decode(column: "user_agent", as: String.self),
            authTime: try row.decode(column: "auth_time", as: Int64.self),
            amr: try row.decode(column: "amr", as: String.self).split(separator: " ").map(String.init),
            expiresAt: try row.decode(column: "expires_at", as: String.self),
            revokedAt: try row.decode(column: "revoked_at", as: String?.self)
        )
    }
}
