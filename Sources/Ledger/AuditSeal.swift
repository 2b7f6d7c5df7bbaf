import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import TalosCore

/// The canonical form and hash of audit records.
///
/// Canonical JSON: every field but `hash`, keys sorted, no insignificant
/// whitespace, `/` unescaped. The same bytes are produced by every build, so
/// any process can re-derive and check any record.
public enum AuditSeal {
    /// The bytes the record's hash is computed over.
    public static func canonicalBytes(of record: AuditRecord) throws -> [UInt8] {
        Array(try encoder.encode(Unsealed(record)))
    }

    /// Hex SHA-256 of the canonical bytes.
    public static func hash(of record: AuditRecord) throws -> String {
        Hex.encode(SHA256.hash(data: try canonicalBytes(of: record)))
    }

    /// Builds the records for `events`, linked after `head`.
    public static func seal(
        _ events: [AuditEvent], after head: AuditChainHead, node: String, time: String
    ) throws -> [AuditRecord] {
        var previous = head
        var records: [AuditRecord] = []
        records.reserveCapacity(events.count)
        for event in events {
            var record = AuditRecord(
                seq: previous.seq + 1, time: time, node: node, actor: event.actor, action: event.action,
                target: event.target, outcome: event.outcome.rawValue, requestID: event.requestID ?? "",
                sourceIP: event.sourceIP ?? "", details: event.details, prevHash: previous.hash, hash: ""
            )
            record.hash = try hash(of: record)
            records.append(record)
            previous = AuditChainHead(seq: record.seq, hash: record.hash)
        }
        return records
    }

    /// One JSON Lines line for the file mirror: the whole record, keys sorted.
    public static func line(for record: AuditRecord) throws -> [UInt8] {
        Array(try encoder.encode(record)) + [UInt8(ascii: "\n")]
    }

    static let decoder = JSONDecoder()

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// The record without its own hash.
    private struct Unsealed: Encodable {
        let record: AuditRecord

        init(_ record: AuditRecord) {
            self.record = record
        }

        enum CodingKeys: String, CodingKey {
            case seq, time, node, actor, action, target, outcome, details
            case requestID = "request_id"
            case sourceIP = "source_ip"
            case prevHash = "prev_hash"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(record.seq, forKey: .seq)
            try container.encode(record.time, forKey: .time)
            try container.encode(record.node, forKey: .node)
            try container.encode(record.actor, forKey: .actor)
            try container.encode(record.action, forKey: .action)
            try container.encode(record.target, forKey: .target)
            try container.encode(record.outcome, forKey: .outcome)
            try container.encode(record.details, forKey: .details)
            try container.encode(record.requestID, forKey: .requestID)
            try container.encode(record.sourceIP, forKey: .sourceIP)
            try container.encode(record.prevHash, forKey: .prevHash)
        }
    }
}
