import SQLKit
import TalosCore
import TalosStore
import TalosTestSupport
import Testing

/// The contract of ``AuditRepository``, run on every database.
@Suite("Audit repository contract")
struct AuditRepositoryContractTests {
    static func record(seq: Int64, prev: String, hash: String, time: String = "2026-11-22T10:00:00.000Z") -> AuditRecord {
        AuditRecord(
            seq: seq, time: time, node: "node", actor: "tester", action: "test.action", target: "t", outcome: "success",
            requestID: "r\(seq)", sourceIP: "127.0.0.1", details: ["k": "v\(seq)"], prevHash: prev, hash: hash
        )
    }

    static func migrated(_ test: TestDatabase) async throws -> SQLAuditRepository {
        try await Migrator(database: test.database, logger: TestDatabase.logger).migrate()
        return SQLAuditRepository(database: test.database)
    }

    @Test("append passes the head, stores records and checkpoints, reads them back", arguments: DatabaseKind.available)
    func appendAndRead(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let repository = try await Self.migrated(test)
            #expect(try await repository.head() == .empty)
            let first = try await repository.append(
                seal: { head in
                    #expect(head == .empty)
                    return AuditBatch(
                        records: [Self.record(seq: 1, prev: head.hash, hash: "h1"), Self.record(seq: 2, prev: "h1", hash: "h2")],
                        checkpoints: [AuditCheckpoint(seq: 2, hash: "h2", keyID: "k", signature: "s", time: "t")]
                    )
                },
                beforeCommit: { _ in }
            )
            #expect(first.records.count == 2)
            _ = try await repository.append(
                seal: { head in
                    #expect(head == AuditChainHead(seq: 2, hash: "h2"))
                    return AuditBatch(
                        records: [Self.record(seq: 3, prev: head.hash, hash: "h3", time: "2026-11-23T10:00:00.000Z")],
                        checkpoints: []
                    )
                },
                beforeCommit: { _ in }
            )
            #expect(try await repository.head() == AuditChainHead(seq: 3, hash: "h3"))
            #expect(try await repository.count() == 3)
            let all = try await repository.records(afterSeq: 0, limit: 10)
            #expect(all.map(\.seq) == [1, 2, 3])
            #expect(all[1] == Self.record(seq: 2, prev: "h1", hash: "h2"))
            #expect(try await repository.records(afterSeq: 1, limit: 1).map(\.seq) == [2])
            #expect(try await repository.records(since: "2026-11-23T00:00:00.000Z", afterSeq: 0, limit: 10).map(\.seq) == [3])
            #expect(try await repository.checkpoints() == [AuditCheckpoint(seq: 2, hash: "h2", keyID: "k", signature: "s", time: "t")])
        }
    }

    @Test("nothing is stored when beforeCommit throws", arguments: DatabaseKind.available)
    func rollback(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let repository = try await Self.migrated(test)
            struct Refused: Error {}
            await #expect(throws: Refused.self) {
                _ = try await repository.append(
                    seal: { head in AuditBatch(records: [Self.record(seq: 1, prev: head.hash, hash: "h1")], checkpoints: []) },
                    beforeCommit: { _ in throw Refused() }
                )
            }
            #expect(try await repository.count() == 0)
        }
    }

    @Test("the database refuses UPDATE and DELETE of audit rows", arguments: DatabaseKind.available)
    func appendOnly(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let repository = try await Self.migrated(test)
            _ = try await repository.append(
                seal: { head in
                    AuditBatch(
                        records: [Self.record(seq: 1, prev: head.hash, hash: "h1")],
                        checkpoints: [AuditCheckpoint(seq: 1, hash: "h1", keyID: "k", signature: "s", time: "t")]
                    )
                },
                beforeCommit: { _ in }
            )
            let sql = test.database.sql
            var attacks = [
                "UPDATE audit_records SET actor = 'someone else'",
                "DELETE FROM audit_records",
                "UPDATE audit_checkpoints SET signature = 'forged'",
                "DELETE FROM audit_checkpoints",
            ]
            if kind == .postgres { attacks.append("TRUNCATE audit_records") }
            for attack in attacks {
                await #expect(throws: (any Error).self, "\(attack) must be refused") {
                    try await sql.raw(SQLQueryString(attack)).run()
                }
            }
            #expect(try await repository.count() == 1)
            #expect(try await repository.records(afterSeq: 0, limit: 1).first?.actor == "tester")
        }
    }

    @Test("concurrent appenders on separate pools never fork the chain", arguments: DatabaseKind.available)
    func serializedAppends(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            _ = try await Self.migrated(test)
            let pools = [test.database, try test.openAnotherPool(), try test.openAnotherPool()]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, pool) in pools.enumerated() {
                    let repository = SQLAuditRepository(database: pool)
                    group.addTask {
                        for round in 0..<20 {
                            _ = try await repository.append(
                                seal: { head in
                                    AuditBatch(
                                        records: [Self.record(seq: head.seq + 1, prev: head.hash, hash: "p\(index)r\(round)")],
                                        checkpoints: []
                                    )
                                },
                                beforeCommit: { _ in }
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
            for pool in pools.dropFirst() { try await pool.close() }
            let records = try await SQLAuditRepository(database: test.database).records(afterSeq: 0, limit: 100)
            #expect(records.map(\.seq) == Array(1...60))
            for (previous, record) in zip(records, records.dropFirst()) {
                #expect(record.prevHash == previous.hash)
            }
        }
    }
}
