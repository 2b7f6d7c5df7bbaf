import Citadel
import Crypto
import Foundation
import HTTPTypes
import TalosCore
import TalosServer
import TalosStore
import TalosTestSupport
import SQLKit
import Testing

@Suite("Sign-in flows")
struct SignInFlowTests {
    @Test("bootstrap, MFA, invitations down the roles, and sign-in", arguments: DatabaseKind.available)
    func invitationChain(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            // A bootstrap super admin without MFA reaches nothing but enrollment.
            let created = try await SuperAdminBootstrap(
                accounts: SQLAccountRepositoryFactory.make(server), audit: server.runtime.audit, maximumSuperAdmins: 3
            ).create(email: "boss@example.com")
            let weak = try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": created.enrollmentToken.unsafeValue, "password": "short"])
            #expect(weak.status == .unprocessableContent)
            #expect((weak.json["errors"] as? [String])?.contains("too_short") == true)
            let pending = try await api.call(.post, "/v1/auth/login", json: ["email": "boss@example.com", "password": IdentityClient.strongPassword])
            #expect(pending.status == .unauthorized, "a pending account cannot sign in")
            // The refused password left the token usable.
            let accepted = try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": created.enrollmentToken.unsafeValue, "password": IdentityClient.strongPassword])
            #expect(accepted.status == .ok)
            let again = try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": created.enrollmentToken.unsafeValue, "password": IdentityClient.strongPassword])
            #expect(again.status == .unauthorized, "an enrollment token works once")
            var boss = Person(id: created.account.id.uuidString.lowercased(), email: "boss@example.com", password: IdentityClient.strongPassword)
            let first = try await api.signIn(boss)
            let token = try #require(first["access_token"])
            #expect(first["token_type"] == "Bearer")
            #expect(first.json["expires_in"] as? Int == 600)
            for (method, path) in [(HTTPRequest.Method.get, "/v1/me"), (.get, "/v1/admin/users"), (.get, "/v1/me/sessions")] {
                let refused = try await api.call(method, path, token: token)
                #expect(refused.status == .forbidden, "\(path)")
                #expect(refused.problemType == "mfa-enrollment-required")
            }
            let invite = try await api.call(.post, "/v1/invitations", token: token, json: ["email": "x@example.com", "role": "owner"])
            #expect(invite.status == .forbidden)
            let enrollment = try await api.call(.post, "/v1/me/mfa/totp", token: token)
            #expect(enrollment.status == .created)
            let secret = try #require(enrollment["secret"])
            #expect(Base32Decoder.decode(secret).count == 20, "160-bit secret")
            #expect(enrollment["otpauth_uri"]?.hasPrefix("otpauth://totp/Talos:boss@example.com?secret=\(secret)") == true)
            let wrong = try await api.call(.post, "/v1/me/mfa/totp/confirm", token: token, json: ["code": "000000"])
            #expect(wrong.status == .unauthorized)
            let confirmed = try await api.call(.post, "/v1/me/mfa/totp/confirm", token: token, json: ["code": api.code(secret)])
            #expect(confirmed.status == .ok)
            boss.totpSecret = secret
            boss.recoveryCodes = confirmed.json["recovery_codes"] as? [String] ?? []
            #expect(Set(boss.recoveryCodes).count == 10)
            let stored = try await server.runtime.database.sql.raw("SELECT code_hash FROM recovery_codes").all()
            #expect(stored.count == 10)
            // Stored as keyed hashes: neither the code nor its plain SHA-256.
            let plainHashes = Set(boss.recoveryCodes.map { code in
                SHA256.hash(data: Data(code.replacingOccurrences(of: "-", with: "").utf8)).map { String(format: "%02x", $0) }.joined()
            })
            for row in stored {
                let hash = try row.decode(column: "code_hash", as: String.self)
                #expect(hash.count == 64 && !plainHashes.contains(hash) && !boss.recoveryCodes.contains(hash))
            }
            // The TOTP secret is sealed: its raw bytes appear nowhere in the stored value.
            let sealed = try await server.runtime.database.sql.raw("SELECT secret_sealed FROM totp_credentials").all()
            let sealedBytes = Array(Data(base64Encoded: try #require(try sealed.first?.decode(column: "secret_sealed", as: String.self))) ?? Data())
            let raw = Base32Decoder.decode(secret)
            #expect(sealedBytes.count >= raw.count + 28, "nonce, ciphertext and tag")
            #expect(!(0...(sealedBytes.count - raw.count)).contains { Array(sealedBytes[$0..<$0 + raw.count]) == raw })

            // With MFA on, a password alone gets an MFA challenge, not tokens.
            let challenge = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
            #expect(challenge.json["mfa_required"] as? Bool == true)
            #expect(challenge["access_token"] == nil)
            clock.advance(by: 30)
            let finished = try await api.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": challenge["mfa_token"]!, "code": api.code(secret)])
            #expect(finished.status == .ok)
            let reusedChallenge = try await api.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": challenge["mfa_token"]!, "code": api.code(secret, offset: 1)])
            #expect(reusedChallenge.status == .unauthorized, "an MFA token is single-use")
            let bossToken = try #require(finished["access_token"])
            let me = try await api.call(.get, "/v1/me", token: bossToken)
            #expect(me["role"] == "super_admin")
            #expect(me.json["mfa_enabled"] as? Bool == true)

            // Super admins invite owners only; owners invite consumers only.
            let refusedRole = try await api.call(.post, "/v1/invitations", token: bossToken, json: ["email": "c@example.com", "role": "consumer"])
            #expect(refusedRole.status == .forbidden)
            let superInvite = try await api.call(.post, "/v1/invitations", token: bossToken, json: ["email": "s@example.com", "role": "super_admin"])
            #expect(superInvite.status == .forbidden)
            let owner = try await api.invited("owner@example.com", role: .owner, by: boss)
            let consumer = try await api.invited("consumer@example.com", role: .consumer, by: owner)
            let ownerToken = try await api.accessToken(owner)
            let ownerInvitesOwner = try await api.call(.post, "/v1/invitations", token: ownerToken, json: ["email": "o2@example.com", "role": "owner"])
            #expect(ownerInvitesOwner.status == .forbidden)
            let consumerToken = try await api.accessToken(consumer)
            let consumerInvites = try await api.call(.post, "/v1/invitations", token: consumerToken, json: ["email": "c2@example.com", "role": "consumer"])
            #expect(consumerInvites.status == .forbidden)

            // Inviting a registered address answers exactly like a new one,
            // but its token opens nothing.
            let fresh = try await api.call(.post, "/v1/invitations", token: ownerToken, json: ["email": "new@example.com", "role": "consumer"])
            let taken = try await api.call(.post, "/v1/invitations", token: ownerToken, json: ["email": "consumer@example.com", "role": "consumer"])
            #expect(fresh.status == .created && taken.status == .created)
            #expect(Set(fresh.json.keys) == Set(taken.json.keys))
            let decoy = try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": taken["token"]!, "password": IdentityClient.strongPassword + "x"])
            #expect(decoy.status == .unauthorized)
            let unknownLogin = try await api.call(.post, "/v1/auth/login", json: ["email": "nobody@example.com", "password": IdentityClient.strongPassword])
            let wrongLogin = try await api.call(.post, "/v1/auth/login", json: ["email": consumer.email, "password": IdentityClient.strongPassword + "?"])
            #expect(unknownLogin.status == wrongLogin.status)
            #expect(unknownLogin["detail"] == wrongLogin["detail"] && unknownLogin["type"] == wrongLogin["type"])

            // Every step is on the trail, and no secret is.
            #expect(try await api.audit(action: "invitation.create").contains { $0.outcome == "denied" && $0.details["reason"] == "email_registered" })
            #expect(try await api.audit(action: "invitation.accept").filter { $0.outcome == "success" }.count == 3)
            #expect(try await api.audit(action: "mfa.enable").contains { $0.outcome == "success" })
            #expect(try await api.audit(action: "authz.decision").contains { $0.details["reason"] == "mfa_enrollment_required" })
            #expect(try await api.audit(action: "auth.login").contains { $0.details["reason"] == "unknown_email" })
            let trail = try await server.auditRecords().map { "\($0.details)" }.joined()
            #expect(!trail.contains(IdentityClient.strongPassword))
            #expect(!trail.contains(created.enrollmentToken.unsafeValue))
            #expect(!trail.contains(bossToken))
            #expect(!server.log.all.joined().contains(IdentityClient.strongPassword))
        }
    }

    @Test("open registration exists only when configured, and never says an email is taken", arguments: DatabaseKind.available)
    func registration(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let closed = try await api.call(.post, "/v1/auth/register", json: ["email": "a@example.com", "password": IdentityClient.strongPassword])
            #expect(closed.status == .notFound)
        }
        try await TestServer.run(kind, configure: { IdentityClient.configure(&$0); $0.citadel.openRegistration = true }, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let first = try await api.call(.post, "/v1/auth/register", json: ["email": "a@example.com", "password": IdentityClient.strongPassword])
            let second = try await api.call(.post, "/v1/auth/register", json: ["email": "a@example.com", "password": IdentityClient.strongPassword + "!"])
            #expect(first.status == .accepted && second.status == .accepted)
            #expect(first.text == second.text)
            let me = try await api.call(.get, "/v1/me", token: try await api.accessToken(Person(id: "", email: "a@example.com", password: IdentityClient.strongPassword)))
            #expect(me["role"] == "consumer")
            let weak = try await api.call(.post, "/v1/auth/register", json: ["email": "b@example.com", "password": "passwordpassword1"])
            #expect(weak.status == .unprocessableContent)
            #expect(try await api.audit(action: "account.register").contains { $0.outcome == "denied" })
        }
    }

