import Citadel
import Hummingbird
import TalosCore

/// Sign-in, tokens and invitations: `/v1/auth/*` and `/v1/invitations`.
struct AuthController {
    let identity: IdentityService

    struct InvitationResponse: ResponseEncodable {
        let email: String
        let role: String
        let token: String
        let expires_at: String
    }

    struct StatusResponse: ResponseEncodable {
        let status: String
    }

    func register(on routes: DeclaredRoutes) {
        routes.on(.post, "/v1/auth/login", .anonymous) { request, context -> Response in
            let body = try await request.decode(as: LoginRequest.self, context: context)
            let result = try await identity.login(
                email: try Field.bounded(body.email, Field.emailBytes, "email"),
                password: try Field.secret(body.password, Field.passwordBytes, "password"), origin: context.origin(request)
            )
            switch result {
            case .signedIn(let pair):
                return try TokenResponse(pair).response(from: request, context: context)
            case .mfaRequired(let token):
                return try MFARequiredResponse(mfa_token: token.unsafeValue).response(from: request, context: context)
            }
        }
        routes.on(.post, "/v1/auth/login/mfa", .anonymous) { request, context -> TokenResponse in
            let body = try await request.decode(as: MFALoginRequest.self, context: context)
            return TokenResponse(
                try await identity.completeMFALogin(
                    mfaToken: try Field.secret(body.mfa_token, Field.tokenBytes, "mfa_token"),
                    code: try Field.secret(body.code, Field.codeBytes, "code"), origin: context.origin(request)
                )
            )
        }
        routes.on(.post, "/v1/auth/refresh", .anonymous) { request, context -> TokenResponse in
            let body = try await request.decode(as: RefreshRequest.self, context: context)
            return TokenResponse(
                try await identity.refresh(
                    token: try Field.secret(body.refresh_token, Field.tokenBytes, "refresh_token"), origin: context.origin(request)
                )
            )
        }
        routes.on(.post, "/v1/auth/accept-invitation", .anonymous) { request, context -> StatusResponse in
            let body = try await request.decode(as: AcceptRequest.self, context: context)
            let account = try await identity.acceptInvitation(
                token: try Field.secret(body.token, Field.tokenBytes, "token"),
                password: try Field.secret(body.password, Field.passwordBytes, "password"), origin: context.origin(request)
            )
            return StatusResponse(status: account.status.rawValue)
        }
        if identity.settings.openRegistration {
            routes.on(.post, "/v1/auth/register", .anonymous) { request, context -> Response in
                let body = try await request.decode(as: LoginRequest.self, context: context)
                try await identity.register(
                    email: try Field.bounded(body.email, Field.emailBytes, "email"),
                    password: try Field.secret(body.password, Field.passwordBytes, "password"), origin: context.origin(request)
                )
                var response = try StatusResponse(status: "accepted").response(from: request, context: context)
                response.status = .accepted
                return response
            }
        }
        routes.on(.post, "/v1/auth/logout", .authenticated(.sessionsManage, enrollment: true)) { request, context -> Response in
            try await identity.logout(try context.caller(), origin: context.origin(request))
            return Response(status: .noContent)
        }
        routes.on(.post, "/v1/invitations", .authenticated(.invite, stepUp: true)) { request, context -> Response in
            let body = try await request.decode(as: InviteRequest.self, context: context)
            let invitation = try await identity.invite(
                email: try Field.bounded(body.email, Field.emailBytes, "email"), role: try parseRole(body.role),
                by: try context.caller(), origin: context.origin(request)
            )
            var response = try InvitationResponse(
                email: invitation.email.value, role: invitation.role.rawValue, token: invitation.token.unsafeValue,
                expires_at: invitation.expiresAt
            ).response(from: request, context: context)
            response.status = .created
            return response
        }
    }
}
