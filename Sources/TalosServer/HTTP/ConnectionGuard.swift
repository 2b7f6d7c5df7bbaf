public import HummingbirdCore
import Synchronization
public import Logging
public import NIOCore
import NIOHTTPTypes

/// Wraps a child channel (TLS + HTTP/1.1) with ``SlowClientHandler`` in front
/// of everything, so it sees the raw bytes, TLS handshake included.
public struct GuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    public typealias Value = Base.Value

    let base: Base
    let requestTimeout: TimeAmount
    let onTimeout: @Sendable (SocketAddress?) -> Void
    let connections: ConnectionCounter
    /// Told of refused connections, at most once per window, with their count.
    let onRefused: @Sendable (_ count: Int, _ lastPeer: SocketAddress?) -> Void

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let client = ClientAddress.bucketKey(channel.remoteAddress?.ipAddress ?? "unknown")
        guard connections.admit(client: client) else {
            if let count = connections.noteRefusal() { onRefused(count, channel.remoteAddress) }
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ConnectionLimitReached())
        }
        let connections = connections
        channel.closeFuture.whenComplete { _ in connections.leave(client: client) }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                SlowClientHandler(requestTimeout: requestTimeout, onTimeout: onTimeout), position: .first
            )
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    public func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

struct ConnectionLimitReached: Error {}

/// Counts open connections against the server-wide limit and a per-client
/// limit (IPv4 address, IPv6 /64), so one client cannot take every place,
/// and counts refusals so that a flood is reported once per window rather
/// than once per connection.
public final class ConnectionCounter: Sendable {
    private struct Refusals {
        var count = 0
        var lastReport: ContinuousClock.Instant?
    }

    let maximum: Int
    let maximumPerClient: Int
    /// Trusted proxies carry many clients' connections: only the total applies to them.
    let proxies: Set<String>
    let reportWindow: Duration
    private let open: Mutex<CappedCounts>
    private let refusals = Mutex(Refusals())

    init(maximum: Int, maximumPerClient: Int, proxies: Set<String> = [], reportWindow: Duration = .seconds(10)) {
        self.maximum = maximum
        self.maximumPerClient = maximumPerClient
        self.proxies = Set(proxies.map { ClientAddress.bucketKey($0) })
        self.reportWindow = reportWindow
        open = Mutex(CappedCounts(maximumTotal: maximum, maximumPerKey: maximumPerClient))
    }

    var current: Int { open.withLock { $0.total } }

    /// Takes a place if one is free, in all and for `client`.
    func admit(client: String) -> Bool {
        open.withLock { $0.take(client, capKey: !proxies.contains(client)) == nil }
    }

    func leave(client: String) {
        open.withLock { $0.give(client) }
    }

    /// Counts a refusal; the number to report when a window has passed.
    func noteRefusal(now: ContinuousClock.Instant = .now) -> Int? {
        refusals.withLock { state in
            state.count += 1
            if let last = state.lastReport, now - last < reportWindow { return nil }
            state.lastReport = now
            defer { state.count = 0 }
            return state.count
        }
    }
}

/// Closes connections that keep the server waiting.
///
/// A deadline starts when bytes arrive while no deadline runs and ends when
/// the request is complete (``RequestEndObserver``) or the server writes. A client that trickles a request
/// (slowloris) or stalls a handshake is cut off after `requestTimeout`; an
/// idle connection is left to the idle timeout.
final class SlowClientHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let requestTimeout: TimeAmount
    private let onTimeout: @Sendable (SocketAddress?) -> Void
    private var deadline: Scheduled<Void>?

    init(requestTimeout: TimeAmount, onTimeout: @escaping @Sendable (SocketAddress?) -> Void) {
        self.requestTimeout = requestTimeout
        self.onTimeout = onTimeout
    }

    /// The whole request has arrived: the rest is the server's time, not the client's.
    func requestComplete() {
        deadline?.cancel()
        deadline = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if deadline == nil { arm(context: context) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        deadline?.cancel()
        deadline = nil
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    private func arm(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let onTimeout = self.onTimeout
        deadline = context.eventLoop.scheduleTask(in: requestTimeout) {
            let context = loopBound.value
            onTimeout(context.channel.remoteAddress)
            context.close(promise: nil)
        }
    }
}

/// Sits after HTTP decoding and tells the connection's ``SlowClientHandler``
/// when a request has fully arrived.
final class RequestEndObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data),
            let guardHandler = try? context.pipeline.syncOperations.handler(type: SlowClientHandler.self)
        {
            guardHandler.requestComplete()
        }
        context.fireChannelRead(data)
    }
}
