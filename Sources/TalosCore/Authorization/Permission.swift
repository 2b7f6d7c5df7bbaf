/// What a route may require of its caller. The matrix in ``PermissionMatrix``
/// is the only place that says which role holds which permission.
public enum Permission: String, Sendable, CaseIterable, Codable {
    /// Read my own account.
    case profileRead = "profile.read"
    /// List and revoke my own sessions, log out.
    case sessionsManage = "sessions.manage"
    /// Enrol, confirm and disable my own TOTP.
    case mfaManage = "mfa.manage"
    /// Change my own password.
    case passwordChange = "password.change"
    /// Delete my own account.
    case accountDelete = "account.delete"
    /// Reach the invitation route; which roles one may invite is
    /// ``PermissionMatrix/invitePermission(for:)``'s answer.
    case invite = "invitations.create"
    /// Invite data owners.
    case inviteOwner = "invitations.owner"
    /// Invite data consumers.
    case inviteConsumer = "invitations.consumer"
    /// List every account.
    case usersRead = "users.read"
    /// Change another account's role.
    case usersRole = "users.role"
    /// Disable or re-enable an account.
    case usersDisable = "users.disable"
    /// Lift a lockout.
    case usersUnlock = "users.unlock"
    /// Submit code to the Forge and see, cancel and follow my own executions.
    case executionsRun = "executions.run"
    /// List the languages and versions the Forge runs.
    case runtimesRead = "runtimes.read"
}

/// The one permission matrix: role → permissions. Anything not listed is denied.
public enum PermissionMatrix {
    static let selfService: Set<Permission> = [
        .profileRead, .sessionsManage, .mfaManage, .passwordChange, .accountDelete,
    ]

    static let grants: [Role: Set<Permission>] = [
        .superAdmin: selfService.union([.invite, .inviteOwner, .usersRead, .usersRole, .usersDisable, .usersUnlock, .runtimesRead]),
        .owner: selfService.union([.invite, .inviteConsumer, .executionsRun, .runtimesRead]),
        .consumer: selfService.union([.executionsRun, .runtimesRead]),
    ]

    public static func permissions(of role: Role) -> Set<Permission> {
        grants[role] ?? []
    }

    public static func allows(_ role: Role, _ permission: Permission) -> Bool {
        permissions(of: role).contains(permission)
    }

    /// The permission needed to invite someone into `role`; nil when no one may
    /// (super admins come only from the command line).
    public static func invitePermission(for role: Role) -> Permission? {
        switch role {
        case .superAdmin: nil
        case .owner: .inviteOwner
        case .consumer: .inviteConsumer
        }
    }
}

/// What a route declares about its caller. Routes without a declaration are
/// refused for everyone.
public enum RouteAccess: Sendable, Equatable {
    /// Reachable without a token (sign-in, health, key set). Each use is a
    /// deliberate, reviewed exception.
    case anonymous
    /// Needs a valid access token whose role holds `permission`.
    ///
    /// - Parameters:
    ///   - stepUp: the sign-in must be recent (and with MFA when enrolled).
    ///   - enrollment: reachable by a super admin who has not enrolled MFA yet.
    case authenticated(Permission, stepUp: Bool = false, enrollment: Bool = false)
}
