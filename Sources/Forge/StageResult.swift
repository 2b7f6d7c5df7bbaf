/// What happened in one stage.
public struct StageResult: Sendable, Codable, Equatable {
    public var stage: String
    public var verdict: Verdict
    /// For `time_limit_exceeded`: `cpu` or `wall`.
    public var timeLimit: Verdict.TimeLimit?
    public var exitCode: Int32?
    public var signal: Int32?
    public var stdout: String
    public var stderr: String
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool
    public var cpuMilliseconds: Int
    public var wallMilliseconds: Int
    public var peakMemoryBytes: UInt64
    /// Why the box could not be set up, for the operator (`talos run`, the
    /// log and the audit trail); never sent to the program's owner.
    public var setupFailure: String? = nil
    /// System calls the seccomp profile refused on purpose, by name, with
    /// how often; for the operator and the audit trail.
    public var refusedSyscalls: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case stage, verdict, signal, stdout, stderr
        case timeLimit = "time_limit"
        case exitCode = "exit_code"
        case stdoutTruncated = "stdout_truncated"
        case stderrTruncated = "stderr_truncated"
        case cpuMilliseconds = "cpu_ms"
        case wallMilliseconds = "wall_ms"
        case peakMemoryBytes = "peak_memory_bytes"
    }
}

/// The outcome of a whole execution: the verdict of the last stage that ran.
public struct ExecutionResult: Sendable, Codable, Equatable {
    public var language: String
    public var version: String
    public var verdict: Verdict
    public var compile: StageResult?
    public var run: StageResult?
}
