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

    static let aliases = PistonRequest.aliases

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
            switch PistonRequest(runtimes: execution.catalog.runtimes, maxima: execution.policy.maxima).read(body) {
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
