import Citadel
import Forge
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TalosCore

/// `/v1/executions` and `/v1/runtimes`: run code, follow it, grade it.
struct ExecutionsController {
    let execution: ExecutionService
    let sessions: SessionWatch
    let streams: StreamGate

    func register(on routes: DeclaredRoutes) {
        let run = RouteAccess.authenticated(.executionsRun)
        routes.on(.post, "/v1/executions", run) { request, context -> Response in
            let body = try await request.decode(as: ExecutionSubmitRequest.self, context: context)
            let caller = try Self.caller(context)
            let waitSeconds = try waitSeconds(body.wait)
            let spec = try Self.spec(from: body)
            let job = try await Self.mapped { try await execution.submit(spec, api: "talos", by: caller) }
            if waitSeconds > 0 {
                let current = try await Self.mapped {
                    try await sessions.wait(
                        for: job.id, caller: caller, principal: try context.caller(), seconds: waitSeconds, execution: execution
                    )
                }
                return try Self.json(ExecutionDocument(current), status: current.status.isFinal ? .ok : .accepted, location: job.id)
            }
            return try Self.json(ExecutionDocument(job), status: .accepted, location: job.id)
        }
        routes.on(.get, "/v1/executions", run) { request, context -> Response in
            let caller = try Self.caller(context)
            let query = request.uri.queryParameters
            var filter = ExecutionFilter()
            if let status = query["status"] {
                guard let parsed = ExecutionStatus(rawValue: String(status)) else {
                    throw Problem.badRequest("status must be one of \(ExecutionStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                filter.status = parsed
            }
            filter.language = query["language"].map(String.init)
            if let api = query["api"] { filter.api = String(api) }
            var limit = 50
            if let text = query["limit"] {
                guard let value = Int(text), (1...200).contains(value) else { throw Problem.badRequest("limit must be 1–200.") }
                limit = value
            }
            if let cursor = query["cursor"] {
                guard let decoded = ExecutionCursor.decode(String(cursor)) else { throw Problem.badRequest("cursor is invalid.") }
                filter.before = decoded
            }
            let jobs = try await Self.mapped { try await execution.jobs(for: caller, filter: filter, limit: limit) }
            let next = jobs.count == limit ? jobs.last.map { ExecutionCursor.encode(createdAt: $0.createdAt, id: $0.id) } : nil
            return try Self.json(ExecutionList(items: jobs.map(ExecutionSummary.init), next_cursor: next), status: .ok, location: nil)
        }
        routes.on(.get, "/v1/executions/{id}", run) { _, context -> Response in
            let caller = try Self.caller(context)
            let id = try Self.id(context)
            let job = try await Self.mapped { try await execution.job(id, for: caller) }
            return try Self.json(ExecutionDocument(job), status: .ok, location: nil)
        }
        routes.on(.delete, "/v1/executions/{id}", run) { _, context -> Response in
            let caller = try Self.caller(context)
            let id = try Self.id(context)
            let (job, outcome) = try await Self.mapped { try await execution.cancel(id, by: caller) }
            switch outcome {
            case .alreadyFinal(let status):
                throw Problem(
                    status: .conflict, type: "execution-finished", title: "The execution has already ended",
                    detail: "It is \(status.rawValue)."
                )
            case .requested:
                return try Self.json(ExecutionDocument(job), status: .accepted, location: nil)
            case .cancelled, .notFound:
                return try Self.json(ExecutionDocument(job), status: .ok, location: nil)
            }
        }
        routes.on(.get, "/v1/executions/{id}/events", run) { request, context -> Response in
            let caller = try Self.caller(context)
            let id = try Self.id(context)
            _ = try await Self.mapped { try await execution.job(id, for: caller) }
            var after: Int64 = 0
            if let last = request.headers[HTTPField.Name("Last-Event-ID")!] {
                guard let value = Int64(last), value >= 0 else { throw Problem.badRequest("Last-Event-ID must be an event id.") }
                after = value
            }
            let start = after
            let principal = try context.caller()
            let ticket: StreamGate.Ticket
            switch streams.enter(principal.actor) {
            case .admitted(let admitted): ticket = admitted
            case .refused(let cap):
                var problem = Problem(
                    status: .tooManyRequests, type: "too-many-streams", title: "Too many open event streams",
                    detail: "Close another stream first (at most \(streams.maximumPerPrincipal) per account, \(streams.maximumTotal) in all).",
                    headers: [.retryAfter: "5"]
                )
                problem.errors = [cap]
                throw problem
            }
            let stream = EventStream(execution: execution, id: id, caller: caller, principal: principal, sessions: sessions)
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
                body: ResponseBody { writer in
                    defer { ticket.release() }
                    try await stream.write(after: start, to: &writer)
                }
            )
        }
        routes.on(.get, "/v1/runtimes", .authenticated(.runtimesRead)) { _, _ -> Response in
            let runtimes = execution.catalog.runtimes.map {
                RuntimeDocument(language: $0.language, version: $0.version, compiled: $0.compile != nil, source_file: $0.sourceFile)
            }
            return try Self.json(["runtimes": runtimes], status: .ok, location: nil)
        }
    }

    func waitSeconds(_ wait: ExecutionSubmitRequest.WaitInput?) throws -> Int {
        let maximum = execution.settings.maximumWaitSeconds
        switch wait {
        case .none, .flag(false): return 0
        case .flag(true): return maximum
        case .seconds(let seconds):
            guard (0...maximum).contains(seconds) else { throw Problem.badRequest("wait may be at most \(maximum) seconds.") }
            return seconds
        }
    }

    static func caller(_ context: TalosRequestContext) throws -> ExecutionCaller {
        let principal = try context.caller()
        return ExecutionCaller(id: principal.accountID, role: principal.role, requestID: context.requestID.value, sourceIP: context.clientIP)
    }

    static func id(_ context: TalosRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw Problem.notFound }
        return id
    }

