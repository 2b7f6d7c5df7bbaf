#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TalosCore

/// A started TOTP enrollment, shown once.
public struct TOTPEnrollment: Sendable {
    public let secret: Secret<String>
    public let provisioningURI: Secret<String>
}

extension IdentityService {
    public static let recoveryCodeCount = 10

    /// Starts TOTP enrollment: a new 160-bit secret, sealed at rest, shown once.
    public func startTOTP(for principal: Principal, origin: RequestOrigin) async throws -> TOTPEnrollment {
        let now = clock()
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<TOTP.secretLength).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let sealed = try totpSealer.seal(secret, boundTo: principal.actor)
        guard try await store.savePendingTOTP(accountID: principal.accountID, sealedSecret: sealed, now: Timestamp.string(from: now)) else {
            try await record("mfa.enroll_start", actor: principal.actor, target: principal.actor, .denied, origin, ["reason": "already_enabled"])
            throw CitadelError.conflict("TOTP is already enabled; disable it first.")
        }
        try await record("mfa.enroll_start", actor: principal.actor, target: principal.actor, .success, origin)
        return TOTPEnrollment(
            secret: Secret(Base32.encode(secret)),
            provisioningURI: Secret(TOTP.provisioningURI(secret: secret, account: principal.email.value, issuer: settings.totpIssuer))
        )
    }

    /// Confirms enrollment with a first code; turns MFA on and returns the
    /// recovery codes, shown once and stored only as keyed hashes.
    public func confirmTOTP(for principal: Principal, code: Secret<String>, origin: RequestOrigin) async throws -> [Secret<String>] {
        let now = clock()
        guard let credential = try await store.totp(accountID: principal.accountID), credential.confirmedAt == nil else {
            try await record("mfa.enable", actor: principal.actor, target: principal.actor, .denied, origin, ["reason": "no_pending_enrollment"])
            throw CitadelError.conflict("Start an enrollment first.")
        }
        let secret = try totpSealer.open(credential.sealedSecret, boundTo: principal.actor)
        guard let step = TOTP(secret: secret).matchingStep(code.unsafeValue, at: now) else {
            try await record("mfa.enable", actor: principal.actor, target: principal.actor, .failure, origin, ["reason": "bad_code"])
            throw CitadelError.invalidMFACode
        }
        let codes = (0..<Self.recoveryCodeCount).map { _ in Self.makeRecoveryCode() }
        guard
            try await store.confirmTOTP(
                accountID: principal.accountID, step: step, recoveryCodeHashes: codes.map { codeSealer.mac($0) },
                now: Timestamp.string(from: now)
            )
        else {
            try await record("mfa.enable", actor: principal.actor, target: principal.actor, .denied, origin, ["reason": "replayed_or_raced"])
            throw CitadelError.invalidMFACode
        }
        try await record("mfa.enable", actor: principal.actor, target: principal.actor, .success, origin, ["recovery_codes": String(codes.count)])
        return codes.map { Secret(SecondFactorCode.format(recoveryCode: $0)) }
    }

    /// Turns TOTP off; needs the password and a current code.
    public func disableTOTP(for principal: Principal, password: Secret<String>, code: Secret<String>, origin: RequestOrigin) async throws {
        let now = clock()
        guard let credentials = try await store.credentials(id: principal.accountID), credentials.mfaEnabled else {
            throw CitadelError.conflict("TOTP is not enabled.")
        }
        let account = credentials.account
        let passwordRight = try await guardedCheck(account, reason: "bad_password", action: "mfa.disable", origin: origin, now: now) {
            try await hasher.verify(password, against: credentials.passwordHash) != .mismatch
        }
        guard passwordRight else { throw CitadelError.invalidCredentials }
        let codeRight = try await guardedCheck(account, reason: "bad_mfa_code", action: "mfa.disable", origin: origin, now: now) {
            try await checkSecondFactor(code, account: account, origin: origin, now: now) != nil
        }
        guard codeRight else { throw CitadelError.invalidMFACode }
        try await store.removeTOTP(accountID: account.id, now: Timestamp.string(from: now))
        try await record("mfa.disable", account: account, .success, origin)
    }

    /// Checks a TOTP code (each time step accepted once) or a recovery code
    /// (each accepted once); the `amr` value of the method that matched, or nil.
    func checkSecondFactor(_ code: Secret<String>, account: Account, origin: RequestOrigin, now: Date) async throws -> String? {
        switch SecondFactorCode(code.unsafeValue) {
        case .unusable:
            return nil
        case .totp(let text):
            guard let credential = try await store.totp(accountID: account.id), credential.confirmedAt != nil else { return nil }
            let secret = try totpSealer.open(credential.sealedSecret, boundTo: Self.text(account.id))
            guard let step = TOTP(secret: secret).matchingStep(text, at: now) else { return nil }
            guard try await store.useTOTPStep(accountID: account.id, step: step) else {
                try await record("mfa.replay", account: account, .denied, origin, ["reason": "code_already_used", "severity": "security"])
                return nil
            }
            return "otp"
        case .recovery(let normalized):
            guard
                try await store.useRecoveryCode(
                    accountID: account.id, hash: codeSealer.mac(normalized), now: Timestamp.string(from: now)
                )
            else { return nil }
        }
        try await record("mfa.recovery_code_used", account: account, .success, origin)
        return "rc"
    }

    /// 16 base32 characters: 80 random bits.
    static func makeRecoveryCode() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<10).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base32.encode(bytes).lowercased()
    }
}
