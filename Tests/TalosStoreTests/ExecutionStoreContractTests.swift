import Foundation
import SQLKit
import TalosCore
import TalosStore
import TalosTestSupport
import Testing

@Suite("Execution store contract")
struct ExecutionStoreContractTests {
    static let roomy = ExecutionQuota(concurrentJobs: 10_000, jobsPerHour: 10_000, cpuSecondsPerDay: 10_000)

    static func store(_ test: TestDatabase) async throws -> SQLExecutionStore {
        _ = try await Migrator(database: test.database, logger: TestDatabase.logger).migrate()
        return SQLExecutionStore(database: test.database)
    }

    static func job(owner: UUID, at time: Int64) -> ExecutionJob {
        ExecutionJob(
            id: UUID(), ownerID: owner, ownerRole: .consumer, language: "python", api: "talos", spec: "{}", maxAttempts: 2,
            sourceSHA256: String(repeating: "0", count: 64), sourceBytes: 1, createdAt: time
        )
    }

    @Test("one owner's 1,000 queued jobs do not starve another's one", arguments: DatabaseKind.available)
    func fairness(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let store = try await Self.store(test)
            let busy = UUID()
            let patient = UUID()
            for index in 0..<1_000 {
                #expect(try await store.enqueue(Self.job(owner: busy, at: Int64(index)), quota: Self.roomy, maximumQueued: 5_000, now: 2_000) == .accepted)
            }
            let single = Self.job(owner: patient, at: 1_500)
            #expect(try await store.enqueue(single, quota: Self.roomy, maximumQueued: 5_000, now: 2_000) == .accepted)
            // One worker, one slot: claim, finish, claim again.
            var order: [UUID] = []
            for step in 0..<3 {
                let claimed = try #require(try await store.claim(worker: "w", token: "t\(step)", now: 3_000 + Int64(step), leaseMilliseconds: 10_000))
                order.append(claimed.ownerID)
                #expect(try await store.finish(id: claimed.id, token: "t\(step)", status: .completed, result: "{}", verdict: "accepted", failureReason: nil, cpuMilliseconds: 1, finalEvent: "{}", now: 3_000 + Int64(step)))
            }
            #expect(order == [busy, patient, busy], "the single job runs second, not 1,001st")
        }
    }

    @Test("leases: a stale token cannot store a result; expired leases re-queue, then fail after the last attempt", arguments: DatabaseKind.available)
    func leases(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let store = try await Self.store(test)
            let owner = UUID()
            let job = Self.job(owner: owner, at: 1)
            _ = try await store.enqueue(job, quota: Self.roomy, maximumQueued: 10, now: 1)
            let first = try #require(try await store.claim(worker: "a", token: "first", now: 10, leaseMilliseconds: 100))
            #expect(first.attempts == 1)
            #expect(try await store.heartbeat(id: job.id, token: "first", now: 50, leaseMilliseconds: 100) == .held(cancelRequested: false))
            // Worker a goes silent; the lease runs out at 150.
            #expect(try await store.recoverExpiredLeases(now: 149).isEmpty)
            let recovered = try await store.recoverExpiredLeases(now: 151)
            #expect(recovered.map(\.status) == [.queued])
            #expect(recovered.first?.worker == "a")
            let second = try #require(try await store.claim(worker: "b", token: "second", now: 160, leaseMilliseconds: 100))
            #expect(second.attempts == 2)
            // a wakes up: its heartbeat and its result are refused.
            #expect(try await store.heartbeat(id: job.id, token: "first", now: 170, leaseMilliseconds: 100) == .lost)
            #expect(try await !store.finish(id: job.id, token: "first", status: .completed, result: "{\"by\":\"a\"}", verdict: "accepted", failureReason: nil, cpuMilliseconds: 1, finalEvent: "{}", now: 170))
            // b dies too: that was the last attempt.
            let failed = try await store.recoverExpiredLeases(now: 300)
            #expect(failed.map(\.status) == [.failed])
            let final = try #require(try await store.job(id: job.id))
            #expect(final.status == .failed)
            #expect(final.failureReason?.contains("stopped responding") == true)
            #expect(final.result == nil)
            #expect(try await !store.finish(id: job.id, token: "second", status: .completed, result: "{}", verdict: "accepted", failureReason: nil, cpuMilliseconds: 1, finalEvent: "{}", now: 310))
            #expect(try await store.claim(worker: "c", token: "third", now: 320, leaseMilliseconds: 100) == nil)
        }
    }

    @Test("every final status is stored with its status event: a reader that sees the one sees the other", arguments: DatabaseKind.available)
    func finalStatusCarriesItsEvent(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let store = try await Self.store(test)
            let owner = UUID()
            func statuses(_ id: UUID) async throws -> [String] {
                try await store.events(id: id, after: 0, limit: 50).filter { $0.kind == "status" }.map(\.data)
            }
            // Finished by its worker.
            let done = Self.job(owner: owner, at: 1)
            _ = try await store.enqueue(done, quota: Self.roomy, maximumQueued: 10, now: 1)
            _ = try #require(try await store.claim(worker: "w", token: "t", now: 5, leaseMilliseconds: 100))
            #expect(try await store.finish(
                id: done.id, token: "t", status: .completed, result: "{}", verdict: "accepted", failureReason: nil, cpuMilliseconds: 1,
                finalEvent: #"{"status":"completed","verdict":"accepted"}"#, now: 10))
            #expect(try await statuses(done.id) == [#"{"status":"completed","verdict":"accepted"}"#])
            // A stale token stores neither.
            #expect(try await !store.finish(
                id: done.id, token: "t", status: .failed, result: nil, verdict: nil, failureReason: nil, cpuMilliseconds: 1,
                finalEvent: #"{"status":"failed"}"#, now: 11))
            #expect(try await statuses(done.id).count == 1)
            // Cancelled while queued.
            let queued = Self.job(owner: owner, at: 2)
            _ = try await store.enqueue(queued, quota: Self.roomy, maximumQueued: 10, now: 2)
            #expect(try await store.requestCancel(id: queued.id, owner: owner, now: 12) == .cancelled)
            #expect(try await statuses(queued.id) == [#"{"status":"cancelled"}"#])
            // Its worker lost: re-queued, with the reason.
            let lost = Self.job(owner: owner, at: 3)
            _ = try await store.enqueue(lost, quota: Self.roomy, maximumQueued: 10, now: 3)
            _ = try #require(try await store.claim(worker: "gone", token: "g", now: 20, leaseMilliseconds: 10))
            #expect(try await store.recoverExpiredLeases(now: 40).map(\.id) == [lost.id])
            #expect(try await statuses(lost.id) == [#"{"reason":"worker lost","status":"queued"}"#])
        }
    }

    @Test("eight concurrent claimers never take one job twice", arguments: DatabaseKind.available)
    func concurrentClaims(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let store = try await Self.store(test)
            for index in 0..<120 {
                _ = try await store.enqueue(Self.job(owner: UUID(), at: Int64(index)), quota: Self.roomy, maximumQueued: 1_000, now: 500)
            }
            let claimed = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var mine: [UUID] = []
                        while let job = try await store.claim(worker: "w\(worker)", token: UUID().uuidString, now: 1_000, leaseMilliseconds: 60_000) {
                            mine.append(job.id)
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [UUID]()) { $0 += $1 }
            }
            #expect(claimed.count == 120)
            #expect(Set(claimed).count == 120)
        }
    }

    @Test("retention prunes finished jobs and their events only", arguments: DatabaseKind.available)
    func prune(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let store = try await Self.store(test)
            let old = Self.job(owner: UUID(), at: 1)
            let waiting = Self.job(owner: UUID(), at: 2)
            _ = try await store.enqueue(old, quota: Self.roomy, maximumQueued: 10, now: 1)
            let claimed = try #require(try await store.claim(worker: "w", token: "t", now: 5, leaseMilliseconds: 100))
            try await store.appendEvents(id: claimed.id, events: [(kind: "status", data: "{}")], now: 6)
            #expect(try await store.finish(id: claimed.id, token: "t", status: .completed, result: "{}", verdict: "accepted", failureReason: nil, cpuMilliseconds: 0, finalEvent: "{}", now: 10))
            _ = try await store.enqueue(waiting, quota: Self.roomy, maximumQueued: 10, now: 2)
            #expect(try await store.prune(finishedBefore: 10, limit: 10).isEmpty)
            #expect(try await store.prune(finishedBefore: 11, limit: 10) == [old.id])
            #expect(try await store.job(id: old.id) == nil)
            #expect(try await store.events(id: old.id, after: 0, limit: 10).isEmpty)
            #expect(try await store.job(id: waiting.id)?.status == .queued)
        }
    }
}
