#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Where an execution is in its life. `completed`, `failed` and `cancelled`
/// are final: nothing changes a job once it reaches one of them.
public enum ExecutionStatus: String, Sendable, Codable, CaseIterable {
    case queued
    case running
    /// The program ran; its verdict says how it went.
    case completed
    /// Talos could not run it (workers lost too often, the sandbox failed).
    case failed
    case cancelled

    public var isFinal: Bool {
        switch self {
        case .queued, .running: false
        case .completed, .failed, .cancelled: true
        }
    }
}

/// One execution as the queue stores it. What to run (`spec`) and what
/// happened (`result`) are JSON documents the Forge reads and writes; the
/// queue needs only the columns beside them. Times are milliseconds since
/// the Unix epoch.
public struct ExecutionJob: Sendable, Equatable {
    public var id: UUID
    public var ownerID: UUID
    /// The owner's role when submitted, which chose the quotas.
    public var ownerRole: Role
    public var status: ExecutionStatus
    public var language: String
    /// The API it came through: `talos`, `judge0` or `piston`.
    public var api: String
    public var spec: String
    public var result: String?
    public var verdict: String?
    public var failureReason: String?
    /// Claims so far; a job whose workers keep dying fails at `maxAttempts`.
    public var attempts: Int
    public var maxAttempts: Int
    public var cancelRequested: Bool
    public var cpuMilliseconds: Int
    public var sourceSHA256: String
    public var sourceBytes: Int
    public var createdAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
    /// The worker holding the lease while running.
    public var worker: String?

    public init(
        id: UUID, ownerID: UUID, ownerRole: Role, status: ExecutionStatus = .queued, language: String, api: String,
        spec: String, result: String? = nil, verdict: String? = nil, failureReason: String? = nil, attempts: Int = 0,
        maxAttempts: Int, cancelRequested: Bool = false, cpuMilliseconds: Int = 0, sourceSHA256: String, sourceBytes: Int,
        createdAt: Int64, startedAt: Int64? = nil, finishedAt: Int64? = nil, worker: String? = nil
    ) {
        self.id = id
        self.ownerID = ownerID
        self.ownerRole = ownerRole
        self.status = status
        self.language = language
        self.api = api
        self.spec = spec
        self.result = result
        self.verdict = verdict
        self.failureReason = failureReason
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.cancelRequested = cancelRequested
        self.cpuMilliseconds = cpuMilliseconds
        self.sourceSHA256 = sourceSHA256
        self.sourceBytes = sourceBytes
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.worker = worker
    }
}

/// What one role may use. A value of 0 refuses every job.
public struct ExecutionQuota: Sendable, Equatable {
    /// Jobs queued or running at once.
    public var concurrentJobs: Int
    /// Jobs submitted in any sliding hour.
    public var jobsPerHour: Int
    /// CPU time of jobs finished in any sliding 24 hours, plus what running
    /// jobs have used so far (charged as it accrues).
    public var cpuSecondsPerDay: Int
    /// Output (stdout and stderr of every stage) in any sliding 24 hours,
    /// running jobs included.
    public var outputBytesPerDay: Int

    public init(concurrentJobs: Int, jobsPerHour: Int, cpuSecondsPerDay: Int, outputBytesPerDay: Int = 256 << 20) {
        self.concurrentJobs = concurrentJobs
        self.jobsPerHour = jobsPerHour
        self.cpuSecondsPerDay = cpuSecondsPerDay
        self.outputBytesPerDay = outputBytesPerDay
    }

    public enum Name: String, Sendable {
        case concurrentJobs = "concurrent_jobs"
        case jobsPerHour = "jobs_per_hour"
        case cpuSecondsPerDay = "cpu_seconds_per_day"
        case outputBytesPerDay = "output_bytes_per_day"
    }
}

/// Why the queue took a job or not.
public enum EnqueueOutcome: Sendable, Equatable {
    case accepted
    /// The whole queue holds its maximum; the caller should come back later.
    case queueFull
    case quotaExceeded(ExecutionQuota.Name)
}

/// What a cancel request found.
public enum CancelOutcome: Sendable, Equatable {
    /// It was queued and is now `cancelled`.
    case cancelled
    /// It is running; its worker kills it at the next heartbeat.
    case requested
    /// It had already ended.
    case alreadyFinal(ExecutionStatus)
    case notFound
}

/// What a heartbeat found.
public enum HeartbeatOutcome: Sendable, Equatable {
    case held(cancelRequested: Bool)
    /// The lease expired and the job went to someone else (or ended): the
    /// worker must stop and discard what it has.
    case lost
}

/// What one owner used in the last 24 hours, running jobs included.
public struct DailyUsage: Sendable, Equatable {
    public var cpuMilliseconds: Int64
    public var outputBytes: Int64

    public init(cpuMilliseconds: Int64, outputBytes: Int64) {
        self.cpuMilliseconds = cpuMilliseconds
        self.outputBytes = outputBytes
    }

    /// The first daily quota this usage has used up, if any.
    public func exhausted(_ quota: ExecutionQuota) -> ExecutionQuota.Name? {
        if cpuMilliseconds >= Int64(quota.cpuSecondsPerDay) * 1000 { return .cpuSecondsPerDay }
        if outputBytes >= Int64(quota.outputBytesPerDay) { return .outputBytesPerDay }
        return nil
    }
}

/// A job whose worker stopped renewing its lease, and what became of it.
public struct RecoveredJob: Sendable, Equatable {
    public var id: UUID
    public var ownerID: UUID
    public var attempts: Int
    /// `queued` again, `failed` after the last attempt, or `cancelled` when
    /// a cancel was pending.
    public var status: ExecutionStatus
    public var worker: String?

