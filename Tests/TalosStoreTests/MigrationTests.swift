import SQLKit
import TalosCore
import TalosStore
import TalosTestSupport
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test("apply from empty, are recorded, and are idempotent", arguments: DatabaseKind.available)
    func fromEmpty(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let migrator = Migrator(database: test.database, logger: TestDatabase.logger)
            #expect(try await migrator.appliedVersions().isEmpty)
            #expect(try await !migrator.isCurrent())
            let applied = try await migrator.migrate()
            #expect(applied == Migration.all.map(\.version))
            #expect(try await migrator.isCurrent())
            #expect(try await migrator.migrate().isEmpty)
            let rows = try await test.database.sql.raw("SELECT version, name FROM talos_migrations").all()
            #expect(rows.count == Migration.all.count)
        }
    }

    @Test("concurrent migrators apply each step exactly once", arguments: DatabaseKind.available)
    func concurrent(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let other = try test.openAnotherPool()
            let first = Migrator(database: test.database, logger: TestDatabase.logger)
            let second = Migrator(database: other, logger: TestDatabase.logger)
            async let a = first.migrate()
            async let b = second.migrate()
            let (appliedA, appliedB) = try await (a, b)
            try await other.close()
            #expect((appliedA + appliedB).sorted() == Migration.all.map(\.version))
        }
    }

    @Test("a database from a newer build is refused", arguments: DatabaseKind.available)
    func fromTheFuture(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let migrator = Migrator(database: test.database, logger: TestDatabase.logger)
            try await migrator.migrate()
            try await test.database.sql.raw(
                "INSERT INTO talos_migrations (version, name, applied_at) VALUES (9999, 'future', 'x')"
            ).run()
            let error = await #expect(throws: StoreError.self) { try await migrator.migrate() }
            #expect(error?.reason.contains("upgrade Talos") == true)
        }
    }
}

@Suite("Database URLs")
struct DatabaseURLTests {
    @Test("a password in the URL is refused")
    func passwordInURL() {
        let error = #expect(throws: StoreError.self) {
            try PostgresSettings(url: "postgres://talos:hunter2@db.example:5432/talos", password: nil)
        }
        #expect(error?.reason.contains("database_password") == true)
        #expect(error?.reason.contains("hunter2") == false)
    }

    @Test("loopback defaults to plain, remote hosts to verified TLS")
    func tlsDefaults() throws {
        #expect(try PostgresSettings(url: "postgres://talos@127.0.0.1:5432/talos", password: nil).tls == .disable)
        #expect(try PostgresSettings(url: "postgres://talos@db.example/talos", password: nil).tls == .verifyFull)
        #expect(throws: StoreError.self) {
            try PostgresSettings(url: "postgres://talos@db.example/talos?sslmode=disable", password: nil)
        }
        #expect(
            try PostgresSettings(url: "postgres://talos@db.example/talos?sslmode=disable", password: nil, allowInsecureRemote: true)
                .tls == .disable
        )
        #expect(throws: StoreError.self) {
            try PostgresSettings(url: "postgres://talos@db.example/talos?sslmode=prefer", password: nil)
        }
    }

    @Test("parses user, host, IPv6 host, port and database", arguments: [
        ("postgres://talos@127.0.0.1:6543/app", "talos", "127.0.0.1", 6543, "app"),
        ("postgresql://ta%40los@[::1]:5433/app?sslmode=disable", "ta@los", "::1", 5433, "app"),
        ("postgres://talos@localhost/app", "talos", "localhost", 5432, "app"),
    ])
    func parses(_ url: String, _ user: String, _ host: String, _ port: Int, _ database: String) throws {
        let settings = try PostgresSettings(url: url, password: nil)
        #expect(settings.username == user)
        #expect(settings.host == host)
        #expect(settings.port == port)
        #expect(settings.database == database)
    }

    @Test("malformed URLs are refused", arguments: ["mysql://a@b/c", "postgres://host/db", "postgres://a@b", "postgres://a@b:x/c"])
    func malformed(_ url: String) {
        #expect(throws: StoreError.self) { try PostgresSettings(url: url, password: nil) }
    }
}
