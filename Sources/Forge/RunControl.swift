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

    private let cancelled = Atomic<Bool>(false)
    private let onOutput: @Sendable (Output) -> Void

    public init(onOutput: @escaping @Sendable (Output) -> Void = { _ in }) {
        self.onOutput = onOutput
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