    public init(id: UUID, ownerID: UUID, attempts: Int, status: ExecutionStatus, worker: String?) {
        self.id = id
        self.ownerID = ownerID
        self.attempts = attempts
        self.status = status
        self.worker = worker
    }
}

/// A status change or a piece of output, in the order a watcher sees them.
public struct ExecutionEvent: Sendable, Equatable {
    /// Increases across all events; a watcher resumes after the last it saw.
    public var sequence: Int64
    /// `status`, `output`, `test` or `result`.
    public var kind: String
    /// A JSON object.
    public var data: String
    public var createdAt: Int64

    public init(sequence: Int64, kind: String, data: String, createdAt: Int64) {
        self.sequence = sequence
        self.kind = kind
        self.data = data
        self.createdAt = createdAt
    }
}

/// Which of an owner's jobs to list, newest first.
public struct ExecutionFilter: Sendable, Equatable {
    public var status: ExecutionStatus?
    public var language: String?
    public var api: String?
    /// Continue after this job (the last one of the previous page).
    public var before: (createdAt: Int64, id: UUID)?

    public init(status: ExecutionStatus? = nil, language: String? = nil, api: String? = nil, before: (createdAt: Int64, id: UUID)? = nil) {
        self.status = status
        self.language = language
        self.api = api
        self.before = before
    }

    public static func == (lhs: ExecutionFilter, rhs: ExecutionFilter) -> Bool {
        lhs.status == rhs.status && lhs.language == rhs.language && lhs.api == rhs.api
            && lhs.before?.createdAt == rhs.before?.createdAt && lhs.before?.id == rhs.before?.id
    }
}

/// The durable job queue and result store.
///
/// Every state change is one conditional statement or one transaction, so
/// any number of processes on one database agree: a job is claimed by at
/// most one lease at a time, and only the holder of the current lease can
/// store its result.
public protocol ExecutionStore: Sendable {
    /// Stores `job` as `queued` unless the owner's `quota` or the queue's
    /// `maximumQueued` says no; the check and the insert are one transaction
    /// serialized per owner, so concurrent submissions cannot overshoot.
    func enqueue(_ job: ExecutionJob, quota: ExecutionQuota, maximumQueued: Int, now: Int64) async throws -> EnqueueOutcome

    func job(id: UUID) async throws -> ExecutionJob?

    /// The owner's jobs matching `filter`, newest first.
    func jobs(owner: UUID, filter: ExecutionFilter, limit: Int) async throws -> [ExecutionJob]

    /// Cancels `id` if `owner` owns it: at once when queued (with its
    /// `status` event, in one transaction), through the worker when running.
    /// Another owner's job is `notFound`.
    func requestCancel(id: UUID, owner: UUID, now: Int64) async throws -> CancelOutcome

    /// Takes the next job for `worker` under a lease that ends at
    /// `now + leaseMilliseconds`. The owner chosen is the one with the fewest
    /// running jobs, then the one served longest ago, so one owner's backlog
    /// cannot starve another's single job; within an owner, oldest first.
    /// `token` fences the lease: heartbeats and the result must carry it.
    /// Owners already running `maximumRunningPerOwner` jobs are skipped, so
    /// one owner cannot hold every worker while others wait.
    func claim(worker: String, token: String, now: Int64, leaseMilliseconds: Int64, maximumRunningPerOwner: Int) async throws
        -> ExecutionJob?

    /// Records what a running job has used so far, if `token` still holds its
    /// lease, and returns its owner's use over the last 24 hours with running
    /// jobs included (nil when the lease is gone), so a daily quota can stop
    /// a job while it runs.
    func chargeUsage(id: UUID, token: String, cpuMilliseconds: Int, outputBytes: Int, now: Int64) async throws -> DailyUsage?

    /// Extends the lease if `token` still holds it.
    func heartbeat(id: UUID, token: String, now: Int64, leaseMilliseconds: Int64) async throws -> HeartbeatOutcome

    /// Stores the result, a final `status` and its `status` event (data
    /// `finalEvent`), in one transaction, if `token` still holds the lease;
    /// returns false (and changes nothing) otherwise. A reader that sees the
    /// final status also sees the event.
    func finish(
        id: UUID, token: String, status: ExecutionStatus, result: String?, verdict: String?, failureReason: String?,
        cpuMilliseconds: Int, finalEvent: String, now: Int64
    ) async throws -> Bool

    /// Re-queues running jobs whose lease has expired, fails those that used
    /// their last attempt, and cancels those with a pending cancel; each
    /// change comes with its `status` event (reason `worker lost`), in the
    /// same transaction.
    func recoverExpiredLeases(now: Int64) async throws -> [RecoveredJob]

    func appendEvents(id: UUID, events: [(kind: String, data: String)], now: Int64) async throws

    /// Events of `id` after `sequence`, oldest first.
    func events(id: UUID, after sequence: Int64, limit: Int) async throws -> [ExecutionEvent]

    /// Deletes up to `limit` final jobs (and their events) that ended before `cutoff`.
    func prune(finishedBefore cutoff: Int64, limit: Int) async throws -> [UUID]
}

extension ExecutionStore {
    /// A claim with no cap on the jobs one owner may run at once.
    public func claim(worker: String, token: String, now: Int64, leaseMilliseconds: Int64) async throws -> ExecutionJob? {
        try await claim(worker: worker, token: token, now: now, leaseMilliseconds: leaseMilliseconds, maximumRunningPerOwner: Int.max)
    }
}
