import CoreFoundation
import Forge
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TalosCore

/// Judge0 CE 1.13.1's API under `/judge0`, on the Talos queue: the same
/// routes, query parameters, fields, key order, status ids and error
/// bodies, so Judge0 clients (the official Python SDK included) work
/// unchanged. Authentication is a Talos access token, in `X-Auth-Token` as
/// Judge0 expects or as a Bearer header. Submissions are executions: a
/// token is an execution id, and each caller sees only their own.
///
/// What Talos refuses that Judge0 may allow: network access, callbacks,
/// compiler options, additional files, per-process limits and more than one
/// run per submission (each is answered as Judge0 answers a disabled option).
struct Judge0Controller {
    let execution: ExecutionService
    let sessions: SessionWatch

    /// Judge0 ids of the languages Talos runs (its 1.13.1 ids).
    static let languageIDs = Judge0Submission.languageIDs
    static let displayNames: [String: String] = [
        "python": "Python", "javascript": "JavaScript (Node.js)", "go": "Go", "rust": "Rust", "c": "C (GCC)", "cpp": "C++ (GCC)",
    ]

    static let statuses: [(Int, String)] = [
        (1, "In Queue"), (2, "Processing"), (3, "Accepted"), (4, "Wrong Answer"), (5, "Time Limit Exceeded"),
        (6, "Compilation Error"), (7, "Runtime Error (SIGSEGV)"), (8, "Runtime Error (SIGXFSZ)"), (9, "Runtime Error (SIGFPE)"),
        (10, "Runtime Error (SIGABRT)"), (11, "Runtime Error (NZEC)"), (12, "Runtime Error (Other)"), (13, "Internal Error"),
        (14, "Exec Format Error"),
    ]

    /// Every field of a submission, in the order Judge0 writes them.
    static let allFields = [
        "source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at", "finished_at", "time", "memory",
        "stderr", "token", "number_of_runs", "cpu_time_limit", "cpu_extra_time", "wall_time_limit", "memory_limit", "stack_limit",
        "max_processes_and_or_threads", "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
        "max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time", "compiler_options",
        "command_line_arguments", "redirect_stderr_to_stdout", "callback_url", "additional_files", "enable_network", "status",
        "language",
    ]
    static let defaultFields: Set<String> = ["token", "time", "memory", "stdout", "stderr", "compile_output", "message", "status"]
    static let maximumBatch = 20
    static let utf8Error = "some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter"

