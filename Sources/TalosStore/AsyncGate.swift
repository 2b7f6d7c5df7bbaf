import Synchronization

/// A first-come, first-served async mutex.
///
/// SQLite admits one writer per file. Queuing this process's writers here,
/// instead of in SQLite's busy handler, keeps blocked threads from piling up
/// while the lock holder waits for one to commit.
final class AsyncGate: Sendable {
    private struct State {
        var locked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.locked {
                    state.waiters.append(continuation)
                    return false
                }
                state.locked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.locked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }

    private static let gates = Mutex<[String: AsyncGate]>([:])

    /// The gate shared by every pool this process opens on `path`.
    static func forFile(_ path: String) -> AsyncGate {
        gates.withLock { gates in
            if let gate = gates[path] { return gate }
            let gate = AsyncGate()
            gates[path] = gate
            return gate
        }
    }
}
