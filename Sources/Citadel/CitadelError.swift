/// Why Citadel refused or failed. What ``reason`` says may reach the client;
/// it never names an internal detail, and a refusal that could reveal
/// whether an account exists always reads the same.
public struct CitadelError: Error, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        case invalidCredentials
        case wrongPassword
        case accountLocked
        case invalidToken
        case invalidMFACode
        case weakPassword
        case invalidInput
        case forbidden
        case stepUpRequired
        case notFound
        case conflict
        case overloaded
        case resourceMissing
        case hashingFailed
        case invalidConfiguration
        case corruptData
    }

    public let code: Code
    public let reason: String
    /// Rules a refused password broke.
    public let violations: [PasswordPolicy.Violation]

    init(_ code: Code, _ reason: String, violations: [PasswordPolicy.Violation] = []) {
        self.code = code
        self.reason = reason
        self.violations = violations
    }

    public var description: String { reason }

    public static func == (lhs: CitadelError, rhs: CitadelError) -> Bool { lhs.code == rhs.code }

    /// Wrong email, wrong password, locked, disabled or pending: one answer.
    public static let invalidCredentials = CitadelError(.invalidCredentials, "Invalid email or password.")
    /// The current password given to confirm a change is wrong.
    public static let wrongPassword = CitadelError(.wrongPassword, "The current password is wrong.")
    /// Only for a signed-in caller (who knows the account exists); sign-in
    /// itself answers ``invalidCredentials`` for a locked account.
    public static let accountLocked = CitadelError(.accountLocked, "Too many failed attempts; the account is locked for a while.")
    public static let invalidToken = CitadelError(.invalidToken, "The token is invalid or expired.")
    public static let invalidMFACode = CitadelError(.invalidMFACode, "The code is invalid.")
    public static func weakPassword(_ violations: [PasswordPolicy.Violation]) -> CitadelError {
        CitadelError(.weakPassword, "The password does not meet the policy.", violations: violations)
    }
    public static func invalidInput(_ reason: String) -> CitadelError { CitadelError(.invalidInput, reason) }
    public static let forbidden = CitadelError(.forbidden, "You are not allowed to do this.")
    public static let stepUpRequired = CitadelError(
        .stepUpRequired, "Sign in again (with your second factor if enrolled) to do this."
    )
    public static let notFound = CitadelError(.notFound, "No such resource.")
    public static func conflict(_ reason: String) -> CitadelError { CitadelError(.conflict, reason) }
    public static let overloaded = CitadelError(.overloaded, "Too many sign-ins at once; retry shortly.")
    static func resourceMissing(_ name: String) -> CitadelError { CitadelError(.resourceMissing, "missing resource \(name)") }
    static let hashingFailed = CitadelError(.hashingFailed, "password hashing failed")
    static func invalidConfiguration(_ reason: String) -> CitadelError { CitadelError(.invalidConfiguration, reason) }
    static func corruptData(_ what: String) -> CitadelError { CitadelError(.corruptData, "corrupt \(what)") }
}
