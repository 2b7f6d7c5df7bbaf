import HTTPTypes
import Hummingbird
import Ledger
import Logging
import TalosCore

/// The outermost middleware. For every request, whatever happens inside:
/// assigns the request id and client address, turns any error into a
/// problem response, adds the security headers, writes one JSON log line,
/// records metrics and appends one audit record with the outcome.
///
/// Fails closed: if the audit record cannot be written, the client gets 503
/// instead of the response.
struct RequestTrackingMiddleware: RouterMiddleware {
    typealias Context = TalosRequestContext

    let audit: AuditLog
    let aggregator: AuditAggregator
    let disk: DiskGuard
    let metrics: ServerMetrics
    let logger: Logger
    let trustedProxies: Set<String>
    let bodyLimit: Int

    static let securityHeaders: [(HTTPField.Name, String)] = [
        (.strictTransportSecurity, "max-age=63072000; includeSubDomains"),
        (.contentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'"),
        (.xContentTypeOptions, "nosniff"),
        (.referrerPolicy, "no-referrer"),
        (.xFrameOptions, "DENY"),
        (.crossOriginResourcePolicy, "same-origin"),
        (.cacheControl, "no-store"),
    ]

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        context.bodyLimit = bodyLimit
        if let offered = request.headers[.xRequestID], let id = TalosCore.RequestID(validating: offered) {
            context.requestID = id
        }
        context.logger[metadataKey: "request_id"] = .string(context.requestID.value)
        context.clientIP = ClientAddress.resolve(
            peer: context.remoteAddress?.ipAddress,
            forwardedFor: request.headers[.xForwardedFor],
            trustedProxies: trustedProxies
        )
        var response: Response
        var failure: String?
        var rateLimited = false
        var diskRefused = false
        do {
            if Self.writes(request), let shortage = disk.shortage() {
                diskRefused = true
                logger.critical("refusing work: low on disk space", metadata: ["path": .string(shortage.path), "free_bytes": "\(shortage.freeBytes)"])
                throw Problem.insufficientStorage
            }
            response = try await next(request, context)
        } catch {
            let problem = Problem.from(error)
            rateLimited = problem.type == "urn:talos:problem:" + Problem.rateLimitedType
            if problem.status == .internalServerError {
                failure = String(describing: type(of: error))
            }
            response = problem.response(requestID: context.requestID.value)
        }
        let matched = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 }
        let route = matched ?? "(unmatched)"
        let principal = context.principal.id
        var details = ["status": String(response.status.code), "method": request.method.rawValue]
        if matched == nil {
            details["path"] = String(request.uri.path.prefix(256))
        }
        if let decision = context.principal.decision {
            details["authz"] = decision
        }
        let event = AuditEvent(
            actor: principal ?? "anonymous",
            action: "http.request",
            target: request.method.rawValue + " " + route,
            outcome: Self.outcome(of: response.status),
            requestID: context.requestID.value,
            sourceIP: context.clientIP,
            details: details
        )
        do {
            if rateLimited {
                // Counted, with the refusal, by the rate limiter's aggregated record.
            } else if (Self.isProbe(route) && (response.status.code < 400 || response.status == .serviceUnavailable)) || diskRefused {
                // Probes (ready or not) and refusals while the disk is short
                // are counted, not written one by one; a malformed probe
                // (oversized header or URL) is hostile and recorded alone.
                aggregator.note(
                    actor: event.actor, action: event.action, target: event.target, outcome: event.outcome, sourceIP: context.clientIP,
                    requestID: context.requestID.value
                )
            } else {
                try await audit.record(event)
            }
        } catch {
            response = Problem.serviceUnavailable.response(requestID: context.requestID.value)
            failure = "audit trail unavailable"
        }
        for (name, value) in Self.securityHeaders { response.headers[name] = value }
        response.headers[.xRequestID] = context.requestID.value
        let duration = ContinuousClock.now - start
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue),
            "route": .string(route),
            "status": .stringConvertible(response.status.code),
            "duration_ms": .string(String(format: duration)),
            "request_id": .string(context.requestID.value),
            "client_ip": .string(context.clientIP),
            "principal": .string(principal ?? "anonymous"),
        ]
        if let failure { metadata["failure"] = .string(failure) }
        logger.log(level: response.status.code >= 500 ? .error : .info, "request", metadata: metadata)
        metrics.request(route: route, method: request.method.rawValue, status: Int(response.status.code), duration: duration)
        return response
    }

    /// Liveness and readiness probes, which load balancers send every few
    /// seconds: audited in aggregate while they answer (ready or not).
    static func isProbe(_ route: String) -> Bool {
        route == "/healthz" || route == "/readyz"
    }

    /// Requests that make Talos write more than their audit record; refused
    /// while disk space is short. Logout and cancelling stay possible.
    static func writes(_ request: Request) -> Bool {
        switch request.method {
        case .get, .head, .options, .delete: return false
        default: return !request.uri.path.hasSuffix("/auth/logout")
        }
    }

    static func outcome(of status: HTTPResponse.Status) -> AuditOutcome {
        switch status.code {
        case 401, 403, 429: .denied
        case 400..<500: .failure
        case 500...: .error
        default: .success
        }
    }
}

private func String(format duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
    return String((milliseconds * 1000).rounded() / 1000)
}

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let strictTransportSecurity = Self("Strict-Transport-Security")!
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let crossOriginResourcePolicy = Self("Cross-Origin-Resource-Policy")!
}
