import Crypto
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
public import Ledger
public import TalosCore

/// Where a request came from, for sessions and the audit trail.
public struct RequestOrigin: Sendable {
    public var ip: String
    public var userAgent: String
    public var requestID: String?

    public init(ip: String, userAgent: String, requestID: String?) {
        self.ip = ip
        self.userAgent = String(userAgent.prefix(256))
        self.requestID = requestID
    }
}

/// The caller of a request, as the database says now (role, status and MFA
/// are read fresh on every request, so changes apply at once).
public struct Principal: Sendable, Equatable {
    public let accountID: UUID
    public let sessionID: UUID
    public let email: EmailAddress
    public let role: Role
    public let mfaEnabled: Bool
    public let authTime: Int64
    public let amr: [String]

    public var actor: String { accountID.uuidString.lowercased() }
}

/// A fresh access token and its refresh token.
public struct TokenPair: Sendable {
    public let accessToken: Secret<String>
    public let expiresIn: Int
    public let refreshToken: Secret<String>
    public let sessionID: UUID
}

/// The answer to a password sign-in.
public enum LoginResult: Sendable {
    case signedIn(TokenPair)
    /// The password was right; the second factor must follow with this token.
    case mfaRequired(mfaToken: Secret<String>)
}

/// Accounts, sign-in, tokens, sessions, MFA and lockout: every rule of the
/// identity core, with every outcome audited. HTTP lives elsewhere; this type
/// speaks in values and ``CitadelError``s.
public struct IdentityService: Sendable {
    public let settings: CitadelSettings
    let store: any IdentityStore
    let audit: AuditLog
    let hasher: PasswordHasher
    let policy: PasswordPolicy
    public let keys: SigningKeyRing
    let totpSealer: SecretSealer
    let codeSealer: SecretSealer
    let clock: @Sendable () -> Date

    public init(
        settings: CitadelSettings, store: any IdentityStore, audit: AuditLog, masterKey: Secret<[UInt8]>,
        policy: PasswordPolicy, clock: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        try settings.validate()
        self.settings = settings
        self.store = store
        self.audit = audit
        self.policy = policy
        self.hasher = try PasswordHasher(
            parameters: settings.argon2,
            gate: HashingGate(permits: settings.hashingConcurrency, maximumWait: settings.hashingMaximumWait)
        )
        self.keys = SigningKeyRing(
            store: store, masterKey: masterKey, rotation: settings.signingKeyRotation,
            tokenLifetime: settings.accessTokenLifetime
        )
        self.totpSealer = SecretSealer(masterKey: masterKey, purpose: "totp secret")
        self.codeSealer = SecretSealer(masterKey: masterKey, purpose: "recovery code")
        self.clock = clock
    }

    /// The service's clock (tests move it).
    public func now() -> Date { clock() }

    // MARK: Sign-in

    public func login(email text: String, password: Secret<String>, origin: RequestOrigin) async throws -> LoginResult {
        let now = clock()
        let email = EmailAddress(text)
        let credentials = try await email.asyncMap { try await store.credentials(email: $0) } ?? nil
        // The attempt is counted before the hash is checked, so parallel
        // guesses cannot pass the lock; for an unknown email it is counted
        // on one of the decoy rows, so the refusal writes what a real one writes.
        let attemptID = credentials?.account.id ?? UUID()
        let decoy = Int.random(in: 0..<Int(Int32.max))
        let reservation: AttemptReservation
        if credentials == nil {
            try await store.reserveDecoyAttempt(decoy: decoy, threshold: settings.lockoutThreshold, now: now)
            reservation = .refused(lockedUntil: nil)
        } else {
            reservation = try await reserve(attemptID, now: now)
        }
        do {
            return try await checkLogin(
                credentials: credentials, email: email, attemptID: attemptID, decoy: decoy, reservation: reservation,
                password: password, origin: origin, now: now
            )
        } catch let error as CitadelError where Self.isRefusal(error) {
            throw error
        } catch {
            // An overloaded hashing gate or a failed write is no guess: the
            // place is given back, so load cannot lock anyone out.
            if reservation == .reserved { try? await store.releaseAttempt(accountID: attemptID) }
            if credentials == nil { try? await store.releaseDecoyAttempt(decoy: decoy) }
            throw error
        }
    }

