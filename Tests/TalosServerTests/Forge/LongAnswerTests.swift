import Foundation
import HTTPTypes
import HummingbirdTesting
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

/// Streams, waits and connections cannot be held without bound, and logout
/// ends the ones already open.
@Suite("Long answers: stream caps, logout, connection limit", .serialized)
struct LongAnswerTests {
    /// No worker runs, so every job stays queued and every stream stays open.
    static func configure(_ settings: inout ServerSettings) {
        IdentityClient.configureForge(&settings)
        settings.inProcessWorkers = false
        settings.limits.maxStreamsPerPrincipal = 1
        settings.limits.maxStreams = 2
    }

    @Test("one stream per account here; a second is 429 naming the cap; logout ends the open one", arguments: DatabaseKind.available)
    func streamCapsAndLogout(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: Self.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (owner, consumer, _) = try await api.runners()
            let queued = try await api.call(.post, "/v1/executions", token: consumer, json: ["language": "python", "source": "print(1)"])
            let id = try #require(queued["id"])
            // Two streams at once: whichever comes second is refused, the other stays open.
            let first = Task { try await api.call(.get, "/v1/executions/\(id)/events", token: consumer) }
            let second = Task { try await api.call(.get, "/v1/executions/\(id)/events", token: consumer) }
            let refused = try await Self.firstFinished(first, second)
            #expect(refused.status == .tooManyRequests && refused.problemType == "too-many-streams", "\(refused.text)")
            #expect((refused.json["errors"] as? [String]) == ["http.max_streams_per_principal"])
            #expect(refused.headers[.retryAfter] != nil)
            // Someone else's stream is their own business (the job is not theirs: 404, not 429).
            #expect(try await api.call(.get, "/v1/executions/\(id)/events", token: owner).status == .notFound)
            // Logout: the open stream ends, saying why.
            #expect(try await api.call(.post, "/v1/auth/logout", token: consumer).status == .noContent)
            let answers = [try await first.value, try await second.value]
            let ended = try #require(answers.first { $0.status == .ok })
            #expect(answers.filter { $0.status == .tooManyRequests }.count == 1)
            #expect(ended.text.contains("session_ended"), "\(ended.text)")
            #expect(!ended.text.contains("\"status\":\"completed\""))
        }
    }

    @Test("the total cap holds across accounts", arguments: [DatabaseKind.sqlite])
    func totalCap(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: Self.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (owner, consumer, _) = try await api.runners()
            let (_, third, _) = try await api.runners("-2")
            var streams: [Task<APIResponse, any Error>] = []
            for token in [owner, consumer, third] {
                let queued = try await api.call(.post, "/v1/executions", token: token, json: ["language": "python", "source": "print(1)"])
                let id = try #require(queued["id"])
                streams.append(Task { try await api.call(.get, "/v1/executions/\(id)/events", token: token) })
            }
            // Three accounts, two places: one is refused by the total cap.
            let refused = try await Self.firstFinished(streams[0], streams[1], streams[2])
            #expect((refused.json["errors"] as? [String]) == ["http.max_streams"], "\(refused.text)")
            for token in [owner, consumer, third] { _ = try await api.call(.post, "/v1/auth/logout", token: token) }
            var answers: [APIResponse] = []
            for stream in streams { answers.append(try await stream.value) }
            #expect(answers.filter { $0.status == .tooManyRequests }.count == 1)
            #expect(answers.filter { $0.text.contains("session_ended") }.count == 2)
        }
    }

    /// The answer of whichever request finishes first (the refused one: the
    /// others are streams that stay open).
    static func firstFinished(_ tasks: Task<APIResponse, any Error>...) async throws -> APIResponse {
        let (finished, continuation) = AsyncStream.makeStream(of: Result<APIResponse, any Error>.self)
        for task in tasks { Task { continuation.yield(await task.result) } }
        for await result in finished { return try result.get() }
        throw TestSetupError("no answer")
    }

    @Test("a wait ends with 401 when its session is revoked, on every API that waits", arguments: DatabaseKind.available)
    func waitEndsOnLogout(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: Self.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let routes: [(String, [String: any Sendable])] = [
                ("/v1/executions", ["language": "python", "source": "print(1)", "wait": 30]),
                ("/judge0/submissions?wait=true", ["source_code": "print(1)", "language_id": 71]),
                ("/piston/api/v2/execute", ["language": "python", "version": "*", "files": [["content": "print(1)"]]]),
            ]
            for (index, (path, body)) in routes.enumerated() {
                let (_, consumer, _) = try await api.runners("-\(index)")
                let waiting = Task { try await api.call(.post, path, token: consumer, json: body) }
                // Once the job is queued the request is waiting on it.
                var listed = 0
                for _ in 0..<600 where listed == 0 {
                    let list = try await api.call(.get, "/v1/executions", token: consumer)
                    listed = (list.json["items"] as? [Any])?.count ?? 0
                    if listed == 0 { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(try await api.call(.post, "/v1/auth/logout", token: consumer).status == .noContent)
                let answer = try await waiting.value
                #expect(answer.status == .unauthorized, "\(path): \(answer.status) \(answer.text)")
            }
        }
    }

    @Test("past the connection limit a new connection is closed at once and audited; it frees when one closes", arguments: [DatabaseKind.sqlite])
    func connectionLimit(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind, configure: { $0.limits.maxConnections = 2 }) { server in
            try await server.withClient { first in
                let one = try await first.get("/healthz")
                #expect(one.status == .ok)
                try await server.withClient { second in
                    let two = try await second.get("/healthz")
                    #expect(two.status == .ok)
                    let third = try? await server.withClient(timeout: .seconds(10)) { try await $0.get("/healthz") }
                    #expect(third == nil, "a third connection is refused")
                    let stillOpen = try await first.get("/healthz")
                    #expect(stillOpen.status == .ok, "open connections keep working")
                }
            }
            var refusals: [AuditRecord] = []
            for _ in 0..<600 where refusals.isEmpty {
                refusals = try await server.auditRecords().filter { $0.action == "http.connection_refused" }
                if refusals.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(refusals.first?.details["maximum"] == "2")
            // Both places are given back when the clients close.
            var again: HTTPResponse.Status = .serviceUnavailable
            for _ in 0..<600 where again != .ok {
                again = (try? await server.withClient { try await $0.get("/healthz") }.status) ?? .serviceUnavailable
                if again != .ok { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(again == .ok)
        }
    }
}
