public import HummingbirdCore
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

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
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
