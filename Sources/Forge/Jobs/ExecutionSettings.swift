public import TalosCore

/// How the execution service queues, leases, limits and keeps jobs.
public struct ExecutionSettings: Sendable, Equatable {
    /// Queued jobs across everyone; beyond it submissions get 503.
    public var maximumQueued = 1_000
    /// How long a claim lasts without a heartbeat. A dead worker's job is
    /// re-queued this long after its last heartbeat.
    public var leaseMilliseconds: Int64 = 15_000
    /// How often a worker renews its leases and looks for cancellations.
    public var heartbeatMilliseconds: Int64 = 1_000
    /// Claims per job before it fails as lost.
    public var maximumAttempts = 3
    /// The longest a client may hold a request open with `wait`.
    public var maximumWaitSeconds = 30
    /// Finished jobs (and their output) are deleted this long after they end.
    public var retentionSeconds = 7 * 24 * 3600
    /// How often idle workers look for jobs another process queued.
    public var pollMilliseconds: Int64 = 250
    public var maximumSourceBytes = 256 * 1024
    public var maximumFiles = 32
    public var maximumStdinBytes = 1024 * 1024
    public var maximumTests = 64
    /// Inputs plus expected outputs of all cases together.
    public var maximumTestBytes = 1024 * 1024
    /// Output kept per test case in the stored result (the comparison sees it all).
    public var storedTestOutputBytes = 16 * 1024
    /// CPU and wall time one job may use over all its stages together; a
    /// stage is cut to what is left, and no stage starts once it is gone.
    public var jobBudget = RunControl.Budget(cpuMilliseconds: 60_000, wallMilliseconds: 180_000)
    /// Jobs one owner may have running at once across all workers, so one
    /// owner's backlog cannot hold every slot while others wait.
    public var maximumRunningPerOwner = 2
    /// Output stored as events per job; past it the stream says it was
    /// truncated and the rest is kept only in the (capped) result.
    public var maximumEventBytesPerJob = 1 << 20
    /// Per role; a role without an entry cannot run code.
    public var quotas: [Role: ExecutionQuota] = [
        .consumer: ExecutionQuota(concurrentJobs: 4, jobsPerHour: 300, cpuSecondsPerDay: 1_800),
        .owner: ExecutionQuota(concurrentJobs: 16, jobsPerHour: 3_000, cpuSecondsPerDay: 14_400),
    ]

    public init() {}

    public func quota(for role: Role) -> ExecutionQuota {
        quotas[role] ?? ExecutionQuota(concurrentJobs: 0, jobsPerHour: 0, cpuSecondsPerDay: 0)
    }

    /// Refuses settings that cannot work: a heartbeat that cannot keep its
    /// lease alive, non-positive sizes.
    public func validate() throws {
        guard maximumQueued >= 1, maximumAttempts >= 1, maximumWaitSeconds >= 0, retentionSeconds >= 60 else {
            throw ForgeError.invalidSettings("forge.queue settings must be positive (retention at least 60 s)")
        }
        guard heartbeatMilliseconds >= 50, leaseMilliseconds >= heartbeatMilliseconds * 3 else {
            throw ForgeError.invalidSettings("forge.queue.lease_ms must be at least three heartbeats (forge.queue.heartbeat_ms ≥ 50)")
        }
        guard pollMilliseconds >= 10, maximumSourceBytes >= 1, maximumFiles >= 1, maximumStdinBytes >= 0, maximumTests >= 1 else {
            throw ForgeError.invalidSettings("forge.queue limits must be positive")
        }
        guard jobBudget.cpuMilliseconds >= 1, jobBudget.wallMilliseconds >= 1, maximumRunningPerOwner >= 1, maximumEventBytesPerJob >= 1024 else {
            throw ForgeError.invalidSettings("forge.job budget, forge.queue.max_running_per_owner and forge.queue.max_event_bytes must be positive")
        }
        for (role, quota) in quotas
        where quota.concurrentJobs < 0 || quota.jobsPerHour < 0 || quota.cpuSecondsPerDay < 0 || quota.outputBytesPerDay < 0
            || quota.cpuSecondsPerDay > 1 << 40 || quota.outputBytesPerDay > 1 << 50 {
            throw ForgeError.invalidSettings("forge.quotas.\(role.rawValue) must not be negative")
        }
    }
}
