import Foundation
import Synchronization

/// Boxes created ahead of their jobs (`crun create`), so that a job's first
/// stage only has to be started: creating a box (namespaces, mounts, the
/// seccomp filter, the cgroup) is the expensive part, and here it happens
/// off the critical path.
///
/// One queue per language, for its first stage (the compile stage where
/// there is one) at the stage's default work-space size; a job asking for
/// another size gets a box made for it. Only languages that were asked for
/// are kept, `size` boxes each. Single use: a box leaves the pool when it is
/// taken and is deleted after its stage, whatever happened in it.
final class BoxPool: Sendable {
    private struct State {
        var ready: [String: [CreatedBox]] = [:]
        /// Languages asked for, in the order they were first asked for.
        var wanted: [String] = []
        var refilling = false
        var closed = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    let size: Int
    private let state = Mutex(State())

    init(size: Int) {
        self.size = max(0, size)
    }

    /// A ready box for `language`'s first stage, if one is waiting; either
    /// way the language's queue is refilled in the background with `make`,
    /// which creates one box, or returns nil when it cannot now (no uid
    /// range free, or crun failed; the next demand tries again).
    func take(_ language: String, make: @escaping @Sendable (String) -> CreatedBox?) -> CreatedBox? {
        guard size > 0 else { return nil }
        let (box, start) = state.withLock { state -> (CreatedBox?, Bool) in
            guard !state.closed else { return (nil, false) }
            if !state.wanted.contains(language) { state.wanted.append(language) }
            let box = state.ready[language]?.isEmpty == false ? state.ready[language]?.removeFirst() : nil
            let start = !state.refilling
            state.refilling = true
            return (box, start)
        }
        if start { startRefill(make) }
        return box
    }

    /// The ids and cgroups of the boxes waiting in the pool.
    var waiting: [CreatedBox] {
        state.withLock { $0.ready.values.flatMap { $0 } }
    }

    /// Returns once no box is being created.
    func idle() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if !state.refilling { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Stops refilling and hands back every waiting box, for deletion.
    /// Blocks until a box being created is done (tens of milliseconds).
    func close() -> [CreatedBox] {
        state.withLock { $0.closed = true }
        while state.withLock({ $0.refilling }) { usleep(1000) }
        return state.withLock { state in
            let boxes = state.ready.values.flatMap { $0 }
            state.ready = [:]
            return boxes
        }
    }

    private func startRefill(_ make: @escaping @Sendable (String) -> CreatedBox?) {
        let thread = Thread { [self] in refill(make) }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Fills the emptiest wanted queue, one box at a time, until every
    /// queue is full, the pool closes, or a box cannot be made.
    private func refill(_ make: @escaping @Sendable (String) -> CreatedBox?) {
        while true {
            let next = state.withLock { state -> String? in
                guard !state.closed else { return nil }
                return state.wanted.filter { (state.ready[$0]?.count ?? 0) < size }
                    .min { (state.ready[$0]?.count ?? 0) < (state.ready[$1]?.count ?? 0) }
            }
            guard let language = next, let box = make(language) else { break }
            // Kept even when the pool closed meanwhile: the closer collects
            // the waiting boxes only once this refill is over.
            state.withLock { $0.ready[language, default: []].append(box) }
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.refilling = false
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        waiters.forEach { $0.resume() }
    }
}

/// Deletes finished boxes in the background, in the order given, so a
/// stage's result is handed back before its box is taken apart.
final class BoxReaper: Sendable {
    enum Work: Sendable {
        /// `crun delete --force`: kills what is left and removes the cgroup.
        case container(String)
        /// The bundle directory, and the output tmpfs under it.
        case bundle(String)
        /// A uid range, free again once every box in it is gone.
        case range(Int)
    }

    private struct State {
        var queue: [Work] = []
        var running = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let crun: [String]
    private let ranges: AsyncSlots

    init(crun: [String], ranges: AsyncSlots) {
        self.crun = crun
        self.ranges = ranges
    }

    func submit(_ work: [Work]) {
        guard !work.isEmpty else { return }
        let start = state.withLock { state -> Bool in
            state.queue += work
            defer { state.running = true }
            return !state.running
        }
        guard start else { return }
        let thread = Thread { [self] in drain() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Blocks until everything submitted so far is done.
    func waitUntilIdle() {
        while state.withLock({ $0.running }) { usleep(1000) }
    }

    /// Returns once everything submitted so far is done.
    func idle() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if !state.running { return true }
                state.idleWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func drain() {
        while true {
            let (next, waiters) = state.withLock { state -> (Work?, [CheckedContinuation<Void, Never>]) in
                guard state.queue.isEmpty else { return (state.queue.removeFirst(), []) }
                state.running = false
                defer { state.idleWaiters = [] }
                return (nil, state.idleWaiters)
            }
            guard let next else {
                waiters.forEach { $0.resume() }
                return
            }
            switch next {
            case .container(let id): _ = try? HostProcess.run(crun + ["delete", "--force", id])
            case .bundle(let directory): BoxBundle.remove(directory: directory)
            case .range(let slot): ranges.release(slot)
            }
        }
    }
}
