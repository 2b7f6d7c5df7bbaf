import Forge
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TalosCore

/// Piston v2's API under `/piston`: `POST /api/v2/execute` runs a program and
/// answers when it has finished; `GET /api/v2/runtimes` lists languages.
/// Both need a Talos access token. Errors are Piston's `{"message": …}`.
struct PistonController {
    let execution: ExecutionService
    let sessions: SessionWatch

    static let aliases: [String: [String]] = [
        "python": ["py", "py3", "python3"], "javascript": ["js", "node-js", "node-javascript", "node"], "go": ["golang"],
        "rust": ["rs"],
    ]

    func register(on routes: DeclaredRoutes) {
        routes.on(.post, "/piston/api/v2/execute", .authenticated(.executionsRun)) { request, context -> Response in
            let caller = try ExecutionsController.caller(context)
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            guard contentType.hasPrefix("application/json") else {
                return Self.message(.unsupportedMediaType, "requests must be of type application/json")
            }
            guard case .object(let members) = try await Judge0Controller.body(request, context) else {
                return Self.message(.badRequest, "the body must be a JSON object")
            }
            var body: [String: OrderedJSON] = [:]
            for (key, value) in members { body[key] = value }
            let spec: ExecutionSpec
            switch build(body) {
            case .failure(let message): return Self.message(.badRequest, message)
            case .success(let built): spec = built
            }
            let job: ExecutionJob
            do {
                job = try await execution.submit(spec, api: "piston", by: caller)
            } catch let error as ForgeError {
                switch error.category {
                case .queueFull: return Self.message(.serviceUnavailable, "the execution queue is full", retryAfter: 5)
                case .quotaExceeded(let name): return Self.message(.tooManyRequests, "the \(name) quota of your role is used up", retryAfter: 60)
                case .invalid: return Self.message(.badRequest, error.reason)
                default: return Response(status: .internalServerError)
                }
            }
            let finished = try await sessions.wait(
                for: job.id, caller: caller, principal: try context.caller(), seconds: execution.settings.maximumWaitSeconds, execution: execution
            )
            guard finished.status.isFinal else {
                // Piston answers only with a result: stop what nobody will read.
                _ = try? await execution.cancel(job.id, by: caller)
                return Self.message(.serviceUnavailable, "the execution did not finish in time; try again later", retryAfter: 5)
            }
            guard finished.status == .completed,
                let outcome = finished.result.flatMap({ try? JSONDecoder().decode(ExecutionOutcome.self, from: Data($0.utf8)) })
            else {
                return Self.message(.internalServerError, finished.failureReason ?? "the execution failed")
            }
            var document: [(String, OrderedJSON)] = []
            if let compile = outcome.compile { document.append(("compile", Self.stage(compile))) }
            let run = outcome.run.map(Self.stage) ?? outcome.compile.map(Self.stage) ?? .null
            document.append(("run", run))
            document.append(("language", .string(outcome.language)))
            document.append(("version", .string(outcome.version)))
            return Self.reply(.ok, .object(document))
        }
        routes.on(.get, "/piston/api/v2/runtimes", .authenticated(.runtimesRead)) { _, _ -> Response in
            Self.reply(
                .ok,
                .array(
                    execution.catalog.runtimes.map { runtime in
                        var members: [(String, OrderedJSON)] = [
                            ("language", .string(runtime.language)), ("version", .string(runtime.version)),
                            ("aliases", .array((Self.aliases[runtime.language] ?? []).map(OrderedJSON.string))),
                        ]
                        if runtime.language == "javascript" { members.append(("runtime", .string("node"))) }
                        return .object(members)
                    }
                )
            )
        }
    }

    enum Built {
        case success(ExecutionSpec)
        case failure(String)
    }

