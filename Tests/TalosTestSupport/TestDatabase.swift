#if canImport(Glibc)
import Glibc
#endif
import Foundation
public import Logging
import SQLKit
import TalosCore
public import TalosStore

/// The databases every database test runs on. PostgreSQL comes from the
/// throwaway server `make test` starts; without it (a bare `swift test`) the
/// PostgreSQL cases are left out, unless `TEST_REQUIRE_POSTGRES=1` says they
/// must run, in which case they fail loudly.
public enum DatabaseKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    public static var available: [DatabaseKind] {
        let environment = ProcessInfo.processInfo.environment
        if environment["TEST_POSTGRES_URL"] != nil || environment["TEST_REQUIRE_POSTGRES"] == "1" {
            return [.sqlite, .postgres]
        }
        return [.sqlite]
    }
}

/// A fresh, empty database of one kind, dropped again afterwards.
public struct TestDatabase: Sendable {
    public let kind: DatabaseKind
    public let settings: DatabaseSettings
    public let database: TalosDatabase
    /// Where the scratch files of this test live (SQLite file, audit file).
    public let directory: String
    let dropDatabase: @Sendable () async -> Void

    public static let logger: Logger = {
        var logger = Logger(label: "talos-test")
        logger.logLevel = .warning
        return logger
    }()

    /// Runs `body` with a new database and removes it afterwards.
    public static func with<T>(
        _ kind: DatabaseKind, _ body: (TestDatabase) async throws -> T
    ) async throws -> T {
        let database = try await make(kind)
        do {
            let value = try await body(database)
            await database.destroy()
            return value
        } catch {
            await database.destroy()
            throw error
        }
    }

    public static func make(_ kind: DatabaseKind) async throws -> TestDatabase {
        let directory = try TemporaryDirectory.make()
        switch kind {
        case .sqlite:
            let settings = DatabaseSettings.sqlite(path: directory + "/test.sqlite")
            return TestDatabase(
                kind: kind, settings: settings, database: try TalosDatabase.open(settings, logger: logger),
                directory: directory, dropDatabase: {}
            )
        case .postgres:
            let admin = try postgresSettings(database: nil)
            let name = "talos_test_" + Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })
            let adminDatabase = try TalosDatabase.open(.postgres(admin), logger: logger)
            try await adminDatabase.sql.raw("CREATE DATABASE \(unsafeRaw: name)").run()
            try await adminDatabase.close()
            var settings = admin
            settings.database = name
            settings.poolSizePerEventLoop = 4
            return TestDatabase(
                kind: kind, settings: .postgres(settings), database: try TalosDatabase.open(.postgres(settings), logger: logger),
                directory: directory,
                dropDatabase: {
                    guard let admin = try? TalosDatabase.open(.postgres(admin), logger: logger) else { return }
                    try? await admin.sql.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run()
                    try? await admin.close()
                }
            )
        }
    }

    /// Opens another, independent pool on the same database, as a second
    /// process would.
    public func openAnotherPool() throws -> TalosDatabase {
        try TalosDatabase.open(settings, logger: Self.logger)
    }

    public func destroy() async {
        try? await database.close()
        await dropDatabase()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The throwaway server's settings, password read from its private file.
    public static func postgresSettings(database: String?) throws -> PostgresSettings {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["TEST_POSTGRES_URL"], let passwordFile = environment["TEST_POSTGRES_PASSWORD_FILE"] else {
            throw TestSetupError("PostgreSQL tests need TEST_POSTGRES_URL and TEST_POSTGRES_PASSWORD_FILE; run `make test`")
        }
        let password = try String(contentsOfFile: passwordFile, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var settings = try PostgresSettings(url: url, password: Secret(password))
        if let database { settings.database = database }
        return settings
    }

    /// The URL and password file for `talos` configured against this database.
    public var postgresURL: String? {
        guard case .postgres(let settings) = settings else { return nil }
        return "postgres://\(settings.username)@\(settings.host):\(settings.port)/\(settings.database)"
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

public enum TemporaryDirectory {
    /// A new private (0700) directory under /tmp.
    public static func make() throws -> String {
        var template = Array("/tmp/talos-t-XXXXXX".utf8CString)
        guard let path = mkdtemp(&template) else { throw TestSetupError("mkdtemp failed") }
        return String(cString: path)
    }
}
