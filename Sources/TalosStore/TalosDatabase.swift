public import Logging
public import SQLKit
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import SQLiteKit
import TalosCore

/// The SQL dialects Talos speaks. Repositories share one SQL implementation and
/// branch on this only where the databases really differ (locking, triggers).
public enum DatabaseDialect: String, Sendable {
    case sqlite
    case postgres
}

/// An open database: a pooled ``SQLKit/SQLDatabase`` plus what it takes to close it.
public final class TalosDatabase: Sendable {
    public let dialect: DatabaseDialect
    public let sql: any SQLDatabase
    private let closePool: @Sendable () async throws -> Void
    /// SQLite only: serializes this process's write transactions on the file.
    private let writeGate: AsyncGate?

    private init(
        dialect: DatabaseDialect, sql: any SQLDatabase, writeGate: AsyncGate? = nil,
        close: @escaping @Sendable () async throws -> Void
    ) {
        self.dialect = dialect
        self.sql = sql
        self.writeGate = writeGate
        self.closePool = close
    }

    /// Opens a pool. Nothing is queried yet; call ``ping()`` to check reachability.
    public static func open(_ settings: DatabaseSettings, logger: Logger) throws -> TalosDatabase {
        let eventLoopGroup = MultiThreadedEventLoopGroup.singleton
        switch settings {
        case .sqlite(let path):
            // SQLite calls block a thread while they wait for the file lock;
            // a pool of our own keeps those waits from starving other work.
            let threads = NIOThreadPool(numberOfThreads: 8)
            threads.start()
            let pool = EventLoopGroupConnectionPool(
                source: HardenedSQLiteSource(path: path, threadPool: threads),
                maxConnectionsPerEventLoop: 2,
                requestTimeout: .seconds(30),
                logger: logger,
                on: eventLoopGroup
            )
            let box = PoolBox(pool)
            let database = PooledSQLiteDatabase(pool: box, logger: logger)
            return TalosDatabase(
                dialect: .sqlite,
                sql: database.sql(encoder: .init(), decoder: .init(), queryLogLevel: nil),
                writeGate: AsyncGate.forFile(path),
                close: {
                    try await box.pool.shutdownAsync()
                    try await threads.shutdownGracefully()
                }
            )
        case .postgres(let postgres):
            let tls: PostgresConnection.Configuration.TLS
            switch postgres.tls {
            case .disable:
                tls = .disable
            case .verifyFull:
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.minimumTLSVersion = .tlsv12
                configuration.certificateVerification = .fullVerification
                if let caFile = postgres.caFile {
                    configuration.trustRoots = .file(caFile)
                }
                tls = .require(try NIOSSLContext(configuration: configuration))
            }
            let configuration = SQLPostgresConfiguration(
                hostname: postgres.host, port: postgres.port, username: postgres.username,
                password: postgres.password?.unsafeValue, database: postgres.database, tls: tls
            )
            let pool = EventLoopGroupConnectionPool(
                source: PostgresConnectionSource(sqlConfiguration: configuration),
                maxConnectionsPerEventLoop: postgres.poolSizePerEventLoop,
                requestTimeout: .seconds(10),
                logger: logger,
                on: eventLoopGroup
            )
            let box = PoolBox(pool)
            return TalosDatabase(
                dialect: .postgres,
                sql: pool.database(logger: logger).sql(queryLogLevel: nil),
                close: { try await box.pool.shutdownAsync() }
            )
        }
    }

    /// Fails unless a trivial query round-trips.
    public func ping() async throws {
        _ = try await sql.raw("SELECT 1 AS one").first()
    }

    /// Runs `body` inside one transaction on one connection.
    ///
    /// On SQLite, this process's transactions queue on an ``AsyncGate`` and
    /// then take the file's write lock up front (`BEGIN IMMEDIATE`), so writers
    /// from other processes wait on the busy timeout instead of failing half way.
    public func transaction<T: Sendable>(
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        guard let writeGate else { return try await run(begin: "BEGIN", body) }
        return try await writeGate.withLock { try await self.run(begin: "BEGIN IMMEDIATE", body) }
    }

    private func run<T: Sendable>(
        begin: String, _ body: @escaping @Sendable (any SQLDatabase) async throws -> T
    ) async throws -> T {
        try await sql.withSession { session in
            try await session.raw(SQLQueryString(begin)).run()
            do {
                let value = try await body(session)
                try await session.raw("COMMIT").run()
                return value
            } catch {
                try? await session.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    public func close() async throws {
        try await closePool()
    }
}

/// Opens SQLite connections with the settings Talos relies on: WAL, a busy
/// timeout instead of immediate `SQLITE_BUSY`, foreign keys, full fsync.
struct HardenedSQLiteSource: ConnectionPoolSource {
    let path: String
    let threadPool: NIOThreadPool

    func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<SQLiteConnection> {
        SQLiteConnection.open(storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
            .flatMap { connection in
                let pragmas = [
                    "PRAGMA busy_timeout = 10000",
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = FULL",
                    "PRAGMA foreign_keys = ON",
                    "PRAGMA secure_delete = ON",
                ]
                var future = eventLoop.makeSucceededVoidFuture()
                for pragma in pragmas {
                    future = future.flatMap { connection.query(pragma).map { _ in () } }
                }
                return future.map { connection }.flatMapError { error in
                    connection.close().flatMapThrowing { throw error }
                }
            }
    }
}

/// An ``SQLiteDatabase`` that takes a pooled connection per query.
struct PooledSQLiteDatabase: SQLiteDatabase {
    let box: PoolBox<HardenedSQLiteSource>
    let logger: Logger

    init(pool: PoolBox<HardenedSQLiteSource>, logger: Logger) {
        self.box = pool
        self.logger = logger
    }

    var pool: EventLoopGroupConnectionPool<HardenedSQLiteSource> { box.pool }

    var eventLoop: any EventLoop { pool.eventLoopGroup.any() }

    func query(
        _ query: String,
        _ binds: [SQLiteData],
        logger: Logger,
        _ onRow: @escaping @Sendable (SQLiteRow) -> Void
    ) -> EventLoopFuture<Void> {
        pool.withConnection(logger: logger) { $0.query(query, binds, logger: logger, onRow) }
    }

    func withConnection<T>(
        _ closure: @escaping @Sendable (SQLiteConnection) -> EventLoopFuture<T>
    ) -> EventLoopFuture<T> {
        pool.withConnection(logger: logger, closure)
    }
}

/// Carries a connection pool across concurrency domains.
///
/// `EventLoopGroupConnectionPool` is not marked `Sendable`, but it guards all
/// of its state with its own lock and hands out connections on their event
/// loops, which is what makes sharing it safe.
final class PoolBox<Source: ConnectionPoolSource>: @unchecked Sendable {
    let pool: EventLoopGroupConnectionPool<Source>

    init(_ pool: EventLoopGroupConnectionPool<Source>) {
        self.pool = pool
    }
}
