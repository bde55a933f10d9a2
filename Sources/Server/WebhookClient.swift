import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import Services

/// Webhook requests through async-http-client: no redirect is followed (a receiver that answers 3xx has not taken the
/// message), no credentials of Winnow's own are sent (only the Standard Webhooks headers), every request has a
/// deadline, and at most 64 KiB of an answer is read. Runs as a service of `serve` so that its connections close when
/// the server stops (after the deliverer, which is shut down first).
public final class WebhookClient: WebhookTransport, Service {
    let client: HTTPClient

    public init(connectTimeoutSeconds: Double = 5, readTimeoutSeconds: Double = 30) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .milliseconds(Int64(connectTimeoutSeconds * 1000)),
                                                                    read: .milliseconds(Int64(readTimeoutSeconds * 1000))))
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .shared(HTTPClient.defaultEventLoopGroup), configuration: configuration)
    }

    /// The whole exchange, the answer's body included, within `timeoutSeconds` (async-http-client's own deadline ends
    /// with the answer's head: a receiver that then stalls would hold the delivery, and its feed, for ever).
    public func post(url: String, headers: [(name: String, value: String)], body: [UInt8], timeoutSeconds: Double) async throws -> Int {
        // Checked again here, at the one door to the network: a URL stored before a check existed (a port beyond
        // 65535 trapped inside the HTTP client, on every start) fails its delivery instead of stopping the server.
        _ = try WebhookService.checkURL(url)
        return try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask { try await self.exchange(url: url, headers: headers, body: body, timeoutSeconds: timeoutSeconds) }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(timeoutSeconds * 1000)))
                throw DeadlineExceeded(seconds: timeoutSeconds)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    /// No complete answer in time.
    struct DeadlineExceeded: Error, CustomStringConvertible {
        var seconds: Double
        var description: String { "no complete answer within \(seconds) s" }
    }

    /// A transport failure in the words a delivery's log and `webhook/test` show.
    struct TransportFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// NIO's errors in a few words: "connection refused (127.0.0.1:9)", not "connection reset (error set): Connection
    /// refused) (errno: 111)".
    static func plain(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if let connection = error as? NIOConnectionError {
            if let first = connection.connectionErrors.first {
                let target = first.target.ipAddress.map { "\($0):\(first.target.port ?? connection.port)" } ?? "\(connection.host):\(connection.port)"
                return "\(plain(first.error)) (\(target))"
            }
            if connection.dnsAError != nil || connection.dnsAAAAError != nil { return "the host \(connection.host) did not resolve" }
        }
        // NIOSSL's errors print BoringSSL's whole stack, with this build's source paths: a sentence instead (matched by
        // the type's module, to need no dependency of Winnow's own on swift-nio-ssl).
        if String(reflecting: type(of: error)).hasPrefix("NIOSSL.") {
            let name = String("\(error)".prefix { $0 != "(" && $0 != ":" })
            switch name {
            case "handshakeFailed":
                return "the TLS handshake failed (does the receiver speak HTTPS on this port, with a certificate this server trusts?)"
            case "unableToValidateCertificate", "failedToValidateHostname":
                return "the receiver's TLS certificate is not valid for this host or not trusted here (\(name))"
            default:
                return "TLS failed (\(name))"
            }
        }
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout: return "no connection within the timeout"
            case .remoteConnectionClosed: return "the receiver closed the connection before answering"
            case .readTimeout: return "no answer within the timeout"
            default: return "\(client)"
            }
        }
        return "\(error)"
    }

    func exchange(url: String, headers: [(name: String, value: String)], body: [UInt8], timeoutSeconds: Double) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
        } catch {
            throw TransportFailure(description: Self.plain(error))
        }
        var read = 0
        for try await part in response.body {
            read += part.readableBytes
            if read > 64 << 10 { break }
        }
        return Int(response.status.code)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }

    /// Shuts the client down outside a service group (tests).
    public func shutdown() async throws {
        try await client.shutdown()
    }
}
