import Citadel
import Hummingbird
import TalosCore

/// `/.well-known/jwks.json`: the public keys that verify access tokens.
struct WellKnownController {
    let identity: IdentityService

    struct KeySet: ResponseEncodable {
        let keys: [[String: String]]
    }

    func register(on routes: DeclaredRoutes) {
        routes.on(.get, "/.well-known/jwks.json", .anonymous) { _, _ -> KeySet in
            KeySet(keys: try await identity.keys.jwks(now: identity.now()))
        }
    }
}
