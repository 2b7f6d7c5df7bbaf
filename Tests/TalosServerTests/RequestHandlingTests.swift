import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import HummingbirdTesting
import NIOCore
import TalosCore
@testable import TalosServer
import TalosTestSupport
import Testing

/// A JSON route mounted behind the real middleware, to drive the shared
/// request decoding with hostile bodies.
struct EchoRequest: Decodable {
    let name: String
}

func echoRoute(_ routes: DeclaredRoutes) {
    routes.on(.post, "/v1/test/echo", .anonymous) { request, context -> [String: String] in
        let body = try await request.decode(as: EchoRequest.self, context: context)
        return ["name": body.name]
    }
}

@Suite("Request handling")
struct RequestHandlingTests {
    static let expectedSecurityHeaders: [(String, String)] = [
        ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]

    @Test("security headers are on successes and on errors", arguments: DatabaseKind.available)
    func securityHeaders(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind) { server in
            let (ok, missing) = try await server.withClient { client in
                (try await client.get("/healthz"), try await client.get("/no/such/route"))
            }
            for response in [ok, missing] {
                for (name, value) in Self.expectedSecurityHeaders {
                    #expect(response.headers[HTTPField.Name(name)!] == value, "\(name) on \(response.status)")
                }
            }
            #expect(missing.status == .notFound)
            #expect(missing.problem?["status"] == .int(404))
            #expect(missing.problem?["type"] == .string("urn:talos:problem:not-found"))
        }
    }

    @Test("a safe request id is echoed and logged; an unsafe one is replaced", arguments: DatabaseKind.available)
    func requestID(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind) { server in
            let (kept, replaced) = try await server.withClient { client in
                (
                    try await client.get("/healthz", headers: [HTTPField.Name("X-Request-ID")!: "trace-42.a_b"]),
                    try await client.get("/healthz", headers: [HTTPField.Name("X-Request-ID")!: "evil\"id with spaces; and more"])
                )
            }
            #expect(kept.headers[HTTPField.Name("X-Request-ID")!] == "trace-42.a_b")
            let generated = try #require(replaced.headers[HTTPField.Name("X-Request-ID")!])
            #expect(generated.utf8.count == 32)
            #expect(Hex.decode(generated) != nil)

            let lines = server.log.objects.filter { $0["message"] == "request" }
            let line = try #require(lines.first { $0["request_id"] == "trace-42.a_b" })
            #expect(line["method"] == "GET")
            #expect(line["route"] == "/healthz")
            #expect(line["status"] == "200")
            #expect(line["principal"] == "anonymous")
            #expect(line["duration_ms"] != nil)
            #expect(lines.contains { $0["request_id"] == generated })
            #expect(!server.log.all.contains { $0.contains("evil") })

            // Probes are audited in aggregate: one record per source and window, with the count.
            await server.runtime.flushAggregatedAudit()
            let records = try await server.auditRecords()
            #expect(records.contains { $0.action == "http.request" && $0.target == "GET /healthz" && $0.details["count"] == "2" })
        }
    }

    @Test("an empty bucket answers 429 with Retry-After, logged and audited", arguments: DatabaseKind.available)
    func rateLimit(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind, configure: { $0.rateLimits[.health] = .init(burst: 3, perMinute: 1) }, rateLimitClock: TestServer.stoppedClock()) { server in
            let responses = try await server.withClient { client in
                var responses: [TestClient.Response] = []
                for _ in 0..<5 { responses.append(try await client.get("/healthz")) }
                return responses
            }
            #expect(responses.prefix(3).allSatisfy { $0.status == .ok })
            let refused = responses[3]
            #expect(refused.status == .tooManyRequests)
            let retryAfter = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
            #expect(retryAfter >= 1 && retryAfter <= 60)
            #expect(refused.problem?["type"] == .string("urn:talos:problem:rate-limited"))
            #expect(server.log.objects.contains { $0["message"] == "rate limit refused" && $0["group"] == "health" })
            // Refusals are counted into one record, not two per request.
            await server.runtime.flushAggregatedAudit()
            let records = try await server.auditRecords()
            let refusals = records.filter { $0.action == "ratelimit.refused" && $0.outcome == "denied" }
            #expect(refusals.count == 1 && refusals.first?.details["count"] == "2", "\(refusals)")
            #expect(records.filter { $0.action == "http.request" && $0.details["status"] == "429" }.isEmpty)
            #expect(records.filter { $0.action == "http.request" && $0.target == "GET /healthz" }.map { $0.details["count"] } == ["3"])
        }
    }

    @Test("X-Forwarded-For counts only from a trusted proxy", arguments: [DatabaseKind.sqlite])
    func forwardedFor(_ kind: DatabaseKind) async throws {
        let spoof: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"]
        try await TestServer.run(kind) { server in
            _ = try await server.withClient { try await $0.get("/healthz", headers: spoof) }
            await server.runtime.flushAggregatedAudit()
            let records = try await server.auditRecords().filter { $0.action == "http.request" }
            #expect(records.last?.sourceIP == "127.0.0.1", "an untrusted peer cannot claim another address")
        }
        try await TestServer.run(kind, configure: { $0.trustedProxies = ["127.0.0.1"] }) { server in
            _ = try await server.withClient { try await $0.get("/healthz", headers: spoof) }
            _ = try await server.withClient {
                try await $0.get("/healthz", headers: [HTTPField.Name("X-Forwarded-For")!: "not an address"])
            }
            await server.runtime.flushAggregatedAudit()
            let records = try await server.auditRecords().filter { $0.action == "http.request" }
            #expect(Set(records.map(\.sourceIP)) == ["203.0.113.9", "127.0.0.1"])
        }
    }

    @Test("hostile input gets a clear 4xx problem, is audited, and the server carries on", arguments: DatabaseKind.available)
    func hostileInput(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind, configure: { $0.limits.maxBodyBytes = 1024 }, additionalRoutes: echoRoute) { server in
            let json: HTTPFields = [.contentType: "application/json"]
            let cases: [(String, TestClient.Request, HTTPResponse.Status)] = [
                ("valid", .init("/v1/test/echo", method: .post, headers: json, body: ByteBuffer(string: #"{"name":"ok"}"#)), .ok),
                ("malformed JSON", .init("/v1/test/echo", method: .post, headers: json, body: ByteBuffer(string: #"{"name": "#)), .badRequest),
                ("missing field", .init("/v1/test/echo", method: .post, headers: json, body: ByteBuffer(string: #"{"other":1}"#)), .badRequest),
                ("invalid UTF-8", .init("/v1/test/echo", method: .post, headers: json, body: ByteBuffer(bytes: [0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), .badRequest),
                ("wrong content type", .init("/v1/test/echo", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "x")), .unsupportedMediaType),
                ("oversized body", .init("/v1/test/echo", method: .post, headers: json, body: ByteBuffer(repeating: 0x20, count: 4096)), .contentTooLarge),
                ("unknown route", .init("/v1/nothing/here", method: .get), .notFound),
                ("huge header", .init("/healthz", method: .get, headers: [HTTPField.Name("X-Filler")!: String(repeating: "a", count: 40_000)]), .requestHeaderFieldsTooLarge),
                ("huge URL", .init("/healthz?" + String(repeating: "q", count: 10_000), method: .get), .uriTooLong),
            ]
            for (name, request, expected) in cases {
                let response = try await server.withClient { try await $0.execute(request) }
                #expect(response.status == expected, "\(name)")
                if expected != .ok {
                    let problem = try #require(response.problem, "\(name) must be problem+json")
                    #expect(problem["status"] == .int(Int(expected.code)))
                    #expect(!response.text.contains("DecodingError"), "\(name) leaks no internals")
                    #expect(!response.text.contains("Swift"), "\(name) leaks no internals")
                }
            }
            let records = try await server.auditRecords().filter { $0.action == "http.request" }
            for (name, _, expected) in cases {
                #expect(records.contains { $0.details["status"] == String(expected.code) }, "\(name) is audited")
            }
            #expect(records.contains { $0.target == "GET (unmatched)" && $0.details["path"] == "/v1/nothing/here" })
            let alive = try await server.withClient { try await $0.get("/readyz") }
            #expect(alive.status == .ok)
            #expect(alive.text == #"{"status":"ready"}"#)
        }
    }

    @Test("after 1,000 requests from 8 concurrent clients the audit chain verifies", arguments: DatabaseKind.available)
    func thousandRequests(_ kind: DatabaseKind) async throws {
        // Requests that are audited one by one (probes are aggregated).
        try await TestServer.run(kind, configure: { $0.rateLimits[.api] = .init(burst: 10_000, perMinute: 100_000) }) { server in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await server.withClient { client in
                            var ok = 0
                            for _ in 0..<125 where try await client.get("/v1/nothing/here").status == .notFound { ok += 1 }
                            return ok
                        }
                    }
                }
                var total = 0
                for try await ok in group { total += ok }
                #expect(total == 1000)
            }
            let context = try MaintenanceContext.open(settings: server.runtime.settings, logger: TestServer.logger(into: CapturedLog()))
            let report = try await context.verifyAudit()
            await context.close()
            #expect(report.isIntact, "\(report.findings.prefix(3))")
            #expect(report.records >= 1000)
            #expect(report.fileLines == Int(report.records))
            let requests = try await server.auditRecords().filter { $0.action == "http.request" }
            #expect(requests.count == 1000)
        }
    }
}

@Suite("Audit volume and disk space")
struct AuditVolumeTests {
    @Test("a probe flood and a refused flood each cost one audit record per source, with the count", arguments: DatabaseKind.available)
    func aggregated(_ kind: DatabaseKind) async throws {
        try await TestServer.run(
            kind, configure: { $0.rateLimits[.health] = .init(burst: 40, perMinute: 1); $0.auditAggregateWindowSeconds = 3600 },
            rateLimitClock: TestServer.stoppedClock()
        ) { server in
            let before = try await server.auditRecords().count
            let statuses = try await server.withClient { client in
                var statuses: [HTTPResponse.Status] = []
                for index in 0..<100 { statuses.append(try await client.get(index % 2 == 0 ? "/healthz" : "/readyz").status) }
                return statuses
            }
            #expect(statuses.filter { $0 == .ok }.count == 40)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 60)
            let written = try await server.auditRecords().dropFirst(before)
            #expect(written.filter { $0.action == "http.request" || $0.action == "ratelimit.refused" }.isEmpty, "nothing is written per request: \(written.map { $0.action + " " + $0.target })")
            await server.runtime.flushAggregatedAudit()
            let added = try await server.auditRecords().dropFirst(before).filter { $0.action == "http.request" || $0.action == "ratelimit.refused" }
            #expect(added.count <= 3, "one record per (action, route): \(added.map(\.action))")
            let counted = added.compactMap { $0.details["count"].flatMap { Int($0) } }.reduce(0, +)
            #expect(counted == 100, "every request is still accounted for")
            #expect(added.allSatisfy { $0.details["aggregated"] == "true" && $0.details["first"] != nil && $0.details["last"] != nil })
            // Failed probes and everything else are still one record each.
            let unknown = try await server.withClient { try await $0.get("/no/such/route") }
            #expect(unknown.status == .notFound)
            #expect(try await server.auditRecords().last?.details["status"] == "404")
        }
    }

    @Test("under the free-space floor: readyz fails, writes get 503, reads and probes go on", arguments: [DatabaseKind.sqlite])
    func lowDisk(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        // A floor no disk can meet stands in for a full one.
        try await TestServer.run(kind, configure: { IdentityClient.configure(&$0); $0.minimumFreeBytes = Int64.max / 2 }, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let ready = try await api.call(.get, "/readyz")
            #expect(ready.status == .serviceUnavailable && ready.problemType == "low-disk", "\(ready.text)")
            #expect(try await api.call(.get, "/healthz").status == .ok, "alive, just not taking work")
            let login = try await api.call(.post, "/v1/auth/login", json: ["email": "a@example.com", "password": "whatever-it-is"])
            #expect(login.status == .serviceUnavailable && login.problemType == "insufficient-storage", "\(login.text)")
            #expect(login.headers[.retryAfter] == "60")
            #expect(server.log.objects.contains { $0["message"] == "refusing work: low on disk space" })
            let doctor = Doctor(settings: server.runtime.settings, logger: .init(label: "test"))
            #expect(doctor.diskSpaceCheck().level == .fail)
        }
    }
}
