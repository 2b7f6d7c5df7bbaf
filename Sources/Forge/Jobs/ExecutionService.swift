import Crypto
public import Foundation
public import Ledger
public import Logging
public import TalosCore

/// Who submits or looks at executions, with what the audit trail needs.
public struct ExecutionCaller: Sendable {
    public var id: UUID
    public var role: Role
    public var requestID: String?
    public var sourceIP: String?

    public init(id: UUID, role: Role, requestID: String? = nil, sourceIP: String? = nil) {
        self.id = id
        self.role = role
        self.requestID = requestID
        self.sourceIP = sourceIP
    }
}

/// The API side of the Forge queue: checks and queues submissions, answers
/// for their state, cancels them. Owners see only their own jobs; anyone
/// else's id is "not found".
public final class ExecutionService: Sendable {
    public let store: any ExecutionStore
    public let settings: ExecutionSettings
    public let catalog: RuntimeCatalog
    public let policy: LimitPolicy
    public let signals: ExecutionSignals
    let audit: AuditLog
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(
        store: any ExecutionStore, settings: ExecutionSettings, catalog: RuntimeCatalog, policy: LimitPolicy, audit: AuditLog,
        signals: ExecutionSignals = ExecutionSignals(), logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.settings = settings
        self.catalog = catalog
        self.policy = policy
        self.audit = audit
        self.signals = signals
        self.logger = logger
        self.clock = clock
    }

    var now: Int64 { Int64((clock().timeIntervalSince1970 * 1000).rounded()) }

    /// Checks `spec` against the catalog, the limit policy and the size
    /// limits, and fills in the runtime's version. Nothing is queued.
    public func validated(_ spec: ExecutionSpec) throws -> ExecutionSpec {
        var spec = spec
        let runtime = try catalog.runtime(for: spec.language)
        if spec.version.isEmpty || spec.version == "*" {
            spec.version = runtime.version
        } else if spec.version != runtime.version {
            throw ForgeError.invalidRequest("\(runtime.language) is available in version \(runtime.version) only")
        }
        guard !spec.files.isEmpty else { throw ForgeError.invalidRequest("send source or at least one file") }
        // A lone unnamed source is the runtime's entry file.
        if spec.files.count == 1, spec.files[0].name.isEmpty { spec.files[0].name = runtime.sourceFile }
        guard spec.files.count <= settings.maximumFiles else {
            throw ForgeError.invalidRequest("at most \(settings.maximumFiles) files")
        }
        guard spec.sourceBytes <= settings.maximumSourceBytes else {
            throw ForgeError.invalidRequest("source is limited to \(settings.maximumSourceBytes) bytes")
        }
        for file in spec.files { _ = try SourceFile(name: file.name, content: []) }
        guard Set(spec.files.map(\.name)).count == spec.files.count else { throw ForgeError.invalidRequest("file names must be unique") }
        guard spec.stdin.count <= settings.maximumStdinBytes else {
            throw ForgeError.invalidRequest("stdin is limited to \(settings.maximumStdinBytes) bytes")
        }
        guard spec.arguments.count <= 64, spec.arguments.allSatisfy({ $0.utf8.count <= 4096 && !$0.contains("\0") }) else {
            throw ForgeError.invalidRequest("at most 64 arguments of at most 4096 bytes each, without NUL")
        }
        _ = try policy.resolve(spec.limits)
        _ = try policy.resolve(spec.compileLimits)
        if let tests = spec.tests {
            guard !tests.isEmpty, tests.count <= settings.maximumTests else {
                throw ForgeError.invalidRequest("tests must hold 1 to \(settings.maximumTests) cases")
            }
            let bytes = tests.reduce(0) { $0 + $1.stdin.count + $1.expectedStdout.count }
            guard bytes <= settings.maximumTestBytes else {
                throw ForgeError.invalidRequest("test inputs and outputs are limited to \(settings.maximumTestBytes) bytes")
            }
        }
        return spec
    }

