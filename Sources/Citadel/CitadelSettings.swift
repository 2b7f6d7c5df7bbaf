#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Identity settings, with the secure defaults; `validate()` refuses anything
/// weaker than the floors below.
public struct CitadelSettings: Sendable {
    /// No access token lives longer than this.
    public static let maximumAccessTokenLifetime: TimeInterval = 15 * 60

    /// `iss` of every token; the public base URL.
    public var issuer = "https://localhost:8443"
    /// `aud` of access tokens.
    public var audience = "talos-api"
    public var accessTokenLifetime: TimeInterval = 10 * 60
    /// A refresh token unused this long is dead.
    public var refreshTokenLifetime: TimeInterval = 14 * 86_400
    /// A session ends this long after sign-in, however often it is refreshed.
    public var sessionLifetime: TimeInterval = 30 * 86_400
    public var signingKeyRotation: TimeInterval = 30 * 86_400
    public var invitationLifetime: TimeInterval = 72 * 3600
    public var mfaTokenLifetime: TimeInterval = 5 * 60
    /// Sensitive operations need a sign-in at most this old.
    public var stepUpWindow: TimeInterval = 5 * 60
    public var lockoutThreshold = 5
    public var lockoutBase: TimeInterval = 15 * 60
    public var lockoutMaximum: TimeInterval = 24 * 3600
    /// - Warning: lets anyone create a consumer account.
    public var openRegistration = false
    public var maximumSuperAdmins = 3
    public var argon2 = Argon2Parameters.standard
    /// Concurrent hashes; the core count by default.
    public var hashingConcurrency = ProcessInfo.processInfo.activeProcessorCount
    /// How long a sign-in waits for a hashing slot before 503.
    public var hashingMaximumWait: Duration = .seconds(2)
    /// Shown in authenticator apps.
    public var totpIssuer = "Talos"

    public init() {}

    /// Lock length for the `lockCount`-th lock: base, doubling, capped.
    public func lockDuration(lockCount: Int) -> TimeInterval {
        let doublings = min(max(lockCount - 1, 0), 30)
        return min(lockoutBase * Double(1 << doublings), lockoutMaximum)
    }

    public func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw CitadelError.invalidConfiguration(message) }
        }
        try require(!issuer.isEmpty && !audience.isEmpty, "citadel.issuer and citadel.audience must be set")
        try require(
            accessTokenLifetime >= 30 && accessTokenLifetime <= Self.maximumAccessTokenLifetime,
            "citadel.access_token_seconds must be 30–900"
        )
        try require(refreshTokenLifetime >= 60 && refreshTokenLifetime <= sessionLifetime, "citadel.refresh_token_seconds must be 60 to the session lifetime")
        try require(sessionLifetime <= 90 * 86_400, "citadel.session_seconds must be at most 90 days")
        try require(signingKeyRotation >= 3600 && signingKeyRotation <= 90 * 86_400, "citadel.key_rotation_seconds must be 1 hour to 90 days")
        try require((3...10).contains(lockoutThreshold), "citadel.lockout.threshold must be 3–10")
        try require(lockoutBase >= 60 && lockoutBase <= lockoutMaximum, "citadel.lockout.base_seconds must be at least 60 and at most the maximum")
        try require(lockoutMaximum <= 7 * 86_400, "citadel.lockout.maximum_seconds must be at most 7 days")
        try require((2...3).contains(maximumSuperAdmins), "citadel.max_super_admins must be 2 or 3")
        try require(argon2.isAcceptable, "citadel.argon2 must be at least m=19456 KiB, t=2, p=1")
        try require((1...64).contains(hashingConcurrency), "citadel.hashing_concurrency must be 1–64")
    }
}
