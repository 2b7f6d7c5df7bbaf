import Citadel
import Foundation
import HTTPTypes
import Hummingbird
import TalosCore
import TalosServer
import TalosTestSupport
import Testing

@Suite("Route × role matrix")
struct RouteMatrixTests {
    enum Caller: String, CaseIterable {
        case anonymous, consumer, owner, superAdmin
    }

    @Test("every registered route × every role (and anonymous) matches the permission matrix", arguments: DatabaseKind.available)
    func matrix(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind, configure: { IdentityClient.configure(&$0); $0.citadel.openRegistration = true }, clock: clock,
            additionalRoutes: { routes in
                // A route added without a declaration: refused for everyone.
                routes.group.get("/v1/test/undeclared") { _, _ in "reached" }
            }
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let owner = try await api.invited("owner@example.com", role: .owner, by: boss)
            let consumer = try await api.invited("consumer@example.com", role: .consumer, by: owner)
            let target = try await api.invited("target@example.com", role: .consumer, by: owner)
            let people: [Caller: Person] = [.consumer: consumer, .owner: owner, .superAdmin: boss]
            let roles: [Caller: Role] = [.consumer: .consumer, .owner: .owner, .superAdmin: .superAdmin]
            for caller in Caller.allCases {
                var token: String?
                if let person = people[caller] { token = try await api.accessToken(person) }
                let undeclared = try await api.call(.get, "/v1/test/undeclared", token: token)
                #expect(undeclared.status == .forbidden, "undeclared route as \(caller)")
                #expect(!undeclared.text.contains("reached"))
            }
            let table = server.runtime.routeTable.all
            #expect(table.count >= 20, "the whole API is declared")
            // Destructive self-service goes last so later calls still have an account.
            let ordered = table.filter { $0.path != "/v1/me" || $0.method != .delete } + table.filter { $0.path == "/v1/me" && $0.method == .delete }
            var checked = 0
            for entry in ordered {
                for caller in Caller.allCases {
                    var token: String?
                    if let person = people[caller] {
                        let response = try await api.signIn(person)
                        token = response["access_token"]
                        if token == nil { continue }  // an account a previous route deleted
                    }
                    let path = entry.path.replacingOccurrences(of: "{id}", with: target.id).replacingOccurrences(of: "{token}", with: target.id)
                    let response = try await api.call(entry.method, path, token: token, json: entry.method == .get ? nil : [:])
                    let refused = response.status == .unauthorized || response.status == .forbidden
                    switch entry.access {
                    case .anonymous:
                        #expect(response.problemType != "forbidden", "\(entry.method) \(entry.path) as \(caller)")
                    case .authenticated(let permission, _, _):
                        if caller == .anonymous {
                            #expect(response.status == .unauthorized && response.problemType == "unauthenticated", "\(entry.method) \(entry.path) anonymous")
                        } else if let role = roles[caller], !PermissionMatrix.allows(role, permission) {
                            #expect(response.status == .forbidden && response.problemType == "forbidden", "\(entry.method) \(entry.path) as \(caller) must be denied")
                        } else {
                            #expect(!(refused && ["forbidden", "unauthenticated", "invalid-token", "step-up-required", "mfa-enrollment-required"].contains(response.problemType ?? "")), "\(entry.method) \(entry.path) as \(caller) must pass authorization: \(response.text)")
                        }
                    }
                    checked += 1
                }
            }
            #expect(checked >= 80)
            #expect(try await api.audit(action: "authz.decision").contains { $0.details["reason"] == "route_declares_nothing" })
            #expect(try await api.audit(action: "authz.decision").contains { $0.details["reason"] == "role_lacks_permission" })
            // Allowed decisions ride on the request's own record.
            #expect(try await api.audit(action: "http.request").contains { $0.details["authz"] == "allow:profile.read" })
        }
    }

    @Test("PyJWT verifies our access tokens from the JWKS alone", arguments: [DatabaseKind.sqlite])
    func interoperability(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let token = try await api.accessToken(boss)
            let jwks = try await api.call(.get, "/.well-known/jwks.json")
            let script = """
                import json, sys, jwt
                from jwt import PyJWKSet
                keys = PyJWKSet.from_json(sys.argv[1])
                token = sys.argv[2]
                kid = jwt.get_unverified_header(token)["kid"]
                key = next(k for k in keys.keys if k.key_id == kid)
                claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="talos-api", issuer=sys.argv[3], leeway=3600)
                print(claims["sub"], claims["role"])
                """
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", script, jwks.text, token, server.runtime.identity.settings.issuer]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            process.waitUntilExit()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "\(text)")
            #expect(text.contains(boss.id + " super_admin"))
        }
    }
}
