import Crypto
import Foundation
import Ledger
import SQLKit
import TalosCore
import TalosStore
import TalosTestSupport
import Testing

/// A migrated database with an audit log writing to it and to a file.
struct LedgerFixture {
    let test: TestDatabase
    let log: AuditLog
    let signer: CheckpointSigner
    let filePath: String
    let node: String

    static func make(_ test: TestDatabase, node: String = "node-a", checkpointInterval: Int = 5) async throws -> LedgerFixture {
        try await Migrator(database: test.database, logger: TestDatabase.logger).migrate()
        let signer = CheckpointSigner(key: Curve25519.Signing.PrivateKey())
        let filePath = test.directory + "/audit-\(node).jsonl"
        let log = AuditLog(
            repository: SQLAuditRepository(database: test.database), node: node, signer: signer,
            sink: try AuditFileSink(path: filePath), checkpointInterval: checkpointInterval, logger: TestDatabase.logger
        )
        return LedgerFixture(test: test, log: log, signer: signer, filePath: filePath, node: node)
    }

    func record(_ count: Int) async throws {
        for index in 1...count {
            try await log.record(
                AuditEvent(
                    actor: "user-\(index % 3)", action: "test.event", target: "item-\(index)", outcome: .success,
                    requestID: "req-\(index)", sourceIP: "127.0.0.1", details: ["n": String(index)]
                )
            )
        }
    }

    func verify(withFile: Bool = true, keys: [Curve25519.Signing.PublicKey]? = nil) async throws -> AuditVerifier.Report {
        try await AuditVerifier(
            repository: SQLAuditRepository(database: test.database), trustedKeys: keys ?? [signer.publicKey],
            node: node, filePath: withFile ? filePath : nil
        ).verify()
    }

    /// What an attacker with database access does first.
    func dropTriggers() async throws {
        let statements =
            switch test.kind {
            case .sqlite:
                [
                    "DROP TRIGGER audit_records_no_update", "DROP TRIGGER audit_records_no_delete",
                    "DROP TRIGGER audit_checkpoints_no_update",
                ]
            case .postgres:
                [
                    "DROP TRIGGER audit_records_no_change ON audit_records",
                    "DROP TRIGGER audit_records_no_truncate ON audit_records",
                    "DROP TRIGGER audit_checkpoints_no_change ON audit_checkpoints",
                ]
            }
        for statement in statements { try await test.database.sql.raw(SQLQueryString(statement)).run() }
    }

    func execute(_ statement: String) async throws {
        try await test.database.sql.raw(SQLQueryString(statement)).run()
    }

    func fileLines() throws -> [String] {
        try AuditFileSink.readLines(path: filePath)
    }

    func writeFile(_ lines: [String]) throws {
        try (lines.map { $0 + "\n" }.joined()).write(toFile: filePath, atomically: false, encoding: .utf8)
    }
}

@Suite("Audit trail")
struct AuditTrailTests {
    @Test("records are chained, mirrored and checkpointed; an intact trail verifies", arguments: DatabaseKind.available)
    func intact(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(12)
            let report = try await fixture.verify()
            #expect(report.isIntact, "\(report.findings)")
            #expect(report.records == 12)
            #expect(report.checkpoints == 2)
            #expect(report.fileLines == 12)
            let records = try await SQLAuditRepository(database: test.database).records(afterSeq: 0, limit: 100)
            #expect(records.first?.prevHash == AuditRecord.genesisHash)
            for (previous, record) in zip(records, records.dropFirst()) { #expect(record.prevHash == previous.hash) }
        }
    }

    @Test("1,000 concurrent records keep one valid chain", arguments: DatabaseKind.available)
    func concurrentWriters(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test, checkpointInterval: 100)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        for index in 0..<125 {
                            try await fixture.log.record(
                                AuditEvent(actor: "t\(task)", action: "test.concurrent", target: "\(index)", outcome: .success)
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
            let report = try await fixture.verify()
            #expect(report.isIntact, "\(report.findings.prefix(3))")
            #expect(report.records == 1000)
            #expect(report.fileLines == 1000)
            #expect(report.checkpoints == 10)
        }
    }

