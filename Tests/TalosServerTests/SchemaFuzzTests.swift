import Foundation
import Citadel
import Forge
import HTTPTypes
import HummingbirdTesting
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

/// The server against its own OpenAPI document: the document lists exactly
/// the registered routes with their declared access, and schemathesis
/// (PyPI, installed by `scripts/install-deps.sh test`) generates requests
/// from it, anonymously and as each role. Pass: no 5xx, no dropped
/// connection, no response the document does not describe, and the server
/// still answers afterwards.
@Suite("OpenAPI document and schema fuzzing", .serialized)
struct SchemaFuzzTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let schemathesis = root.appendingPathComponent(".build/schemathesis/bin/schemathesis").path

    @Test("GET /openapi.json lists exactly the registered routes, each with its declared security", arguments: [DatabaseKind.sqlite])
    func documentMatchesRouter(_ kind: DatabaseKind) async throws {
        // Open registration on, so its route is registered too.
        try await TestServer.run(kind, configure: { $0.citadel.openRegistration = true }) { server in
            let response = try await server.withClient { try await $0.get("/openapi.json") }
            #expect(response.status == .ok)
            let document = try #require(try JSONSerialization.jsonObject(with: Data(response.text.utf8)) as? [String: Any])
            #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
            let paths = try #require(document["paths"] as? [String: [String: Any]])
            var documented: [String: [String: Any]] = [:]
            for (path, item) in paths {
                for (method, operation) in item {
                    guard let operation = operation as? [String: Any] else { continue }
                    documented[method.uppercased() + " " + path] = operation
                }
            }
            let registered = server.runtime.routeTable.all
            #expect(Set(documented.keys) == Set(registered.map { $0.method.rawValue + " " + $0.path }))
            for entry in registered {
                let operation = try #require(documented[entry.method.rawValue + " " + entry.path], "\(entry.path)")
                let security = operation["security"] as? [[String: Any]]
                #expect(operation["responses"] is [String: Any], "\(entry.path) has responses")
                switch entry.access {
                case .anonymous:
                    #expect(security?.isEmpty == true, "\(entry.method) \(entry.path) is anonymous")
                case .authenticated(let permission, let stepUp, _):
                    #expect(security?.contains { $0["bearer"] != nil } == true, "\(entry.method) \(entry.path) needs a token")
                    #expect(operation["x-talos-permission"] as? String == permission.rawValue, "\(entry.method) \(entry.path)")
                    #expect((operation["x-talos-step-up"] as? Bool ?? false) == stepUp, "\(entry.method) \(entry.path) step-up")
                }
            }
        }
    }

    /// Requests per role and database in `make test`; `make fuzz` raises it.
    static var examples: Int { ProcessInfo.processInfo.environment["SCHEMA_FUZZ_EXAMPLES"].flatMap(Int.init) ?? 12 }

    @Test("schemathesis as every role and anonymously: no 5xx, nothing off the document", arguments: DatabaseKind.available)
    func fuzz(_ kind: DatabaseKind) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.schemathesis), "run scripts/install-deps.sh test")
        let clock = TestClock()
        try await TestServer.run(
            kind,
            configure: { settings in
                IdentityClient.configure(&settings)
                settings.citadel.openRegistration = true
                // Jobs only queue (no sandbox load), and waits are short.
                settings.inProcessWorkers = false
                settings.execution.maximumWaitSeconds = 1
                settings.rateLimits[.health] = .init(burst: 100_000, perMinute: 1_000_000)
            },
            clock: clock
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let owner = try await api.invited("owner@example.com", role: .owner, by: boss)
            let consumer = try await api.invited("consumer@example.com", role: .consumer, by: owner)
            let schema = server.test.directory + "/openapi.json"
            let document = try await server.withClient { try await $0.get("/openapi.json") }
            try document.text.write(toFile: schema, atomically: true, encoding: .utf8)
            var generated = 0
            let callers: [(String, String?)] = [
                ("anonymous", nil), ("consumer", try await api.accessToken(consumer)), ("owner", try await api.accessToken(owner)),
                ("super_admin", try await api.accessToken(boss)),
            ]
            for (name, token) in callers {
                let (status, output) = try Self.run(schema: schema, server: server, token: token)
                let count = Self.generatedCount(output)
                generated += count
                #expect(status == 0, "schemathesis as \(name) on \(kind): \(output.suffix(6_000))")
                #expect(count > 0, "\(name): \(output.suffix(2_000))")
            }
            print("schemathesis on \(kind): \(generated) requests generated, no failures allowed")
            #expect(generated >= 2_000, "requests generated on \(kind): \(generated)")
            let alive = try await server.withClient { try await $0.get("/healthz") }
            #expect(alive.status == .ok, "the server survived")
        }
    }

    static func run(schema: String, server: TestServer, token: String?) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: schemathesis)
        var arguments = [
            "run", schema, "--url", "https://localhost:\(server.port)", "--tls-verify", server.dataDirectory + "/tls/dev-ca.pem",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples", String(examples), "--phases", "examples,coverage,fuzzing", "--workers", "1",
            "--request-timeout", "30", "--seed", "20261201", "--suppress-health-check", "all", "--no-color",
        ]
        if let token {
            arguments += ["-H", "Authorization: Bearer " + token]
            // These end the caller's own session or account; they are fuzzed anonymously.
            arguments += [
                "--exclude-path", "/v1/auth/logout", "--exclude-path", "/v1/me/sessions",
                "--exclude-operation-id", "deleteMe",
            ]
        }
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": server.test.directory, "SCHEMATHESIS_HOOKS": ""]
        // Its example database and reports go to the throwaway directory.
        process.currentDirectoryURL = URL(fileURLWithPath: server.test.directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The number schemathesis reports as generated test cases.
    static func generatedCount(_ output: String) -> Int {
        // "Test cases:" is followed by "N generated, …".
        guard let match = output.firstMatch(of: /(\d+) generated,/) else { return 0 }
        return Int(match.1) ?? 0
    }
}
