#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// An account with what sign-in needs to know about it.
public struct Credentials: Sendable, Equatable {
    public var account: Account
    /// PHC string; nil until the holder sets a password.
    public var passwordHash: String?
    public var failedLogins: Int
    public var lockCount: Int
    public var lockedUntil: String?
    public var mfaEnabled: Bool

    public init(
        account: Account, passwordHash: String?, failedLogins: Int, lockCount: Int, lockedUntil: String?, mfaEnabled: Bool
    ) {
        self.account = account
        self.passwordHash = passwordHash
        self.failedLogins = failedLogins
        self.lockCount = lockCount
        self.lockedUntil = lockedUntil
        self.mfaEnabled = mfaEnabled
    }

    public func isLocked(at now: String) -> Bool {
        lockedUntil.map { $0 > now } ?? false
    }
}

/// Whether a sign-in attempt may check its credential.
public enum AttemptReservation: Sendable, Equatable {
    /// Counted; check the credential, then settle or reset.
    case reserved
    /// Locked, or no place left before the lock; `lockedUntil` when this
    /// refusal itself locked the account.
    case refused(lockedUntil: String?)
}

/// One sign-in: the family of refresh tokens it owns and the access tokens
/// issued under it.
public struct SessionRecord: Sendable, Equatable {
    public var id: UUID
    public var accountID: UUID
    public var createdAt: String
    public var lastUsedAt: String
    public var ip: String
    public var userAgent: String
    /// Seconds since 1970 of the sign-in that created the session.
    public var authTime: Int64
    /// Authentication methods (RFC 8176): `pwd`, `otp`.
    public var amr: [String]
    public var expiresAt: String
    public var revokedAt: String?

    public init(
        id: UUID, accountID: UUID, createdAt: String, lastUsedAt: String, ip: String, userAgent: String, authTime: Int64,
        amr: [String], expiresAt: String, revokedAt: String? = nil
    ) {
        self.id = id
        self.accountID = accountID
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.ip = ip
        self.userAgent = userAgent
        self.authTime = authTime
        self.amr = amr
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    public func isLive(at now: String) -> Bool { revokedAt == nil && expiresAt > now }
}

/// A refresh token's stored form: its SHA-256 only.
public struct RefreshTokenRecord: Sendable, Equatable {
    public var hash: String
    public var sessionID: UUID
    public var createdAt: String
    public var expiresAt: String

