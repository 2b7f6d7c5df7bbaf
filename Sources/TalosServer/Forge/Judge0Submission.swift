import Forge
import Foundation
import TalosCore

/// A Judge0 submission body read into an execution: every field Judge0
/// accepts, checked the way Judge0 checks it, against the runtimes Talos
/// runs and the operator's maxima. Numbers are finite and in range before
/// any conversion (`UntrustedNumber`).
struct Judge0Submission {
    let runtimes: [Runtime]
    let maxima: SandboxLimits

    /// Judge0 ids of the languages Talos runs (its 1.13.1 ids).
    static let languageIDs: [String: Int] = ["python": 71, "javascript": 63, "go": 60, "rust": 73, "c": 50, "cpp": 54]

    enum Built {
        case success(ExecutionSpec)
        case failure(OrderedJSON)
    }

    /// A Judge0 submission as an execution, or Judge0's 422 body: every
    /// failing field with its messages.
    func read(_ body: [(String, OrderedJSON)], base64: Bool) -> Built {
        var values: [String: OrderedJSON] = [:]
        for (key, value) in body { values[key] = value }
        var errors: [(String, [String])] = []
        func fail(_ field: String, _ message: String) {
            if let index = errors.firstIndex(where: { $0.0 == field }) { errors[index].1.append(message) } else { errors.append((field, [message])) }
        }
        func text(_ key: String) -> Data? {
            guard let value = values[key] else { return nil }
            guard case .string(let string) = value else {
                if case .null = value { return nil }
                fail(key, "must be a string")
                return nil
            }
            if !base64 { return Data(string.utf8) }
            guard let decoded = Data(base64Encoded: string.filter { !$0.isWhitespace }) else {
                fail(key, "is not valid base64")
                return nil
            }
            return decoded
        }
        func number(_ key: String) -> Double? {
            guard let value = values[key] else { return nil }
            switch value {
            case .number(let text), .string(let text):
                // Finite values only: NaN and infinity would reach trapping conversions.
                guard let parsed = UntrustedNumber.finite(text) else {
                    fail(key, "is not a number")
                    return nil
                }
                return parsed
            case .null: return nil
            default:
                fail(key, "is not a number")
                return nil
            }
        }
        func flag(_ key: String) -> Bool {
            if case .bool(let value) = values[key] ?? .null { return value }
            return false
        }
        let source = text("source_code")
        if source == nil || source?.isEmpty == true { fail("source_code", "can't be blank") }
        var runtime: Runtime?
        switch values["language_id"] ?? .null {
        case .null: fail("language_id", "can't be blank")
        case .number(let text), .string(let text):
            runtime = runtimes.first { Self.languageIDs[$0.language].map(String.init) == text }
            if runtime == nil { fail("language_id", "language with id \(text.prefix(20)) doesn't exist") }
        default: fail("language_id", "language with id  doesn't exist")
        }
        let stdin = text("stdin")
        let expected = text("expected_output")
        var limits = LimitRequest()
        var echo: [String: String] = [:]
        if let cpu = number("cpu_time_limit") {
            let limit = Double(maxima.cpuMilliseconds) / 1000
            if cpu < 0 { fail("cpu_time_limit", "must be greater than or equal to 0") }
            else if cpu > limit { fail("cpu_time_limit", "must be less than or equal to \(limit)") }
            else { limits.cpuMilliseconds = max(1, Int(cpu * 1000)); echo["cpu_time_limit"] = String(cpu) }
        }
        if let extra = number("cpu_extra_time"), extra != 0 { fail("cpu_extra_time", "must be less than or equal to 0.0") }
        if let wall = number("wall_time_limit") {
            let limit = Double(maxima.wallMilliseconds) / 1000
            if wall < 1 { fail("wall_time_limit", "must be greater than or equal to 1") }
            else if wall > limit { fail("wall_time_limit", "must be less than or equal to \(limit)") }
            else { limits.wallMilliseconds = Int(wall * 1000); echo["wall_time_limit"] = String(wall) }
        }
        if let memory = number("memory_limit") {
            let limit = maxima.memoryMiB * 1024
            if memory < 2048 { fail("memory_limit", "must be greater than or equal to 2048") }
            else if memory > Double(limit) { fail("memory_limit", "must be less than or equal to \(limit)") }
            else { limits.memoryMiB = Int((memory / 1024).rounded(.up)); echo["memory_limit"] = String(Int(memory)) }
        }
        if let processes = number("max_processes_and_or_threads") {
            if processes < 1 { fail("max_processes_and_or_threads", "must be greater than 0") }
            else if let count = UntrustedNumber.integer(processes, in: 1...maxima.pids) {
                limits.pids = count
                echo["max_processes_and_or_threads"] = String(count)
            } else { fail("max_processes_and_or_threads", "must be less than or equal to \(maxima.pids)") }
        }
        if let size = number("max_file_size") {
            if let kilobytes = UntrustedNumber.integer(size, in: 0...(maxima.tmpfsMiB * 1024)), size >= 0 {
                if kilobytes >= 1024 { limits.tmpfsMiB = kilobytes / 1024; echo["max_file_size"] = String(kilobytes) }
            } else { fail("max_file_size", "must be less than or equal to \(maxima.tmpfsMiB * 1024)") }
        }
        if let stack = number("stack_limit"), stack < 0 || stack > 128000 { fail("stack_limit", "must be less than or equal to 128000") }
        if let runs = number("number_of_runs"), runs != 1 { fail("number_of_runs", "must be less than or equal to 1") }
        if flag("enable_per_process_and_thread_time_limit") { fail("enable_per_process_and_thread_time_limit", "this option cannot be enabled") }
        if flag("enable_per_process_and_thread_memory_limit") { fail("enable_per_process_and_thread_memory_limit", "this option cannot be enabled") }
        if flag("enable_network") { fail("enable_network", "enabling network is not allowed") }
        if case .string(let url) = values["callback_url"] ?? .null, !url.isEmpty { fail("callback_url", "setting callback is not allowed") }
        if case .string(let files) = values["additional_files"] ?? .null, !files.isEmpty { fail("additional_files", "setting additional files is not allowed") }
        if case .string(let options) = values["compiler_options"] ?? .null, !options.isEmpty { fail("compiler_options", "setting compiler options is not allowed") }
        var arguments: [String] = []
        if case .string(let line) = values["command_line_arguments"] ?? .null {
            if line.utf8.count > 512 { fail("command_line_arguments", "is too long (maximum is 512 characters)") }
            arguments = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init)
            echo["command_line_arguments"] = line
        }
        if flag("redirect_stderr_to_stdout") { echo["redirect_stderr_to_stdout"] = "true" }
        guard errors.isEmpty, let runtime, let source else {
            return .failure(.object(errors.map { ($0.0, .array($0.1.map(OrderedJSON.string))) }))
        }
        if let expected { echo["expected_output"] = expected.base64EncodedString() }
        echo["stdin_present"] = stdin == nil ? "false" : "true"
        return .success(
            ExecutionSpec(
                language: runtime.language, version: runtime.version, files: [ExecutionSpec.File(name: "", content: source)],
                stdin: stdin ?? Data(), arguments: arguments, limits: limits,
                tests: expected.map { [ExecutionSpec.TestCase(stdin: stdin ?? Data(), expectedStdout: $0)] },
                compare: .trimTrailingWhitespace, compatibility: echo
            )
        )
    }
}
