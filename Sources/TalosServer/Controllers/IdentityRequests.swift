// The bodies of the identity routes (`/v1/auth/*`, `/v1/invitations`,
// `/v1/me/*`, `/v1/admin/*`) as decoded from hostile JSON: strings only,
// each bounded by `Field` before any work is done on it.

struct LoginRequest: Decodable {
    let email: String
    let password: String
}

struct MFALoginRequest: Decodable {
    let mfa_token: String
    let code: String
}

struct RefreshRequest: Decodable {
    let refresh_token: String
}

struct AcceptRequest: Decodable {
    let token: String
    let password: String
}

struct InviteRequest: Decodable {
    let email: String
    let role: String
}

struct RoleRequest: Decodable {
    let role: String
}

struct CodeRequest: Decodable {
    let code: String
}

struct DisableRequest: Decodable {
    let password: String
    let code: String
}

struct PasswordRequest: Decodable {
    let current_password: String
    let new_password: String
}
