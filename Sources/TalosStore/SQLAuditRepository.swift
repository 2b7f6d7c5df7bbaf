#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SQLKit
public import TalosCore

/// ``AuditRepository`` over SQLite and PostgreSQL.
///
/// Appenders serialize on `BEGIN IMMEDIATE` (SQLite) or a transaction-scoped
/// advisory lock (PostgreSQL), so any number of processes on one database
/// extend a single chain.
public struct SQLAuditRepository: AuditRepository {
    let database: TalosDatabase

    public init(database: TalosDatabase) {
        self.database = database
    }

    static let appendLockKey: Int64 = 0x7461_6c6f_7302

    public func append(
        seal: @escaping @Sendable (AuditChainHead) throws -> AuditBatch,
        beforeCommit: @escaping @Sendable (AuditBatch) async throws -> Void
    ) async throws -> AuditBatch {
        try await database.transaction { [dialect = database.dialect] sql in
            if dialect == .postgres {
                try await sql.raw("SELECT pg_advisory_xact_lock(\(unsafeRaw: String(Self.appendLockKey)))").run()
            }
            let head = try await Self.head(on: sql)
            let batch = try seal(head)
            // One multi-row INSERT per batch: a round trip per record was the
            // cost that dominated group commits.
            if !batch.records.isEmpty {
                var insert = sql.insert(into: "audit_records")
                    .columns(
                        "seq", "time", "node", "actor", "action", "target", "outcome",
                        "request_id", "source_ip", "details", "prev_hash", "hash"
                    )
                for record in batch.records {
                    let details = try Self.encodeDetails(record.details)
                    insert = insert.values(
                        SQLBind(record.seq), SQLBind(record.time), SQLBind(record.node),
                        SQLBind(record.actor), SQLBind(record.action), SQLBind(record.target),
                        SQLBind(record.outcome), SQLBind(record.requestID), SQLBind(record.sourceIP),
                        SQLBind(details), SQLBind(record.prevHash), SQLBind(record.hash)
                    )
                }
                try await insert.run()
            }
            for checkpoint in batch.checkpoints {
                try await sql.insert(into: "audit_checkpoints")
                    .columns("seq", "hash", "key_id", "signature", "time")
                    .values(
                        SQLBind(checkpoint.seq), SQLBind(checkpoint.hash), SQLBind(checkpoint.keyID),
                        SQLBind(checkpoint.signature), SQLBind(checkpoint.time)
                    )
                    .run()
            }
            try await beforeCommit(batch)
            return batch
        }
    }

    public func head() async throws -> AuditChainHead {
        try await Self.head(on: database.sql)
    }

    static func head(on sql: any SQLDatabase) async throws -> AuditChainHead {
        guard
            let row = try await sql.raw("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").first()
        else { return .empty }
        return AuditChainHead(
            seq: try row.decode(column: "seq", as: Int64.self),
            hash: try row.decode(column: "hash", as: String.self)
        )
    }

    public func records(afterSeq: Int64, limit: Int) async throws -> [AuditRecord] {
        try await database.sql.select().column("*").from("audit_records")
            .where("seq", .greaterThan, SQLBind(afterSeq))
            .orderBy("seq")
            .limit(limit)
            .all()
            .map(Self.record(from:))
    }

    public func records(since: String, afterSeq: Int64, limit: Int) async throws -> [AuditRecord] {
        try await database.sql.select().column("*").from("audit_records")
            .where("time", .greaterThanOrEqual, SQLBind(since))
            .where("seq", .greaterThan, SQLBind(afterSeq))
            .orderBy("seq")
            .limit(limit)
            .all()
            .map(Self.record(from:))
    }

    public func checkpoints() async throws -> [AuditCheckpoint] {
        try await database.sql.select().column("*").from("audit_checkpoints").orderBy("seq").all().map { row in
            AuditCheckpoint(
                seq: try row.decode(column: "seq", as: Int64.self),
                hash: try row.decode(column: "hash", as: String.self),
                keyID: try row.decode(column: "key_id", as: String.self),
                signature: try row.decode(column: "signature", as: String.self),
                time: try row.decode(column: "time", as: String.self)
            )
        }
    }

    public func count() async throws -> Int64 {
        guard let row = try await database.sql.raw("SELECT COUNT(*) AS n FROM audit_records").first() else { return 0 }
        return try row.decode(column: "n", as: Int64.self)
    }

    static func record(from row: any SQLRow) throws -> AuditRecord {
        let detailsText = try row.decode(column: "details", as: String.self)
        let details = (try? JSONDecoder().decode([String: String].self, from: Data(detailsText.utf8))) ?? [
            "undecodable": detailsText
        ]
        return AuditRecord(
            seq: try row.decode(column: "seq", as: Int64.self),
            time: try row.decode(column: "time", as: String.self),
            node: try row.decode(column: "node", as: String.self),
            actor: try row.decode(column: "actor", as: String.self),
            action: try row.decode(column: "action", as: String.self),
            target: try row.decode(column: "target", as: String.self),
            outcome: try row.decode(column: "outcome", as: String.self),
            requestID: try row.decode(column: "request_id", as: String.self),
            sourceIP: try row.decode(column: "source_ip", as: String.self),
            details: details,
            prevHash: try row.decode(column: "prev_hash", as: String.self),
            hash: try row.decode(column: "hash", as: String.self)
        )
    }

    static func encodeDetails(_ details: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(details), as: UTF8.self)
    }
}
