public import HTTPTypes
public import Hummingbird
import Synchronization
public import TalosCore

/// Every route's declared access, keyed by method and route pattern. A route
/// missing here is refused for everyone by ``AuthorizationMiddleware``.
public final class RouteAccessTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public let method: HTTPRequest.Method
        public let path: String
        public let access: RouteAccess
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    static func key(_ method: HTTPRequest.Method, _ path: String) -> String {
        method.rawValue + " " + path
    }

    /// Declares `access` for a route; `path` in the router's own spelling.
    public func declare(_ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess) {
        let normalized = RouterPath(path).description
        entries.withLock { $0[Self.key(method, normalized)] = Entry(method: method, path: normalized, access: access) }
    }

    public func access(_ method: HTTPRequest.Method, _ path: String) -> RouteAccess? {
        entries.withLock { $0[Self.key(method, path)]?.access }
    }

    /// Every declaration, sorted, for the route × role test and the docs.
    public var all: [Entry] {
        entries.withLock { Array($0.values) }.sorted { ($0.path, $0.method.rawValue) < ($1.path, $1.method.rawValue) }
    }
}

/// Registers routes together with their declared access, so a handler
/// cannot be added without saying who may call it.
public struct DeclaredRoutes {
    /// The raw group: routes added here without a declaration are refused.
    public let group: RouterGroup<TalosRequestContext>
    public let table: RouteAccessTable

    @discardableResult
    public func on<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess,
        use handler: @escaping @Sendable (Request, TalosRequestContext) async throws -> Output
    ) -> DeclaredRoutes {
        table.declare(method, path, access)
        group.on(RouterPath(path), method: method, use: handler)
        return self
    }
}
