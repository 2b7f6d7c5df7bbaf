public import Foundation
public import Ledger
public import Logging
import Synchronization
public import TalosCore

/// Runs queued jobs: claims one per free sandbox slot, keeps its lease alive
/// with heartbeats while the engine runs it, streams its output as events,
/// and stores exactly one result under the lease's token.
///
/// A worker that loses its lease (it stalled past the lease, and another
/// worker took the job) kills the box and throws its result away. A worker
/// that dies simply stops heartbeating: ``ExecutionStore/recoverExpiredLeases(now:)``,
/// run here by every pool, puts the job back in the queue.
public final class ExecutionWorkerPool: Sendable {
    let store: any ExecutionStore
    let engine: SandboxEngine
    let audit: AuditLog
    let settings: ExecutionSettings
    let signals: ExecutionSignals
    let logger: Logger
    let clock: @Sendable () -> Date
    /// Names this worker in leases and the audit trail.
    public let name: String
    let slots: Int

    public init(
        store: any ExecutionStore, engine: SandboxEngine, audit: AuditLog, settings: ExecutionSettings,
        signals: ExecutionSignals, name: String, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.engine = engine
        self.audit = audit
        self.settings = settings
        self.signals = signals
        self.name = name
        self.logger = logger
        self.clock = clock
        self.slots = max(1, engine.configuration.maximumConcurrentRuns)
    }

    var now: Int64 { Int64((clock().timeIntervalSince1970 * 1000).rounded()) }

