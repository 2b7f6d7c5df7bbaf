/// What happened, as the caller reports it, before the ledger seals it into the
/// chain. Never put passwords, tokens, secrets or file contents in `details`.
public struct AuditEvent: Sendable, Equatable {
    /// Who acted: a principal id, `anonymous`, or `system` / `cli` for the
    /// server and the command line acting on their own.
    public var actor: String
    /// What was done, dotted and lower case: `http.request`, `ratelimit.refused`.
    public var action: String
    /// What it was done to: a route pattern, a record id, a file.
    public var target: String
    public var outcome: AuditOutcome
    public var requestID: String?
    public var sourceIP: String?
    /// Small, non-secret facts (status code, reason code). Keys sort in the hash.
    public var details: [String: String]

    public init(
        actor: String,
        action: String,
        target: String,
        outcome: AuditOutcome,
        requestID: String? = nil,
        sourceIP: String? = nil,
        details: [String: String] = [:]
    ) {
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.requestID = requestID
        self.sourceIP = sourceIP
        self.details = details
    }
}

/// How an audited operation ended.
public enum AuditOutcome: String, Sendable, Codable, CaseIterable {
    /// The operation did what was asked.
    case success
    /// The caller's input or state made it fail (bad request, not found).
    case failure
    /// A policy said no: authorization, rate limit, lockout.
    case denied
    /// The server failed.
    case error
}
