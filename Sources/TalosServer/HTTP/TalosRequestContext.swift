public import Citadel
public import Hummingbird
public import NIOCore
import Synchronization
public import TalosCore

/// The request context of every Talos route.
///
/// ``RequestTrackingMiddleware`` fills in the request id and client address
/// before anything else runs; authentication later records the principal in
/// ``principal``, a shared slot, so the outer middleware can log and audit it.
public struct TalosRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The socket peer.
    public let remoteAddress: SocketAddress?
    public var requestID: TalosCore.RequestID
    /// The socket peer's IP, or the `X-Forwarded-For` client when the peer is a trusted proxy.
    public var clientIP: String
    public let principal: PrincipalSlot
    /// Body size allowed for decoding, set from configuration by the tracking middleware.
    public var bodyLimit: Int
    /// The authenticated caller, set by ``AuthorizationMiddleware`` on routes
    /// that need one.
    public var identity: Principal?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.requestID = TalosCore.RequestID.generate()
        self.clientIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
        self.principal = PrincipalSlot()
        self.bodyLimit = HTTPLimits().maxBodyBytes
        self.identity = nil
    }

    /// The caller; the authorization middleware guarantees one on every
    /// route declared ``RouteAccess/authenticated(_:stepUp:enrollment:)``.
    public func caller() throws -> Principal {
        guard let identity else { throw Problem.unauthenticated }
        return identity
    }

    /// Where the request came from, for sessions and the audit trail.
    public func origin(_ request: Request) -> RequestOrigin {
        RequestOrigin(ip: clientIP, userAgent: request.headers[.userAgent] ?? "", requestID: requestID.value)
    }

    public var maxUploadSize: Int { bodyLimit }

    public var requestDecoder: TalosJSONDecoder { TalosJSONDecoder() }
}

/// Who the request acts as, once authentication has said so.
public final class PrincipalSlot: Sendable {
    private let value = Mutex<String?>(nil)
    private let decisionValue = Mutex<String?>(nil)

    public init() {}

    public var id: String? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }

    /// The authorization decision, carried into the request's audit record.
    public var decision: String? {
        get { decisionValue.withLock { $0 } }
        set { decisionValue.withLock { $0 = newValue } }
    }
}
