import Forge
import Foundation
import HTTPTypes
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

/// One job, or one owner, cannot take the machine: a budget over all
/// stages, a cap on slots per owner, and output that is capped, compact and
/// charged to a daily quota.
@Suite("Job bounds: budget, slots, output", .serialized)
struct JobBoundsTests {
    @Test("a job's stages share one CPU budget: later tests are cut short or never start", arguments: DatabaseKind.available)
    func budgetOverStages(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind, configure: { IdentityClient.configureForge(&$0); $0.execution.jobBudget = .init(cpuMilliseconds: 1_500, wallMilliseconds: 60_000) },
            clock: clock
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            let burner = "import time\nwhile time.process_time() < 1: pass\nprint('done')\n"
            let tests: [[String: any Sendable]] = (0..<4).map { _ in ["stdin": "", "expected_stdout": "done\n"] }
            let job = try await api.execute(consumer, ["language": "python", "source": burner, "tests": tests, "limits": ["cpu_ms": 5_000]])
            #expect(job["status"] == "completed", "\(job.text)")
            #expect(job["verdict"] == "time_limit_exceeded", "\(job.text)")
            #expect(job["failure_reason"]?.contains("budget") == true)
            let results = job.json["tests"] as? [[String: Any]] ?? []
            #expect(results.count < 4, "the budget stops the job before every test ran: \(results.count)")
            #expect(job.json["passed"] as? Int ?? 0 <= 1)
        }
    }

    @Test("one owner holds at most its share of slots; another owner's job runs meanwhile", arguments: DatabaseKind.available)
    func slotsPerOwner(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind, configure: { IdentityClient.configureForge(&$0); $0.execution.maximumRunningPerOwner = 1 }, clock: clock
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (owner, consumer, _) = try await api.runners()
            let sleeper = "import time\ntime.sleep(4)\n"
            var mine: [String] = []
            for _ in 0..<2 {
                let queued = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": sleeper])
                mine.append(try #require(queued["id"]))
            }
            let theirs = try #require(try await api.call(.post, "/v1/executions", token: owner, json: ["language": "python", "source": sleeper])["id"])
            // Two slots, one consumer job at a time: the second slot goes to the
            // owner's job while the consumer's second job still waits.
            let started = try await api.poll(owner, theirs) { $0["status"] != "queued" }
            #expect(started["status"] == "running" || started["status"] == "completed")
            let statuses = try await [mine[0], mine[1]].asyncMap { try await api.call(.get, "/v1/executions/\($0)", token: consumer)["status"] ?? "" }
            #expect(statuses[1] == "queued" || statuses[0] == "completed", "the consumer never held both slots: \(statuses)")
            // Everything ends in the end.
            for id in mine { #expect(try await api.poll(consumer, id)["status"] == "completed") }
        }
    }

    @Test("output events are capped per job, binary output is base64, and output counts toward a daily quota", arguments: DatabaseKind.available)
    func output(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind,
            configure: { settings in
                IdentityClient.configureForge(&settings)
                settings.execution.maximumEventBytesPerJob = 4_096
                settings.execution.quotas[.consumer] = ExecutionQuota(concurrentJobs: 4, jobsPerHour: 100, cpuSecondsPerDay: 100, outputBytesPerDay: 100_000)
            },
            clock: clock
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            // Much more output than the event cap.
            let chatty = try await api.execute(consumer, ["language": "python", "source": "import sys\nfor i in range(2000): print('x' * 40, flush=True)\n"])
            #expect(chatty["status"] == "completed")
            let chattyID = try #require(chatty["id"])
            let stream = try await api.call(.get, "/v1/executions/\(chattyID)/events", token: consumer)
            let frames = stream.text.components(separatedBy: "\n\n")
            let outputBytes = frames.filter { $0.contains("event: output") }.reduce(0) { $0 + $1.utf8.count }
            #expect(outputBytes <= 4_096 + 64 * frames.count, "stored output events stay near the cap: \(outputBytes)")
            #expect(frames.contains { $0.contains("event: truncated") }, "the stream says it was cut")
            // Binary output is stored as base64, not six-fold escaped.
            let binary = try await api.execute(
                consumer, ["language": "python", "source": "import sys\nsys.stdout.buffer.write(bytes(range(256)) * 8)\n"]
            )
            let binaryID = try #require(binary["id"])
            let binaryStream = try await api.call(.get, "/v1/executions/\(binaryID)/events", token: consumer)
            let binaryFrames = binaryStream.text.components(separatedBy: "\n\n").filter { $0.contains("event: output") }
            #expect(binaryFrames.contains { $0.contains("data_base64") }, "\(binaryStream.text.prefix(300))")
            let binaryBytes = binaryFrames.reduce(0) { $0 + $1.utf8.count }
            #expect(binaryBytes < 2_048 * 2, "2 KiB of binary costs about 4/3 of it: \(binaryBytes)")
            // The chatty job (64 KiB kept of its 82 KB) and one more use up the 100 KB daily output quota.
            _ = try await api.execute(consumer, ["language": "python", "source": "for i in range(2000): print('y' * 40)\n"])
            let refused = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": "print(1)"])
            #expect(refused.status == .tooManyRequests, "\(refused.text)")
            #expect(refused.json["errors"] as? [String] == ["output_bytes_per_day"])
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var mapped: [T] = []
        for element in self { mapped.append(try await transform(element)) }
        return mapped
    }
}
