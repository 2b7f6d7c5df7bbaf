import Citadel
import HTTPTypes
import Hummingbird
import Ledger
import Logging
import TalosCore

/// Deny by default: looks up the matched route's declared access, reads the
/// bearer token (from the `Authorization` header only), and lets the request
/// through only if ``IdentityService/decide(_:for:)`` allows it. Every
/// refusal is logged and audited; allowed decisions ride on the request's own
/// audit record.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = TalosRequestContext

    let table: RouteAccessTable
    let identity: IdentityService
    let audit: AuditLog
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let path = context.endpointPath, path != "NotFound" else { return try await next(request, context) }
        if Self.carriesTokenInURL(request) {
            try await refuse(request, context, permission: nil, reason: "token_in_url")
            throw Problem.tokenInURL
        }
        guard let access = table.access(request.method, path) else {
            try await refuse(request, context, permission: nil, reason: "route_declares_nothing")
            throw Problem.forbidden
        }
        var context = context
        var permission: Permission?
        if case .authenticated(let needed, _, _) = access {
            permission = needed
            // Judge0 clients send the token bare in X-Auth-Token.
            let judge0Token = path.hasPrefix("/judge0/") ? request.headers[Self.judge0TokenHeader].map { "Bearer " + $0 } : nil
            guard let header = request.headers[.authorization] ?? judge0Token else {
                try await refuse(request, context, permission: needed, reason: "no_token")
                throw Problem.unauthenticated
            }
            guard let token = Self.bearerToken(header) else {
                try await refuse(request, context, permission: needed, reason: "not_bearer")
                throw Problem.invalidAccessToken
            }
            switch try await identity.authenticate(bearer: token) {
            case .success(let principal):
                context.identity = principal
                context.principal.id = principal.actor
            case .failure(let failure):
                try await refuse(request, context, permission: needed, reason: Self.reason(failure))
                throw Problem.invalidAccessToken
            }
        }
        switch identity.decide(access, for: context.identity) {
        case .allow:
            context.principal.decision = "allow:" + (permission?.rawValue ?? "anonymous")
            return try await next(request, context)
        case .unauthenticated:
            try await refuse(request, context, permission: permission, reason: "no_token")
            throw Problem.unauthenticated
        case .deny(let reason):
            try await refuse(request, context, permission: permission, reason: reason)
            throw Problem.forbidden
        case .stepUp:
            try await refuse(request, context, permission: permission, reason: "step_up_required")
            throw Problem.stepUpRequired(maxAgeSeconds: Int(identity.settings.stepUpWindow))
        case .mfaEnrollmentRequired:
            try await refuse(request, context, permission: permission, reason: "mfa_enrollment_required")
            throw Problem.mfaEnrollmentRequired
        }
    }

    private func refuse(_ request: Request, _ context: Context, permission: Permission?, reason: String) async throws {
        context.principal.decision = "deny:" + reason
        logger.warning(
            "authorization refused",
            metadata: [
                "reason": .string(reason), "route": .string(request.method.rawValue + " " + (context.endpointPath ?? "?")),
                "client_ip": .string(context.clientIP), "request_id": .string(context.requestID.value),
            ]
        )
        var details = ["reason": reason]
        if let permission { details["permission"] = permission.rawValue }
        try await audit.record(
            AuditEvent(
                actor: context.identity?.actor ?? "anonymous", action: "authz.decision",
                target: request.method.rawValue + " " + (context.endpointPath ?? "?"), outcome: .denied,
                requestID: context.requestID.value, sourceIP: context.clientIP, details: details
            )
        )
    }

    static let judge0TokenHeader = HTTPField.Name("X-Auth-Token")!

    /// `Bearer <token>`, the scheme case-insensitive (RFC 6750 §2.1).
    static func bearerToken(_ header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].filter { $0 != " " && $0 != "\t" }
        return token.isEmpty || token.count != parts[1].count ? nil : String(token)
    }

    /// RFC 6750 §2.3 query tokens are refused outright: URLs end up in logs.
    static func carriesTokenInURL(_ request: Request) -> Bool {
        let names = ["access_token", "token", "refresh_token", "id_token"]
        return request.uri.queryParameters.contains { names.contains(String($0.key).lowercased()) }
    }

    static func reason(_ failure: IdentityService.AuthenticationFailure) -> String {
        switch failure {
        case .token(let token): "token_" + token.rawValue
        case .sessionOver: "session_revoked_or_expired"
        case .accountInactive: "account_inactive"
        }
    }
}