    /// Refusals settle their attempt themselves; anything else thrown
    /// between reserving and settling gives the attempt back.
    static func isRefusal(_ error: CitadelError) -> Bool {
        [.invalidCredentials, .invalidMFACode, .wrongPassword, .accountLocked, .invalidToken].contains(error.code)
    }

    private func checkLogin(
        credentials: Credentials?, email: EmailAddress?, attemptID: UUID, decoy: Int, reservation: AttemptReservation,
        password: Secret<String>, origin: RequestOrigin, now: Date
    ) async throws -> LoginResult {
        let usable = credentials.flatMap { $0.account.status == .active && reservation == .reserved ? $0 : nil }
        // The hash is checked whatever the account's state, so every refusal
        // costs the same time as a wrong password for a real account.
        let verification = try await hasher.verify(password, against: usable?.passwordHash)
        guard let credentials else {
            try await store.settleDecoyAttempt(decoy: decoy, threshold: settings.lockoutThreshold, now: now)
            try await record("auth.login", actor: "anonymous", target: "(unknown)", .failure, origin, ["reason": email == nil ? "invalid_email" : "unknown_email"])
            throw CitadelError.invalidCredentials
        }
        let account = credentials.account
        guard case .reserved = reservation else {
            try await refusedAsLocked(reservation, account: account, action: "auth.login", origin: origin)
            throw CitadelError.invalidCredentials
        }
        guard account.status == .active else {
            _ = try await settle(attemptID, now: now)
            try await record("auth.login", account: account, .failure, origin, ["reason": "account_" + account.status.rawValue])
            throw CitadelError.invalidCredentials
        }
        guard verification != .mismatch else {
            try await failedAttempt(account, reason: "bad_password", action: "auth.login", origin: origin, now: now)
            throw CitadelError.invalidCredentials
        }
        if verification == .matchNeedsRehash {
            try await store.setPasswordHash(accountID: account.id, hash: try await hasher.hash(password), now: Timestamp.string(from: now))
            try await record("account.password_rehash", account: account, .success, origin, ["parameters": settings.argon2.description])
        }
        if credentials.mfaEnabled {
            // Half a sign-in: the counters are not reset (that waits for the
            // second factor), but this attempt is given back, so the second
            // factor's outcome is what counts.
            try await store.releaseAttempt(accountID: account.id)
            let token = OneTimeTokens.generate()
            try await store.insertToken(
                OneTimeToken(
                    hash: OneTimeTokens.hash(token.unsafeValue), accountID: account.id, purpose: .mfaLogin,
                    expiresAt: Timestamp.string(from: now.addingTimeInterval(settings.mfaTokenLifetime)),
                    createdAt: Timestamp.string(from: now)
                )
            )
            try await record("auth.login", account: account, .success, origin, ["stage": "password", "next": "mfa"])
            return .mfaRequired(mfaToken: token)
        }
        try await store.recordSuccessfulLogin(accountID: account.id)
        let pair = try await startSession(for: account, amr: ["pwd"], origin: origin, now: now)
        try await record("auth.login", account: account, .success, origin, ["session": Self.text(pair.sessionID), "amr": "pwd"])
        return .signedIn(pair)
    }