    func register(on routes: DeclaredRoutes) {
        let run = RouteAccess.authenticated(.executionsRun)
        let read = RouteAccess.authenticated(.runtimesRead)
        routes.on(.post, "/judge0/submissions", run) { request, context -> Response in
            let caller = try ExecutionsController.caller(context)
            let query = request.uri.queryParameters
            let base64 = query["base64_encoded"] == "true"
            guard case .fields(let fields) = Self.fields(query["fields"].map(String.init)) else {
                return Self.invalidFields(query["fields"].map(String.init))
            }
            guard case .object(let body) = try await Self.body(request, context) else {
                return Self.reply(.badRequest, .object([("error", .string("the body must be a JSON object"))]))
            }
            let spec: ExecutionSpec
            switch Judge0Submission(runtimes: execution.catalog.runtimes, maxima: execution.policy.maxima).read(body, base64: base64) {
            case .failure(let errors): return Self.reply(.unprocessableContent, errors)
            case .success(let built): spec = built
            }
            let job: ExecutionJob
            switch await Self.submit(spec, execution: execution, caller: caller) {
            case .failure(let refusal): return refusal
            case .success(let queued): job = queued
            }
            guard query["wait"] == "true" else {
                return Self.reply(.created, .object([("token", .string(job.id.uuidString.lowercased()))]))
            }
            let finished = try await sessions.wait(
                for: job.id, caller: caller, principal: try context.caller(), seconds: execution.settings.maximumWaitSeconds, execution: execution
            )
            guard let document = render(finished, fields: fields, base64: base64) else {
                return Self.reply(.created, .object([("error", .string(Self.utf8Error)), ("token", .string(job.id.uuidString.lowercased()))]))
            }
            return Self.reply(.created, document)
        }
        routes.on(.get, "/judge0/submissions/batch", run) { request, context -> Response in
            let caller = try ExecutionsController.caller(context)
            let query = request.uri.queryParameters
            let base64 = query["base64_encoded"] == "true"
            guard case .fields(let fields) = Self.fields(query["fields"].map(String.init)) else {
                return Self.invalidFields(query["fields"].map(String.init))
            }
            let text = query["tokens"].map(String.init) ?? request.headers[HTTPField.Name("tokens")!] ?? ""
            let tokens = text.split(separator: ",").map(String.init)
            if let refusal = Self.batchSizeRefusal(tokens.count) { return refusal }
            var documents: [OrderedJSON] = []
            for token in tokens {
                guard let id = UUID(uuidString: token), let job = try? await execution.job(id, for: caller) else {
                    documents.append(.null)
                    continue
                }
                guard let document = render(job, fields: fields, base64: base64) else {
                    return Self.reply(
                        .badRequest,
                        .object([("error", .string("some attributes for one or more submissions cannot be converted to UTF-8, use base64_encoded=true query parameter"))])
                    )
                }
                documents.append(document)
            }
            return Self.reply(.ok, .object([("submissions", .array(documents))]))
        }
        routes.on(.post, "/judge0/submissions/batch", run) { request, context -> Response in
            let caller = try ExecutionsController.caller(context)
            let base64 = request.uri.queryParameters["base64_encoded"] == "true"
            guard case .object(let body) = try await Self.body(request, context),
                case .array(let items) = body.first(where: { $0.0 == "submissions" })?.1 ?? .null
            else {
                return Self.reply(.badRequest, .object([("error", .string("there should be at least one submission in a batch"))]))
            }
            if let refusal = Self.batchSizeRefusal(items.count) { return refusal }
            var answers: [OrderedJSON] = []
            var accepted = 0
            for item in items {
                guard case .object(let fields) = item else {
                    answers.append(.object([("error", .string("each submission must be a JSON object"))]))
                    continue
                }
                switch Judge0Submission(runtimes: execution.catalog.runtimes, maxima: execution.policy.maxima).read(fields, base64: base64) {
                case .failure(let errors):
                    answers.append(errors)
                case .success(let spec):
                    switch await Self.submit(spec, execution: execution, caller: caller) {
                    case .success(let job):
                        accepted += 1
                        answers.append(.object([("token", .string(job.id.uuidString.lowercased()))]))
                    case .failure(let refusal):
                        answers.append(.object([("error", .string(refusal.status == .serviceUnavailable ? "queue is full" : "quota exceeded"))]))
                    }
                }
            }
            return Self.reply(accepted > 0 ? .created : .unprocessableContent, .array(answers))
        }
        routes.on(.get, "/judge0/submissions/{token}", run) { request, context -> Response in
            let caller = try ExecutionsController.caller(context)
            let query = request.uri.queryParameters
            let base64 = query["base64_encoded"] == "true"
            guard case .fields(let fields) = Self.fields(query["fields"].map(String.init)) else {
                return Self.invalidFields(query["fields"].map(String.init))
            }
            guard let text = context.parameters.get("token"), let id = UUID(uuidString: text),
                let job = try? await execution.job(id, for: caller)
            else { return Response(status: .notFound) }
            guard let document = render(job, fields: fields, base64: base64) else {
                return Self.reply(.badRequest, .object([("error", .string(Self.utf8Error))]))
            }
            return Self.reply(.ok, document)
        }
        routes.on(.get, "/judge0/languages", read) { _, _ -> Response in
            let languages = execution.catalog.runtimes.compactMap { runtime -> (Int, String)? in
                Self.languageIDs[runtime.language].map { ($0, Self.name(runtime)) }
            }.sorted { $0.1 < $1.1 }
            return Self.reply(.ok, .array(languages.map { .object([("id", .int($0.0)), ("name", .string($0.1))]) }))
        }
        routes.on(.get, "/judge0/languages/{id}", read) { _, context -> Response in
            guard let text = context.parameters.get("id"), let id = Int(text),
                let runtime = execution.catalog.runtimes.first(where: { Self.languageIDs[$0.language] == id })
            else { return Response(status: .notFound) }
            return Self.reply(
                .ok,
                .object([
                    ("id", .int(id)), ("name", .string(Self.name(runtime))), ("is_archived", .bool(false)),
                    ("source_file", .string(runtime.sourceFile)),
                    ("compile_cmd", .optional(runtime.compile.map { $0.argv.joined(separator: " ") })),
                    ("run_cmd", .string(runtime.run.argv.joined(separator: " "))),
                ])
            )
        }
        routes.on(.get, "/judge0/statuses", read) { _, _ -> Response in
            Self.reply(.ok, .array(Self.statuses.map { .object([("id", .int($0.0)), ("description", .string($0.1))]) }))
        }
        routes.on(.get, "/judge0/about", read) { _, _ -> Response in
            Self.reply(
                .ok,
                .object([
                    ("version", .string("1.13.1")), ("homepage", .string("https://localhost/judge0")),
                    ("source_code", .string("Talos (Judge0 CE 1.13.1 compatible API)")), ("maintainer", .string("the operator of this Talos")),
                ])
            )
        }
        routes.on(.get, "/judge0/config_info", read) { _, _ -> Response in
            Self.reply(.ok, configInfo())
        }
    }

