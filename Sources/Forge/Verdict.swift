/// What happened to a stage, decided from kernel facts (exit status, the
/// cgroup's OOM record, CPU accounting, the wall clock, the output cap),
/// never guessed from a signal alone.
public enum Verdict: Sendable, Equatable, Codable {
    case ok
    case compileError
    /// Non-zero exit or death by a signal that no limit explains.
    case runtimeError
    case timeLimitExceeded(TimeLimit)
    /// The cgroup recorded an OOM kill.
    case memoryLimitExceeded
    case outputLimitExceeded
    /// The sandbox itself failed; never blamed on the program.
    case internalError
    /// Stopped on request before it finished.
    case cancelled

    public enum TimeLimit: String, Sendable, Codable {
        case cpu
        case wall
    }

    /// The wire name, as in the API.
    public var name: String {
        switch self {
        case .ok: "ok"
        case .compileError: "compile_error"
        case .runtimeError: "runtime_error"
        case .timeLimitExceeded: "time_limit_exceeded"
        case .memoryLimitExceeded: "memory_limit_exceeded"
        case .outputLimitExceeded: "output_limit_exceeded"
        case .internalError: "internal_error"
        case .cancelled: "cancelled"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        switch name {
        case "ok": self = .ok
        case "compile_error": self = .compileError
        case "runtime_error": self = .runtimeError
        case "time_limit_exceeded": self = .timeLimitExceeded(.wall)
        case "memory_limit_exceeded": self = .memoryLimitExceeded
        case "output_limit_exceeded": self = .outputLimitExceeded
        case "internal_error": self = .internalError
        case "cancelled": self = .cancelled
        default: throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown verdict"))
        }
    }
}

/// Why the Forge refused or failed. Reasons are safe to show a client.
public struct ForgeError: Error, Equatable, CustomStringConvertible {
    private enum Code: Equatable {
        case invalidLimit
        case limitAboveMaximum
        case unknownLanguage
        case invalidCatalog
        case invalidFiles
        case sandboxUnavailable
        case invalidSettings
        case invalidRequest
        case quotaExceeded
        case queueFull
        case notFound
        case conflict
    }

    /// How a caller should treat the error.
    public enum Category: Equatable, Sendable {
        /// The request is wrong; `reason` says how.
        case invalid
        /// A per-role quota refused it; the associated value names the quota.
        case quotaExceeded(String)
        /// The queue is full; try again later.
        case queueFull
        case notFound
        /// The request conflicts with the job's state.
        case conflict
        /// Talos failed; nothing for the client to fix.
        case `internal`
    }

    private var quota: String?

    public var category: Category {
        switch code {
        case .invalidLimit, .limitAboveMaximum, .unknownLanguage, .invalidFiles, .invalidRequest: .invalid
        case .quotaExceeded: .quotaExceeded(quota ?? "")
        case .queueFull: .queueFull
        case .notFound: .notFound
        case .conflict: .conflict
        case .invalidCatalog, .sandboxUnavailable, .invalidSettings: .internal
        }
    }

    private let code: Code
    public let reason: String

    private init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }

    public static func == (lhs: ForgeError, rhs: ForgeError) -> Bool { lhs.code == rhs.code }

    public static func invalidLimit(_ name: String) -> ForgeError {
        ForgeError(.invalidLimit, "limit \(name) must be a positive integer")
    }

    public static func limitAboveMaximum(_ name: String, maximum: Int) -> ForgeError {
        ForgeError(.limitAboveMaximum, "limit \(name) may be at most \(maximum)")
    }

    public static func unknownLanguage(_ name: String) -> ForgeError {
        ForgeError(.unknownLanguage, "no runtime for language \(name.prefix(40))")
    }

    public static func invalidCatalog(_ why: String) -> ForgeError {
        ForgeError(.invalidCatalog, "the runtimes catalog is invalid: \(why)")
    }

    public static func invalidFiles(_ why: String) -> ForgeError {
        ForgeError(.invalidFiles, why)
    }

    public static func sandboxUnavailable(_ why: String) -> ForgeError {
        ForgeError(.sandboxUnavailable, "the sandbox cannot be set up: \(why)")
    }

    public static let invalidLimit = ForgeError(.invalidLimit, "invalid limit")
    public static let limitAboveMaximum = ForgeError(.limitAboveMaximum, "limit above maximum")
    public static let unknownLanguage = ForgeError(.unknownLanguage, "unknown language")
    public static let invalidFiles = ForgeError(.invalidFiles, "invalid files")
    public static let sandboxUnavailable = ForgeError(.sandboxUnavailable, "sandbox unavailable")
    public static let invalidSettings = ForgeError(.invalidSettings, "invalid settings")
    public static let invalidRequest = ForgeError(.invalidRequest, "invalid request")

    public static func invalidSettings(_ reason: String) -> ForgeError {
        ForgeError(.invalidSettings, reason)
    }

    public static func quotaExceeded(_ name: String) -> ForgeError {
        var error = ForgeError(.quotaExceeded, "the \(name) quota of your role is used up")
        error.quota = name
        return error
    }

    public static let queueFull = ForgeError(.queueFull, "the execution queue is full")
    public static let notFound = ForgeError(.notFound, "no such execution")

    public static func conflict(_ reason: String) -> ForgeError {
        ForgeError(.conflict, reason)
    }

    /// A submission the service refuses before queueing it.
    public static func invalidRequest(_ reason: String) -> ForgeError {
        ForgeError(.invalidRequest, reason)
    }
}