    /// Finishes a sign-in with a TOTP code or a recovery code. The MFA token
    /// is spent whatever the outcome; a wrong code counts toward lockout like
    /// a wrong password, and only a whole sign-in resets the counters.
    public func completeMFALogin(mfaToken: Secret<String>, code: Secret<String>, origin: RequestOrigin) async throws -> TokenPair {
        let now = clock()
        let stamp = Timestamp.string(from: now)
        guard
            let accountID = try await store.consumeToken(
                hash: OneTimeTokens.hash(mfaToken.unsafeValue), purpose: .mfaLogin, now: stamp
            ),
            let credentials = try await store.credentials(id: accountID),
            credentials.account.status == .active, credentials.mfaEnabled
        else {
            try await record("auth.login_mfa", actor: "anonymous", target: "(unknown)", .failure, origin, ["reason": "invalid_mfa_token"])
            throw CitadelError.invalidToken
        }
        let account = credentials.account
        let reservation = try await reserve(account.id, now: now)
        guard case .reserved = reservation else {
            try await refusedAsLocked(reservation, account: account, action: "auth.login_mfa", origin: origin)
            throw CitadelError.invalidMFACode
        }
        let method: String?
        do {
            method = try await checkSecondFactor(code, account: account, origin: origin, now: now)
        } catch {
            try? await store.releaseAttempt(accountID: account.id)
            throw error
        }
        guard let method else {
            try await failedAttempt(account, reason: "bad_mfa_code", action: "auth.login_mfa", origin: origin, now: now)
            throw CitadelError.invalidMFACode
        }
        try await store.recordSuccessfulLogin(accountID: account.id)
        let amr = ["pwd", method, "mfa"]
        let pair = try await startSession(for: account, amr: amr, origin: origin, now: now)
        try await record(
            "auth.login_mfa", account: account, .success, origin, ["session": Self.text(pair.sessionID), "amr": amr.joined(separator: " ")]
        )
        return pair
    }

    /// Counts an attempt before its credential is checked (see
    /// ``IdentityStore/reserveAttempt(accountID:threshold:now:lockDuration:)``).
    func reserve(_ accountID: UUID, now: Date) async throws -> AttemptReservation {
        let settings = settings
        return try await store.reserveAttempt(
            accountID: accountID, threshold: settings.lockoutThreshold, now: now, lockDuration: { settings.lockDuration(lockCount: $0) }
        )
    }

    /// Settles a counted attempt that failed; the lock's end if it locked.
    func settle(_ accountID: UUID, now: Date) async throws -> String? {
        let settings = settings
        return try await store.settleFailedAttempt(
            accountID: accountID, threshold: settings.lockoutThreshold, now: now, lockDuration: { settings.lockDuration(lockCount: $0) }
        )
    }

    /// Audits an attempt refused because the account is locked (and the
    /// lock, if the refusal set it).
    func refusedAsLocked(_ reservation: AttemptReservation, account: Account, action: String, origin: RequestOrigin) async throws {
        try await record(action, account: account, .denied, origin, ["reason": "locked"])
        if case .refused(let lockedUntil?) = reservation {
            try await record("account.lock", account: account, .success, origin, ["until": lockedUntil, "reason": "failed_logins"])
        }
    }

    /// Checks a credential of a signed-in caller (password change, turning
    /// MFA off) as one counted attempt: refused while the account is locked,
    /// and a wrong one counts toward the lock exactly like a wrong sign-in.
    func guardedCheck(
        _ account: Account, reason: String, action: String, origin: RequestOrigin, now: Date, check: () async throws -> Bool
    ) async throws -> Bool {
        let reservation = try await reserve(account.id, now: now)
        guard case .reserved = reservation else {
            try await refusedAsLocked(reservation, account: account, action: action, origin: origin)
            throw CitadelError.accountLocked
        }
        let passed: Bool
        do {
            passed = try await check()
        } catch {
            // Overload or a failed read is not a wrong guess.
            try? await store.releaseAttempt(accountID: account.id)
            throw error
        }
        guard passed else {
            try await failedAttempt(account, reason: reason, action: action, origin: origin, now: now)
            return false
        }
        try await store.releaseAttempt(accountID: account.id)
        return true
    }

    /// Settles a counted failure and audits it (and the lock, if this
    /// failure caused one).
    func failedAttempt(_ account: Account, reason: String, action: String, origin: RequestOrigin, now: Date) async throws {
        let lockedUntil = try await settle(account.id, now: now)
        try await record(action, account: account, .failure, origin, ["reason": reason])
        if let lockedUntil {
            try await record("account.lock", account: account, .success, origin, ["until": lockedUntil, "reason": "failed_logins"])
        }
    }

    // MARK: Tokens

