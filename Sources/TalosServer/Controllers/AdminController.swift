import Citadel
import Hummingbird
import TalosCore

/// Account administration for super admins: `/v1/admin/users/*`.
struct AdminController {
    let identity: IdentityService

    struct UsersResponse: ResponseEncodable {
        let users: [AccountResponse]
        /// Pass as `after` for the next page; absent on the last page.
        let next: String?
    }

    func register(on routes: DeclaredRoutes) {
        routes.on(.get, "/v1/admin/users", .authenticated(.usersRead)) { request, _ -> UsersResponse in
            let text = request.uri.queryParameters["limit"].map(String.init)
            let limit = text.map { UntrustedNumber.integer($0, in: 1...100) ?? 0 } ?? 50
            guard (1...100).contains(limit) else {
                throw Problem(status: .unprocessableContent, type: "invalid-input", title: "The request is invalid", detail: "limit must be 1–100.")
            }
            let after = try request.uri.queryParameters.get("after").map { try Field.bounded($0, Field.emailBytes, "after") }
            let page = try await identity.listAccounts(after: after, limit: limit)
            return UsersResponse(
                users: page.map { AccountResponse($0) }, next: page.count == limit ? page.last?.account.email.value : nil
            )
        }
        routes.on(.put, "/v1/admin/users/{id}/role", .authenticated(.usersRole, stepUp: true)) { request, context -> AccountResponse in
            let body = try await request.decode(as: RoleRequest.self, context: context)
            return AccountResponse(
                try await identity.changeRole(
                    of: try parseID(context), to: try parseRole(body.role), by: try context.caller(), origin: context.origin(request)
                )
            )
        }
        routes.on(.post, "/v1/admin/users/{id}/disable", .authenticated(.usersDisable)) { request, context -> AccountResponse in
            AccountResponse(
                try await identity.setDisabled(true, id: try parseID(context), by: try context.caller(), origin: context.origin(request))
            )
        }
        routes.on(.post, "/v1/admin/users/{id}/enable", .authenticated(.usersDisable)) { request, context -> AccountResponse in
            AccountResponse(
                try await identity.setDisabled(false, id: try parseID(context), by: try context.caller(), origin: context.origin(request))
            )
        }
        routes.on(.post, "/v1/admin/users/{id}/unlock", .authenticated(.usersUnlock)) { request, context -> AccountResponse in
            AccountResponse(
                try await identity.unlock(try parseID(context), by: try context.caller(), origin: context.origin(request))
            )
        }
    }
}
