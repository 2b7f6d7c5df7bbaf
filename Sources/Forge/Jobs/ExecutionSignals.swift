public import Foundation
import Synchronization

/// In-process shortcuts between the API and the workers of one process:
/// a finished job wakes its waiters, a new job wakes an idle worker, and a
/// cancel reaches a local box at once. Other processes are reached through
/// the database (polls and heartbeats); these only make the common case fast.
public final class ExecutionSignals: Sendable {
    private struct Waiter {
        var token: UInt64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var next: UInt64 = 0
        var waiters: [UUID: [Waiter]] = [:]
        var running: [UUID: RunControl] = [:]
    }

    /// Keys jobs; `workKey` is the key idle workers wait on.
    static let workKey = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    private let state = Mutex(State())

    public init() {}

    /// Returns when `id` is signalled or after `timeout`, whichever is first.
    func wait(for id: UUID, timeout: Duration) async {
        let token = state.withLock { state -> UInt64 in
            state.next += 1
            return state.next
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            state.withLock { $0.waiters[id, default: []].append(Waiter(token: token, continuation: continuation)) }
            Task {
                try? await Task.sleep(for: timeout)
                self.resume(id: id, token: token)
            }
        }
    }

    private func resume(id: UUID, token: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters[id]?.firstIndex(where: { $0.token == token }) else { return nil }
            let waiter = state.waiters[id]?.remove(at: index)
            if state.waiters[id]?.isEmpty == true { state.waiters[id] = nil }
            return waiter
        }
        waiter?.continuation.resume()
    }

    /// Waits for `id`'s next signal, at most 200 ms: event readers poll the
    /// database for other processes' workers.
    public func waitBriefly(for id: UUID) async {
        await wait(for: id, timeout: .milliseconds(200))
    }

    func signal(_ id: UUID) {
        let waiters = state.withLock { $0.waiters.removeValue(forKey: id) } ?? []
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Wakes one idle worker.
    func workAvailable() {
        let waiter = state.withLock { state -> Waiter? in
            guard var waiters = state.waiters[Self.workKey], !waiters.isEmpty else { return nil }
            let first = waiters.removeFirst()
            state.waiters[Self.workKey] = waiters.isEmpty ? nil : waiters
            return first
        }
        waiter?.continuation.resume()
    }

    func register(_ id: UUID, control: RunControl) {
        state.withLock { $0.running[id] = control }
    }

    func unregister(_ id: UUID) {
        _ = state.withLock { $0.running.removeValue(forKey: id) }
    }

    /// Kills `id`'s box if it runs in this process.
    func cancelLocal(_ id: UUID) {
        state.withLock { $0.running[id] }?.cancel()
    }
}
