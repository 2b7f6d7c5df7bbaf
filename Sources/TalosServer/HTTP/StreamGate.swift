import Synchronization

/// Caps open server-sent-event streams, per principal and in total, so no
/// one (and not everyone together) can hold the server's connections with
/// streams that live up to 15 minutes each.
final class StreamGate: Sendable {
    /// One admitted stream; gives its place back once, when released or
    /// when the response holding it is gone, whichever comes first.
    final class Ticket: Sendable {
        private let gate: StreamGate
        private let principal: String
        private let released = Atomic<Bool>(false)

        fileprivate init(gate: StreamGate, principal: String) {
            self.gate = gate
            self.principal = principal
        }

        func release() {
            guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
            gate.leave(principal)
        }

        deinit { release() }
    }

    enum Admission {
        case admitted(Ticket)
        /// Refused, with the cap that refused it.
        case refused(cap: String)
    }

    let maximumTotal: Int
    let maximumPerPrincipal: Int
    private let counts: Mutex<CappedCounts>

    init(maximumTotal: Int, maximumPerPrincipal: Int) {
        self.maximumTotal = maximumTotal
        self.maximumPerPrincipal = maximumPerPrincipal
        counts = Mutex(CappedCounts(maximumTotal: maximumTotal, maximumPerKey: maximumPerPrincipal))
    }

    func enter(_ principal: String) -> Admission {
        switch counts.withLock({ $0.take(principal) }) {
        case .total: return .refused(cap: "http.max_streams")
        case .perKey: return .refused(cap: "http.max_streams_per_principal")
        case nil: return .admitted(Ticket(gate: self, principal: principal))
        }
    }

    var open: Int { counts.withLock { $0.total } }

    fileprivate func leave(_ principal: String) {
        counts.withLock { $0.give(principal) }
    }
}
