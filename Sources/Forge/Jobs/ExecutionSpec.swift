public import Foundation

/// What to run, as the queue stores it (the `spec` document of a job).
/// Byte strings are base64 so any input survives JSON.
public struct ExecutionSpec: Sendable, Codable, Equatable {
    public struct File: Sendable, Codable, Equatable {
        public var name: String
        public var content: Data

        public init(name: String, content: Data) {
            self.name = name
            self.content = content
        }
    }

    public struct TestCase: Sendable, Codable, Equatable {
        public var stdin: Data
        public var expectedStdout: Data

        public init(stdin: Data, expectedStdout: Data) {
            self.stdin = stdin
            self.expectedStdout = expectedStdout
        }

        enum CodingKeys: String, CodingKey {
            case stdin
            case expectedStdout = "expected_stdout"
        }
    }

    public var language: String
    public var version: String
    /// The first file is the entry point.
    public var files: [File]
    public var stdin: Data
    public var arguments: [String]
    public var limits: LimitRequest
    public var compileLimits: LimitRequest
    /// With tests the program is graded: compiled once, run once per case.
    public var tests: [TestCase]?
    public var compare: CompareMode
    /// Request fields of a compatible API (Judge0) kept to be echoed back.
    public var compatibility: [String: String]?

    public init(
        language: String, version: String, files: [File], stdin: Data = Data(), arguments: [String] = [],
        limits: LimitRequest = LimitRequest(), compileLimits: LimitRequest = LimitRequest(), tests: [TestCase]? = nil,
        compare: CompareMode = .trimTrailingWhitespace, compatibility: [String: String]? = nil
    ) {
        self.compatibility = compatibility
        self.language = language
        self.version = version
        self.files = files
        self.stdin = stdin
        self.arguments = arguments
        self.limits = limits
        self.compileLimits = compileLimits
        self.tests = tests
        self.compare = compare
    }

    enum CodingKeys: String, CodingKey {
        case language, version, files, stdin, arguments, limits, tests, compare, compatibility
        case compileLimits = "compile_limits"
    }

    /// Bytes of source across the files.
    public var sourceBytes: Int { files.reduce(0) { $0 + $1.content.count } }
}

/// How a test's output is compared with the expected output.
public enum CompareMode: String, Sendable, Codable, CaseIterable {
    /// Byte for byte.
    case exact
    /// Trailing whitespace of every line and of the whole text is ignored:
    /// the rule Judge0 applies.
    case trimTrailingWhitespace = "trim_trailing_whitespace"
    /// Whitespace-separated tokens must match, however they are spaced.
    case tokens
}

/// What happened to an execution: the `result` document of a job.
public struct ExecutionOutcome: Sendable, Codable, Equatable {
    /// `accepted` when the program ran to exit 0 and, when graded, every
    /// case matched; otherwise the verdict of the compile or of the first
    /// case that failed.
    public var verdict: String
    public var language: String
    public var version: String
    public var compile: StageResult?
    /// The single run of an ungraded execution.
    public var run: StageResult?
    public var tests: [TestResult]?
    public var passed: Int?

    public init(
        verdict: String, language: String, version: String, compile: StageResult? = nil, run: StageResult? = nil,
        tests: [TestResult]? = nil, passed: Int? = nil
    ) {
        self.verdict = verdict
        self.language = language
        self.version = version
        self.compile = compile
        self.run = run
        self.tests = tests
        self.passed = passed
    }

    /// CPU time of every stage.
    public var cpuMilliseconds: Int {
        (compile?.cpuMilliseconds ?? 0) + (run?.cpuMilliseconds ?? 0) + (tests ?? []).reduce(0) { $0 + $1.cpuMilliseconds }
    }
}

/// One graded case.
public struct TestResult: Sendable, Codable, Equatable {
    public var index: Int
    /// `accepted`, `wrong_answer`, or the engine's verdict for the run.
    public var verdict: String
    public var exitCode: Int32?
    public var signal: Int32?
    public var timeLimit: Verdict.TimeLimit?
    public var cpuMilliseconds: Int
    public var wallMilliseconds: Int
    public var peakMemoryBytes: UInt64
    public var stdout: String
    public var stderr: String
    public var stdoutTruncated: Bool
    public var stderrTruncated: Bool

    enum CodingKeys: String, CodingKey {
        case index, verdict, signal, stdout, stderr
        case exitCode = "exit_code"
        case timeLimit = "time_limit"
        case cpuMilliseconds = "cpu_ms"
        case wallMilliseconds = "wall_ms"
        case peakMemoryBytes = "peak_memory_bytes"
        case stdoutTruncated = "stdout_truncated"
        case stderrTruncated = "stderr_truncated"
    }
}
