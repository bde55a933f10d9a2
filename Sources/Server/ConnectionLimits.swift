import HTTPTypes
import HummingbirdCore
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Foundation
import Synchronization

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

/// Answers `Expect: 100-continue` with `100 Continue` as soon as the head arrives (RFC 9110 §10.1.1: a server answers
/// it at once, with 100 or the final status): curl held back every body over 1 MiB for a second waiting for it, and
/// clients that wait for it without a time limit waited for ever. The request then goes on as any other. (NIO's
/// pipeline handler lets an informational head pass before the answer, and holds a pipelined request's head until the
/// answer before it has ended, so a 100 never falls inside another answer.) A body whose `Content-Length` is over its
/// route's limit (`ServerConfiguration.bodyLimit`) gets no 100: the route answers 413 from the declared length without
/// waiting for the body, and the client need not send it; the connection closes after that answer.
final class ContinueAnswer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    static let expect = HTTPField.Name("Expect")!
    let limit: @Sendable (HTTPRequest.Method, String) -> Int

    init(limit: @escaping @Sendable (HTTPRequest.Method, String) -> Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        guard (JSON.declaredLength(head.headerFields) ?? 0) <= limit(head.method, head.path ?? "/") else {
            // The route answers 413 from the head. Hummingbird then reads the body to its end before the next request,
            // which held the connection for as long as the client sent (a declared 10^12 bytes, outside testing):
            // asked to close instead, it closes after the answer.
            head.headerFields[.connection] = "close"
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        if head.headerFields[Self.expect]?.lowercased() == "100-continue" {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        context.fireChannelRead(data)
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
    private var pending: (any Error)?

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
        guard error is HTTPParserError || error is HostRule.Refusal, heads == ends, !answering, pending == nil else {
            context.fireErrorCaught(error)
            return
        }
        if answered < heads {
            pending = error
        } else {
            answer(error, context: context)
        }
    }

    private func answer(_ error: any Error, context: ChannelHandlerContext) {
        answering = true
        let message = switch error as? HTTPParserError {
        case _ where error is HostRule.Refusal: "\(error)"
        case .headerOverflow?: "The request's URL and headers are over the server's limits (80 KiB in all, or too many header lines); send a shorter URL (put data in the body) and fewer or shorter headers."
        // The parser cannot tell a method it does not know from bytes that are not HTTP (TLS sent to this plain-HTTP
        // port reads as one): 400 for both (a 501 would call the TLS handshake a method), with both named.
        case .invalidMethod?:
            "The request line does not start with a method the server knows (the API uses GET, HEAD, POST, PUT, PATCH and DELETE), or the bytes are not HTTP at all (TLS sent to a plain-HTTP port reads so)."
        // NIO's own words for these ("invalid character in content-length header" for a length of 10^30) named no
        // rule the client could follow (outside testing).
        case .invalidContentLength?:
            "The Content-Length header is not a length the server can read: one whole number of bytes, in digits, below 2^64 (and at most the route's limit: 1 MiB for most, 256 MiB for a model file)."
        case .unexpectedContentLength?:
            "The request gives its body's length twice (two Content-Length headers, or one beside Transfer-Encoding): send one Content-Length, or 'Transfer-Encoding: chunked' alone."
        case .invalidVersion?:
            "The request line is not 'METHOD TARGET HTTP/1.1' ended by CRLF: its version is not HTTP/1.0 or HTTP/1.1, or its lines end in a bare LF."
        default: "The request is not valid HTTP/1.1 (\(error)); check its request line and headers."
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

/// Closes the connection after the answer when the client asked for that in HTTP/1's own terms: an HTTP/1.0 request
/// without `Connection: keep-alive`, or `Connection: close` in any case or among other tokens. Hummingbird closes only
/// on a header that reads exactly "close", and its HTTP types lose the request's version, so an HTTP/1.0 client (ab,
/// many health checkers) waited for the idle timeout (60 s by default) after every answer for a close that never came. Installed
/// below the conversion to HTTP types (`KeepAliveRule.Installer`), where the version is still known: it writes the
/// client's intent as the one header Hummingbird reads.
final class KeepAliveRule: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive, head.headers["connection"] != ["close"] {
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }

    /// Added with the HTTP-types handlers, it puts a `KeepAliveRule` just after NIO's HTTP/1 request decoder (before
    /// the conversion to HTTP types) and then does nothing.
    final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPRequestPart
        typealias InboundOut = HTTPRequestPart

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            guard let decoder = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) else { return }
            try? pipeline.addHandler(KeepAliveRule(), position: .after(decoder))
            try? pipeline.addHandler(HostRule(), position: .after(decoder))
        }
    }
}