    public init(hash: String, sessionID: UUID, createdAt: String, expiresAt: String) {
        self.hash = hash
        self.sessionID = sessionID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// What presenting a refresh token led to.
public enum RefreshOutcome: Sendable, Equatable {
    /// The token was live; it is now spent and `next` replaces it.
    case rotated(SessionRecord)
    /// The token had already been spent: the session is now revoked.
    case reused(sessionID: UUID, accountID: UUID)
    /// Unknown, expired, or its session is over.
    case invalid
}

/// A TOTP credential; the secret stays sealed here.
public struct TOTPCredential: Sendable, Equatable {
    public var accountID: UUID
    public var sealedSecret: String
    public var confirmedAt: String?
    /// The newest time step accepted; older and equal steps are replays.
    public var lastStep: Int64

    public init(accountID: UUID, sealedSecret: String, confirmedAt: String?, lastStep: Int64) {
        self.accountID = accountID
        self.sealedSecret = sealedSecret
        self.confirmedAt = confirmedAt
        self.lastStep = lastStep
    }
}

/// A JWT signing key; the private half stays sealed under the master key.
public struct StoredSigningKey: Sendable, Equatable {
    public var kid: String
    public var sealedPrivateKey: String
    /// Raw Ed25519 public key, base64url.
    public var publicKey: String
    public var createdAt: String
    /// The key signs nothing after this.
    public var signUntil: String
    /// The key stays in the JWKS until every token it signed has expired.
    public var publishUntil: String

    public init(kid: String, sealedPrivateKey: String, publicKey: String, createdAt: String, signUntil: String, publishUntil: String) {
        self.kid = kid
        self.sealedPrivateKey = sealedPrivateKey
        self.publicKey = publicKey
        self.createdAt = createdAt
        self.signUntil = signUntil
        self.publishUntil = publishUntil
    }
}

/// Storage for everything sign-in needs. Each method is one atomic step:
/// implementations keep every conditional update race-free across processes
/// sharing the database.
public protocol IdentityStore: AccountRepository {
    /// Creates an active account with a password (open registration);
    /// throws ``IdentityError/duplicateEmail`` if the email is taken.
    func createActive(_ account: Account, passwordHash: String) async throws
    func credentials(email: EmailAddress) async throws -> Credentials?
    func credentials(id: UUID) async throws -> Credentials?
    /// Accounts ordered by email, after `email` (exclusive), at most `limit`.
    func listCredentials(after email: String?, limit: Int) async throws -> [Credentials]

    /// Counts one sign-in attempt *before* its credential is checked, in one
    /// conditional write, so parallel guesses cannot outrun the lock: at most
    /// `threshold` attempts are counted between locks. Refused when the
    /// account is locked or every place before the lock is taken; a refusal
    /// that finds `threshold` counted attempts and no lock locks the account
    /// for `lockDuration(lockCount)` (and says until when). An id with no
    /// account runs the same statements and answers `.refused(nil)`.
    func reserveAttempt(
        accountID: UUID, threshold: Int, now: Date, lockDuration: @escaping @Sendable (Int) -> TimeInterval
    ) async throws -> AttemptReservation
    /// `reserveAttempt`, `settleFailedAttempt` and `releaseAttempt` for a
    /// sign-in to an address no account has: the same statements, on decoy
    /// row `decoy` (any number; rows are picked modulo their count), which is
    /// never locked, so such a refusal writes exactly what a wrong password
    /// for a real, unlocked account writes.
    func reserveDecoyAttempt(decoy: Int, threshold: Int, now: Date) async throws
    func settleDecoyAttempt(decoy: Int, threshold: Int, now: Date) async throws
    func releaseDecoyAttempt(decoy: Int) async throws
    /// The reserved attempt failed: it stays counted, and at `threshold`
    /// counted attempts the account is locked for `lockDuration(lockCount)`
    /// and the counter reset. Returns the lock's end when this call locked it.
    func settleFailedAttempt(
        accountID: UUID, threshold: Int, now: Date, lockDuration: @escaping @Sendable (Int) -> TimeInterval
    ) async throws -> String?
    /// Gives back a reserved attempt whose first factor was right while the
    /// second is still to come, so a sign-in counts once, at its end.
    func releaseAttempt(accountID: UUID) async throws
    /// Clears the failure counter and the lock history.
    func recordSuccessfulLogin(accountID: UUID) async throws
    /// Lifts a lock; false if there was none.
    func unlock(accountID: UUID) async throws -> Bool
    func setPasswordHash(accountID: UUID, hash: String, now: String) async throws

    /// The pending account a live, unused one-time token of `purposes` belongs to.
    func tokenAccount(hash: String, purposes: [OneTimeToken.Purpose], now: String) async throws -> Account?
    /// Spends the token and activates its pending account with `passwordHash`,
    /// atomically; nil if the token was not live (already spent, expired, unknown).
    func activate(tokenHash: String, purposes: [OneTimeToken.Purpose], passwordHash: String, now: String) async throws -> Account?
    /// Replaces every token of a pending account with `token`, if `inviter`
    /// is the one who invited it (or is `nil`: a super admin may re-issue
    /// any invitation), checked and written atomically. False if refused.
    func reissueInvitation(of accountID: UUID, with token: OneTimeToken, inviter: UUID?) async throws -> Bool
    func insertToken(_ token: OneTimeToken) async throws
    /// Spends a live token; the account it was for, or nil.
    func consumeToken(hash: String, purpose: OneTimeToken.Purpose, now: String) async throws -> UUID?

    /// Changes the role, refusing with ``IdentityError/roleLimitReached`` past `maximum`.
    ///
    /// This, ``setStatus(accountID:status:now:)`` and ``deleteAccount(id:)``
    /// refuse with ``IdentityError/lastSuperAdmin`` to take the last active
    /// super admin out of that role or state, checking and writing atomically:
    /// two concurrent demotions of the last two cannot both succeed.
    func setRole(accountID: UUID, role: Role, maximumOfRole maximum: Int?, now: String) async throws
    func setStatus(accountID: UUID, status: AccountStatus, now: String) async throws
    func deleteAccount(id: UUID) async throws
    /// Active accounts holding `role`.
    func countActive(role: Role) async throws -> Int

    func createSession(_ session: SessionRecord, refreshToken: RefreshTokenRecord) async throws
    func session(id: UUID) async throws -> SessionRecord?
    /// Spends the refresh token and stores `next` in its place, touching the
    /// session; a spent token revokes its session instead.
    func rotateRefreshToken(hash: String, next: RefreshTokenRecord, now: String, ip: String, userAgent: String) async throws
        -> RefreshOutcome
    /// Revokes one of `accountID`'s sessions; false if it is not theirs or already over.
    func revokeSession(id: UUID, accountID: UUID, reason: String, now: String) async throws -> Bool
    /// Revokes every live session of the account but `except`; returns how many.
    func revokeSessions(accountID: UUID, except: UUID?, reason: String, now: String) async throws -> Int
    /// Live sessions, newest first.
    func liveSessions(accountID: UUID, now: String) async throws -> [SessionRecord]

    func totp(accountID: UUID) async throws -> TOTPCredential?
    /// Stores a new unconfirmed secret, replacing an unconfirmed one; false if
    /// a confirmed one exists.
    func savePendingTOTP(accountID: UUID, sealedSecret: String, now: String) async throws -> Bool
    /// Confirms the pending secret at `step`, turns MFA on and stores the
    /// recovery codes' hashes; false if there was nothing to confirm or the
    /// step was not newer.
    func confirmTOTP(accountID: UUID, step: Int64, recoveryCodeHashes: [String], now: String) async throws -> Bool
    /// Records `step` as used; false if it (or a later one) was used already.
    func useTOTPStep(accountID: UUID, step: Int64) async throws -> Bool
    /// Spends a recovery code; false if unknown or spent.
    func useRecoveryCode(accountID: UUID, hash: String, now: String) async throws -> Bool
    /// Removes the TOTP secret and recovery codes and turns MFA off.
    func removeTOTP(accountID: UUID, now: String) async throws

    func signingKeys() async throws -> [StoredSigningKey]
    /// Inserts `key` unless some key can still sign at `now`; true if inserted.
    func insertSigningKey(_ key: StoredSigningKey, unlessSignableAt now: String) async throws -> Bool
    /// Destroys keys no longer published before `cutoff`.
    func deleteSigningKeys(publishedBefore cutoff: String) async throws
}
