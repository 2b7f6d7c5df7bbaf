#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Citadel
import Hummingbird
import TalosCore

/// The caller's own account: `/v1/me/*`.
struct MeController {
    let identity: IdentityService

    struct SessionResponse: Encodable {
        let id: String
        let created_at: String
        let last_used_at: String
        let ip: String
        let user_agent: String
        let current: Bool
    }

    struct SessionsResponse: ResponseEncodable {
        let sessions: [SessionResponse]
    }

    struct EnrollmentResponse: ResponseEncodable {
        let secret: String
        let otpauth_uri: String
    }

    struct RecoveryCodesResponse: ResponseEncodable {
        let recovery_codes: [String]
    }

    func register(on routes: DeclaredRoutes) {
        routes.on(.get, "/v1/me", .authenticated(.profileRead)) { _, context -> AccountResponse in
            AccountResponse(try await identity.account(of: try context.caller()))
        }
        routes.on(.delete, "/v1/me", .authenticated(.accountDelete, stepUp: true)) { request, context -> Response in
            try await identity.deleteAccount(of: try context.caller(), origin: context.origin(request))
            return Response(status: .noContent)
        }
        routes.on(.get, "/v1/me/sessions", .authenticated(.sessionsManage)) { _, context -> SessionsResponse in
            let caller = try context.caller()
            return SessionsResponse(
                sessions: try await identity.sessions(of: caller).map { session in
                    SessionResponse(
                        id: session.id.uuidString.lowercased(), created_at: session.createdAt, last_used_at: session.lastUsedAt,
                        ip: session.ip, user_agent: session.userAgent, current: session.id == caller.sessionID
                    )
                }
            )
        }
        routes.on(.delete, "/v1/me/sessions", .authenticated(.sessionsManage)) { request, context -> Response in
            _ = try await identity.revokeOtherSessions(of: try context.caller(), origin: context.origin(request))
            return Response(status: .noContent)
        }
        routes.on(.delete, "/v1/me/sessions/{id}", .authenticated(.sessionsManage)) { request, context -> Response in
            try await identity.revokeSession(try parseID(context), of: try context.caller(), origin: context.origin(request))
            return Response(status: .noContent)
        }
        routes.on(.post, "/v1/me/mfa/totp", .authenticated(.mfaManage, stepUp: true, enrollment: true)) { request, context -> Response in
            let enrollment = try await identity.startTOTP(for: try context.caller(), origin: context.origin(request))
            var response = try EnrollmentResponse(
                secret: enrollment.secret.unsafeValue, otpauth_uri: enrollment.provisioningURI.unsafeValue
            ).response(from: request, context: context)
            response.status = .created
            return response
        }
        routes.on(.post, "/v1/me/mfa/totp/confirm", .authenticated(.mfaManage, stepUp: true, enrollment: true)) {
            request, context -> RecoveryCodesResponse in
            let body = try await request.decode(as: CodeRequest.self, context: context)
            let codes = try await identity.confirmTOTP(
                for: try context.caller(), code: try Field.secret(body.code, Field.codeBytes, "code"), origin: context.origin(request)
            )
            return RecoveryCodesResponse(recovery_codes: codes.map(\.unsafeValue))
        }
        routes.on(.post, "/v1/me/mfa/totp/disable", .authenticated(.mfaManage, stepUp: true)) { request, context -> Response in
            let body = try await request.decode(as: DisableRequest.self, context: context)
            try await identity.disableTOTP(
                for: try context.caller(), password: try Field.secret(body.password, Field.passwordBytes, "password"),
                code: try Field.secret(body.code, Field.codeBytes, "code"), origin: context.origin(request)
            )
            return Response(status: .noContent)
        }
        routes.on(.post, "/v1/me/password", .authenticated(.passwordChange, stepUp: true)) { request, context -> Response in
            let body = try await request.decode(as: PasswordRequest.self, context: context)
            try await identity.changePassword(
                of: try context.caller(), current: try Field.secret(body.current_password, Field.passwordBytes, "current_password"),
                new: try Field.secret(body.new_password, Field.passwordBytes, "new_password"), origin: context.origin(request)
            )
            return Response(status: .noContent)
        }
    }
}
