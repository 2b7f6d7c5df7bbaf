import HTTPTypes
import Hummingbird
import Ledger
import Logging
import TalosCore

/// Draws a token from the client's bucket for the route's group; refuses with
/// 429 and `Retry-After` when it is empty, logging and auditing the refusal.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = TalosRequestContext

    /// What a bucket belongs to.
    enum Scope {
        /// The client address; runs before authentication, on every request.
        case client
        /// The signed-in principal; runs after authentication, so one
        /// account cannot spread its traffic over many addresses. Requests
        /// without a principal pass.
        case principal
    }

    let scope: Scope
    let limiter: RateLimiter
    /// Refusals are counted per source and window, not written one by one:
    /// a flood must not decide the audit trail's size.
    let audit: AuditAggregator
    let metrics: ServerMetrics
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let group = Self.group(forPath: request.uri.path)
        let key: String
        switch scope {
        case .client:
            key = "ip:" + ClientAddress.bucketKey(context.clientIP)
        case .principal:
            guard let principal = context.principal.id else { return try await next(request, context) }
            key = "principal:" + principal
        }
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
            audit.note(
                actor: context.principal.id ?? "anonymous", action: "ratelimit.refused",
                target: group.rawValue + (scope == .client ? " client" : " principal"), outcome: .denied, sourceIP: context.clientIP,
                requestID: context.requestID.value
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
        // Everything that checks a password or a second factor shares the
        // strict bucket, signed in or not.
        if path.hasPrefix("/v1/auth/") || path.hasPrefix("/oauth2/") || path == "/v1/me/password" || path.hasPrefix("/v1/me/mfa/") {
            return .auth
        }
        return .api
    }
}