    /// Validates and queues `spec`, or says which quota or limit refused it.
    /// Every attempt is audited with its parameters: language, limits, the
    /// source's SHA-256 and size, never the source.
    public func submit(_ spec: ExecutionSpec, api: String, by caller: ExecutionCaller) async throws -> ExecutionJob {
        var digest = SHA256()
        for file in spec.files {
            digest.update(data: Data(file.name.utf8))
            digest.update(data: [0])
            digest.update(data: file.content)
        }
        let sourceHash = Hex.encode(Array(digest.finalize()))
        var details: [String: String] = [
            "api": api, "language": String(spec.language.prefix(40)), "source_sha256": sourceHash,
            "source_bytes": String(spec.sourceBytes), "files": String(spec.files.count), "stdin_bytes": String(spec.stdin.count),
            "tests": String(spec.tests?.count ?? 0), "compare": spec.compare.rawValue,
            "limits": Self.describe(spec.limits), "compile_limits": Self.describe(spec.compileLimits),
        ]
        let checked: ExecutionSpec
        do {
            checked = try validated(spec)
        } catch let error as ForgeError {
            details["reason"] = error.reason
            try await record("execution.submit", target: "executions", outcome: .failure, caller: caller, details: details)
            throw error
        }
        details["version"] = checked.version
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let job = ExecutionJob(
            id: UUID(), ownerID: caller.id, ownerRole: caller.role, language: checked.language, api: api,
            spec: String(decoding: try encoder.encode(checked), as: UTF8.self), maxAttempts: settings.maximumAttempts,
            sourceSHA256: sourceHash, sourceBytes: checked.sourceBytes, createdAt: now
        )
        let outcome = try await store.enqueue(job, quota: settings.quota(for: caller.role), maximumQueued: settings.maximumQueued, now: now)
        switch outcome {
        case .accepted:
            try await record("execution.submit", target: job.id.uuidString.lowercased(), outcome: .success, caller: caller, details: details)
            signals.workAvailable()
            return job
        case .queueFull:
            details["reason"] = "queue_full"
            try await record("execution.submit", target: "executions", outcome: .denied, caller: caller, details: details)
            logger.warning("execution queue full", metadata: ["maximum": "\(settings.maximumQueued)"])
            throw ForgeError.queueFull
        case .quotaExceeded(let name):
            details["reason"] = "quota"
            details["quota"] = name.rawValue
            try await record("execution.submit", target: "executions", outcome: .denied, caller: caller, details: details)
            throw ForgeError.quotaExceeded(name.rawValue)
        }
    }

    static func describe(_ limits: LimitRequest) -> String {
        limits.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// The caller's job, or `notFound` (also for someone else's).
    public func job(_ id: UUID, for caller: ExecutionCaller) async throws -> ExecutionJob {
        guard let job = try await store.job(id: id), job.ownerID == caller.id else { throw ForgeError.notFound }
        return job
    }

    public func jobs(for caller: ExecutionCaller, filter: ExecutionFilter, limit: Int) async throws -> [ExecutionJob] {
        try await store.jobs(owner: caller.id, filter: filter, limit: limit)
    }

    /// Cancels a queued job at once, or has its worker kill a running one.
    /// Returns the job as it stands afterwards.
    public func cancel(_ id: UUID, by caller: ExecutionCaller) async throws -> (ExecutionJob, CancelOutcome) {
        let outcome = try await store.requestCancel(id: id, owner: caller.id, now: now)
        let target = id.uuidString.lowercased()
        switch outcome {
        case .notFound:
            throw ForgeError.notFound
        case .alreadyFinal(let status):
            try await record("execution.cancel", target: target, outcome: .failure, caller: caller, details: ["reason": "already_" + status.rawValue])
        case .cancelled:
            try await record("execution.cancel", target: target, outcome: .success, caller: caller, details: ["was": "queued"])
            signals.signal(id)
        case .requested:
            try await record("execution.cancel", target: target, outcome: .success, caller: caller, details: ["was": "running"])
            signals.cancelLocal(id)
        }
        return (try await job(id, for: caller), outcome)
    }

    /// Waits up to `seconds` for the caller's job to reach a final status
    /// and returns it as it then stands. `keepWaiting` is asked before each
    /// pause; the wait ends early when it says no (the caller's session ended).
    public func wait(
        for id: UUID, caller: ExecutionCaller, seconds: Int, while keepWaiting: @Sendable () async -> Bool = { true }
    ) async throws -> ExecutionJob {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while true {
            let current = try await job(id, for: caller)
            if current.status.isFinal { return current }
            let left = deadline - ContinuousClock.now
            if left <= .zero || Task.isCancelled { return current }
            guard await keepWaiting() else { return current }
            // A local worker signals at once; one elsewhere is seen by the poll.
            await signals.wait(for: id, timeout: min(left, .milliseconds(500)))
        }
    }

    public func events(of id: UUID, after sequence: Int64, limit: Int = 200) async throws -> [ExecutionEvent] {
        try await store.events(id: id, after: sequence, limit: limit)
    }

    /// Deletes jobs that ended more than the retention ago; audited.
    @discardableResult
    public func prune() async throws -> Int {
        var total = 0
        while true {
            let pruned = try await store.prune(finishedBefore: now - Int64(settings.retentionSeconds) * 1000, limit: 500)
            total += pruned.count
            if pruned.count < 500 { break }
        }
        if total > 0 {
            try await audit.record(
                AuditEvent(
                    actor: "system", action: "execution.prune", target: "executions", outcome: .success,
                    details: ["count": String(total), "retention_seconds": String(settings.retentionSeconds)]
                )
            )
        }
        return total
    }

    func record(_ action: String, target: String, outcome: AuditOutcome, caller: ExecutionCaller, details: [String: String]) async throws {
        try await audit.record(
            AuditEvent(
                actor: caller.id.uuidString.lowercased(), action: action, target: target, outcome: outcome,
                requestID: caller.requestID, sourceIP: caller.sourceIP, details: details
            )
        )
    }
}
