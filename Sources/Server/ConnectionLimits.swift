import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Foundation

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

/// Answers a request whose head cannot be read (a URL or headers over the parser's limit, a line that is not HTTP)
/// with the API's JSON error, naming what to fix, then closes the connection: Hummingbird answers those with an empty
/// 400. Only between requests: an error inside a request's body is that request's (it reaches the route, and the
/// error middleware answers `malformed_request`); one that follows a request still being answered (pipelined bytes)
/// waits for that answer's end, so no answer is ever interleaved with another.
final class MalformedHeadAnswer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var heads = 0, ends = 0, answered = 0
    private var answering = false
    /// A malformed head that arrived while an earlier request was still being answered.
    private var pending: HTTPParserError?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: heads += 1
        case .end: ends += 1
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { answered += 1 }
        context.write(data, promise: promise)
        if let error = pending, answered == heads {
            pending = nil
            answer(error, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, heads == ends, !answering, pending == nil else {
            context.fireErrorCaught(error)
            return
        }
        if answered < heads {
            pending = parserError
        } else {
            answer(parserError, context: context)
        }
    }

    private func answer(_ parserError: HTTPParserError, context: ChannelHandlerContext) {
        answering = true
        let message = switch parserError {
        case .headerOverflow: "The request's URL and headers are over the server's limit (80 KiB); send a shorter URL (put data in the body) and fewer or shorter headers."
        default: "The request is not valid HTTP/1.1 (\(parserError)); check its request line and headers."
        }
        // The API's error shape, as every other error answer writes it.
        let json = (try? JSON.encoder.encode(APIError.Body(error: .init(code: "malformed_request", message: message, field: nil)))) ?? Data()
        let body = ByteBuffer(bytes: json)
        let head = HTTPResponse(status: .badRequest, headerFields: [.contentType: "application/json", .contentLength: "\(body.readableBytes)", .connection: "close"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}

extension ServerConfiguration {
    /// The HTTP/1.1 server with the configured time limits: a complete request head within `idleTimeoutSeconds` of
    /// the connection's start or its last answer, a body within `bodyTimeoutSeconds` of its head.
    var httpServer: HTTPServerBuilder {
        let body = TimeAmount.milliseconds(Int64(bodyTimeoutSeconds * 1000))
        return .http1(configuration: .init(additionalChannelHandlers: [MalformedHeadAnswer(), RequestBodyDeadline(timeout: body)],
                                           idleTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000))))
    }
}
