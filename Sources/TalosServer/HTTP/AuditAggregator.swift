import Foundation
import Ledger
import Logging
import ServiceLifecycle
import Synchronization
import TalosCore

/// Keeps "everything is audited" true without letting traffic volume decide
/// the audit trail's size: probe requests and rate-limit refusals are
/// counted per (action, target, outcome, source) and written as one record
/// per key per window, with the count and the first and last time seen.
///
/// Memory is bounded: past `maximumKeys` distinct keys in one window, the
/// rest are counted under one overflow key per action (source `*`).
final class AuditAggregator: Service, Sendable {
    struct Key: Hashable {
        var actor: String
        var action: String
        var target: String
        var outcome: AuditOutcome
        var sourceIP: String
    }

    private struct Tally {
        var count = 0
        var first: Date
        var last: Date
        var lastRequestID: String?
    }

    let audit: AuditLog
    let logger: Logger
    let window: Duration
    let maximumKeys: Int
    private let tallies = Mutex([Key: Tally]())

    init(audit: AuditLog, logger: Logger, window: Duration = .seconds(60), maximumKeys: Int = 10_000) {
        self.audit = audit
        self.logger = logger
        self.window = window
        self.maximumKeys = maximumKeys
    }

    /// Counts one occurrence toward its key's record.
    func note(actor: String, action: String, target: String, outcome: AuditOutcome, sourceIP: String, requestID: String?) {
        let now = Date()
        tallies.withLock { tallies in
            // Sources are keyed as the rate limiter keys them (IPv6 by /64), so
            // rotating addresses inside one prefix cannot flood the keys.
            let source = ClientAddress.bucketKey(sourceIP)
            var key = Key(actor: actor, action: action, target: String(target.prefix(200)), outcome: outcome, sourceIP: source)
            if tallies[key] == nil, tallies.count >= maximumKeys {
                key = Key(actor: "*", action: action, target: "*", outcome: outcome, sourceIP: "*")
            }
            var tally = tallies[key] ?? Tally(first: now, last: now)
            tally.count += 1
            tally.last = now
            tally.lastRequestID = requestID
            tallies[key] = tally
        }
    }

    /// Writes one record per key counted since the last flush.
    func flush() async {
        let drained = tallies.withLock { tallies in
            defer { tallies.removeAll() }
            return tallies
        }
        let seconds = window.components.seconds
        for (key, tally) in drained.sorted(by: { $0.value.first < $1.value.first }) {
            let event = AuditEvent(
                actor: key.actor, action: key.action, target: key.target, outcome: key.outcome, requestID: tally.lastRequestID,
                sourceIP: key.sourceIP,
                details: [
                    "count": String(tally.count), "aggregated": "true", "window_seconds": String(seconds),
                    "first": Timestamp.string(from: tally.first), "last": Timestamp.string(from: tally.last),
                ]
            )
            do {
                try await audit.record(event)
            } catch {
                logger.error("aggregated audit record could not be written", metadata: ["action": .string(key.action), "count": "\(tally.count)"])
            }
        }
    }

    /// Flushes every window until shutdown, then once more.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.window)
                await self.flush()
            }
        }
        await flush()
    }
}