    func build(_ body: [String: OrderedJSON]) -> Built {
        guard case .string(let language) = body["language"] ?? .null else { return .failure("language is required as a string") }
        guard case .string(let version) = body["version"] ?? .null else { return .failure("version is required as a string") }
        guard case .array(let files) = body["files"] ?? .null else { return .failure("files is required as an array") }
        let wanted = language.lowercased()
        guard
            let runtime = execution.catalog.runtimes.first(where: {
                ($0.language == wanted || (Self.aliases[$0.language] ?? []).contains(wanted)) && Self.version($0.version, matches: version)
            })
        else { return .failure("\(language.prefix(40))-\(version.prefix(40)) runtime is unknown") }
        var sources: [ExecutionSpec.File] = []
        for (index, file) in files.enumerated() {
            guard case .object(let members) = file, case .string(let content) = members.first(where: { $0.0 == "content" })?.1 ?? .null else {
                return .failure("files[\(index)].content is required as a string")
            }
            var name = ""
            if case .string(let given) = members.first(where: { $0.0 == "name" })?.1 ?? .null { name = given }
            if name.isEmpty { name = index == 0 ? runtime.sourceFile : "file\(index).\(runtime.fileExtension)" }
            var encoding = "utf8"
            if case .string(let given) = members.first(where: { $0.0 == "encoding" })?.1 ?? .null, ["base64", "hex"].contains(given) {
                encoding = given
            }
            let data: Data?
            switch encoding {
            case "base64": data = Data(base64Encoded: content)
            case "hex": data = Self.hex(content)
            default: data = Data(content.utf8)
            }
            guard let data else { return .failure("files[\(index)].content is not valid \(encoding)") }
            sources.append(ExecutionSpec.File(name: name, content: data))
        }
        guard !sources.isEmpty else { return .failure("files must include at least one utf8 encoded file") }
        var stdin = Data()
        if case .string(let text) = body["stdin"] ?? .null {
            stdin = Data(text.utf8)
            // Piston ends standard input with a newline.
            if stdin.last != UInt8(ascii: "\n") { stdin.append(UInt8(ascii: "\n")) }
        }
        var arguments: [String] = []
        if case .array(let values) = body["args"] ?? .null {
            for value in values {
                guard case .string(let argument) = value else { return .failure("args must be an array of strings") }
                arguments.append(argument)
            }
        }
        var limits = LimitRequest()
        var compileLimits = LimitRequest()
        let maxima = execution.policy.maxima
        let numeric: [(String, Int, (inout LimitRequest, Int) -> Void, Bool)] = [
            ("run_timeout", maxima.wallMilliseconds, { $0.wallMilliseconds = $1 }, false),
            ("compile_timeout", maxima.wallMilliseconds, { $0.wallMilliseconds = $1 }, true),
            ("run_cpu_time", maxima.cpuMilliseconds, { $0.cpuMilliseconds = $1 }, false),
            ("compile_cpu_time", maxima.cpuMilliseconds, { $0.cpuMilliseconds = $1 }, true),
            ("run_memory_limit", maxima.memoryMiB * 1024 * 1024, { $0.memoryMiB = max(1, ($1 + (1 << 20) - 1) >> 20) }, false),
            ("compile_memory_limit", maxima.memoryMiB * 1024 * 1024, { $0.memoryMiB = max(1, ($1 + (1 << 20) - 1) >> 20) }, true),
        ]
        for (name, maximum, apply, isCompile) in numeric {
            guard let value = body[name] else { continue }
            switch value {
            case .null: continue
            case .number(let text):
                // Finite values only: NaN and infinity would reach a trapping conversion.
                guard let number = UntrustedNumber.finite(text) else { return .failure("If specified, \(name) must be a number") }
                if number == 0 || number == -1 { continue }
                if number < 0 { return .failure("\(name) must be non-negative") }
                guard let whole = UntrustedNumber.integer(number, in: 0...maximum) else {
                    return .failure("\(name) cannot exceed the configured limit of \(maximum)")
                }
                if whole == 0 { return .failure("\(name) must be at least 1") }
                if isCompile { apply(&compileLimits, whole) } else { apply(&limits, whole) }
            default: return .failure("If specified, \(name) must be a number")
            }
        }
        return .success(
            ExecutionSpec(
                language: runtime.language, version: runtime.version, files: sources, stdin: stdin, arguments: arguments, limits: limits,
                compileLimits: compileLimits
            )
        )
    }

    /// `*`, the exact version, or a prefix of it (`3`, `3.x`).
    static func version(_ available: String, matches wanted: String) -> Bool {
        if wanted == "*" || wanted == available { return true }
        let prefix = wanted.hasSuffix(".x") ? String(wanted.dropLast(2)) : wanted
        return !prefix.isEmpty && (available.hasPrefix(prefix + ".") || available == prefix)
    }

    static func hex(_ text: String) -> Data? {
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return Data(bytes)
    }

    static let signalNames: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL",
        11: "SIGSEGV", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS",
    ]

    /// One stage in Piston's shape.
    static func stage(_ result: StageResult) -> OrderedJSON {
        var signal = result.signal.map { signalNames[$0] ?? "SIG\($0)" }
        var status: String?
        var message: String?
        switch result.verdict {
        case .ok: break
        case .timeLimitExceeded:
            status = "TO"
            signal = "SIGKILL"
            message = result.timeLimit == .cpu ? "Time limit exceeded" : "Time limit exceeded (wall clock)"
        case .outputLimitExceeded:
            status = result.stdoutTruncated ? "OL" : "EL"
            signal = "SIGKILL"
            message = result.stdoutTruncated ? "stdout length exceeded" : "stderr length exceeded"
        case .memoryLimitExceeded:
            status = "SG"
            signal = signal ?? "SIGKILL"
            message = "Memory limit exceeded"
        case .runtimeError, .compileError:
            if let number = result.signal {
                status = "SG"
                message = "Caught fatal signal \(number)"
            } else {
                status = "RE"
                message = "Exited with error status \(result.exitCode ?? 1)"
            }
        case .internalError, .cancelled:
            status = "XX"
            message = result.verdict.name
        }
        return .object([
            ("signal", .optional(signal)), ("stdout", .string(result.stdout)), ("stderr", .string(result.stderr)),
            ("code", signal == nil ? .optional(result.exitCode.map { Int($0) }) : .null), ("output", .string(result.stdout + result.stderr)),
            ("memory", .int(Int(result.peakMemoryBytes))), ("message", .optional(message)), ("status", .optional(status)),
            ("cpu_time", .int(result.cpuMilliseconds)), ("wall_time", .int(result.wallMilliseconds)),
        ])
    }

    static func message(_ status: HTTPResponse.Status, _ text: String, retryAfter: Int? = nil) -> Response {
        Judge0Controller.reply(status, .object([("message", .string(text))]), retryAfter: retryAfter)
    }

    static func reply(_ status: HTTPResponse.Status, _ body: OrderedJSON) -> Response {
        Judge0Controller.reply(status, body)
    }
}
