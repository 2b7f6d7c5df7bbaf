import Citadel
import Foundation
import SQLKit
import HTTPTypes
import TalosCore
import TalosServer
import TalosStore
import TalosTestSupport
import Testing

/// The outside review's identity findings, each tried as an attacker would.
@Suite("Identity hardening")
struct IdentityHardeningTests {
    @Test("MFA: right password then wrong code, over and over, locks the account", arguments: DatabaseKind.available)
    func mfaGuessingLocks(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let secret = try #require(boss.totpSecret)
            // Guess codes, each time with a fresh MFA token from the right password.
            for _ in 0..<5 {
                let password = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
                #expect(password.json["mfa_required"] as? Bool == true, "the password step still answers while unlocked")
                let wrong = api.code(secret) == "000000" ? "000001" : "000000"
                let answer = try await api.call(.post, "/v1/auth/login/mfa", json: ["mfa_token": try #require(password["mfa_token"]), "code": wrong])
                #expect(answer.status == .unauthorized)
            }
            #expect(try await api.audit(action: "account.lock").count == 1, "five wrong second factors lock like five wrong passwords")
            // Locked: the right password and the right code no longer sign in.
            clock.advance(by: 30)
            let locked = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
            #expect(locked.status == .unauthorized)
            #expect(locked.json["mfa_token"] == nil)
            #expect(try await api.audit(action: "auth.login").contains { $0.details["reason"] == "locked" && $0.outcome == "denied" })
            // After the lock expires, a whole sign-in works and resets the counters.
            clock.advance(by: 15 * 60 + 1)
            #expect(try await api.signIn(boss).status == .ok)
            let bossID = try #require(UUID(uuidString: boss.id))
            let stored = try await SQLAccountRepository(database: server.runtime.database).credentials(id: bossID)
            let credentials = try #require(stored)
            #expect(credentials.failedLogins == 0 && credentials.lockCount == 0)
        }
    }

    @Test("an unknown address is refused as a wrong password is: same answer, same writes, no lock", arguments: DatabaseKind.available)
    func unknownAddressWritesAlike(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind, configure: IdentityClient.configure) { server in
            let api = IdentityClient(server: server, clock: TestClock())
            let boss = try await api.superAdmin()
            let sql = server.runtime.database.sql
            func decoys() async throws -> [Int: Int] {
                var counts: [Int: Int] = [:]
                for row in try await sql.raw("SELECT id, failed_logins, lock_count, locked_until FROM sign_in_decoy").all() {
                    #expect(try row.decode(column: "lock_count", as: Int.self) == 0 && row.decode(column: "locked_until", as: String?.self) == nil)
                    counts[try row.decode(column: "id", as: Int.self)] = try row.decode(column: "failed_logins", as: Int.self)
                }
                return counts
            }
            let real = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": "Wrong-guess-0-Aa1!"])
            // More attempts than the lock threshold: each one writes one decoy
            // row, which never locks, as a real account below its lock would not.
            var before = try await decoys()
            #expect(before.count == 64)
            for attempt in 1...12 {
                let unknown = try await api.call(.post, "/v1/auth/login", json: ["email": "nobody-\(attempt)@example.com", "password": "Wrong-guess-0-Aa1!"])
                #expect(unknown.status == real.status && unknown["type"] == real["type"] && unknown["detail"] == real["detail"])
                let after = try await decoys()
                let changed = after.filter { before[$0.key] != $0.value }
                #expect(changed.count == 1 && changed.allSatisfy { $0.value == ((before[$0.key] ?? 0) + 1) % 5 }, "attempt \(attempt) counted once")
                before = after
            }
            #expect(try await api.audit(action: "auth.login").filter { $0.details["reason"] == "unknown_email" }.count == 12)
            #expect(try await api.audit(action: "account.lock").isEmpty)
        }
    }

