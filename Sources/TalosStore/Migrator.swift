public import Logging
import SQLKit
import TalosCore

/// Applies ``Migration/all`` in order, each in its own transaction together
/// with its row in `talos_migrations`, under a lock so concurrent starters
/// (several servers, a worker and `talos migrate`) apply each step once.
public struct Migrator: Sendable {
    public let database: TalosDatabase
    public let migrations: [Migration]
    let logger: Logger

    public init(database: TalosDatabase, logger: Logger, migrations: [Migration] = Migration.all) {
        self.database = database
        self.logger = logger
        self.migrations = migrations
    }

    /// The newest version this build knows.
    public var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Applied versions, ascending; empty on a new database.
    public func appliedVersions() async throws -> [Int] {
        try await ensureLedgerTable()
        return try await database.sql.raw("SELECT version FROM talos_migrations ORDER BY version")
            .all()
            .map { try $0.decode(column: "version", as: Int.self) }
    }

    /// True when every known migration is applied and none unknown is.
    ///
    /// Only reads, so a role that may not create tables (a worker's) can ask;
    /// a database without the ledger table is not current.
    public func isCurrent() async throws -> Bool {
        let applied: [Int]
        do {
            applied = try await database.sql.raw("SELECT version FROM talos_migrations ORDER BY version").all()
                .map { try $0.decode(column: "version", as: Int.self) }
        } catch {
            return false
        }
        return applied == migrations.map(\.version)
    }

    /// Applies what is missing; returns the versions applied by this call.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await ensureLedgerTable()
        var applied: [Int] = []
        for migration in migrations {
            let didApply = try await database.transaction { [dialect = database.dialect, latest = latestVersion] sql in
                if dialect == .postgres {
                    try await sql.raw("SELECT pg_advisory_xact_lock(\(unsafeRaw: String(Self.lockKey)))").run()
                }
                let done = try await sql.raw("SELECT version FROM talos_migrations ORDER BY version")
                    .all().map { try $0.decode(column: "version", as: Int.self) }
                if let newest = done.last, newest > latest {
                    throw StoreError.migrationFromTheFuture(applied: newest, known: latest)
                }
                guard !done.contains(migration.version) else { return false }
                for statement in migration.statements(dialect) {
                    try await sql.raw(SQLQueryString(statement)).run()
                }
                try await sql.insert(into: "talos_migrations")
                    .columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(Timestamp.now()))
                    .run()
                return true
            }
            if didApply {
                logger.info("migration applied", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        return applied
    }

    /// Creates the version table under the same lock as the migrations, so
    /// two processes starting on a new PostgreSQL do not race on it.
    private func ensureLedgerTable() async throws {
        try await database.transaction { [dialect = database.dialect] sql in
            if dialect == .postgres {
                try await sql.raw("SELECT pg_advisory_xact_lock(\(unsafeRaw: String(Self.lockKey)))").run()
            }
            try await sql.raw(
                """
                CREATE TABLE IF NOT EXISTS talos_migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TEXT NOT NULL
                )
                """
            ).run()
        }
    }

    /// The PostgreSQL advisory lock key that serializes schema changes.
    static let lockKey: Int64 = 0x7461_6c6f_7301
}