    @Test("two processes on one database extend one chain", arguments: DatabaseKind.available)
    func twoProcesses(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let first = try await LedgerFixture.make(test, node: "node-a")
            let otherPool = try test.openAnotherPool()
            let secondLog = AuditLog(
                repository: SQLAuditRepository(database: otherPool), node: "node-b", signer: first.signer,
                sink: try AuditFileSink(path: test.directory + "/audit-node-b.jsonl"), checkpointInterval: 5,
                logger: TestDatabase.logger
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.record(60) }
                group.addTask {
                    for index in 0..<60 {
                        try await secondLog.record(AuditEvent(actor: "b", action: "test.b", target: "\(index)", outcome: .success))
                    }
                }
                try await group.waitForAll()
            }
            try await otherPool.close()
            let reportA = try await first.verify()
            #expect(reportA.isIntact, "\(reportA.findings.prefix(3))")
            #expect(reportA.records == 120)
            #expect(reportA.fileLines == 60)
            let reportB = try await AuditVerifier(
                repository: SQLAuditRepository(database: test.database), trustedKeys: [first.signer.publicKey],
                node: "node-b", filePath: test.directory + "/audit-node-b.jsonl"
            ).verify()
            #expect(reportB.isIntact, "\(reportB.findings.prefix(3))")
        }
    }

    // MARK: Tampering with the database copy

    @Test("an edited database record is named", arguments: DatabaseKind.available)
    func databaseEdit(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            try await fixture.dropTriggers()
            try await fixture.execute("UPDATE audit_records SET actor = 'mallory' WHERE seq = 7")
            let report = try await fixture.verify(withFile: false)
            #expect(report.firstFinding?.seq == 7)
            #expect(report.firstFinding?.message.contains("edited") == true)
        }
    }

    @Test("a deleted database record is named", arguments: DatabaseKind.available)
    func databaseDeletion(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            try await fixture.dropTriggers()
            try await fixture.execute("DELETE FROM audit_records WHERE seq = 7")
            let report = try await fixture.verify(withFile: false)
            #expect(report.firstFinding?.seq == 7)
            #expect(report.firstFinding?.message.contains("missing") == true)
        }
    }

    @Test("a record inserted into the database, even re-hashed, is caught", arguments: DatabaseKind.available)
    func databaseInsertion(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            try await fixture.dropTriggers()
            // The strongest insertion: shift every later record and recompute the whole tail's hashes.
            let repository = SQLAuditRepository(database: test.database)
            let records = try await repository.records(afterSeq: 0, limit: 100)
            try await fixture.execute("DELETE FROM audit_records WHERE seq >= 7")
            var head = AuditChainHead(seq: 6, hash: records[5].hash)
            let forged = AuditEvent(actor: "mallory", action: "test.forged", target: "x", outcome: .success)
            let tail = [forged] + records[6...].map {
                AuditEvent(actor: $0.actor, action: $0.action, target: $0.target, outcome: .success, requestID: $0.requestID, sourceIP: $0.sourceIP, details: $0.details)
            }
            let resealed = try AuditSeal.seal(tail, after: head, node: fixture.node, time: records[6].time)
            for record in resealed {
                try await test.database.sql.insert(into: "audit_records")
                    .columns("seq", "time", "node", "actor", "action", "target", "outcome", "request_id", "source_ip", "details", "prev_hash", "hash")
                    .values(
                        SQLBind(record.seq), SQLBind(record.time), SQLBind(record.node), SQLBind(record.actor), SQLBind(record.action),
                        SQLBind(record.target), SQLBind(record.outcome), SQLBind(record.requestID), SQLBind(record.sourceIP),
                        SQLBind(String(decoding: try JSONEncoder().encode(record.details), as: UTF8.self)), SQLBind(record.prevHash),
                        SQLBind(record.hash)
                    ).run()
                head = AuditChainHead(seq: record.seq, hash: record.hash)
            }
            let databaseOnly = try await fixture.verify(withFile: false)
            #expect(databaseOnly.firstFinding?.seq == 10, "the signed checkpoint at 10 no longer matches")
            let withFile = try await fixture.verify()
            #expect(withFile.firstFinding?.seq == 7)
        }
    }

    @Test("reordered database records are named", arguments: DatabaseKind.available)
    func databaseReordering(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            try await fixture.dropTriggers()
            try await fixture.execute("UPDATE audit_records SET seq = 1000 WHERE seq = 7")
            try await fixture.execute("UPDATE audit_records SET seq = 7 WHERE seq = 8")
            try await fixture.execute("UPDATE audit_records SET seq = 8 WHERE seq = 1000")
            let report = try await fixture.verify(withFile: false)
            #expect(report.firstFinding?.seq == 7)
        }
    }

    @Test("a truncated database chain is named", arguments: DatabaseKind.available)
    func databaseTruncation(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            try await fixture.dropTriggers()
            try await fixture.execute("DELETE FROM audit_records WHERE seq > 15")
            let databaseOnly = try await fixture.verify(withFile: false)
            #expect(databaseOnly.firstFinding?.seq == 20)
            #expect(databaseOnly.firstFinding?.message.contains("truncated") == true)
            let withFile = try await fixture.verify()
            #expect(withFile.firstFinding?.seq == 16)
        }
    }

    @Test("a forged checkpoint or one signed by an unknown key is refused", arguments: DatabaseKind.available)
    func checkpoints(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(10)
            let stranger = Curve25519.Signing.PrivateKey().publicKey
            let unknownKey = try await fixture.verify(keys: [stranger])
            #expect(unknownKey.firstFinding?.message.contains("unknown key") == true)
            try await fixture.dropTriggers()
            try await fixture.execute("UPDATE audit_checkpoints SET hash = 'forged' WHERE seq = 5")
            let forged = try await fixture.verify()
            #expect(forged.firstFinding?.seq == 5)
            #expect(forged.firstFinding?.message.contains("signature") == true)
        }
    }

    // MARK: Tampering with the file copy

    @Test("an edited file line is named", arguments: DatabaseKind.available)
    func fileEdit(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            var lines = try fixture.fileLines()
            lines[6] = lines[6].replacingOccurrences(of: "\"actor\":\"user-1\"", with: "\"actor\":\"mallory\"")
            try fixture.writeFile(lines)
            let report = try await fixture.verify()
            #expect(report.firstFinding?.seq == 7)
            #expect(report.firstFinding?.message.contains("edited") == true)
        }
    }

    @Test("a line deleted from the file is named", arguments: DatabaseKind.available)
    func fileDeletion(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            var lines = try fixture.fileLines()
            lines.remove(at: 6)
            try fixture.writeFile(lines)
            let report = try await fixture.verify()
            #expect(report.firstFinding?.seq == 7)
            #expect(report.firstFinding?.message.contains("missing from the audit file") == true)
        }
    }

    @Test("a line inserted into the file is named", arguments: DatabaseKind.available)
    func fileInsertion(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            var lines = try fixture.fileLines()
            var forged = try JSONDecoder().decode(AuditRecord.self, from: Data(lines[6].utf8))
            forged.seq = 21
            forged.actor = "mallory"
            forged.hash = try AuditSeal.hash(of: forged)
            lines.insert(String(decoding: try AuditSeal.line(for: forged).dropLast(), as: UTF8.self), at: 7)
            try fixture.writeFile(lines)
            let report = try await fixture.verify()
            #expect(report.findings.contains { $0.seq == 21 && $0.message.contains("not in the database") })
            #expect(!report.isIntact)
        }
    }

    @Test("reordered file lines are named", arguments: DatabaseKind.available)
    func fileReordering(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            var lines = try fixture.fileLines()
            lines.swapAt(6, 7)
            try fixture.writeFile(lines)
            let report = try await fixture.verify()
            #expect(report.firstFinding?.seq == 7)
            #expect(report.firstFinding?.message.contains("out of order") == true)
        }
    }

    @Test("a truncated file is named", arguments: DatabaseKind.available)
    func fileTruncation(_ kind: DatabaseKind) async throws {
        try await TestDatabase.with(kind) { test in
            let fixture = try await LedgerFixture.make(test)
            try await fixture.record(20)
            try fixture.writeFile(Array(try fixture.fileLines().prefix(15)))
            let report = try await fixture.verify()
            #expect(report.firstFinding?.seq == 16)
            #expect(report.firstFinding?.message.contains("missing from the audit file") == true)
        }
    }
}
