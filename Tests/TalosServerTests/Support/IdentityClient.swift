import Citadel
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import TalosCore
import TalosServer
import TalosStore
import TalosTestSupport

/// A JSON answer: status, headers and the decoded object.
struct APIResponse: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String

    var json: [String: any Sendable] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: any Sendable]) ?? [:]
    }

    subscript(key: String) -> String? { json[key] as? String }

    var problemType: String? { self["type"].map { String($0.dropFirst("urn:talos:problem:".count)) } }
}

/// A person's credentials in a test.
struct Person: Sendable {
    let id: String
    let email: String
    let password: String
    /// Base32 TOTP secret, when enrolled.
    var totpSecret: String?
    var recoveryCodes: [String] = []
}

/// Drives the identity API of a live ``TestServer`` over TLS.
struct IdentityClient: Sendable {
    let server: TestServer
    let clock: TestClock

    static let strongPassword = "Correct-Horse-Battery-9-Staple"

    /// Test settings: the cheapest argon2 the policy accepts, and auth rate
    /// limits out of the way unless a test is about them.
    static func configure(_ settings: inout ServerSettings) {
        settings.citadel.argon2 = .owaspMinimum
        settings.rateLimits[.auth] = .init(burst: 10_000, perMinute: 100_000)
        settings.rateLimits[.api] = .init(burst: 10_000, perMinute: 100_000)
    }

    func call(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: [String: any Sendable]? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> APIResponse {
        let request = try Self.request(method, path, token: token, json: json, headers: extra)
        // Longer than the tests' longest `wait` (120 s).
        let response = try await server.withClient(timeout: .seconds(180)) { try await $0.execute(request) }
        return APIResponse(status: response.status, headers: response.headers, text: response.text)
    }

    /// A JSON request with an optional bearer token.
    static func request(
        _ method: HTTPRequest.Method, _ path: String, token: String?, json: [String: any Sendable]?, headers extra: HTTPFields = [:]
    ) throws -> TestClient.Request {
        var headers = extra
        if let token { headers[.authorization] = "Bearer " + token }
        var body: ByteBuffer?
        if let json {
            headers[.contentType] = "application/json"
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
        }
        return TestClient.Request(path, method: method, headers: headers, body: body)
    }

    /// Sends `body` as it is, for JSON no serializer would write (`1e400`).
    func raw(
        _ method: HTTPRequest.Method, _ path: String, token: String? = nil, body: String, headers extra: HTTPFields = [:]
    ) async throws -> APIResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer " + token }
        headers[.contentType] = "application/json"
        let request = TestClient.Request(path, method: method, headers: headers, body: ByteBuffer(string: body))
        let response = try await server.withClient(timeout: .seconds(180)) { try await $0.execute(request) }
        return APIResponse(status: response.status, headers: response.headers, text: response.text)
    }

    /// The current TOTP code for `secret` by the server's clock, `offset` steps ahead.
    func code(_ secret: String, offset: Int64 = 0) -> String {
        TOTP(secret: Base32Decoder.decode(secret)).code(step: TOTP.step(at: clock.now) + offset)
    }

    /// Signs in, finishing with TOTP when enrolled (moving the clock one step
    /// so every code is fresh). Returns the token response.
    func signIn(_ person: Person) async throws -> APIResponse {
        let first = try await call(.post, "/v1/auth/login", json: ["email": person.email, "password": person.password])
        guard first.json["mfa_required"] as? Bool == true, let secret = person.totpSecret else { return first }
        clock.advance(by: 30)
        return try await call(.post, "/v1/auth/login/mfa", json: ["mfa_token": first["mfa_token"]!, "code": code(secret)])
    }

    func accessToken(_ person: Person) async throws -> String {
        let response = try await signIn(person)
        guard let token = response["access_token"] else { throw TestSetupError("sign-in failed: \(response.status) \(response.text)") }
        return token
    }

    /// A super admin from the CLI bootstrap, password set, TOTP enrolled.
    func superAdmin(email: String = "root@example.com") async throws -> Person {
        let created = try await SuperAdminBootstrap(
            accounts: SQLAccountRepository(database: server.runtime.database), audit: server.runtime.audit, maximumSuperAdmins: 3
        ).create(email: email)
        let accepted = try await call(
            .post, "/v1/auth/accept-invitation", json: ["token": created.enrollmentToken.unsafeValue, "password": Self.strongPassword]
        )
        guard accepted.status == .ok else { throw TestSetupError("enrollment failed: \(accepted.text)") }
        var person = Person(id: created.account.id.uuidString.lowercased(), email: email, password: Self.strongPassword)
        let token = try await accessToken(person)
        let enrollment = try await call(.post, "/v1/me/mfa/totp", token: token)
        guard let secret = enrollment["secret"] else { throw TestSetupError("enrollment start failed: \(enrollment.text)") }
        let confirmed = try await call(.post, "/v1/me/mfa/totp/confirm", token: token, json: ["code": code(secret)])
        person.totpSecret = secret
        person.recoveryCodes = confirmed.json["recovery_codes"] as? [String] ?? []
        guard person.recoveryCodes.count == 10 else { throw TestSetupError("confirm failed: \(confirmed.text)") }
        return person
    }

    /// An account invited by `inviter` and activated.
    func invited(_ email: String, role: Role, by inviter: Person) async throws -> Person {
        let token = try await accessToken(inviter)
        let invitation = try await call(.post, "/v1/invitations", token: token, json: ["email": email, "role": role.rawValue])
        guard invitation.status == .created, let secret = invitation["token"] else {
            throw TestSetupError("invitation failed: \(invitation.text)")
        }
        let accepted = try await call(.post, "/v1/auth/accept-invitation", json: ["token": secret, "password": Self.strongPassword])
        guard accepted.status == .ok else { throw TestSetupError("accept failed: \(accepted.text)") }
        let me = try await call(.get, "/v1/me", token: try await accessToken(Person(id: "", email: email, password: Self.strongPassword)))
        return Person(id: me["id"] ?? "", email: email, password: Self.strongPassword)
    }

    func audit(action: String) async throws -> [AuditRecord] {
        try await server.auditRecords().filter { $0.action == action }
    }
}

enum Base32Decoder {
    static func decode(_ text: String) -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var buffer: UInt32 = 0
        var bits = 0
        var output: [UInt8] = []
        for character in text.uppercased() {
            guard let index = alphabet.firstIndex(of: character) else { continue }
            buffer = (buffer << 5) | UInt32(index)
            bits += 5
            if bits >= 8 {
                output.append(UInt8((buffer >> UInt32(bits - 8)) & 0xff))
                bits -= 8
            }
        }
        return output
    }
}
