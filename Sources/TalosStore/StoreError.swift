/// Why the store could not do what was asked. Messages are for operators; they
/// never carry credentials.
public struct StoreError: Error, CustomStringConvertible, Equatable {
    private enum Code: Equatable {
        case invalidDatabaseURL
        case insecureDatabaseURL
        case migrationFromTheFuture
        case migrationFailed
        case unreachable
        case corruptRow
    }

    private let code: Code
    public let reason: String

    private init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }

    public static func == (lhs: StoreError, rhs: StoreError) -> Bool { lhs.code == rhs.code }

    public static func invalidDatabaseURL(_ reason: String) -> StoreError {
        StoreError(.invalidDatabaseURL, "invalid database URL: \(reason)")
    }

    public static func insecureDatabaseURL(_ reason: String) -> StoreError {
        StoreError(.insecureDatabaseURL, reason)
    }

    public static func migrationFromTheFuture(applied: Int, known: Int) -> StoreError {
        StoreError(
            .migrationFromTheFuture,
            "the database is at schema version \(applied) but this build knows only up to \(known); upgrade Talos"
        )
    }

    public static func migrationFailed(version: Int, name: String) -> StoreError {
        StoreError(.migrationFailed, "migration \(version) (\(name)) failed and was rolled back")
    }

    public static func unreachable(_ reason: String) -> StoreError {
        StoreError(.unreachable, "database unreachable: \(reason)")
    }

    public static func corruptRow(_ table: String) -> StoreError {
        StoreError(.corruptRow, "a row of \(table) holds a value this build does not understand")
    }

    public static let invalidDatabaseURL = StoreError(.invalidDatabaseURL, "invalid database URL")
    public static let migrationFailed = StoreError(.migrationFailed, "migration failed")
}
