public import Logging
public import TalosCore

/// The one writer of the audit trail in a process.
///
/// Callers `await` ``record(_:)`` until their event is durable in the database
/// and the file mirror. Events arriving while a batch commits form the next
/// batch (group commit), so the trail keeps up with the request rate without a
/// write per request.
public actor AuditLog {
    public let node: String
    private let repository: any AuditRepository
    private let signer: CheckpointSigner
    private let sink: AuditFileSink?
    private let checkpointInterval: Int64
    private let logger: Logger
    private let onWritten: @Sendable (Int) -> Void

    private var pending: [(event: AuditEvent, waiter: CheckedContinuation<Void, any Error>)] = []
    private var flushing = false
    /// Whether the file is known to hold every record this node committed.
    private var fileCaughtUp = false

    /// Largest batch one transaction writes.
    static let maximumBatch = 512

    public init(
        repository: any AuditRepository,
        node: String,
        signer: CheckpointSigner,
        sink: AuditFileSink?,
        checkpointInterval: Int = 256,
        logger: Logger,
        onWritten: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.repository = repository
        self.node = node
        self.signer = signer
        self.sink = sink
        self.checkpointInterval = Int64(max(1, checkpointInterval))
        self.logger = logger
        self.onWritten = onWritten
    }

    /// Appends `event` to the chain; returns once it is committed.
    ///
    /// Throws if the trail cannot be written: callers fail closed.
    public func record(_ event: AuditEvent) async throws {
        try await withCheckedThrowingContinuation { waiter in
            pending.append((event, waiter))
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(Self.maximumBatch))
            pending.removeFirst(batch.count)
            let events = batch.map(\.event)
            do {
                try await write(events)
                onWritten(events.count)
                for entry in batch { entry.waiter.resume() }
            } catch {
                logger.error(
                    "audit trail write failed",
                    metadata: ["error": "\(String(describing: type(of: error)))", "events": "\(events.count)"]
                )
                for entry in batch { entry.waiter.resume(throwing: error) }
            }
        }
        flushing = false
    }

    private func write(_ events: [AuditEvent]) async throws {
        let node = self.node
        let signer = self.signer
        let interval = checkpointInterval
        try sink?.lock()
        defer { sink?.unlock() }
        if let sink, !fileCaughtUp {
            try await catchUp(sink)
        }
        let batch = try await repository.append(
            seal: { head in
                let time = Timestamp.now()
                let records = try AuditSeal.seal(events, after: head, node: node, time: time)
                let checkpoints = try records.filter { $0.seq % interval == 0 }
                    .map { try signer.checkpoint(for: $0, time: time) }
                return AuditBatch(records: records, checkpoints: checkpoints)
            },
            beforeCommit: { _ in }
        )
        do {
            try sink?.append(batch.records)
        } catch {
            // Committed but not mirrored: the next write copies it over first.
            fileCaughtUp = false
            throw error
        }
    }

    /// Copies into the file any record this node committed after the file's
    /// last line, e.g. when the process died between commit and mirror.
    private func catchUp(_ sink: AuditFileSink) async throws {
        var after = try sink.lastSequence()
        while true {
            let page = try await repository.records(afterSeq: after, limit: 1000)
            guard let last = page.last else { break }
            let missing = page.filter { $0.node == node }
            if !missing.isEmpty {
                logger.warning("audit file behind the database; copying records over", metadata: ["records": "\(missing.count)"])
                try sink.append(missing)
            }
            after = last.seq
        }
        fileCaughtUp = true
    }
}
