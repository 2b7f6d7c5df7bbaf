#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif
import SQLKit
public import TalosCore

/// ``AccountRepository`` over SQLite and PostgreSQL.
public struct SQLAccountRepository: AccountRepository {
    let database: TalosDatabase

    public init(database: TalosDatabase) {
        self.database = database
    }

    static let roleLockKey: Int64 = 0x7461_6c6f_7303

    public func create(_ account: Account, token: OneTimeToken, maximumOfRole maximum: Int?, invitedBy: UUID?) async throws {
        try await database.transaction { [dialect = database.dialect] sql in
            if dialect == .postgres {
                try await sql.raw("SELECT pg_advisory_xact_lock(\(unsafeRaw: String(Self.roleLockKey)))").run()
            }
            if let maximum {
                let count = try await Self.count(role: account.role, on: sql)
                if count >= maximum { throw IdentityError.roleLimitReached(account.role, maximum: maximum) }
            }
            let taken = try await sql.select().column("id").from("accounts")
                .where("email", .equal, SQLBind(account.email.value)).first()
            if taken != nil { throw IdentityError.duplicateEmail }
            try await sql.insert(into: "accounts")
                .columns("id", "email", "role", "status", "created_at", "updated_at", "invited_by")
                .values(
                    SQLBind(account.id.uuidString.lowercased()), SQLBind(account.email.value), SQLBind(account.role.rawValue),
                    SQLBind(account.status.rawValue), SQLBind(account.createdAt), SQLBind(account.createdAt),
                    SQLBind(invitedBy?.uuidString.lowercased())
                )
                .run()
            try await sql.insert(into: "one_time_tokens")
                .columns("token_hash", "account_id", "purpose", "expires_at", "created_at")
                .values(
                    SQLBind(token.hash), SQLBind(token.accountID.uuidString.lowercased()), SQLBind(token.purpose.rawValue),
                    SQLBind(token.expiresAt), SQLBind(token.createdAt)
                )
                .run()
        }
    }

    public func account(id: UUID) async throws -> Account? {
        try await database.sql.select().column("*").from("accounts")
            .where("id", .equal, SQLBind(id.uuidString.lowercased())).first().map(Self.account(from:))
    }

    public func account(email: EmailAddress) async throws -> Account? {
        try await database.sql.select().column("*").from("accounts")
            .where("email", .equal, SQLBind(email.value)).first().map(Self.account(from:))
    }

    public func count(role: Role) async throws -> Int {
        try await Self.count(role: role, on: database.sql)
    }

    static func count(role: Role, on sql: any SQLDatabase) async throws -> Int {
        guard
            let row = try await sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from("accounts")
                .where("role", .equal, SQLBind(role.rawValue)).first()
        else { return 0 }
        return try row.decode(column: "n", as: Int.self)
    }

    static func account(from row: any SQLRow) throws -> Account {
        guard
            let id = UUID(uuidString: try row.decode(column: "id", as: String.self)),
            let email = EmailAddress(try row.decode(column: "email", as: String.self)),
            let role = Role(rawValue: try row.decode(column: "role", as: String.self)),
            let status = AccountStatus(rawValue: try row.decode(column: "status", as: String.self))
        else { throw StoreError.corruptRow("accounts") }
        return Account(id: id, email: email, role: role, status: status, createdAt: try row.decode(column: "created_at", as: String.self))
    }
}
