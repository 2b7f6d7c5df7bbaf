/// Durable storage of the audit chain.
///
/// The store never changes a stored record: implementations install database
/// triggers that refuse `UPDATE` and `DELETE` on the audit tables.
public protocol AuditRepository: Sendable {
    /// Appends one batch to the chain.
    ///
    /// Contract: under a lock that excludes every other appender on the same
    /// database, in every process, read the current head, call `seal` with it,
    /// insert what it returns, then call `beforeCommit` with the same batch and
    /// commit only if it returns. If anything throws, nothing is stored.
    func append(
        seal: @escaping @Sendable (AuditChainHead) throws -> AuditBatch,
        beforeCommit: @escaping @Sendable (AuditBatch) async throws -> Void
    ) async throws -> AuditBatch

    /// The newest record's position and hash, or ``AuditChainHead/empty``.
    func head() async throws -> AuditChainHead

    /// Records with `seq > afterSeq` in ascending order, at most `limit`.
    func records(afterSeq: Int64, limit: Int) async throws -> [AuditRecord]

    /// Records whose time is at or after `since` (RFC 3339), ascending.
    func records(since: String, afterSeq: Int64, limit: Int) async throws -> [AuditRecord]

    /// Every checkpoint, ascending by `seq`.
    func checkpoints() async throws -> [AuditCheckpoint]

    /// How many records the chain holds.
    func count() async throws -> Int64
}
