/// One sealed link of the audit chain: the event plus its position, time, the
/// hash of the record before it and its own hash.
///
/// `hash` is SHA-256 over the record's canonical JSON (every field but `hash`,
/// keys sorted, no whitespace), so changing any field, or the order of records,
/// breaks the chain.
public struct AuditRecord: Sendable, Equatable, Codable {
    /// Position in the chain, starting at 1, without gaps.
    public var seq: Int64
    /// RFC 3339 UTC time with milliseconds.
    public var time: String
    /// The data directory's node id of the process that wrote the record.
    public var node: String
    public var actor: String
    public var action: String
    public var target: String
    public var outcome: String
    public var requestID: String
    public var sourceIP: String
    public var details: [String: String]
    /// Hex SHA-256 of the previous record, or 64 zeros for the first.
    public var prevHash: String
    /// Hex SHA-256 of this record's canonical form.
    public var hash: String

    public init(
        seq: Int64, time: String, node: String, actor: String, action: String, target: String,
        outcome: String, requestID: String, sourceIP: String, details: [String: String],
        prevHash: String, hash: String
    ) {
        self.seq = seq
        self.time = time
        self.node = node
        self.actor = actor
        self.action = action
        self.target = target
        self.outcome = outcome
        self.requestID = requestID
        self.sourceIP = sourceIP
        self.details = details
        self.prevHash = prevHash
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case seq, time, node, actor, action, target, outcome
        case requestID = "request_id"
        case sourceIP = "source_ip"
        case details
        case prevHash = "prev_hash"
        case hash
    }

    /// The previous-hash of the very first record.
    public static let genesisHash = String(repeating: "0", count: 64)
}

/// The newest record of the chain, which the next record links to.
public struct AuditChainHead: Sendable, Equatable {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    /// The head of an empty chain.
    public static let empty = AuditChainHead(seq: 0, hash: AuditRecord.genesisHash)
}

/// A signature over a record's position and hash, so a later truncation or
/// rewrite of everything up to it is detectable with the public key alone.
public struct AuditCheckpoint: Sendable, Equatable, Codable {
    public var seq: Int64
    public var hash: String
    /// First 16 hex characters of SHA-256 of the raw Ed25519 public key.
    public var keyID: String
    /// Base64 Ed25519 signature over ``signedMessage``.
    public var signature: String
    public var time: String

    public init(seq: Int64, hash: String, keyID: String, signature: String, time: String) {
        self.seq = seq
        self.hash = hash
        self.keyID = keyID
        self.signature = signature
        self.time = time
    }

    enum CodingKeys: String, CodingKey {
        case seq, hash
        case keyID = "key_id"
        case signature, time
    }

    /// The exact bytes that are signed.
    public var signedMessage: [UInt8] {
        Array("talos-audit-checkpoint:v1:\(seq):\(hash)".utf8)
    }
}

/// What one append writes: the sealed records and any checkpoints due.
public struct AuditBatch: Sendable, Equatable {
    public var records: [AuditRecord]
    public var checkpoints: [AuditCheckpoint]

    public init(records: [AuditRecord], checkpoints: [AuditCheckpoint]) {
        self.records = records
        self.checkpoints = checkpoints
    }
}