/// RFC 9112 §3.2: a request with more than one `Host`, an HTTP/1.1 request with none, or a `Host` that is not a host
/// (and port) by RFC 3986's characters is answered 400 (two hosts are how a request is smuggled past a proxy that
/// reads the other one). NIO's conversion to HTTP types keeps the
/// first as the authority, passes a second on as a header and loses the version, so the rule sits below it (installed
/// by `KeepAliveRule.Installer`). The request goes no further: its parts are dropped, and `MalformedHeadAnswer`
/// answers the refusal with the API's JSON error and closes the connection.
///
/// RFC 9112 §6.3 too: a `Transfer-Encoding` whose last coding is not chunked leaves the body's length unknown, so the
/// request is refused the same way (the parser read such a request as having no body, answered it 501, and then
/// read its body as the next request, outside testing).
final class HostRule: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    struct Refusal: Error, CustomStringConvertible {
        let description: String

        init(hosts: [String]) {
            description = switch hosts.count {
            case 0: "The HTTP/1.1 request has no Host header; send one (the server's name, as the URL has it)."
            case 1: "The Host header '\(hosts[0].prefix(100))' is not a host name and port; send one, such as winnow.example:8080."
            default: "The request has \(hosts.count) Host headers; send exactly one."
            }
        }

        init(transferCodings: String) {
            description = "The Transfer-Encoding '\(transferCodings.prefix(100))' does not end in chunked, so the body's length cannot be known (RFC 9112 §6.3); send the body with 'Transfer-Encoding: chunked' alone, or with a Content-Length."
        }
    }

    /// The last coding of the request's `Transfer-Encoding` values, lowercased; nil without the header.
    static func lastTransferCoding(_ headers: HTTPHeaders) -> String? {
        headers.contains(name: "transfer-encoding") ? JSON.codings(headers["transfer-encoding"]).last ?? "" : nil
    }

    /// The bytes of a host and port (RFC 3986: unreserved, sub-delims, percent-encoding, ':' and an IPv6 literal's
    /// brackets).
    static func isHost(_ value: String) -> Bool {
        value.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            default: "-._~!$&'()*+,;=:[]%".utf8.contains(byte)
            }
        }
    }

    private var refusing = false

    /// An absolute-form request target (`http://host/path?query`, RFC 9112 §3.2.2) as origin form and the host it
    /// names: the server uses that host, not the Host header. Nil for any other target. The path and query are kept
    /// byte for byte, so that they meet the same checks as in origin form (outside testing: NIO's conversion of an
    /// absolute target re-encoded a bad '%' and dropped a fragment, which origin form refuses).
    static func originForm(of target: String) -> (target: String, host: String)? {
        // Origin form (nearly every request) at the cost of one byte's look.
        guard let first = target.utf8.first, first != UInt8(ascii: "/") else { return nil }
        let lower = target.prefix(8).lowercased()
        let scheme = lower.hasPrefix("http://") ? 7 : lower.hasPrefix("https://") ? 8 : 0
        guard scheme > 0 else { return nil }
        let rest = target.dropFirst(scheme)
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let path = rest[end...]
        return (path.first == "/" ? String(path) : "/" + path, String(rest[..<end]))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(var head):
            if let origin = Self.originForm(of: head.uri) {
                head.uri = origin.target
                head.headers.replaceOrAdd(name: "host", value: origin.host)
            }
            let hosts = head.headers["host"]
            refusing = hosts.count > 1 || (hosts.isEmpty && (head.version.major, head.version.minor) >= (1, 1))
                || (hosts.count == 1 && !Self.isHost(hosts[0]))
            if refusing {
                context.fireErrorCaught(Refusal(hosts: hosts))
                return
            }
            if let last = Self.lastTransferCoding(head.headers), last != "chunked" {
                refusing = true
                context.fireErrorCaught(Refusal(transferCodings: head.headers["transfer-encoding"].joined(separator: ", ")))
                return
            }
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        case .body, .end:
            if refusing { return }
        }
        context.fireChannelRead(data)
    }
}

