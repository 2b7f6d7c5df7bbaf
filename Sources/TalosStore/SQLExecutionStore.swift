#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import SQLKit
public import TalosCore

/// ``ExecutionStore`` over SQLite and PostgreSQL.
///
/// PostgreSQL claims with `FOR UPDATE SKIP LOCKED`, so claimers on many
/// hosts pass each other instead of queueing on one row. SQLite has one
/// writer at a time: its claim runs in a `BEGIN IMMEDIATE` transaction.
public struct SQLExecutionStore: ExecutionStore {
    let database: TalosDatabase

    public init(database: TalosDatabase) {
        self.database = database
    }

    private var sql: any SQLDatabase { database.sql }

    private static func text(_ id: UUID) -> String { id.uuidString.lowercased() }

    /// The per-owner advisory lock that serializes quota checks (two 32-bit keys).
    private static func ownerLock(_ owner: UUID) -> (Int32, Int32) {
        let bytes = withUnsafeBytes(of: owner.uuid) { Array($0) }
        let folded = bytes.enumerated().reduce(UInt32(0)) { $0 ^ (UInt32($1.element) << (UInt32($1.offset % 4) * 8)) }
        return (0x7461_6c05, Int32(bitPattern: folded))
    }

    public func enqueue(_ job: ExecutionJob, quota: ExecutionQuota, maximumQueued: Int, now: Int64) async throws -> EnqueueOutcome {
        try await database.transaction { [dialect = database.dialect] sql in
            let owner = Self.text(job.ownerID)
            if dialect == .postgres {
                let (classKey, ownerKey) = Self.ownerLock(job.ownerID)
                try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: classKey), \(bind: ownerKey))").run()
            }
            let usage = try await sql.raw(
                """
                SELECT
                  (SELECT count(*) FROM executions WHERE owner_id = \(bind: owner) AND status IN ('queued', 'running')) AS active,
                  (SELECT count(*) FROM executions WHERE owner_id = \(bind: owner) AND created_at > \(bind: now - 3_600_000)) AS hourly,
                  (SELECT count(*) FROM executions WHERE status = 'queued') AS queued
                """
            ).first()
            let active = try usage?.decode(column: "active", as: Int64.self) ?? 0
            let hourly = try usage?.decode(column: "hourly", as: Int64.self) ?? 0
            let queued = try usage?.decode(column: "queued", as: Int64.self) ?? 0
            if active >= quota.concurrentJobs { return .quotaExceeded(.concurrentJobs) }
            if hourly >= quota.jobsPerHour { return .quotaExceeded(.jobsPerHour) }
            if let used = try await Self.dailyUsage(owner: owner, now: now, on: sql).exhausted(quota) { return .quotaExceeded(used) }
            if queued >= maximumQueued { return .queueFull }
            try await sql.raw(
                """
                INSERT INTO executions (id, owner_id, owner_role, status, language, api, spec, attempts, max_attempts,
                  cancel_requested, cpu_ms, source_sha256, source_bytes, created_at)
                VALUES (\(bind: Self.text(job.id)), \(bind: owner), \(bind: job.ownerRole.rawValue), 'queued',
                  \(bind: job.language), \(bind: job.api), \(bind: job.spec), 0, \(bind: job.maxAttempts), 0, 0,
                  \(bind: job.sourceSHA256), \(bind: job.sourceBytes), \(bind: job.createdAt))
                """
            ).run()
            return .accepted
        }
    }

    public func job(id: UUID) async throws -> ExecutionJob? {
        try await sql.raw("SELECT * FROM executions WHERE id = \(bind: Self.text(id))").first().map(Self.job(from:))
    }

    public func jobs(owner: UUID, filter: ExecutionFilter, limit: Int) async throws -> [ExecutionJob] {
        var query = sql.select().column("*").from("executions").where("owner_id", .equal, SQLBind(Self.text(owner)))
        if let status = filter.status { query = query.where("status", .equal, SQLBind(status.rawValue)) }
        if let language = filter.language { query = query.where("language", .equal, SQLBind(language)) }
        if let api = filter.api { query = query.where("api", .equal, SQLBind(api)) }
        if let before = filter.before {
            query = query.where { group in
                group.where("created_at", .lessThan, SQLBind(before.createdAt))
                    .orWhere { inner in
                        inner.where("created_at", .equal, SQLBind(before.createdAt)).where("id", .lessThan, SQLBind(Self.text(before.id)))
                    }
            }
        }
        return try await query.orderBy("created_at", .descending).orderBy("id", .descending).limit(limit).all().map(Self.job(from:))
    }

    public func requestCancel(id: UUID, owner: UUID, now: Int64) async throws -> CancelOutcome {
        let key = Self.text(id)
        let ownerKey = Self.text(owner)
        // The final status and its event in one transaction: a reader that
        // sees the job cancelled also sees the event.
        let cancelled = try await database.transaction { sql in
            guard
                try await sql.raw(
                    """
                    UPDATE executions SET status = 'cancelled', finished_at = \(bind: now), cancel_requested = 1
                    WHERE id = \(bind: key) AND owner_id = \(bind: ownerKey) AND status = 'queued' RETURNING id
                    """
                ).first() != nil
            else { return false }
            try await Self.insertEvents(sql, id: id, events: [Self.statusEvent(.cancelled)], now: now)
            return true
        }
        if cancelled {
            return .cancelled
        }
        if try await sql.raw(
            """
            UPDATE executions SET cancel_requested = 1
            WHERE id = \(bind: key) AND owner_id = \(bind: ownerKey) AND status = 'running' RETURNING id
            """
        ).first() != nil {
            return .requested
        }
        guard let job = try await job(id: id), job.ownerID == owner else { return .notFound }
        // It moved on between the statements: queued → running is retried once.
        if job.status == .running || job.status == .queued {
            return try await requestCancel(id: id, owner: owner, now: now)
        }
        return .alreadyFinal(job.status)
    }

    /// CPU and output of the owner's jobs that finished in the last 24 hours
    /// or are running now (whose use is charged as it accrues).
    static func dailyUsage(owner: String, now: Int64, on sql: any SQLDatabase) async throws -> DailyUsage {
        let row = try await sql.raw(
            """
            SELECT CAST(coalesce(sum(cpu_ms), 0) AS BIGINT) AS cpu, CAST(coalesce(sum(output_bytes), 0) AS BIGINT) AS output
            FROM executions WHERE owner_id = \(bind: owner) AND (finished_at > \(bind: now - 86_400_000) OR status = 'running')
            """
        ).first()
        return DailyUsage(
            cpuMilliseconds: try row?.decode(column: "cpu", as: Int64.self) ?? 0,
            outputBytes: try row?.decode(column: "output", as: Int64.self) ?? 0
        )
    }

    public func chargeUsage(id: UUID, token: String, cpuMilliseconds: Int, outputBytes: Int, now: Int64) async throws -> DailyUsage? {
        guard
            let row = try await sql.raw(
                """
                UPDATE executions SET cpu_ms = \(bind: Int64(cpuMilliseconds)), output_bytes = \(bind: Int64(outputBytes))
                WHERE id = \(bind: Self.text(id)) AND lease_token = \(bind: token) AND status = 'running'
                RETURNING owner_id
                """
            ).first()
        else { return nil }
        return try await Self.dailyUsage(owner: try row.decode(column: "owner_id", as: String.self), now: now, on: sql)
    }

    public func claim(
        worker: String, token: String, now: Int64, leaseMilliseconds: Int64, maximumRunningPerOwner: Int
    ) async throws -> ExecutionJob? {
        let expires = now + leaseMilliseconds
        let cap = Int64(min(maximumRunningPerOwner, Int(Int32.max)))
        switch database.dialect {
        case .postgres:
            // Owners in fairness order; the first whose oldest job is not
            // locked by another claimer wins.
            for owner in try await fairOwners(cap: cap, on: sql) {
                if let row = try await sql.raw(
                    """
                    UPDATE executions SET status = 'running', attempts = attempts + 1, started_at = \(bind: now),
                      lease_owner = \(bind: worker), lease_token = \(bind: token), lease_expires_at = \(bind: expires)
                    WHERE status = 'queued' AND id = (
                      SELECT id FROM executions WHERE owner_id = \(bind: owner) AND status = 'queued'
                      ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING *
                    """
                ).first() {
                    return try Self.job(from: row)
                }
            }
            return nil
        case .sqlite:
            // A read first: an idle poll must not take the file's write lock.
            guard try await !fairOwners(cap: cap, on: sql).isEmpty else { return nil }
            return try await database.transaction { sql in
                guard let owner = try await fairOwners(cap: cap, on: sql).first else { return nil }
                return try await sql.raw(
                    """
                    UPDATE executions SET status = 'running', attempts = attempts + 1, started_at = \(bind: now),
                      lease_owner = \(bind: worker), lease_token = \(bind: token), lease_expires_at = \(bind: expires)
                    WHERE status = 'queued' AND id = (
                      SELECT id FROM executions WHERE owner_id = \(bind: owner) AND status = 'queued'
                      ORDER BY created_at, id LIMIT 1)
                    RETURNING *
                    """
                ).first().map(Self.job(from:))
            }
        }
    }

    /// Owners with queued work and fewer than `cap` running jobs: fewest
    /// running first, then the one whose last job started longest ago, then
    /// the one waiting longest.
    private func fairOwners(cap: Int64, on sql: any SQLDatabase) async throws -> [String] {
        try await sql.raw(
            """
            SELECT q.owner_id FROM executions q WHERE q.status = 'queued'
              AND (SELECT count(*) FROM executions r WHERE r.owner_id = q.owner_id AND r.status = 'running') < \(bind: cap)
            GROUP BY q.owner_id
            ORDER BY
              (SELECT count(*) FROM executions r WHERE r.owner_id = q.owner_id AND r.status = 'running'),
              (SELECT coalesce(max(r.started_at), 0) FROM executions r WHERE r.owner_id = q.owner_id),
              min(q.created_at)
            LIMIT 16
            """
        ).all().map { try $0.decode(column: "owner_id", as: String.self) }
    }

    public func heartbeat(id: UUID, token: String, now: Int64, leaseMilliseconds: Int64) async throws -> HeartbeatOutcome {
        guard
            let row = try await sql.raw(
                """
                UPDATE executions SET lease_expires_at = \(bind: now + leaseMilliseconds)
                WHERE id = \(bind: Self.text(id)) AND lease_token = \(bind: token) AND status = 'running'
                RETURNING cancel_requested
                """
            ).first()
        else { return .lost }
        return .held(cancelRequested: try row.decode(column: "cancel_requested", as: Int.self) != 0)
    }

    public func finish(
        id: UUID, token: String, status: ExecutionStatus, result: String?, verdict: String?, failureReason: String?,
        cpuMilliseconds: Int, finalEvent: String, now: Int64
    ) async throws -> Bool {
        try await database.transaction { sql in
            guard
                try await sql.raw(
                    """
                    UPDATE executions SET status = \(bind: status.rawValue), result = \(bind: result), verdict = \(bind: verdict),
                      failure_reason = \(bind: failureReason), cpu_ms = \(bind: cpuMilliseconds), finished_at = \(bind: now),
                      lease_token = NULL, lease_expires_at = NULL
                    WHERE id = \(bind: Self.text(id)) AND lease_token = \(bind: token) AND status = 'running'
                    RETURNING id
                    """
                ).first() != nil
            else { return false }
            try await Self.insertEvents(sql, id: id, events: [(kind: "status", data: finalEvent)], now: now)
            return true
        }
    }

    public func recoverExpiredLeases(now: Int64) async throws -> [RecoveredJob] {
        try await database.transaction { sql in
            var recovered: [RecoveredJob] = []
            let statements: [(ExecutionStatus, SQLQueryString)] = [
                (
                    .cancelled,
                    """
                    UPDATE executions SET status = 'cancelled', finished_at = \(bind: now), lease_token = NULL, lease_expires_at = NULL,
                      failure_reason = 'cancelled while its worker was lost'
                    WHERE status = 'running' AND lease_expires_at < \(bind: now) AND cancel_requested = 1
                    RETURNING id, owner_id, attempts, lease_owner
                    """
                ),
                (
                    .failed,
                    """
                    UPDATE executions SET status = 'failed', finished_at = \(bind: now), lease_token = NULL, lease_expires_at = NULL,
                      failure_reason = 'its worker stopped responding on every attempt'
                    WHERE status = 'running' AND lease_expires_at < \(bind: now) AND attempts >= max_attempts
                    RETURNING id, owner_id, attempts, lease_owner
                    """
                ),
                (
                    .queued,
                    """
                    UPDATE executions SET status = 'queued', lease_token = NULL, lease_expires_at = NULL
                    WHERE status = 'running' AND lease_expires_at < \(bind: now)
                    RETURNING id, owner_id, attempts, lease_owner
                    """
                ),
            ]
            for (status, statement) in statements {
                for row in try await sql.raw(statement).all() {
                    guard let id = UUID(uuidString: try row.decode(column: "id", as: String.self)) else { continue }
                    recovered.append(
                        RecoveredJob(
                            id: id, ownerID: UUID(uuidString: try row.decode(column: "owner_id", as: String.self)) ?? UUID(),
                            attempts: try row.decode(column: "attempts", as: Int.self), status: status,
                            worker: try row.decode(column: "lease_owner", as: String?.self)
                        )
                    )
                    // Its status event in the same transaction as the change.
                    try await Self.insertEvents(sql, id: id, events: [Self.statusEvent(status, reason: "worker lost")], now: now)
                }
            }
            return recovered
        }
    }

    public func appendEvents(id: UUID, events: [(kind: String, data: String)], now: Int64) async throws {
        try await Self.insertEvents(sql, id: id, events: events, now: now)
    }

    static func insertEvents(_ sql: any SQLDatabase, id: UUID, events: [(kind: String, data: String)], now: Int64) async throws {
        guard !events.isEmpty else { return }
        var insert = sql.insert(into: "execution_events").columns("execution_id", "kind", "data", "created_at")
        for event in events {
            insert = insert.values(SQLBind(Self.text(id)), SQLBind(event.kind), SQLBind(event.data), SQLBind(now))
        }
        try await insert.run()
    }

    /// The `status` event of a job that just reached `status`.
    static func statusEvent(_ status: ExecutionStatus, reason: String? = nil) -> (kind: String, data: String) {
        // Keys sorted, as the workers' events are.
        let data = reason.map { #"{"reason":"\#($0)","status":"\#(status.rawValue)"}"# } ?? #"{"status":"\#(status.rawValue)"}"#
        return (kind: "status", data: data)
    }

    public func events(id: UUID, after sequence: Int64, limit: Int) async throws -> [ExecutionEvent] {
        try await sql.raw(
            """
            SELECT seq, kind, data, created_at FROM execution_events
            WHERE execution_id = \(bind: Self.text(id)) AND seq > \(bind: sequence) ORDER BY seq LIMIT \(bind: limit)
            """
        ).all().map { row in
            ExecutionEvent(
                sequence: try row.decode(column: "seq", as: Int64.self), kind: try row.decode(column: "kind", as: String.self),
                data: try row.decode(column: "data", as: String.self), createdAt: try row.decode(column: "created_at", as: Int64.self)
            )
        }
    }

    public func prune(finishedBefore cutoff: Int64, limit: Int) async throws -> [UUID] {
        try await database.transaction { sql in
            let ids = try await sql.raw(
                """
                SELECT id FROM executions WHERE status IN ('completed', 'failed', 'cancelled') AND finished_at < \(bind: cutoff)
                ORDER BY finished_at LIMIT \(bind: limit)
                """
            ).all().map { try $0.decode(column: "id", as: String.self) }
            guard !ids.isEmpty else { return [] }
            try await sql.raw("DELETE FROM execution_events WHERE execution_id IN (\(binds: ids))").run()
            try await sql.raw("DELETE FROM executions WHERE id IN (\(binds: ids))").run()
            return ids.compactMap(UUID.init(uuidString:))
        }
    }

    static func job(from row: any SQLRow) throws -> ExecutionJob {
        guard let id = UUID(uuidString: try row.decode(column: "id", as: String.self)),
            let owner = UUID(uuidString: try row.decode(column: "owner_id", as: String.self)),
            let role = Role(rawValue: try row.decode(column: "owner_role", as: String.self)),
            let status = ExecutionStatus(rawValue: try row.decode(column: "status", as: String.self))
        else { throw StoreError.corruptRow("executions") }
        return ExecutionJob(
            id: id, ownerID: owner, ownerRole: role, status: status, language: try row.decode(column: "language", as: String.self),
            api: try row.decode(column: "api", as: String.self), spec: try row.decode(column: "spec", as: String.self),
            result: try row.decode(column: "result", as: String?.self), verdict: try row.decode(column: "verdict", as: String?.self),
            failureReason: try row.decode(column: "failure_reason", as: String?.self),
            attempts: try row.decode(column: "attempts", as: Int.self), maxAttempts: try row.decode(column: "max_attempts", as: Int.self),
            cancelRequested: try row.decode(column: "cancel_requested", as: Int.self) != 0,
            cpuMilliseconds: Int(try row.decode(column: "cpu_ms", as: Int64.self)),
            sourceSHA256: try row.decode(column: "source_sha256", as: String.self),
            sourceBytes: Int(try row.decode(column: "source_bytes", as: Int64.self)),
            createdAt: try row.decode(column: "created_at", as: Int64.self),
            startedAt: try row.decode(column: "started_at", as: Int64?.self),
            finishedAt: try row.decode(column: "finished_at", as: Int64?.self),
            worker: try row.decode(column: "lease_owner", as: String?.self)
        )
    }
}
