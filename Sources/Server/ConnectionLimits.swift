import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Closes a connection whose request body has not fully arrived `timeout` after its head: a client sending its body
/// slowly (or not at all) would otherwise hold the connection, and the request's task, for ever. (A request head that
/// never completes, and a connection that never sends one, are closed by the idle timeout of Hummingbird's
/// `HTTP1Channel`, which runs from the connection's start or its last answer until a complete head.)
final class RequestBodyDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                context.close(promise: nil)
            }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }
}

extension ServerConfiguration {
    /// The HTTP/1.1 server with the configured time limits: a complete request head within `idleTimeoutSeconds` of
    /// the connection's start or its last answer, a body within `bodyTimeoutSeconds` of its head.
    var httpServer: HTTPServerBuilder {
        let body = TimeAmount.milliseconds(Int64(bodyTimeoutSeconds * 1000))
        return .http1(configuration: .init(additionalChannelHandlers: [RequestBodyDeadline(timeout: body)],
                                           idleTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000))))
    }
}
