import Citadel
import Crypto
import Foundation
import Ledger
import SQLKit
import TalosCore
import TalosStore
import TalosTestSupport
import Testing

@Suite("Super admin bootstrap")
struct SuperAdminBootstrapTests {
    struct Fixture {
        let test: TestDatabase
        let bootstrap: SuperAdminBootstrap
        let accounts: SQLAccountRepository

        init(_ test: TestDatabase, maximum: Int = 3) async throws {
            try await Migrator(database: test.database, logger: TestDatabase.logger).migrate()
            let audit = AuditLog(
                repository: SQLAuditRepository(database: test.database), node: "test",
                signer: CheckpointSigner(key: Curve25519.Signing.PrivateKey()), sink: nil, logger: TestDatabase.logger
            )
            self.test = test
            self.accounts = SQLAccountRepository(database: test.database)
            self.bootstrap = SuperAdminBootstrap(accounts: accounts, audit: audit, maximumSuperAdmins: maximum)
        }

        func audit(_ action: String) async throws -> [AuditRecord] {
            try await SQLAuditRepository(database: test.database).records(afterSeq: 0, limit: 1000).filter { $0.action == action }
        }
    }

    @Test("creates a pending super admin with a hashed, 24-hour token", arguments: DatabaseKind.available)
    func creates(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await Fixture(test)
            let now = Date()
            let created = try await fixture.bootstrap.create(email: "  Root@Example.COM ", now: now)
            #expect(created.account.email.value == "root@example.com")
            #expect(created.account.role == .superAdmin)
            #expect(created.account.status == .pending)
            let token = created.enrollmentToken.unsafeValue
            #expect(token.utf8.count == 43, "256 bits, base64url without padding")
            #expect(try await fixture.accounts.account(email: EmailAddress("root@example.com")!) == created.account)

            let rows = try await test.database.sql.raw("SELECT * FROM one_time_tokens").all()
            #expect(rows.count == 1)
            let storedHash = try rows[0].decode(column: "token_hash", as: String.self)
            #expect(storedHash == OneTimeTokens.hash(token))
            #expect(storedHash != token)
            let expires = try #require(Timestamp.parse(try rows[0].decode(column: "expires_at", as: String.self)))
            #expect(abs(expires.timeIntervalSince(now) - 24 * 3600) < 1)
            #expect(try rows[0].decode(column: "purpose", as: String.self) == "enrollment")

            let records = try await fixture.audit("account.create_super_admin")
            #expect(records.count == 1)
            #expect(records[0].outcome == "success")
            #expect(records[0].target == created.account.id.uuidString.lowercased())
            let everything = try await SQLAuditRepository(database: test.database).records(afterSeq: 0, limit: 100)
            #expect(!everything.contains { "\($0)".contains(token) }, "the token never reaches the audit trail")
        }
    }

    @Test("a fourth super admin is refused, and so is a duplicate email", arguments: DatabaseKind.available)
    func limits(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await Fixture(test)
            for index in 1...3 { _ = try await fixture.bootstrap.create(email: "admin\(index)@example.com") }
            await #expect(throws: IdentityError.roleLimitReached) {
                _ = try await fixture.bootstrap.create(email: "admin4@example.com")
            }
            await #expect(throws: IdentityError.roleLimitReached) {
                _ = try await fixture.bootstrap.create(email: "admin1@example.com")
            }
            #expect(try await fixture.accounts.count(role: .superAdmin) == 3)
            let refusals = try await fixture.audit("account.create_super_admin").filter { $0.outcome == "denied" }
            #expect(refusals.count == 2)
            #expect(refusals.allSatisfy { $0.details["reason"] == "super_admin_limit" })
        }
    }

    @Test("a duplicate email is refused without revealing more", arguments: DatabaseKind.available)
    func duplicate(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await Fixture(test, maximum: 3)
            _ = try await fixture.bootstrap.create(email: "root@example.com")
            await #expect(throws: IdentityError.duplicateEmail) {
                _ = try await fixture.bootstrap.create(email: "ROOT@example.com")
            }
            #expect(try await fixture.audit("account.create_super_admin").last?.details["reason"] == "duplicate_email")
        }
    }

    @Test("concurrent creations cannot pass the limit", arguments: DatabaseKind.available)
    func concurrent(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await Fixture(test, maximum: 2)
            let other = try test.openAnotherPool()
            let secondBootstrap = SuperAdminBootstrap(
                accounts: SQLAccountRepository(database: other),
                audit: AuditLog(
                    repository: SQLAuditRepository(database: other), node: "other",
                    signer: CheckpointSigner(key: Curve25519.Signing.PrivateKey()), sink: nil, logger: TestDatabase.logger
                ),
                maximumSuperAdmins: 2
            )
            let successes = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<6 {
                    let bootstrap = index.isMultiple(of: 2) ? fixture.bootstrap : secondBootstrap
                    group.addTask { (try? await bootstrap.create(email: "racer\(index)@example.com")) != nil }
                }
                var count = 0
                for await success in group where success { count += 1 }
                return count
            }
            try await other.close()
            #expect(successes == 2)
            #expect(try await fixture.accounts.count(role: .superAdmin) == 2)
        }
    }

    @Test("malformed emails are refused", arguments: ["", "no-at-sign", "a@b", "a@@b.com", "a b@c.com", "a@b..com", "<a>@b.com", "a@.b.com"])
    func malformedEmail(_ text: String) async throws {
        #expect(EmailAddress(text) == nil)
        try await TestDatabase.with(.sqlite) { test in
            let fixture = try await Fixture(test)
            await #expect(throws: IdentityError.invalidEmail) { _ = try await fixture.bootstrap.create(email: text) }
        }
    }
}
