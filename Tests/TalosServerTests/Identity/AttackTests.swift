import Citadel
import Crypto
import Foundation
import HTTPTypes
import TalosCore
import TalosServer
import TalosStore
import TalosTestSupport
import Testing

@Suite("Identity attacks")
struct AttackTests {
    /// Whole seconds from `now` to the RFC 3339 time `text`.
    static func seconds(_ text: String, from now: Date) -> Int? {
        Timestamp.parse(text).map { Int($0.timeIntervalSince(now).rounded()) }
    }

    @Test("brute force locks the account; the right password is then refused alike; unlock and expiry lift it", arguments: DatabaseKind.available)
    func bruteForce(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let victim = try await api.invited("victim@example.com", role: .owner, by: boss)
            var wrongAnswer: APIResponse?
            for attempt in 1...5 {
                let wrong = try await api.call(.post, "/v1/auth/login", json: ["email": victim.email, "password": "Guess-number-\(attempt)-Aa1!"])
                #expect(wrong.status == .unauthorized)
                wrongAnswer = wrong
            }
            let right = try await api.call(.post, "/v1/auth/login", json: ["email": victim.email, "password": victim.password])
            #expect(right.status == .unauthorized, "locked: even the right password is refused")
            #expect(right["detail"] == wrongAnswer?["detail"] && right["type"] == wrongAnswer?["type"])
            let locks = try await api.audit(action: "account.lock")
            #expect(locks.count == 1)
            let until = try #require(locks.first?.details["until"])
            // The lock's end against the clock now: the seconds in between are
            // the machine's, so they are allowed for, not assumed to be zero.
            #expect(Self.seconds(until, from: clock.now).map { (840...900).contains($0) } == true, "first lock: 15 minutes (\(until))")
            #expect(try await api.audit(action: "auth.login").contains { $0.details["reason"] == "locked" && $0.outcome == "denied" })

            // A super admin unlocks; unlock is audited.
            let bossToken = try await api.accessToken(boss)
            let victimTokenless = try await api.call(.post, "/v1/admin/users/\(victim.id)/unlock", token: bossToken)
            #expect(victimTokenless.status == .ok)
            #expect(try await api.signIn(victim).status == .ok)
            #expect(try await api.audit(action: "account.unlock").count == 1)

            // Two locks in a row: the second one lasts twice as long, and expiry lifts it.
            for round in 1...2 {
                for attempt in 1...5 {
                    _ = try await api.call(.post, "/v1/auth/login", json: ["email": victim.email, "password": "Guess-\(round)-\(attempt)-Aa1!"])
                }
                if round == 1 { clock.advance(by: 15 * 60 + 1) }
            }
            let second = try #require(try await api.audit(action: "account.lock").last?.details["until"])
            #expect(Self.seconds(second, from: clock.now).map { (1740...1800).contains($0) } == true, "second lock: 30 minutes (\(second))")
            clock.advance(by: 29 * 60)
            #expect(try await api.signIn(victim).status == .unauthorized)
            clock.advance(by: 2 * 60)
            #expect(try await api.signIn(victim).status == .ok)
        }
    }

    @Test("per-IP throttling sits on top of the lockout", arguments: [DatabaseKind.sqlite])
    func perIPThrottle(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: { IdentityClient.configure(&$0); $0.rateLimits[.auth] = .init(burst: 3, perMinute: 3) }, clock: clock, rateLimitClock: TestServer.stoppedClock()) { server in
            let api = IdentityClient(server: server, clock: clock)
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<5 {
                statuses.append(try await api.call(.post, "/v1/auth/login", json: ["email": "u\(index)@example.com", "password": "x"]).status)
            }
            #expect(statuses.prefix(3).allSatisfy { $0 == .unauthorized })
            #expect(statuses.suffix(2).allSatisfy { $0 == .tooManyRequests })
        }
    }

    @Test("logout, refresh rotation and reuse: a replayed refresh token kills the session", arguments: DatabaseKind.available)
    func refreshAndLogout(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let owner = try await api.invited("owner@example.com", role: .owner, by: boss)
            let first = try await api.signIn(owner)
            let refreshed = try await api.call(.post, "/v1/auth/refresh", json: ["refresh_token": first["refresh_token"]!])
            #expect(refreshed.status == .ok)
            #expect(refreshed["refresh_token"] != first["refresh_token"])
            let newAccess = try #require(refreshed["access_token"])
            #expect(try await api.call(.get, "/v1/me", token: newAccess).status == .ok)
            // The old refresh token again: theft. The whole session dies.
            let replay = try await api.call(.post, "/v1/auth/refresh", json: ["refresh_token": first["refresh_token"]!])
            #expect(replay.status == .unauthorized)
            #expect(try await api.call(.get, "/v1/me", token: newAccess).status == .unauthorized)
            #expect(try await api.call(.post, "/v1/auth/refresh", json: ["refresh_token": refreshed["refresh_token"]!]).status == .unauthorized)
            let reuse = try await api.audit(action: "auth.refresh_reuse")
            #expect(reuse.count == 1 && reuse.first?.details["severity"] == "security")

            // Logout: the access token is refused on the very next request.
            let second = try await api.signIn(owner)
            let access = try #require(second["access_token"])
            #expect(try await api.call(.post, "/v1/auth/logout", token: access).status == .noContent)
            let after = try await api.call(.get, "/v1/me", token: access)
            #expect(after.status == .unauthorized)
            #expect(after.headers[.wwwAuthenticate]?.contains("invalid_token") == true)
            #expect(try await api.call(.post, "/v1/auth/refresh", json: ["refresh_token": second["refresh_token"]!]).status == .unauthorized)
            #expect(try await api.audit(action: "authz.decision").contains { $0.details["reason"] == "session_revoked_or_expired" })

            // Another process sharing the database sees the revocation too.
            let third = try await api.signIn(owner)
            let sibling = try await ServerRuntime.prepare(settings: server.runtime.settings, logger: TestServer.logger(into: CapturedLog()))
            let principal = try await sibling.identity.authenticate(bearer: third["access_token"]!).get()
            #expect(principal.email.value == owner.email)
            _ = try await api.call(.post, "/v1/auth/logout", token: third["access_token"]!)
            #expect(try await sibling.identity.authenticate(bearer: third["access_token"]!) == .failure(.sessionOver))
            try? await sibling.database.close()
        }
    }

    @Test("forged, expired and misplaced tokens are refused and audited", arguments: DatabaseKind.available)
    func forgedTokens(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let consumer = try await api.invited("c@example.com", role: .owner, by: boss)
            let token = try await api.accessToken(consumer)
            #expect(try await api.call(.get, "/v1/me", token: token).status == .ok)
            let parts = token.split(separator: ".").map(String.init)
            let header = try #require(Base64URL.decode(parts[0]))
            let payload = try #require(Base64URL.decode(parts[1]))
            var claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
            let jwks = try await api.call(.get, "/.well-known/jwks.json")
            let key = try #require((jwks.json["keys"] as? [[String: String]])?.first)
            #expect(key["kty"] == "OKP" && key["crv"] == "Ed25519" && key["alg"] == "EdDSA")
            let headerObject = try #require(try JSONSerialization.jsonObject(with: Data(header)) as? [String: String])
            #expect(headerObject["kid"] == key["kid"] && headerObject["alg"] == "EdDSA")
            for claim in ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "role", "amr", "auth_time"] {
                #expect(claims[claim] != nil, "claim \(claim)")
            }
            #expect((claims["exp"] as! Int) - (claims["iat"] as! Int) <= 900)

            func encode(_ object: Any) throws -> String {
                Base64URL.encode(Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])))
            }
            claims["role"] = "super_admin"
            let tampered = parts[0] + "." + (try encode(claims)) + "." + parts[2]
            let none = (try encode(["alg": "none", "typ": "at+jwt", "kid": key["kid"]!])) + "." + parts[1] + "."
            let unknownKid = (try encode(["alg": "EdDSA", "typ": "at+jwt", "kid": "not-a-key"])) + "." + parts[1] + "." + parts[2]
            // HS256 keyed with the public key, the classic confusion attack.
            let hsInput = (try encode(["alg": "HS256", "typ": "at+jwt", "kid": key["kid"]!])) + "." + parts[1]
            let hsKey = SymmetricKey(data: Array(key["x"]!.utf8))
            let hs256 = hsInput + "." + Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Data(hsInput.utf8), using: hsKey)))
            let hsRaw = SymmetricKey(data: try #require(Base64URL.decode(key["x"]!)))
            let hs256Raw = hsInput + "." + Base64URL.encode(Array(HMAC<SHA256>.authenticationCode(for: Data(hsInput.utf8), using: hsRaw)))
            let cases: [(String, String)] = [
                ("tampered", tampered), ("alg none", none), ("unknown kid", unknownKid), ("HS256 with public key", hs256),
                ("HS256 with raw public key", hs256Raw), ("garbage", "abc.def"), ("truncated", parts[0] + "." + parts[1]),
            ]
            for (name, forged) in cases {
                let response = try await api.call(.get, "/v1/me", token: forged)
                #expect(response.status == .unauthorized, "\(name)")
            }
            let reasons = try await api.audit(action: "authz.decision").compactMap { $0.details["reason"] }
            for reason in ["token_bad_signature", "token_unsupported_header", "token_malformed"] {
                #expect(reasons.contains(reason), "\(reason) audited")
            }
            // Tokens in URLs are refused outright, even valid ones.
            let inURL = try await api.call(.get, "/v1/me?access_token=" + token)
            #expect(inURL.status == .badRequest)
            #expect(inURL.problemType == "token-in-url")
            let basic = try await api.call(.get, "/v1/me", headers: [.authorization: "Basic " + token])
            #expect(basic.status == .unauthorized)
            // Expired: the clock passes the 10-minute lifetime.
            clock.advance(by: 601)
            #expect(try await api.call(.get, "/v1/me", token: token).status == .unauthorized)
            #expect(try await api.audit(action: "authz.decision").contains { $0.details["reason"] == "token_expired" })
        }
    }

    @Test("users cannot read or revoke each other's sessions; revoking my own ends them at once", arguments: DatabaseKind.available)
    func sessions(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let alice = try await api.invited("alice@example.com", role: .owner, by: boss)
            let bob = try await api.invited("bob@example.com", role: .consumer, by: alice)
            let aliceLaptop = try await api.call(.post, "/v1/auth/login", json: ["email": alice.email, "password": alice.password], headers: [.userAgent: "laptop/1.0"])
            let alicePhone = try await api.accessToken(alice)
            let laptopToken = try #require(aliceLaptop["access_token"])
            let listed = try await api.call(.get, "/v1/me/sessions", token: alicePhone)
            let sessions = try #require(listed.json["sessions"] as? [[String: Any]])
            #expect(sessions.count >= 3)
            let laptop = try #require(sessions.first { $0["user_agent"] as? String == "laptop/1.0" })
            #expect(laptop["ip"] as? String == "127.0.0.1")
            #expect(laptop["created_at"] != nil && laptop["last_used_at"] != nil)
            #expect(sessions.filter { $0["current"] as? Bool == true }.count == 1)
            let laptopID = try #require(laptop["id"] as? String)

            // Bob cannot see or revoke Alice's sessions.
            let bobToken = try await api.accessToken(bob)
            let bobList = try await api.call(.get, "/v1/me/sessions", token: bobToken)
            #expect(!(bobList.text.contains(laptopID)))
            let bobRevokes = try await api.call(.delete, "/v1/me/sessions/\(laptopID)", token: bobToken)
            #expect(bobRevokes.status == .notFound)
            #expect(try await api.call(.get, "/v1/me", token: laptopToken).status == .ok)
            #expect(try await api.audit(action: "session.revoke").contains { $0.outcome == "denied" })

            // Alice revokes the laptop; its token dies at once.
            #expect(try await api.call(.delete, "/v1/me/sessions/\(laptopID)", token: alicePhone).status == .noContent)
            #expect(try await api.call(.get, "/v1/me", token: laptopToken).status == .unauthorized)
            // Revoke all but current.
            let another = try await api.accessToken(alice)
            #expect(try await api.call(.delete, "/v1/me/sessions", token: alicePhone).status == .noContent)
            #expect(try await api.call(.get, "/v1/me", token: another).status == .unauthorized)
            #expect(try await api.call(.get, "/v1/me", token: alicePhone).status == .ok)
        }
    }

    @Test("TOTP: a code works once; recovery codes work once; disabling needs password and code", arguments: DatabaseKind.available)
    func totpReplay(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let secret = try #require(boss.totpSecret)
            clock.advance(by: 30)
            let code = api.code(secret)
            let first = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
            #expect(try await api.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": first["mfa_token"]!, "code": code]).status == .ok)
            let second = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
            let replay = try await api.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": second["mfa_token"]!, "code": code])
            #expect(replay.status == .unauthorized, "the same code twice is a replay")
            #expect(try await api.audit(action: "mfa.replay").count == 1)
            // A recovery code works exactly once.
            let recovery = boss.recoveryCodes[0]
            let third = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
            let byRecovery = try await api.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": third["mfa_token"]!, "code": recovery])
            #expect(byRecovery.status == .ok)
            let fourth = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
            #expect(try await api.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": fourth["mfa_token"]!, "code": recovery]).status == .unauthorized)
            // Disabling: wrong password refused, wrong code refused, both right works.
            let token = try #require(byRecovery["access_token"])
            clock.advance(by: 30)
            let badPassword = try await api.call(.post, "/v1/me/mfa/totp/disable", token: token, json: ["password": "nope", "code": api.code(secret)])
            #expect(badPassword.status == .unauthorized)
            let badCode = try await api.call(.post, "/v1/me/mfa/totp/disable", token: token, json: ["password": boss.password, "code": "123456"])
            #expect(badCode.status == .unauthorized)
            let disabled = try await api.call(.post, "/v1/me/mfa/totp/disable", token: token, json: ["password": boss.password, "code": api.code(secret, offset: 1)])
            #expect(disabled.status == .noContent)
            #expect(try await api.audit(action: "mfa.disable").contains { $0.outcome == "success" })
            // Back to enrollment-only for a super admin.
            let fresh = try await api.accessToken(boss)
            #expect(try await api.call(.get, "/v1/admin/users", token: fresh).problemType == "mfa-enrollment-required")
        }
    }

    @Test("step-up: sensitive operations need a recent sign-in", arguments: DatabaseKind.available)
    func stepUp(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: { IdentityClient.configure(&$0); $0.citadel.accessTokenLifetime = 900 }, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let owner = try await api.invited("owner@example.com", role: .owner, by: boss)
            let token = try await api.accessToken(boss)
            let ownerToken = try await api.accessToken(owner)
            clock.advance(by: 6 * 60)
            let invite = try await api.call(.post, "/v1/invitations", token: token, json: ["email": "n@example.com", "role": "owner"])
            #expect(invite.status == .unauthorized)
            #expect(invite.problemType == "step-up-required")
            #expect(invite.headers[.wwwAuthenticate]?.contains("insufficient_user_authentication") == true)
            let role = try await api.call(.put, "/v1/admin/users/\(owner.id)/role", token: token, json: ["role": "consumer"])
            #expect(role.problemType == "step-up-required")
            #expect(try await api.call(.delete, "/v1/me", token: ownerToken).problemType == "step-up-required")
            #expect(try await api.call(.get, "/v1/me", token: token).status == .ok, "ordinary routes still work")
            // A fresh sign-in (with MFA) passes.
            let fresh = try await api.accessToken(boss)
            let changed = try await api.call(.put, "/v1/admin/users/\(owner.id)/role", token: fresh, json: ["role": "consumer"])
            #expect(changed.status == .ok && changed["role"] == "consumer")
            #expect(try await api.audit(action: "account.role_change").contains { $0.details["from"] == "owner" && $0.details["to"] == "consumer" })
            // The role change applies to the owner's existing token at once.
            let ownerInvite = try await api.call(.post, "/v1/invitations", token: try await api.accessToken(owner), json: ["email": "z@example.com", "role": "consumer"])
            #expect(ownerInvite.status == .forbidden)
        }
    }

    @Test("account: password change revokes other sessions; deletion; the last super admin stays", arguments: DatabaseKind.available)
    func accountChanges(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let owner = try await api.invited("owner@example.com", role: .owner, by: boss)
            let other = try await api.accessToken(owner)
            let current = try await api.accessToken(owner)
            let wrong = try await api.call(.post, "/v1/me/password", token: current, json: ["current_password": "wrong", "new_password": "Another-Strong-Passphrase-42"])
            #expect(wrong.status == .forbidden)
            let weak = try await api.call(.post, "/v1/me/password", token: current, json: ["current_password": owner.password, "new_password": "owner-is-my-name-1A"])
            #expect(weak.status == .unprocessableContent)
            #expect((weak.json["errors"] as? [String])?.contains("contains_email") == true)
            let changed = try await api.call(.post, "/v1/me/password", token: current, json: ["current_password": owner.password, "new_password": "Another-Strong-Passphrase-42"])
            #expect(changed.status == .noContent)
            #expect(try await api.call(.get, "/v1/me", token: other).status == .unauthorized)
            #expect(try await api.call(.get, "/v1/me", token: current).status == .ok)
            #expect(try await api.signIn(owner).status == .unauthorized)
            let renamed = Person(id: owner.id, email: owner.email, password: "Another-Strong-Passphrase-42")
            #expect(try await api.call(.delete, "/v1/me", token: try await api.accessToken(renamed)).status == .noContent)
            #expect(try await api.signIn(renamed).status == .unauthorized)
            #expect(try await api.audit(action: "account.delete").count == 1)
            // The only super admin can neither delete, disable nor demote itself.
            let bossToken = try await api.accessToken(boss)
            #expect(try await api.call(.delete, "/v1/me", token: bossToken).status == .conflict)
            #expect(try await api.call(.post, "/v1/admin/users/\(boss.id)/disable", token: bossToken).status == .conflict)
            #expect(try await api.call(.put, "/v1/admin/users/\(boss.id)/role", token: bossToken, json: ["role": "owner"]).status == .conflict)
            // Disabling ends the target's sessions.
            let victim = try await api.invited("v@example.com", role: .owner, by: boss)
            let victimToken = try await api.accessToken(victim)
            #expect(try await api.call(.post, "/v1/admin/users/\(victim.id)/disable", token: bossToken).status == .ok)
            #expect(try await api.call(.get, "/v1/me", token: victimToken).status == .unauthorized)
            #expect(try await api.signIn(victim).status == .unauthorized)
            #expect(try await api.call(.post, "/v1/admin/users/\(victim.id)/enable", token: bossToken).status == .ok)
            #expect(try await api.signIn(victim).status == .ok)
            // Promotion past the super admin limit is refused.
            for index in 2...3 { _ = try await api.superAdmin(email: "root\(index)@example.com") }
            let promote = try await api.call(.put, "/v1/admin/users/\(victim.id)/role", token: try await api.accessToken(boss), json: ["role": "super_admin"])
            #expect(promote.status == .conflict)
            let listed = try await api.call(.get, "/v1/admin/users?limit=2", token: try await api.accessToken(boss))
            #expect((listed.json["users"] as? [[String: Any]])?.count == 2 && listed["next"] != nil)
        }
    }
}
