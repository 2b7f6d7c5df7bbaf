import HTTPTypes
import Hummingbird
import Ledger
import Logging
import TalosCore

/// Draws a token from the client's bucket for the route's group; refuses with
/// 429 and `Retry-After` when it is empty, logging and auditing the refusal.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = TalosRequestContext

    let limiter: RateLimiter
    let audit: AuditLog
    let metrics: ServerMetrics
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let group = Self.group(forPath: request.uri.path)
        let key = context.principal.id.map { "principal:" + $0 } ?? "ip:" + ClientAddress.bucketKey(context.clientIP)
        switch limiter.check(group: group, key: key) {
        case .allow:
            return try await next(request, context)
        case .refuse(let retryAfter):
            metrics.rateLimitRefused(group: group)
            logger.warning(
                "rate limit refused",
                metadata: [
                    "group": .string(group.rawValue), "client_ip": .string(context.clientIP),
                    "request_id": .string(context.requestID.value),
                ]
            )
            try await audit.record(
                AuditEvent(
                    actor: context.principal.id ?? "anonymous", action: "ratelimit.refused", target: group.rawValue,
                    outcome: .denied, requestID: context.requestID.value, sourceIP: context.clientIP,
                    details: ["retry_after": String(retryAfter)]
                )
            )
            throw Problem.tooManyRequests(retryAfterSeconds: retryAfter)
        }
    }

    /// Classifies the path as the router sees it: empty segments (`//`) are
    /// ignored there, so they are ignored here, or `/v1//auth/login` would
    /// reach the login route on the generous bucket.
    static func group(forPath rawPath: String) -> RateLimitGroup {
        let path = "/" + rawPath.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        if path == "/healthz" || path == "/readyz" { return .health }
        if path.hasPrefix("/v1/auth/") || path.hasPrefix("/oauth2/") { return .auth }
        return .api
    }
}
