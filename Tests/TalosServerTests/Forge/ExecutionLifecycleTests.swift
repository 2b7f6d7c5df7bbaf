import Forge
import Foundation
import HTTPTypes
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

@Suite("Execution lifecycle: events, cancellation, quotas, back-pressure", .serialized)
struct ExecutionLifecycleTests {
    static let sleeper = "import time\nprint('started', flush=True)\ntime.sleep(900)\n"
    /// Sleepers may run far longer than the test needs to cancel them,
    /// however loaded the machine: a `cancelled` verdict then means killed.
    static let sleeperLimits: [String: any Sendable] = ["wall_ms": 600_000]

    static func configureLongWaits(_ settings: inout ServerSettings) {
        IdentityClient.configureForge(&settings)
        settings.sandboxPolicy.maxima.wallMilliseconds = 600_000
        settings.execution.jobBudget.wallMilliseconds = 900_000
    }

    @Test("server-sent events stream status and output; cancelling kills a running box and drops a queued job", arguments: DatabaseKind.available)
    func eventsAndCancellation(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: Self.configureLongWaits, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            // Three seconds apart: output is flushed every 200 ms, so even a
            // machine too busy to keep that pace sends the lines as two events.
            let program = "import time\nprint('one', flush=True)\ntime.sleep(3)\nprint('two', flush=True)\n"
            let queued = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": program])
            let id = try #require(queued["id"])
            let stream = try await api.call(.get, "/v1/executions/\(id)/events", token: consumer)
            #expect(stream.status == .ok)
            #expect(stream.headers[.contentType] == "text/event-stream")
            let frames = stream.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            let events = frames.map { frame -> (String, String, String) in
                var id = "", event = "", data = ""
                for line in frame.split(separator: "\n") {
                    if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                }
                return (id, event, data)
            }
            #expect(events.first?.1 == "status" && events.first?.2.contains("running") == true, "\(stream.text)")
            let outputs = events.filter { $0.1 == "output" }
            #expect(outputs.count >= 2, "the two lines arrive as they are printed: \(stream.text)")
            #expect(outputs.map(\.2).joined().contains("one") && outputs.map(\.2).joined().contains("two"))
            #expect(events.contains { $0.1 == "status" && $0.2.contains("completed") })
            #expect(events.last?.1 == "end")
            // Resuming after an event replays only what followed it.
            let resumeFrom = try #require(events.first?.0)
            let resumed = try await api.call(
                .get, "/v1/executions/\(id)/events", token: consumer, headers: [HTTPField.Name("Last-Event-ID")!: resumeFrom]
            )
            #expect(!resumed.text.contains("id: \(resumeFrom)\n"))
            #expect(resumed.text.contains("completed"))

            // Cancel a running box.
            let running = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": Self.sleeper, "limits": Self.sleeperLimits])
            let runningID = try #require(running["id"])
            _ = try await api.poll(consumer, runningID) { $0["status"] == "running" }
            // Two slots: fill the second, then queue a third.
            let second = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": Self.sleeper, "limits": Self.sleeperLimits])
            let secondID = try #require(second["id"])
            _ = try await api.poll(consumer, secondID) { $0["status"] == "running" }
            let third = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": Self.sleeper, "limits": Self.sleeperLimits])
            let thirdID = try #require(third["id"])
            let dropped = try await api.call(.delete, "/v1/executions/\(thirdID)", token: consumer)
            #expect(dropped.status == .ok)
            #expect(dropped["status"] == "cancelled")
            let cancel = try await api.call(.delete, "/v1/executions/\(runningID)", token: consumer)
            #expect(cancel.status == .accepted)
            #expect(cancel.json["cancel_requested"] as? Bool == true)
            let cancelled = try await api.poll(consumer, runningID)
            #expect(cancelled["status"] == "cancelled")
            #expect(cancelled["verdict"] == "cancelled", "killed, not waited out: the sleeper had ten minutes left")
            #expect(cancelled.object("run")["stdout"] as? String == "started\n")
            _ = try await api.call(.delete, "/v1/executions/\(secondID)", token: consumer)
            #expect(try await api.poll(consumer, secondID)["status"] == "cancelled")
            let again = try await api.call(.delete, "/v1/executions/\(runningID)", token: consumer)
            #expect(again.status == .conflict)
            #expect(try await api.audit(action: "execution.cancel").filter { $0.outcome == "success" }.count == 3)
            #expect(try await api.call(.get, "/v1/executions/\(thirdID)", token: consumer)["started_at"] == nil, "never ran")
        }
    }

    @Test("each per-role quota refuses with 429 naming it; a full queue answers 503", arguments: DatabaseKind.available)
    func quotasAndBackPressure(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        let configure: (inout ServerSettings) -> Void = { settings in
            Self.configureLongWaits(&settings)
            settings.execution.quotas[.consumer] = ExecutionQuota(concurrentJobs: 1, jobsPerHour: 10, cpuSecondsPerDay: 1)
            settings.execution.quotas[.owner] = ExecutionQuota(concurrentJobs: 5, jobsPerHour: 2, cpuSecondsPerDay: 100)
        }
        try await TestServer.run(kind, configure: configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (owner, consumer, _) = try await api.runners()
            let first = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": Self.sleeper, "limits": Self.sleeperLimits])
            let firstID = try #require(first["id"])
            let refused = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": "print(1)"])
            #expect(refused.status == .tooManyRequests)
            #expect(refused.problemType == "quota-exceeded")
            #expect(refused.json["errors"] as? [String] == ["concurrent_jobs"])
            #expect(refused.headers[.retryAfter] != nil)
            _ = try await api.call(.delete, "/v1/executions/\(firstID)", token: consumer)
            _ = try await api.poll(consumer, firstID)
            // CPU is charged while the job runs: 3 s of burning against a 1 s
            // daily quota is stopped part way, not allowed to finish.
            let burn = try await api.execute(
                consumer, ["language": "python", "source": "import time\nwhile time.process_time() < 3: pass\n", "limits": ["cpu_ms": 5000]]
            )
            #expect(burn["status"] == "failed", "\(burn.text)")
            #expect(burn["failure_reason"]?.contains("cpu_seconds_per_day") == true, "\(burn.text)")
            #expect(try await api.audit(action: "execution.quota_stop").first?.details["quota"] == "cpu_seconds_per_day")
            let broke = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": "print(1)"])
            #expect(broke.status == .tooManyRequests)
            #expect(broke.json["errors"] as? [String] == ["cpu_seconds_per_day"])
            for _ in 0..<2 {
                #expect(try await api.call(.post, "/v1/executions", token: owner, json: ["language": "python", "source": "print(1)"]).status == .accepted)
            }
            let hourly = try await api.call(.post, "/v1/executions", token: owner, json: ["language": "python", "source": "print(1)"])
            #expect(hourly.status == .tooManyRequests)
            #expect(hourly.json["errors"] as? [String] == ["jobs_per_hour"])
            let denials = try await api.audit(action: "execution.submit").filter { $0.outcome == "denied" }
            #expect(Set(denials.compactMap { $0.details["quota"] }) == ["concurrent_jobs", "cpu_seconds_per_day", "jobs_per_hour"])
        }
        // No workers, room for two jobs.
        let full: (inout ServerSettings) -> Void = { settings in
            IdentityClient.configureForge(&settings)
            settings.inProcessWorkers = false
            settings.execution.maximumQueued = 2
        }
        try await TestServer.run(kind, configure: full, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (owner, _, _) = try await api.runners("-q")
            for _ in 0..<2 {
                #expect(try await api.call(.post, "/v1/executions", token: owner, json: ["language": "python", "source": "print(1)"]).status == .accepted)
            }
            let overflow = try await api.call(.post, "/v1/executions", token: owner, json: ["language": "python", "source": "print(1)"])
            #expect(overflow.status == .serviceUnavailable)
            #expect(overflow.problemType == "queue-full")
            #expect(overflow.headers[.retryAfter] == "5")
            #expect(try await api.audit(action: "execution.submit").contains { $0.details["reason"] == "queue_full" })
        }
    }
}