    static func name(_ runtime: Runtime) -> String {
        "\(displayNames[runtime.language] ?? runtime.language) (\(runtime.version))"
    }

    static func seconds(_ milliseconds: Int) -> String {
        String(format: "%.1f", Double(milliseconds) / 1000)
    }

    /// The configuration keys of Judge0 1.13.1, with Talos's values.
    func configInfo() -> OrderedJSON {
        let defaults = execution.policy.defaults
        let maxima = execution.policy.maxima
        return .object([
            ("maintenance_mode", .bool(false)), ("enable_wait_result", .bool(true)), ("enable_compiler_options", .bool(false)),
            ("allowed_languages_for_compile_options", .array([])), ("enable_command_line_arguments", .bool(true)),
            ("enable_submission_delete", .bool(false)), ("enable_callbacks", .bool(false)), ("callbacks_max_tries", .int(3)),
            ("callbacks_timeout", .number("5.0")), ("enable_additional_files", .bool(false)),
            ("max_queue_size", .int(execution.settings.maximumQueued)),
            ("cpu_time_limit", .number(Self.seconds(defaults.cpuMilliseconds))),
            ("max_cpu_time_limit", .number(Self.seconds(maxima.cpuMilliseconds))), ("cpu_extra_time", .number("0.0")),
            ("max_cpu_extra_time", .number("0.0")), ("wall_time_limit", .number(Self.seconds(defaults.wallMilliseconds))),
            ("max_wall_time_limit", .number(Self.seconds(maxima.wallMilliseconds))), ("memory_limit", .int(defaults.memoryMiB * 1024)),
            ("max_memory_limit", .int(maxima.memoryMiB * 1024)), ("stack_limit", .int(64000)), ("max_stack_limit", .int(128000)),
            ("max_processes_and_or_threads", .int(defaults.pids)), ("max_max_processes_and_or_threads", .int(maxima.pids)),
            ("enable_per_process_and_thread_time_limit", .bool(false)), ("allow_enable_per_process_and_thread_time_limit", .bool(false)),
            ("enable_per_process_and_thread_memory_limit", .bool(false)),
            ("allow_enable_per_process_and_thread_memory_limit", .bool(false)), ("max_file_size", .int(defaults.tmpfsMiB * 1024)),
            ("max_max_file_size", .int(maxima.tmpfsMiB * 1024)), ("number_of_runs", .int(1)), ("max_number_of_runs", .int(1)),
            ("redirect_stderr_to_stdout", .bool(false)), ("max_extract_size", .int(0)), ("enable_batched_submissions", .bool(true)),
            ("max_submission_batch_size", .int(Self.maximumBatch)), ("submission_cache_duration", .number("0.0")),
            ("use_docs_as_homepage", .bool(false)), ("allow_enable_network", .bool(false)), ("enable_network", .bool(false)),
        ])
    }