    @Test("a half sign-in does not reset the counter: wrong passwords between right ones still lock", arguments: [DatabaseKind.sqlite])
    func halfSignInKeepsCount(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            // password right (MFA pending, abandoned), password wrong, … five wrong in all.
            for round in 0..<5 {
                let right = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": boss.password])
                #expect(right.json["mfa_required"] as? Bool == true)
                let wrong = try await api.call(.post, "/v1/auth/login", json: ["email": boss.email, "password": "Wrong-guess-\(round)-Aa1!"])
                #expect(wrong.status == .unauthorized)
            }
            #expect(try await api.audit(action: "account.lock").count == 1)
        }
    }

    @Test("parallel guesses cannot outrun the lock: at most five passwords are checked", arguments: DatabaseKind.available)
    func parallelGuesses(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: { IdentityClient.configure(&$0); $0.citadel.hashingConcurrency = 64 }, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let victim = try await api.invited("victim@example.com", role: .owner, by: boss)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for guess in 0..<30 {
                    group.addTask {
                        try await api.call(.post, "/v1/auth/login", json: ["email": victim.email, "password": "Parallel-guess-\(guess)-Aa1!"]).status
                    }
                }
                var all: [HTTPResponse.Status] = []
                for try await status in group { all.append(status) }
                return all
            }
            #expect(statuses.allSatisfy { $0 == .unauthorized || $0 == .serviceUnavailable })
            let checked = try await api.audit(action: "auth.login").filter { $0.details["reason"] == "bad_password" && $0.target == victim.id }
            #expect(checked.count <= 5, "only the attempts counted before the lock reach the hash: \(checked.count)")
            #expect(try await api.audit(action: "account.lock").filter { $0.target == victim.id }.count >= 1)
            #expect(try await api.signIn(victim).status == .unauthorized, "locked: the right password is refused")
        }
    }

    @Test("a sign-in turned away by load (503) is no strike: floods cannot lock real users out", arguments: [DatabaseKind.sqlite])
    func overloadIsNoStrike(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind,
            configure: {
                IdentityClient.configure(&$0)
                $0.citadel.hashingConcurrency = 1
                $0.citadel.hashingMaximumWait = .milliseconds(1)
            },
            clock: clock
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let victim = try await api.invited("victim@example.com", role: .owner, by: boss)
            // Someone keeps the hashing gate busy with sign-ins for unknown emails.
            let flood = Task {
                for index in 0..<400 where !Task.isCancelled {
                    _ = try? await api.call(.post, "/v1/auth/login", json: ["email": "nobody\(index)@example.com", "password": "Flood-\(index)-Aa1!"])
                }
            }
            let floods = (0..<4).map { _ in
                Task {
                    for index in 0..<400 where !Task.isCancelled {
                        _ = try? await api.call(.post, "/v1/auth/login", json: ["email": "x\(index)@example.com", "password": "Flood-\(index)-Aa1!"])
                    }
                }
            }
            var turnedAway = 0
            for _ in 0..<40 where turnedAway < 6 {
                let answer = try await api.call(.post, "/v1/auth/login", json: ["email": victim.email, "password": victim.password])
                if answer.status == .serviceUnavailable { turnedAway += 1 }
            }
            flood.cancel()
            floods.forEach { $0.cancel() }
            _ = await flood.result
            for task in floods { _ = await task.result }
            try #require(turnedAway >= 5, "the flood must turn the victim away at least five times: \(turnedAway)")
            let bossID = try #require(UUID(uuidString: victim.id))
            let stored = try await SQLAccountRepository(database: server.runtime.database).credentials(id: bossID)
            #expect(stored?.lockedUntil == nil, "no lock from load")
            // Once the flood's last requests are through, the victim signs in.
            var after = try await api.signIn(victim)
            for _ in 0..<200 where after.status == .serviceUnavailable {
                try await Task.sleep(for: .milliseconds(50))
                after = try await api.signIn(victim)
            }
            #expect(after.status == .ok, "the victim still signs in: \(after.text)")
        }
    }

    @Test("password change: step-up, strict rate limit, counted toward the lock, refused while locked", arguments: DatabaseKind.available)
    func passwordChangeOracle(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: { IdentityClient.configure(&$0); $0.citadel.accessTokenLifetime = 900 }, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let owner = try await api.invited("owner@example.com", role: .owner, by: boss)
            let stolen = try await api.accessToken(owner)
            // An old token (a thief's) must step up first.
            clock.advance(by: 6 * 60)
            let stale = try await api.call(.post, "/v1/me/password", token: stolen, json: ["current_password": "guess", "new_password": "Another-Strong-Passphrase-42"])
            #expect(stale.problemType == "step-up-required")
            // A fresh token: guesses count toward the lock.
            let fresh = try await api.accessToken(owner)
            for guess in 0..<5 {
                let wrong = try await api.call(.post, "/v1/me/password", token: fresh, json: ["current_password": "Guess-\(guess)-Aa1!", "new_password": "Another-Strong-Passphrase-42"])
                #expect(wrong.status == .forbidden)
            }
            #expect(try await api.audit(action: "account.lock").filter { $0.target == owner.id }.count == 1)
            // Locked: even the right current password is refused, and sign-in too.
            let right = try await api.call(.post, "/v1/me/password", token: fresh, json: ["current_password": owner.password, "new_password": "Another-Strong-Passphrase-42"])
            #expect(right.status.code == 423 && right.problemType == "account-locked", "\(right.text)")
            #expect(try await api.audit(action: "account.password_change").contains { $0.details["reason"] == "locked" && $0.outcome == "denied" })
            #expect(try await api.signIn(owner).status == .unauthorized)
        }
    }

    @Test("password and MFA routes share the strict auth bucket", arguments: [DatabaseKind.sqlite])
    func passwordRouteRateLimited(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind, configure: { IdentityClient.configure(&$0); $0.rateLimits[.auth] = .init(burst: 2, perMinute: 1) }, clock: clock,
            rateLimitClock: TestServer.stoppedClock()
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            var statuses: [HTTPResponse.Status] = []
            for path in ["/v1/me/password", "/v1/me/mfa/totp/disable", "/v1/me/password"] {
                statuses.append(try await api.call(.post, path, token: "not-a-token", json: ["current_password": "x", "new_password": "y"]).status)
            }
            #expect(statuses.last == .tooManyRequests, "\(statuses)")
        }
    }

    @Test("only the original inviter or a super admin can re-issue a pending invitation", arguments: DatabaseKind.available)
    func reinvite(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(kind, configure: IdentityClient.configure, clock: clock) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let alice = try await api.invited("alice@example.com", role: .owner, by: boss)
            let mallory = try await api.invited("mallory@example.com", role: .owner, by: boss)
            let first = try await api.call(.post, "/v1/invitations", token: try await api.accessToken(alice), json: ["email": "c@example.com", "role": "consumer"])
            #expect(first.status == .created)
            // Another owner's re-issue looks the same but voids nothing.
            let hijack = try await api.call(.post, "/v1/invitations", token: try await api.accessToken(mallory), json: ["email": "c@example.com", "role": "consumer"])
            #expect(hijack.status == .created && hijack.json.keys.sorted() == first.json.keys.sorted())
            #expect(try await api.audit(action: "invitation.create").contains { $0.details["reason"] == "invited_by_another" && $0.outcome == "denied" })
            let stolen = try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": try #require(hijack["token"]), "password": IdentityClient.strongPassword])
            #expect(stolen.status == .unauthorized, "the decoy opens nothing")
            // The inviter re-issues: the first token dies, the new one works.
            let again = try await api.call(.post, "/v1/invitations", token: try await api.accessToken(alice), json: ["email": "c@example.com", "role": "consumer"])
            #expect(try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": try #require(first["token"]), "password": IdentityClient.strongPassword]).status == .unauthorized)
            #expect(try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": try #require(again["token"]), "password": IdentityClient.strongPassword]).status == .ok)
            // A super admin may re-issue an owner's invitation that another super admin made.
            let second = try await api.superAdmin(email: "second@example.com")
            let pending = try await api.call(.post, "/v1/invitations", token: try await api.accessToken(boss), json: ["email": "o@example.com", "role": "owner"])
            let reissued = try await api.call(.post, "/v1/invitations", token: try await api.accessToken(second), json: ["email": "o@example.com", "role": "owner"])
            #expect(try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": try #require(pending["token"]), "password": IdentityClient.strongPassword]).status == .unauthorized)
            #expect(try await api.call(.post, "/v1/auth/accept-invitation", json: ["token": try #require(reissued["token"]), "password": IdentityClient.strongPassword]).status == .ok)
        }
    }

    @Test("two concurrent removals of the last two super admins: exactly one succeeds", arguments: DatabaseKind.available)
    func lastSuperAdminIsAtomic(_ kind: DatabaseKind) async throws {
        try await TestServer.run(kind, configure: IdentityClient.configure) { server in
            let store = SQLAccountRepository(database: server.runtime.database)
            let api = IdentityClient(server: server, clock: TestClock())
            for round in 0..<3 {
                let first = try await api.superAdmin(email: "a\(round)@example.com")
                let second = try await api.superAdmin(email: "b\(round)@example.com")
                let ids = try [first.id, second.id].map { try #require(UUID(uuidString: $0)) }
                let now = Timestamp.string(from: Date())
                async let one: Bool = Self.succeeds { try await store.setStatus(accountID: ids[0], status: .disabled, now: now) }
                async let two: Bool = Self.succeeds {
                    if round == 1 {
                        try await store.setRole(accountID: ids[1], role: .owner, maximumOfRole: nil, now: now)
                    } else {
                        try await store.deleteAccount(id: ids[1])
                    }
                }
                let outcomes = await [one, two]
                #expect(outcomes.filter { $0 }.count == 1, "round \(round): \(outcomes)")
                #expect(try await store.countActive(role: .superAdmin) == 1, "one active super admin always stays")
                // Clear the pair for the next round, past the rule (test-only SQL).
                try await server.runtime.database.sql.raw("DELETE FROM accounts WHERE role = 'super_admin'").run()
            }
        }
    }

    static func succeeds(_ body: () async throws -> Void) async -> Bool {
        do {
            try await body()
            return true
        } catch {
            return false
        }
    }

    @Test("per-principal buckets: one account cannot spread its traffic over many addresses", arguments: [DatabaseKind.sqlite])
    func principalBuckets(_ kind: DatabaseKind) async throws {
        let clock = TestClock()
        try await TestServer.run(
            kind,
            configure: {
                IdentityClient.configure(&$0)
                $0.trustedProxies = ["127.0.0.1"]
                $0.rateLimits[.api] = .init(burst: 5, perMinute: 1)
            },
            clock: clock, rateLimitClock: TestServer.stoppedClock()
        ) { server in
            let api = IdentityClient(server: server, clock: clock)
            let boss = try await api.superAdmin()
            let token = try await api.accessToken(boss)
            var statuses: [HTTPResponse.Status] = []
            for index in 0..<8 {
                // Each request from another address: the client buckets never empty.
                let forwarded: HTTPFields = [HTTPField.Name("X-Forwarded-For")!: "198.51.100.\(index + 1)"]
                statuses.append(try await api.call(.get, "/v1/me", token: token, headers: forwarded).status)
            }
            #expect(statuses.contains(.tooManyRequests), "\(statuses)")
            await server.runtime.flushAggregatedAudit()
            #expect(try await api.audit(action: "ratelimit.refused").contains { $0.target == "api principal" && $0.actor == boss.id })
        }
    }
}