    /// Runs until the calling task is cancelled; jobs in progress then finish
    /// first, so a graceful stop loses nothing.
    public func run() async {
        try? await audit.record(
            AuditEvent(actor: "system", action: "worker.start", target: name, outcome: .success, details: ["slots": String(slots)])
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.recoveryLoop() }
            for _ in 0..<slots {
                group.addTask { await self.slotLoop() }
            }
        }
        try? await audit.record(AuditEvent(actor: "system", action: "worker.stop", target: name, outcome: .success))
    }

    private func recoveryLoop() async {
        while !Task.isCancelled {
            do {
                let recovered = try await store.recoverExpiredLeases(now: now)
                for job in recovered {
                    logger.warning(
                        "execution lease expired",
                        metadata: ["execution": "\(job.id)", "worker": "\(job.worker ?? "")", "now": "\(job.status.rawValue)"]
                    )
                    try await audit.record(
                        AuditEvent(
                            actor: "system", action: job.status == .queued ? "execution.requeue" : "execution.finish",
                            target: job.id.uuidString.lowercased(), outcome: job.status == .queued ? .success : .error,
                            details: [
                                "reason": "lease_expired", "lost_worker": job.worker ?? "", "attempts": String(job.attempts),
                                "status": job.status.rawValue, "by": name,
                            ]
                        )
                    )
                    if job.status == .queued { signals.workAvailable() } else { signals.signal(job.id) }
                }
            } catch {
                logger.error("lease recovery failed", metadata: ["error": "\(String(describing: error).prefix(200))"])
            }
            try? await Task.sleep(for: .milliseconds(max(settings.leaseMilliseconds / 3, 50)))
        }
    }

    private func slotLoop() async {
        while !Task.isCancelled {
            let token = Hex.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
            let job: ExecutionJob?
            do {
                job = try await store.claim(
                    worker: name, token: token, now: now, leaseMilliseconds: settings.leaseMilliseconds,
                    maximumRunningPerOwner: settings.maximumRunningPerOwner
                )
            } catch {
                logger.error("claim failed", metadata: ["error": "\(String(describing: error).prefix(200))"])
                job = nil
            }
            if let job {
                await process(job, token: token)
            } else {
                await signals.wait(for: ExecutionSignals.workKey, timeout: .milliseconds(settings.pollMilliseconds))
            }
        }
    }

    /// What a run's heartbeat learned, and output not yet written.
    private final class LeaseState: Sendable {
        struct Fields {
            var lost = false
            var cancelRequested = false
            var pending: [(stage: String, stream: String, bytes: [UInt8])] = []
            /// Output produced so far, charged to the daily output quota.
            var outputBytes = 0
            /// Bytes stored as output events, against the per-job cap.
            var eventBytes = 0
            var eventsTruncated = false
            /// The daily quota that stopped the job while it ran.
            var quotaStop: ExecutionQuota.Name?
        }

        private let fields = Mutex(Fields())

        func withLock<T>(_ body: (inout Fields) -> T) -> T {
            fields.withLock { body(&$0) }
        }
    }

    func process(_ job: ExecutionJob, token: String) async {
        let target = job.id.uuidString.lowercased()
        try? await audit.record(
            AuditEvent(
                actor: "system", action: "execution.start", target: target, outcome: .success,
                details: ["worker": name, "attempt": String(job.attempts), "language": job.language]
            )
        )
        try? await store.appendEvents(
            id: job.id, events: [(kind: "status", data: Self.json(["status": "running", "attempt": String(job.attempts)]))], now: now
        )
        let spec: ExecutionSpec
        do {
            spec = try JSONDecoder().decode(ExecutionSpec.self, from: Data(job.spec.utf8))
        } catch {
            await finish(job, token: token, status: .failed, outcome: nil, reason: "the stored request is unreadable")
            return
        }
        let lease = LeaseState()
        let control = RunControl(budget: settings.jobBudget) { output in
            lease.withLock {
                $0.pending.append((output.stage, output.stream, output.bytes))
                $0.outputBytes += output.bytes.count
            }
        }
        let quota = settings.quota(for: job.ownerRole)
        signals.register(job.id, control: control)
        defer { signals.unregister(job.id) }
        if job.cancelRequested { control.cancel() }

        let keeper = Task {
            var sinceBeat: Int64 = 0
            let tick: Int64 = min(200, settings.heartbeatMilliseconds)
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(tick))
                await flush(job.id, lease: lease)
                sinceBeat += tick
                guard sinceBeat >= settings.heartbeatMilliseconds else { continue }
                sinceBeat = 0
                do {
                    switch try await store.heartbeat(id: job.id, token: token, now: now, leaseMilliseconds: settings.leaseMilliseconds) {
                    case .held(let cancelRequested):
                        if cancelRequested {
                            lease.withLock { $0.cancelRequested = true }
                            control.cancel()
                        }
                        // CPU and output are charged as they accrue, and a
                        // daily quota used up stops the job while it runs.
                        let produced = lease.withLock { $0.outputBytes }
                        if let usage = try await store.chargeUsage(
                            id: job.id, token: token, cpuMilliseconds: control.cpuMillisecondsSoFar, outputBytes: produced, now: now
                        ), let used = usage.exhausted(quota), !control.isCancelled {
                            lease.withLock { $0.quotaStop = used }
                            control.cancel()
                        }
                    case .lost:
                        lease.withLock { $0.lost = true }
                        control.cancel()
                        return
                    }
                } catch {
                    // A database hiccup: keep the box running; the lease has
                    // slack for two more tries.
                    logger.warning("heartbeat failed", metadata: ["execution": "\(target)"])
                }
            }
        }

        var outcome: ExecutionOutcome?
        var failure: String?
        do {
            let request = try ExecutionRequest(
                language: spec.language, files: spec.files.map { try SourceFile(name: $0.name, content: Array($0.content)) },
                stdin: Array(spec.stdin), arguments: spec.arguments, limits: spec.limits, compileLimits: spec.compileLimits
            )
            var tagged = request
            tagged.reference = target
            let inputs =
                spec.tests.map { tests in tests.enumerated().map { RunInput(stage: "test:\($0.offset)", stdin: Array($0.element.stdin)) } }
                ?? [RunInput(stage: "run", stdin: Array(spec.stdin))]
            let staged = try await engine.run(tagged, inputs: inputs, control: control)
            outcome = grade(staged, spec: spec)
        } catch let error as ForgeError {
            failure = error.reason
        } catch {
            failure = "the sandbox failed"
        }
        keeper.cancel()
        _ = await keeper.value
        await flush(job.id, lease: lease)
        let produced = lease.withLock { $0.outputBytes }
        _ = try? await store.chargeUsage(id: job.id, token: token, cpuMilliseconds: control.cpuMillisecondsSoFar, outputBytes: produced, now: now)
        let quotaStop = lease.withLock { $0.quotaStop }
        let state = lease.withLock { ($0.lost, $0.cancelRequested) }
        if state.0 {
            logger.warning("execution lease lost; result discarded", metadata: ["execution": "\(target)", "worker": "\(name)"])
            try? await audit.record(
                AuditEvent(
                    actor: "system", action: "execution.lease_lost", target: target, outcome: .error, details: ["worker": name]
                )
            )
            return
        }
        let status: ExecutionStatus
        if let quotaStop {
            status = .failed
            failure = "the \(quotaStop.rawValue) quota of your role was used up while it ran"
            try? await audit.record(
                AuditEvent(
                    actor: "system", action: "execution.quota_stop", target: target, outcome: .denied,
                    details: ["quota": quotaStop.rawValue, "owner": job.ownerID.uuidString.lowercased(), "worker": name]
                )
            )
        } else if control.isCancelled {
            status = .cancelled
        } else if failure != nil || outcome?.verdict == Verdict.internalError.name {
            status = .failed
        } else {
            status = .completed
        }
        if status == .failed, failure == nil { failure = "the sandbox failed (internal_error)" }
        if status == .completed, control.budgetExhausted {
            // Stages were cut short or skipped: the job as a whole ran out of time.
            outcome?.verdict = Verdict.timeLimitExceeded(.cpu).name
            failure = "the job's budget of \(settings.jobBudget.cpuMilliseconds) ms CPU and \(settings.jobBudget.wallMilliseconds) ms wall over all stages was used up"
        }
        await finish(job, token: token, status: status, outcome: outcome, reason: failure, chargedCPU: control.cpuMillisecondsSoFar)
    }

    /// Compares each case's output and picks the overall verdict.
    func grade(_ staged: StagedRun, spec: ExecutionSpec) -> ExecutionOutcome {
        var outcome = ExecutionOutcome(verdict: "", language: staged.language, version: staged.version, compile: staged.compile)
        if let compile = staged.compile, compile.verdict != .ok {
            outcome.verdict = compile.verdict.name
            return outcome
        }
        guard let tests = spec.tests else {
            outcome.run = staged.runs.first
            let verdict = staged.runs.first?.verdict ?? .cancelled
            outcome.verdict = verdict == .ok ? "accepted" : verdict.name
            return outcome
        }
        let limit = settings.storedTestOutputBytes
        var results: [TestResult] = []
        for (index, run) in staged.runs.enumerated() {
            let verdict = Grader.verdict(of: run, expected: Array(tests[index].expectedStdout), mode: spec.compare)
            results.append(
                TestResult(
                    index: index, verdict: verdict, exitCode: run.exitCode, signal: run.signal, timeLimit: run.timeLimit,
                    cpuMilliseconds: run.cpuMilliseconds, wallMilliseconds: run.wallMilliseconds, peakMemoryBytes: run.peakMemoryBytes,
                    stdout: String(run.stdout.utf8.prefix(limit)) ?? "", stderr: String(run.stderr.utf8.prefix(limit)) ?? "",
                    stdoutTruncated: run.stdoutTruncated || run.stdout.utf8.count > limit,
                    stderrTruncated: run.stderrTruncated || run.stderr.utf8.count > limit
                )
            )
        }
        outcome.tests = results
        outcome.passed = results.filter { $0.verdict == "accepted" }.count
        if results.count < tests.count {
            outcome.verdict = Verdict.cancelled.name
        } else {
            outcome.verdict = results.first { $0.verdict != "accepted" }?.verdict ?? "accepted"
        }
        return outcome
    }

    private func finish(
        _ job: ExecutionJob, token: String, status: ExecutionStatus, outcome: ExecutionOutcome?, reason: String?, chargedCPU: Int = 0
    ) async {
        let target = job.id.uuidString.lowercased()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let result = outcome.flatMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
        // Never less than what was charged while it ran (a stage whose result
        // was lost still used its CPU).
        let cpu = max(outcome?.cpuMilliseconds ?? 0, chargedCPU)
        var final = ["status": status.rawValue]
        if let verdict = outcome?.verdict { final["verdict"] = verdict }
        do {
            let stored = try await store.finish(
                id: job.id, token: token, status: status, result: result, verdict: outcome?.verdict, failureReason: reason,
                cpuMilliseconds: cpu, finalEvent: Self.json(final), now: now
            )
            guard stored else {
                logger.warning("execution lease lost before the result was stored", metadata: ["execution": "\(target)"])
                try? await audit.record(
                    AuditEvent(actor: "system", action: "execution.lease_lost", target: target, outcome: .error, details: ["worker": name])
                )
                return
            }
            try? await audit.record(
                AuditEvent(
                    actor: "system", action: "execution.finish", target: target, outcome: status == .failed ? .error : .success,
                    details: [
                        "status": status.rawValue, "verdict": outcome?.verdict ?? "", "cpu_ms": String(cpu), "worker": name,
                        "attempt": String(job.attempts), "reason": reason ?? "",
                    ]
                )
            )
        } catch {
            // The lease runs out and another worker runs the job again.
            logger.error("storing the result failed", metadata: ["execution": "\(target)"])
        }
        signals.signal(job.id)
    }

    /// Writes buffered output as events, merging consecutive pieces of one stream.
    private func flush(_ id: UUID, lease: LeaseState) async {
        let pending = lease.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
        guard !pending.isEmpty else { return }
        var merged: [(stage: String, stream: String, bytes: [UInt8])] = []
        for piece in pending {
            if let last = merged.last, last.stage == piece.stage, last.stream == piece.stream {
                merged[merged.count - 1].bytes += piece.bytes
            } else {
                merged.append(piece)
            }
        }
        let cap = settings.maximumEventBytesPerJob
        let events = lease.withLock { state -> [(kind: String, data: String)] in
            var events: [(kind: String, data: String)] = []
            for piece in merged where !state.eventsTruncated {
                let data = Self.outputEvent(stage: piece.stage, stream: piece.stream, bytes: piece.bytes)
                if state.eventBytes + data.utf8.count > cap {
                    state.eventsTruncated = true
                    events.append((kind: "truncated", data: Self.json(["reason": "event_bytes", "limit": String(cap)])))
                    break
                }
                state.eventBytes += data.utf8.count
                events.append((kind: "output", data: data))
            }
            return events
        }
        guard !events.isEmpty else { return }
        try? await store.appendEvents(id: id, events: events, now: now)
    }

    /// One output event: text as text when it is UTF-8 and escapes to no
    /// more than its base64 would take, base64 (`data_base64`) otherwise, so
    /// binary output costs 4/3 of its size, not six times it.
    static func outputEvent(stage: String, stream: String, bytes: [UInt8]) -> String {
        let base64 = json(["stage": stage, "stream": stream, "data_base64": Data(bytes).base64EncodedString()])
        guard let text = String(validating: bytes, as: UTF8.self) else { return base64 }
        let textual = json(["stage": stage, "stream": stream, "data": text])
        return textual.utf8.count <= base64.utf8.count ? textual : base64
    }

    static func json(_ object: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