    func startSession(for account: Account, amr: [String], origin: RequestOrigin, now: Date) async throws -> TokenPair {
        let stamp = Timestamp.string(from: now)
        let session = SessionRecord(
            id: UUID(), accountID: account.id, createdAt: stamp, lastUsedAt: stamp, ip: origin.ip, userAgent: origin.userAgent,
            authTime: Self.seconds(now), amr: amr,
            expiresAt: Timestamp.string(from: now.addingTimeInterval(settings.sessionLifetime))
        )
        let refresh = OneTimeTokens.generate()
        try await store.createSession(session, refreshToken: refreshRecord(refresh, session: session.id, now: now))
        let access = try await issueAccessToken(account: account.id, role: account.role, session: session, now: now, origin: origin)
        return TokenPair(
            accessToken: access, expiresIn: Int(settings.accessTokenLifetime), refreshToken: refresh, sessionID: session.id
        )
    }

    func refreshRecord(_ token: Secret<String>, session: UUID, now: Date) -> RefreshTokenRecord {
        let lifetime = min(settings.refreshTokenLifetime, settings.sessionLifetime)
        return RefreshTokenRecord(
            hash: OneTimeTokens.hash(token.unsafeValue), sessionID: session, createdAt: Timestamp.string(from: now),
            expiresAt: Timestamp.string(from: now.addingTimeInterval(lifetime))
        )
    }

    func issueAccessToken(account: UUID, role: Role, session: SessionRecord, now: Date, origin: RequestOrigin) async throws
        -> Secret<String>
    {
        let key = try await keys.signingKey(now: now)
        let issuedAt = Self.seconds(now)
        let jti = UUID().uuidString.lowercased()
        let claims = AccessTokenClaims(
            iss: settings.issuer, sub: Self.text(account), aud: settings.audience,
            exp: issuedAt + Int64(settings.accessTokenLifetime), iat: issuedAt, nbf: issuedAt, jti: jti,
            sid: Self.text(session.id), role: role.rawValue, amr: session.amr, auth_time: session.authTime
        )
        guard let privateKey = key.privateKey else { throw CitadelError.corruptData("signing key") }
        let token = try AccessTokenCodec.sign(claims, kid: key.kid, key: privateKey)
        try await record(
            "auth.token_issue", actor: Self.text(account), target: Self.text(session.id), .success, origin,
            ["jti": jti, "kid": key.kid, "exp": String(claims.exp)]
        )
        return Secret(token)
    }

    /// Rotates a refresh token. A token presented a second time is theft or a
    /// replay: the whole session is revoked and a security event recorded.
    public func refresh(token: Secret<String>, origin: RequestOrigin) async throws -> TokenPair {
        let now = clock()
        let stamp = Timestamp.string(from: now)
        let next = OneTimeTokens.generate()
        let outcome = try await store.rotateRefreshToken(
            hash: OneTimeTokens.hash(token.unsafeValue), next: refreshRecord(next, session: UUID(), now: now), now: stamp,
            ip: origin.ip, userAgent: origin.userAgent
        )
        switch outcome {
        case .invalid:
            try await record("auth.refresh", actor: "anonymous", target: "(unknown)", .failure, origin, ["reason": "invalid_refresh_token"])
            throw CitadelError.invalidToken
        case .reused(let sessionID, let accountID):
            try await record(
                "auth.refresh_reuse", actor: Self.text(accountID), target: Self.text(sessionID), .denied, origin,
                ["reason": "refresh_token_reused", "severity": "security", "session_revoked": "true"]
            )
            throw CitadelError.invalidToken
        case .rotated(let session):
            guard let credentials = try await store.credentials(id: session.accountID), credentials.account.status == .active else {
                _ = try await store.revokeSession(id: session.id, accountID: session.accountID, reason: "account_inactive", now: stamp)
                try await record("auth.refresh", actor: Self.text(session.accountID), target: Self.text(session.id), .denied, origin, ["reason": "account_inactive"])
                throw CitadelError.invalidToken
            }
            let access = try await issueAccessToken(
                account: session.accountID, role: credentials.account.role, session: session, now: now, origin: origin
            )
            try await record("auth.refresh", actor: Self.text(session.accountID), target: Self.text(session.id), .success, origin)
            return TokenPair(
                accessToken: access, expiresIn: Int(settings.accessTokenLifetime), refreshToken: next, sessionID: session.id
            )
        }
    }