    // MARK: Requests

    /// The request body as ordered JSON; problems for a wrong type or bad JSON.
    static func body(_ request: Request, _ context: TalosRequestContext) async throws -> OrderedJSON {
        let bytes = try await TalosJSONDecoder.body(of: request, context: context)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            throw Problem.badRequest("The body is not valid JSON.")
        }
        return OrderedJSON.from(parsed: object)
    }

    /// Queues `spec` or answers as Judge0 does when it cannot.
    enum Submitted {
        case success(ExecutionJob)
        case failure(Response)
    }

    static func submit(_ spec: ExecutionSpec, execution: ExecutionService, caller: ExecutionCaller) async -> Submitted {
        do {
            var named = spec
            if let runtime = try? execution.catalog.runtime(for: spec.language), named.files.count == 1, named.files[0].name.isEmpty {
                named.files[0].name = runtime.sourceFile
            }
            return .success(try await execution.submit(named, api: "judge0", by: caller))
        } catch let error as ForgeError {
            switch error.category {
            case .queueFull: return .failure(reply(.serviceUnavailable, .object([("error", .string("queue is full"))]), retryAfter: 5))
            case .quotaExceeded(let name):
                return .failure(reply(.tooManyRequests, .object([("error", .string("the \(name) quota of your role is used up"))]), retryAfter: 60))
            case .invalid: return .failure(reply(.unprocessableContent, .object([("error", .array([.string(error.reason)]))])))
            default: return .failure(reply(.internalServerError, .object([("error", .string("internal error"))])))
            }
        } catch {
            return .failure(reply(.internalServerError, .object([("error", .string("internal error"))])))
        }
    }

    static func batchSizeRefusal(_ count: Int) -> Response? {
        if count == 0 { return reply(.badRequest, .object([("error", .string("there should be at least one submission in a batch"))])) }
        if count > maximumBatch {
            return reply(.badRequest, .object([("error", .string("number of submissions in a batch should be less than or equal to \(maximumBatch)"))]))
        }
        return nil
    }

    enum FieldChoice {
        case fields(Set<String>)
        case invalid([String])
    }

    /// The requested fields, or the unknown names among them.
    static func fields(_ parameter: String?) -> FieldChoice {
        guard let parameter, !parameter.isEmpty else { return .fields(defaultFields) }
        let names = parameter.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if names.contains("*") { return .fields(Set(allFields)) }
        let unknown = names.filter { !allFields.contains($0) }
        return unknown.isEmpty ? .fields(Set(names)) : .invalid(unknown)
    }

    /// Judge0's 400 for unknown field names.
    static func invalidFields(_ parameter: String?) -> Response {
        guard case .invalid(let unknown) = fields(parameter) else { return Response(status: .badRequest) }
        return reply(.badRequest, .object([("error", .string("invalid fields: [\(unknown.map { String($0.prefix(40)) }.joined(separator: ", "))]"))]))
    }

    static func reply(_ status: HTTPResponse.Status, _ body: OrderedJSON, retryAfter: Int? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.text)))
    }

    // MARK: Responses

    /// A submission with the requested fields in Judge0's order; nil when a
    /// text is not valid UTF-8 and base64 was not asked for.
    func render(_ job: ExecutionJob, fields: Set<String>, base64: Bool) -> OrderedJSON? {
        let decoder = JSONDecoder()
        let spec = try? decoder.decode(ExecutionSpec.self, from: Data(job.spec.utf8))
        let outcome = job.result.flatMap { try? decoder.decode(ExecutionOutcome.self, from: Data($0.utf8)) }
        let echo = spec?.compatibility ?? [:]
        let stage = Self.runStage(outcome)
        let status = Self.status(job, outcome: outcome, stage: stage)
        let defaults = execution.policy.defaults
        var stdout = stage?.stdout
        var stderr = stage?.stderr
        if echo["redirect_stderr_to_stdout"] == "true", let err = stderr, !err.isEmpty {
            stdout = (stdout ?? "") + err
            stderr = nil
        }
        let compileOutput = outcome?.compile.flatMap { compile -> String? in
            compile.verdict == .ok ? nil : (compile.timeLimit != nil ? "Compilation time limit exceeded." : compile.stdout + compile.stderr)
        }
        var invalidText = false
        func textValue(_ bytes: Data?) -> OrderedJSON {
            guard let bytes, !bytes.isEmpty else { return .null }
            if base64 { return .string(Self.rubyBase64(bytes)) }
            guard let string = String(data: bytes, encoding: .utf8) else {
                invalidText = true
                return .null
            }
            return .string(string)
        }
        func outputValue(_ string: String?) -> OrderedJSON {
            guard let string, !string.isEmpty else { return .null }
            // Output was read as UTF-8 with replacement characters for bad bytes.
            if !base64, string.contains("\u{FFFD}") { invalidText = true }
            return textValue(Data(string.utf8))
        }
        let languageID = Self.languageIDs[job.language] ?? 0
        let runtime = try? execution.catalog.runtime(for: job.language)
        let finished = job.status.isFinal
        var members: [(String, OrderedJSON)] = []
        for field in Self.allFields where fields.contains(field) {
            let value: OrderedJSON
            switch field {
            case "source_code": value = textValue(spec?.files.first?.content)
            case "language_id": value = .int(languageID)
            case "stdin": value = echo["stdin_present"] == "true" ? textValue(spec?.stdin) : .null
            case "expected_output": value = textValue(echo["expected_output"].flatMap { Data(base64Encoded: $0) })
            case "stdout": value = outputValue(stdout)
            case "status_id": value = .int(status.0)
            case "created_at": value = .optional(isoTime(job.createdAt))
            case "finished_at": value = .optional(finished ? isoTime(job.finishedAt) : nil)
            case "time": value = stage.map { .string(String(format: "%.3f", Double($0.cpuMilliseconds) / 1000)) } ?? .null
            case "memory": value = stage.map { .int(Int($0.peakMemoryBytes / 1024)) } ?? .null
            case "stderr": value = outputValue(stderr)
            case "token": value = .string(job.id.uuidString.lowercased())
            case "number_of_runs": value = .int(1)
            case "cpu_time_limit": value = .string(echo["cpu_time_limit"] ?? Self.seconds(defaults.cpuMilliseconds))
            case "cpu_extra_time": value = .string("0.0")
            case "wall_time_limit": value = .string(echo["wall_time_limit"] ?? Self.seconds(defaults.wallMilliseconds))
            case "memory_limit": value = .int(Int(echo["memory_limit"] ?? "") ?? defaults.memoryMiB * 1024)
            case "stack_limit": value = .int(64000)
            case "max_processes_and_or_threads": value = .int(Int(echo["max_processes_and_or_threads"] ?? "") ?? defaults.pids)
            case "enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit", "enable_network": value = .bool(false)
            case "max_file_size": value = .int(Int(echo["max_file_size"] ?? "") ?? defaults.tmpfsMiB * 1024)
            case "compile_output": value = outputValue(compileOutput)
            case "exit_code": value = stage.map { .int(Int($0.exitCode ?? 0)) } ?? .null
            case "exit_signal": value = .optional(stage?.signal.map { Int($0) })
            case "message": value = outputValue(status.2)
            case "wall_time": value = stage.map { .string(String(format: "%.3f", Double($0.wallMilliseconds) / 1000)) } ?? .null
            case "compiler_options", "callback_url", "additional_files": value = .null
            case "command_line_arguments": value = .optional(echo["command_line_arguments"])
            case "redirect_stderr_to_stdout": value = .bool(echo["redirect_stderr_to_stdout"] == "true")
            case "status": value = .object([("id", .int(status.0)), ("description", .string(status.1))])
            case "language": value = .object([("id", .int(languageID)), ("name", .string(runtime.map(Self.name) ?? job.language))])
            default: value = .null
            }
            members.append((field, value))
        }
        return invalidText ? nil : .object(members)
    }

    /// The run a Judge0 submission reports: its one test case, or its run.
    static func runStage(_ outcome: ExecutionOutcome?) -> StageLike? {
        if let test = outcome?.tests?.first {
            return StageLike(
                verdict: test.verdict, timeLimit: test.timeLimit, exitCode: test.exitCode, signal: test.signal, stdout: test.stdout,
                stderr: test.stderr, cpuMilliseconds: test.cpuMilliseconds, wallMilliseconds: test.wallMilliseconds,
                peakMemoryBytes: test.peakMemoryBytes
            )
        }
        guard let run = outcome?.run else { return nil }
        return StageLike(
            verdict: run.verdict == .ok ? "accepted" : run.verdict.name, timeLimit: run.timeLimit, exitCode: run.exitCode,
            signal: run.signal, stdout: run.stdout, stderr: run.stderr, cpuMilliseconds: run.cpuMilliseconds,
            wallMilliseconds: run.wallMilliseconds, peakMemoryBytes: run.peakMemoryBytes
        )
    }

    struct StageLike {
        var verdict: String
        var timeLimit: Verdict.TimeLimit?
        var exitCode: Int32?
        var signal: Int32?
        var stdout: String
        var stderr: String
        var cpuMilliseconds: Int
        var wallMilliseconds: Int
        var peakMemoryBytes: UInt64
    }

    /// Judge0's status id, description and message for a job.
    static func status(_ job: ExecutionJob, outcome: ExecutionOutcome?, stage: StageLike?) -> (Int, String, String?) {
        func named(_ id: Int, _ message: String? = nil) -> (Int, String, String?) {
            (id, statuses.first { $0.0 == id }?.1 ?? "", message)
        }
        switch job.status {
        case .queued: return named(1)
        case .running: return named(2)
        case .cancelled: return named(13, "cancelled")
        case .failed: return named(13, job.failureReason ?? "internal error")
        case .completed: break
        }
        if let compile = outcome?.compile, compile.verdict != .ok {
            return compile.verdict == .compileError ? named(6) : named(6, compile.verdict.name)
        }
        guard let stage else { return named(13) }
        switch stage.verdict {
        case "accepted": return named(3)
        case "wrong_answer": return named(4)
        case "time_limit_exceeded":
            return named(5, stage.timeLimit == .wall ? "Time limit exceeded (wall clock)" : "Time limit exceeded")
        case "memory_limit_exceeded": return named(12, "Memory limit exceeded")
        case "output_limit_exceeded": return named(12, "Output limit exceeded")
        case "runtime_error":
            if let signal = stage.signal {
                let id = [11: 7, 25: 8, 8: 9, 6: 10][Int(signal)] ?? 12
                return named(id, "Caught fatal signal \(signal)")
            }
            return named(11, "Exited with error status \(stage.exitCode ?? 1)")
        default: return named(13, stage.verdict)
        }
    }

    /// Base64 as Ruby's `encode64` writes it: lines of 60 characters, each
    /// ending in a newline.
    static func rubyBase64(_ data: Data) -> String {
        let plain = data.base64EncodedString()
        var lines: [Substring] = []
        var index = plain.startIndex
        while index < plain.endIndex {
            let end = plain.index(index, offsetBy: 60, limitedBy: plain.endIndex) ?? plain.endIndex
            lines.append(plain[index..<end])
            index = end
        }
        return lines.map { $0 + "\n" }.joined()
    }
}