/// The open connections of each client address, shared by a server's connections.
final class AddressConnections: Sendable {
    let limit: Int
    private let open = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts a connection from `address` unless the address has `limit` open; false when it has.
    func admit(_ address: String) -> Bool {
        open.withLock { open in
            let count = open[address, default: 0]
            guard count < limit else { return false }
            open[address] = count + 1
            return true
        }
    }

    func leave(_ address: String) {
        open.withLock { open in
            let count = (open[address] ?? 1) - 1
            open[address] = count > 0 ? count : nil
        }
    }
}

/// Closes a connection whose client address has `maxConnectionsPerAddress` open already (outside testing: 1,100
/// sockets from one client sending their headers slowly held every connection for the idle timeout, and nobody else
/// was served). Counted from the moment the connection is set up until it closes.
final class PerAddressLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let connections: AddressConnections
    private var counted: String?

    init(_ connections: AddressConnections) {
        self.connections = connections
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A Unix socket, or an address NIO cannot tell, is not limited.
        guard let address = context.channel.remoteAddress?.ipAddress else { return }
        if connections.admit(address) {
            counted = address
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        leave()
    }

    private func leave() {
        guard let address = counted else { return }
        counted = nil
        connections.leave(address)
    }
}

extension ServerConfiguration {
    /// The largest body a route reads, as its controller reads it (`JSON.body`'s `limit`): what `ContinueAnswer` holds
    /// a 100 against. A path it does not know gets `maxBodyBytes`, the smallest limit: at worst a client waits for a
    /// 100 that does not come, and sends the body after its own pause (curl: one second).
    func bodyLimit(method: HTTPRequest.Method, path: String) -> Int {
        let path = path.prefix { $0 != "?" }
        guard method == .post else { return maxBodyBytes }
        switch path {
        case "/v1/items:batch", "/v1/labels": return maxBatchBodyBytes
        case "/v1/items": return media.maxItemBodyBytes
        case "/v1/models": return ModelController.maxModelBytes
        default:
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 5, parts[1] == "v1", parts[2] == "banks", parts[4] == "entries" || parts[4] == "import" { return media.maxItemBodyBytes }
            return maxBodyBytes
        }
    }

    /// The HTTP/1.1 server with the configured time limits: a complete request head within `idleTimeoutSeconds` of
    /// the connection's start or its last answer, a body within `bodyTimeoutSeconds` of its head; and at most
    /// `maxConnectionsPerAddress` connections from one client address.
    var httpServer: HTTPServerBuilder {
        let body = TimeAmount.milliseconds(Int64(bodyTimeoutSeconds * 1000))
        let perAddress = maxConnectionsPerAddress > 0 ? AddressConnections(limit: maxConnectionsPerAddress) : nil
        return .http1(configuration: .init(additionalChannelHandlers: [KeepAliveRule.Installer(), MalformedHeadAnswer(),
                                                                             ContinueAnswer(limit: { [self] in bodyLimit(method: $0, path: $1) }),
                                                                             RequestBodyDeadline(timeout: body)]
                                               + (perAddress.map { [PerAddressLimit($0)] } ?? []),
                                           idleTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000))))
    }
}