    /// The request as what the queue stores, or a 400 naming what is wrong.
    static func spec(from body: ExecutionSubmitRequest) throws -> ExecutionSpec {
        do {
            return try body.spec()
        } catch {
            throw Problem.badRequest(error.message)
        }
    }

    /// Runs `body`, turning the Forge's refusals into problems.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ForgeError {
            throw Problem.from(error)
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status, location: UUID?) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers: HTTPFields = [.contentType: "application/json"]
        if let location { headers[.location] = "/v1/executions/" + location.uuidString.lowercased() }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

extension Problem {
    static func from(_ error: ForgeError) -> Problem {
        switch error.category {
        case .invalid:
            return Problem(status: .unprocessableContent, type: "invalid-execution", title: "The execution request is invalid", detail: error.reason)
        case .quotaExceeded(let name):
            var problem = Problem(
                status: .tooManyRequests, type: "quota-exceeded", title: "An execution quota is used up",
                detail: "The \(name) quota of your role is used up.", headers: [.retryAfter: "60"]
            )
            problem.errors = [name]
            return problem
        case .queueFull:
            return Problem(
                status: .serviceUnavailable, type: "queue-full", title: "The execution queue is full",
                detail: "Try again shortly.", headers: [.retryAfter: "5"]
            )
        case .notFound:
            return .notFound
        case .conflict:
            return Problem(status: .conflict, type: "conflict", title: "The request conflicts with the current state", detail: error.reason)
        case .internal:
            return .internalError
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC text with milliseconds and
/// `Z` (`2026-11-22T10:00:00.123Z`), the form Judge0 clients parse too.
func isoTime(_ milliseconds: Int64?) -> String? {
    guard let milliseconds else { return nil }
    return isoStyle.format(Date(timeIntervalSince1970: Double(milliseconds) / 1000))
}

private let isoStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

struct RuntimeDocument: Encodable {
    let language: String
    let version: String
    let compiled: Bool
    let source_file: String
}

struct ExecutionLinks: Encodable {
    let `self`: String
    let events: String

    init(_ id: UUID) {
        let base = "/v1/executions/" + id.uuidString.lowercased()
        self.`self` = base
        self.events = base + "/events"
    }
}

/// One execution in full: status, verdict, every stage, every case.
struct ExecutionDocument: Encodable {
    let id: String
    let status: String
    let language: String
    let version: String?
    let verdict: String?
    let failure_reason: String?
    let attempts: Int
    let cancel_requested: Bool
    let source_sha256: String
    let source_bytes: Int
    let created_at: String?
    let started_at: String?
    let finished_at: String?
    let compile: StageResult?
    let run: StageResult?
    let tests: [TestResult]?
    let passed: Int?
    let total: Int?
    let links: ExecutionLinks

    init(_ job: ExecutionJob) {
        let spec = try? JSONDecoder().decode(ExecutionSpec.self, from: Data(job.spec.utf8))
        let outcome = job.result.flatMap { try? JSONDecoder().decode(ExecutionOutcome.self, from: Data($0.utf8)) }
        id = job.id.uuidString.lowercased()
        status = job.status.rawValue
        language = job.language
        version = spec?.version
        verdict = job.verdict
        failure_reason = job.failureReason
        attempts = job.attempts
        cancel_requested = job.cancelRequested
        source_sha256 = job.sourceSHA256
        source_bytes = job.sourceBytes
        created_at = isoTime(job.createdAt)
        started_at = isoTime(job.startedAt)
        finished_at = isoTime(job.finishedAt)
        compile = outcome?.compile
        run = outcome?.run
        tests = outcome?.tests
        passed = outcome?.passed
        total = spec?.tests?.count
        links = ExecutionLinks(job.id)
    }
}

struct ExecutionSummary: Encodable {
    let id: String
    let status: String
    let language: String
    let api: String
    let verdict: String?
    let created_at: String?
    let finished_at: String?
    let links: ExecutionLinks

    init(_ job: ExecutionJob) {
        id = job.id.uuidString.lowercased()
        status = job.status.rawValue
        language = job.language
        api = job.api
        verdict = job.verdict
        created_at = isoTime(job.createdAt)
        finished_at = isoTime(job.finishedAt)
        links = ExecutionLinks(job.id)
    }
}

struct ExecutionList: Encodable {
    let items: [ExecutionSummary]
    let next_cursor: String?
}

/// Server-sent events for one execution: every stored event in order, then
/// the stream ends once the job is final and everything has been sent.
/// `Last-Event-ID` resumes after an event.
struct EventStream {
    let execution: ExecutionService
    let id: UUID
    let caller: ExecutionCaller
    let principal: Principal
    let sessions: SessionWatch

    func write(after start: Int64, to writer: inout any ResponseBodyWriter) async throws {
        var after = start
        let deadline = ContinuousClock.now + .seconds(15 * 60)
        var lastWrite = ContinuousClock.now
        var lastSessionCheck = ContinuousClock.now
        while ContinuousClock.now < deadline {
            // Logout means logout: the stream ends within a second of it.
            if ContinuousClock.now - lastSessionCheck >= .seconds(1) {
                lastSessionCheck = .now
                guard await sessions.isLive(principal) else {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"reason\":\"session_ended\"}\n\n"))
                    break
                }
            }
            let events = try await execution.events(of: id, after: after)
            for event in events {
                let frame = "id: \(event.sequence)\nevent: \(event.kind)\ndata: \(event.data)\n\n"
                try await writer.write(ByteBuffer(string: frame))
                after = event.sequence
                lastWrite = .now
            }
            if events.isEmpty {
                // Only an idle stream asks whether the job has ended.
                let job = try await execution.job(id, for: caller)
                if job.status.isFinal {
                    // Events land before the final status; one more read catches stragglers.
                    let rest = try await execution.events(of: id, after: after)
                    for event in rest {
                        try await writer.write(ByteBuffer(string: "id: \(event.sequence)\nevent: \(event.kind)\ndata: \(event.data)\n\n"))
                    }
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"status\":\"\(job.status.rawValue)\"}\n\n"))
                    break
                }
                if ContinuousClock.now - lastWrite > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = .now
                }
                await execution.signals.waitBriefly(for: id)
            }
        }
        try await writer.finish(nil)
    }
}
