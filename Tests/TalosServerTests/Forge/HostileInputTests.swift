import Citadel
import Foundation
import HTTPTypes
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

/// Numbers no limit can hold, in every numeric field of every execution API:
/// each is a 4xx naming the field, and the server is still there afterwards.
@Suite("Hostile numbers and degenerate input")
struct HostileInputTests {
    /// JSON texts for values that trap a careless `Int(_: Double)`.
    static let hostileNumbers = [
        #""nan""#, #""NaN""#, #""inf""#, #""-inf""#, #""infinity""#, #""1e19""#, #""-1e19""#, #""1e400""#, "1e300", "-1e300",
        "9223372036854775808", "1e19", #""0x10""#, #""""#, #"" 5""#,
    ]

    @Test("Judge0: NaN, infinity and huge values in every numeric field are 422s naming the field", arguments: [DatabaseKind.sqlite])
    func judge0Numbers(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configureForge, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            let fields = [
                "cpu_time_limit", "wall_time_limit", "memory_limit", "max_processes_and_or_threads", "max_file_size", "stack_limit",
                "number_of_runs", "cpu_extra_time",
            ]
            for field in fields {
                for value in Self.hostileNumbers {
                    let body = #"{"source_code":"print(1)","language_id":71,"\#(field)":\#(value)}"#
                    let single = try await api.raw(.post, "/judge0/submissions", token: consumer, body: body)
                    // Some values are legal for some fields (`1e19` kB is not, "0x10" never is); a
                    // legal one is queued (201), and nothing is a 5xx.
                    #expect(single.status.code < 500, "\(field)=\(value): \(single.status)")
                    if single.status != .created {
                        #expect(single.status == .unprocessableContent, "\(field)=\(value): \(single.text)")
                        #expect(single.json[field] != nil, "\(field)=\(value) names the field: \(single.text)")
                    }
                    let batch = try await api.raw(.post, "/judge0/submissions/batch", token: consumer, body: #"{"submissions":[\#(body)]}"#)
                    #expect(batch.status.code < 500, "batch \(field)=\(value): \(batch.text)")
                }
            }
            #expect(try await api.call(.get, "/healthz").status == .ok, "the server survived")
        }
    }

    @Test("Piston and /v1/executions: non-finite and out-of-range limits, waits and pages are refused", arguments: [DatabaseKind.sqlite])
    func pistonAndNative(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configureForge, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let (_, consumer, _) = try await api.runners()
            let piston = [
                "run_timeout", "compile_timeout", "run_cpu_time", "compile_cpu_time", "run_memory_limit", "compile_memory_limit",
            ]
            for field in piston {
                for value in ["1e400", "-1e400", "1e300", "9223372036854775808", "0.5", #""nan""#, #""inf""#] {
                    let body = #"{"language":"python","version":"*","files":[{"content":"print(1)"}],"\#(field)":\#(value)}"#
                    let answer = try await api.raw(.post, "/piston/api/v2/execute", token: consumer, body: body)
                    #expect(answer.status == .badRequest, "\(field)=\(value): \(answer.status) \(answer.text)")
                    #expect(answer["message"]?.contains(field) == true || answer.text.contains("JSON"), "\(field)=\(value): \(answer.text)")
                }
            }
            for limit in ["memory_mib", "cpu_ms", "wall_ms", "pids", "output_bytes", "tmpfs_mib"] {
                for value in ["1e300", "1e19", "-1", "0", "9223372036854775807", "1.5", #""12""#] {
                    for key in ["limits", "compile_limits"] {
                        let body = #"{"language":"python","source":"print(1)","\#(key)":{"\#(limit)":\#(value)}}"#
                        let answer = try await api.raw(.post, "/v1/executions", token: consumer, body: body)
                        #expect([400, 422].contains(answer.status.code), "\(key).\(limit)=\(value): \(answer.text)")
                        #expect(answer.headers[.contentType] == "application/problem+json")
                    }
                }
            }
            for wait in ["1e19", "-1", "100000", "1e400", #""forever""#, "9223372036854775808"] {
                let answer = try await api.raw(.post, "/v1/executions", token: consumer, body: #"{"language":"python","source":"print(1)","wait":\#(wait)}"#)
                #expect(answer.status == .badRequest, "wait=\(wait): \(answer.text)")
            }
            for query in ["limit=99999999999999999999", "limit=-1", "limit=nan", "cursor=%FF%FE", "cursor=" + String(repeating: "A", count: 500), "status=%00"] {
                let answer = try await api.call(.get, "/v1/executions?" + query, token: consumer)
                #expect(answer.status == .badRequest, "\(query): \(answer.text)")
            }
            #expect(try await api.call(.get, "/v1/executions/1e400", token: consumer).status == .notFound)
            #expect(try await api.call(.get, "/judge0/languages/99999999999999999999999", token: consumer).status == .notFound)
            #expect(try await api.call(.get, "/healthz").status == .ok, "the server survived")
        }
    }

    @Test("an empty password is a policy refusal, on every route that sets one", arguments: [DatabaseKind.sqlite])
    func emptyPassword(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: { IdentityClient.configure(&$0); $0.citadel.openRegistration = true }, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let invitation = try await api.call(.post, "/v1/invitations", token: try await api.accessToken(boss), json: ["email": "e@example.com", "role": "owner"])
            let token = try #require(invitation["token"])
            let accept = try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": token, "password": ""])
            #expect(accept.status == .unprocessableContent && accept.problemType == "weak-password", "\(accept.text)")
            let register = try await api.call(.post, "/v1/auth/register", json: ["email": "r@example.com", "password": ""])
            #expect(register.status == .unprocessableContent, "\(register.text)")
            let owner = try await api.invited("o@example.com", role: .owner, by: boss)
            let change = try await api.call(
                .post, "/v1/me/password", token: try await api.accessToken(owner), json: ["current_password": owner.password, "new_password": ""]
            )
            #expect(change.status == .unprocessableContent, "\(change.text)")
            #expect(try await api.call(.get, "/healthz").status == .ok, "the server survived")
        }
    }
}
