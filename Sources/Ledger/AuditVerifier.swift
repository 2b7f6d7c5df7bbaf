public import Crypto
public import TalosCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Checks the audit trail end to end: the database chain, the signed
/// checkpoints and the JSON Lines mirror, and names the first bad record.
public struct AuditVerifier: Sendable {
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        /// The chain position concerned, when there is one.
        public var seq: Int64?
        public var message: String

        public var description: String {
            if let seq { return "record \(seq): \(message)" }
            return message
        }
    }

    public struct Report: Sendable {
        public var records: Int64 = 0
        public var checkpoints = 0
        public var fileLines = 0
        public var findings: [Finding] = []
        public var isIntact: Bool { findings.isEmpty }
        /// The first problem, as a one-line explanation.
        public var firstFinding: Finding? { findings.first }
    }

    let repository: any AuditRepository
    let trustedKeys: [String: Curve25519.Signing.PublicKey]
    let node: String?
    let filePath: String?

    /// - Parameters:
    ///   - trustedKeys: checkpoint public keys by key id.
    ///   - node: this data directory's node id; with `filePath`, the file must
    ///     hold exactly the database records written by this node.
    public init(
        repository: any AuditRepository, trustedKeys: [Curve25519.Signing.PublicKey], node: String?,
        filePath: String?
    ) {
        self.repository = repository
        self.trustedKeys = Dictionary(
            trustedKeys.map { (CheckpointSigner.keyID(of: $0), $0) }, uniquingKeysWith: { first, _ in first }
        )
        self.node = node
        self.filePath = filePath
    }

    public func verify() async throws -> Report {
        var report = Report()
        var previous = AuditChainHead.empty
        var hashes: [Int64: String] = [:]
        var nodeRecords: [Int64: String] = [:]
        var after: Int64 = 0
        while true {
            let page = try await repository.records(afterSeq: after, limit: 2000)
            if page.isEmpty { break }
            for record in page {
                report.records += 1
                if record.seq != previous.seq + 1 {
                    report.findings.append(.init(
                        seq: previous.seq + 1,
                        message: "missing from the database (the chain jumps from \(previous.seq) to \(record.seq))"
                    ))
                } else if record.prevHash != previous.hash {
                    report.findings.append(.init(
                        seq: record.seq, message: "does not link to the record before it (inserted, deleted or reordered)"
                    ))
                }
                if (try? AuditSeal.hash(of: record)) != record.hash {
                    report.findings.append(.init(seq: record.seq, message: "content does not match its hash (edited)"))
                }
                hashes[record.seq] = record.hash
                if record.node == node { nodeRecords[record.seq] = record.hash }
                previous = AuditChainHead(seq: record.seq, hash: record.hash)
                after = record.seq
            }
        }
        for checkpoint in try await repository.checkpoints() {
            report.checkpoints += 1
            guard let key = trustedKeys[checkpoint.keyID] else {
                report.findings.append(.init(seq: checkpoint.seq, message: "checkpoint signed by an unknown key \(checkpoint.keyID)"))
                continue
            }
            if !CheckpointSigner.isValid(checkpoint, publicKey: key) {
                report.findings.append(.init(seq: checkpoint.seq, message: "checkpoint signature is invalid"))
            } else if let hash = hashes[checkpoint.seq] {
                if hash != checkpoint.hash {
                    report.findings.append(.init(seq: checkpoint.seq, message: "differs from its signed checkpoint"))
                }
            } else {
                report.findings.append(.init(
                    seq: checkpoint.seq, message: "signed checkpoint exists but the record is gone (truncated)"
                ))
            }
        }
        if let filePath {
            try verifyFile(path: filePath, databaseHashes: hashes, nodeRecords: nodeRecords, report: &report)
        }
        report.findings.sort { ($0.seq ?? .max) < ($1.seq ?? .max) }
        return report
    }

    private func verifyFile(
        path: String, databaseHashes: [Int64: String], nodeRecords: [Int64: String], report: inout Report
    ) throws {
        let lines = try AuditFileSink.readLines(path: path)
        report.fileLines = lines.count
        var lastSeq: Int64 = 0
        var seen = Set<Int64>()
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 1
            guard let record = try? AuditSeal.decoder.decode(AuditRecord.self, from: Data(line.utf8)) else {
                report.findings.append(.init(seq: nil, message: "audit file line \(lineNumber) is not a record"))
                continue
            }
            if (try? AuditSeal.hash(of: record)) != record.hash {
                report.findings.append(.init(seq: record.seq, message: "audit file line \(lineNumber) was edited"))
            } else if let stored = databaseHashes[record.seq] {
                if stored != record.hash {
                    report.findings.append(.init(seq: record.seq, message: "audit file and database disagree"))
                }
            } else {
                report.findings.append(.init(
                    seq: record.seq, message: "audit file line \(lineNumber) is not in the database (inserted, or deleted from the database)"
                ))
            }
            if record.seq <= lastSeq {
                report.findings.append(.init(seq: record.seq, message: "audit file line \(lineNumber) is out of order"))
            }
            lastSeq = max(lastSeq, record.seq)
            seen.insert(record.seq)
        }
        for seq in nodeRecords.keys.sorted() where !seen.contains(seq) {
            report.findings.append(.init(
                seq: seq, message: "missing from the audit file (deleted or truncated)"
            ))
            break
        }
    }
}
