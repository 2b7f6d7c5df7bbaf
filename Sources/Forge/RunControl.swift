import Synchronization

/// A handle on an execution in progress: lets its owner stop it, and
/// receives its output as the program produces it.
///
/// Cancelling kills the box at once (within the watchdog's 20 ms tick); the
/// stages that already ran keep their results, the rest never start.
public final class RunControl: Sendable {
    /// One piece of output, as read from a box's pipe and already within the
    /// stream's cap.
    public struct Output: Sendable {
        /// `compile`, `run`, or `test:N` for the Nth test case (from 0).
        public var stage: String
        /// `stdout` or `stderr`.
        public var stream: String
        public var bytes: [UInt8]
    }

    /// CPU and wall time one job may use over all its stages together
    /// (compile and every run), so many stages cannot add up to hours.
    public struct Budget: Sendable, Equatable {
        public var cpuMilliseconds: Int
        public var wallMilliseconds: Int

        public init(cpuMilliseconds: Int, wallMilliseconds: Int) {
            self.cpuMilliseconds = cpuMilliseconds
            self.wallMilliseconds = wallMilliseconds
        }
    }

    private struct Usage {
        var finishedCPUNanoseconds: UInt64 = 0
        var finishedWallMilliseconds = 0
        var currentCPUNanoseconds: UInt64 = 0
        var budgetExhausted = false
    }

    private let cancelled = Atomic<Bool>(false)
    private let usage = Mutex(Usage())
    private let onOutput: @Sendable (Output) -> Void
    public let budget: Budget?

    public init(budget: Budget? = nil, onOutput: @escaping @Sendable (Output) -> Void = { _ in }) {
        self.budget = budget
        self.onOutput = onOutput
    }

    /// CPU used so far by finished stages and the one running now: what a
    /// worker charges to the owner's daily quota while the job runs.
    public var cpuMillisecondsSoFar: Int {
        usage.withLock { Int(($0.finishedCPUNanoseconds + $0.currentCPUNanoseconds) / 1_000_000) }
    }

    /// True once a stage was skipped for the job's budget, or stopped for
    /// time while it ran under a limit the budget had cut.
    public var budgetExhausted: Bool { usage.withLock { $0.budgetExhausted } }

    /// A stage that ran under a budget-cut limit ended on that limit.
    func noteBudgetStop() {
        usage.withLock { $0.budgetExhausted = true }
    }

    /// The watchdog's latest reading for the running stage.
    func noteCurrentCPU(nanoseconds: UInt64) {
        usage.withLock { $0.currentCPUNanoseconds = nanoseconds }
    }

    func finishStage(cpuMilliseconds: Int, wallMilliseconds: Int) {
        usage.withLock { usage in
            usage.finishedCPUNanoseconds += UInt64(max(0, cpuMilliseconds)) * 1_000_000
            usage.finishedWallMilliseconds += max(0, wallMilliseconds)
            usage.currentCPUNanoseconds = 0
        }
    }

    /// `limits` cut to what is left of the budget; nil when nothing is left
    /// (the stage must not start).
    func limitsWithinBudget(_ limits: SandboxLimits) -> SandboxLimits? {
        guard let budget else { return limits }
        return usage.withLock { usage in
            let cpuLeft = budget.cpuMilliseconds - Int(usage.finishedCPUNanoseconds / 1_000_000)
            let wallLeft = budget.wallMilliseconds - usage.finishedWallMilliseconds
            guard cpuLeft > 0, wallLeft > 0 else {
                usage.budgetExhausted = true
                return nil
            }
            var cut = limits
            cut.cpuMilliseconds = min(cut.cpuMilliseconds, cpuLeft)
            cut.wallMilliseconds = min(cut.wallMilliseconds, wallLeft)
            return cut
        }
    }

    public func cancel() {
        cancelled.store(true, ordering: .sequentiallyConsistent)
    }

    public var isCancelled: Bool {
        cancelled.load(ordering: .sequentiallyConsistent)
    }

    func emit(stage: String, stream: String, bytes: ArraySlice<UInt8>) {
        guard !bytes.isEmpty else { return }
        onOutput(Output(stage: stage, stream: stream, bytes: Array(bytes)))
    }
}