    @Test("hashing is capped: a flood of sign-ins gets 503 with Retry-After, not memory exhaustion", arguments: [DatabaseKind.sqlite])
    func hashingOverload(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind,
            configure: {
                IdentityClient.configure(&$0)
                // The full-cost hash: each attempt's lockout reservation is a
                // short write before it, and the hash must still overlap the
                // next arrival however the machine is loaded.
                $0.citadel.argon2 = .standard
                $0.citadel.hashingConcurrency = 1
                $0.citadel.hashingMaximumWait = .milliseconds(1)
            },
            clock: clock
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let statuses = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        try await api.call(.post, "/v1/auth/login", json: ["email": "u\(index)@example.com", "password": IdentityClient.strongPassword])
                    }
                }
                return try await group.reduce(into: [APIResponse]()) { $0.append($1) }
            }
            let refused = statuses.filter { $0.status == .serviceUnavailable }
            #expect(!refused.isEmpty, "some sign-ins must be turned away")
            #expect(refused.allSatisfy { $0.headers[.retryAfter] == "1" })
            #expect(statuses.allSatisfy { $0.status == .serviceUnavailable || $0.status == .unauthorized })
        }
    }
}

enum SQLAccountRepositoryFactory {
    static func make(_ server: TestServer) -> SQLAccountRepository {
        SQLAccountRepository(database: server.runtime.database)
    }
}