    public enum AuthenticationFailure: Error, Sendable, Equatable {
        case token(AccessTokenCodec.Failure)
        case sessionOver
        case accountInactive
    }

    /// Checks a bearer token and its session against the database, so a
    /// revoked session fails on the very next request in every process.
    public func authenticate(bearer: String) async throws -> Result<Principal, AuthenticationFailure> {
        let now = clock()
        let keys = keys
        let verified: VerifiedAccessToken
        do {
            verified = try await AccessTokenCodec.verify(
                bearer, issuer: settings.issuer, audience: settings.audience, now: now,
                key: { try await keys.verificationKey(kid: $0, now: now) }
            )
        } catch {
            return .failure(.token(error))
        }
        guard let session = try await store.session(id: verified.sessionID), session.accountID == verified.accountID,
            session.isLive(at: Timestamp.string(from: now))
        else { return .failure(.sessionOver) }
        guard let credentials = try await store.credentials(id: verified.accountID), credentials.account.status == .active else {
            return .failure(.accountInactive)
        }
        return .success(
            Principal(
                accountID: verified.accountID, sessionID: session.id, email: credentials.account.email,
                role: credentials.account.role, mfaEnabled: credentials.mfaEnabled, authTime: verified.claims.auth_time,
                amr: verified.claims.amr
            )
        )
    }

    /// Whether `principal`'s session is still live and its account active,
    /// as the database says now: long answers re-check it while they run.
    public func isSessionLive(_ principal: Principal) async throws -> Bool {
        guard let session = try await store.session(id: principal.sessionID), session.accountID == principal.accountID,
            session.isLive(at: Timestamp.string(from: clock()))
        else { return false }
        return try await store.credentials(id: principal.accountID)?.account.status == .active
    }

    public enum Decision: Sendable, Equatable {
        case allow
        /// No valid token.
        case unauthenticated
        case deny(reason: String)
        /// Allowed after a fresh sign-in.
        case stepUp
        /// A super admin must enrol MFA before anything else.
        case mfaEnrollmentRequired
    }

    /// The one place a route's declaration meets the caller: deny unless the
    /// matrix grants the permission.
    public func decide(_ access: RouteAccess, for principal: Principal?) -> Decision {
        switch access {
        case .anonymous:
            return .allow
        case .authenticated(let permission, let stepUp, let enrollment):
            guard let principal else { return .unauthenticated }
            if principal.role == .superAdmin && !principal.mfaEnabled && !enrollment { return .mfaEnrollmentRequired }
            guard PermissionMatrix.allows(principal.role, permission) else { return .deny(reason: "role_lacks_permission") }
            if stepUp && !isFresh(principal) { return .stepUp }
            return .allow
        }
    }

    /// Signed in within the step-up window, with MFA if enrolled.
    func isFresh(_ principal: Principal) -> Bool {
        let age = Self.seconds(clock()) - principal.authTime
        guard age >= 0, Double(age) <= settings.stepUpWindow else { return false }
        return !principal.mfaEnabled || principal.amr.contains("mfa")
    }

    // MARK: Helpers

    static func text(_ id: UUID) -> String { id.uuidString.lowercased() }
    static func seconds(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970.rounded(.down)) }

    func record(
        _ action: String, account: Account, _ outcome: AuditOutcome, _ origin: RequestOrigin, _ details: [String: String] = [:]
    ) async throws {
        try await record(action, actor: Self.text(account.id), target: Self.text(account.id), outcome, origin, details)
    }

    func record(
        _ action: String, actor: String, target: String, _ outcome: AuditOutcome, _ origin: RequestOrigin,
        _ details: [String: String] = [:]
    ) async throws {
        try await audit.record(
            AuditEvent(
                actor: actor, action: action, target: target, outcome: outcome, requestID: origin.requestID,
                sourceIP: origin.ip, details: details
            )
        )
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}
