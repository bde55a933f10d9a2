import AsyncHTTPClient
import Foundation
import NIOCore
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

    func exchange(url: String, headers: [(name: String, value: String)], body: [UInt8], timeoutSeconds: Double) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
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
