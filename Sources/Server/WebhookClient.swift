import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import ServiceLifecycle
import Services
import Synchronization

/// Webhook requests through async-http-client: no redirect is followed (a receiver that answers 3xx has not taken the
/// message), no credentials of Winnow's own are sent (only the Standard Webhooks headers), every request has a
/// deadline, and at most 64 KiB of an answer is read. Runs as a service of `serve` so that its connections close when
/// the server stops (after the deliverer, which is shut down first).
///
/// The receiver's host is resolved and checked here, before a delivery connects (`WebhookService.reachableAddresses`,
/// as when the endpoint was set), and the connection goes to the address checked: each host has a client of its own
/// whose `dnsOverride` pins the name to that address (TLS still verifies the name). Left to itself the HTTP client
/// would resolve the name again, and a name that answered with the feed service's address when it was checked could
/// answer with a metadata service's when the message is sent (DNS rebinding). A host's check is reused for
/// `recheckSeconds`; a new answer gets a new client, and the old one closes once its deliveries are past their deadline.
public final class WebhookClient: WebhookTransport, Service {
    let configuration: HTTPClient.Configuration
    let resolve: @Sendable (String) async -> [[UInt8]]?
    let recheckSeconds: Double
    /// How long a replaced client is kept for deliveries still using it.
    let graceSeconds: Double
    let pinned = Mutex(Pinned())

    /// Each host's client with the address it is pinned to, and clients replaced but not yet shut down.
    struct Pinned {
        var hosts: [String: Entry] = [:]
        var retired: [(client: HTTPClient, at: ContinuousClock.Instant)] = []
        var stopped = false

        struct Entry {
            let client: HTTPClient
            let address: String
            var checkedAt: ContinuousClock.Instant
            var usedAt: ContinuousClock.Instant
        }
    }

    /// The most hosts with a client of their own; beyond it the least recently used is replaced.
    static let maxHosts = 256

    /// - Parameters:
    ///   - resolve: a host's addresses (getaddrinfo within 5 s by default; tests inject their own).
    ///   - recheckSeconds: how long a host's checked address is used before it is resolved and checked again.
    public init(connectTimeoutSeconds: Double = 5, readTimeoutSeconds: Double = 30, recheckSeconds: Double = 30,
                resolve: @escaping @Sendable (String) async -> [[UInt8]]? = { await WebhookService.addresses(of: $0, timeoutSeconds: 5) }) {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .milliseconds(Int64(connectTimeoutSeconds * 1000)),
                                                                    read: .milliseconds(Int64(readTimeoutSeconds * 1000))))
        configuration.decompression = .disabled
        self.configuration = configuration
        self.resolve = resolve
        self.recheckSeconds = recheckSeconds
        graceSeconds = connectTimeoutSeconds + readTimeoutSeconds + 5
    }

    /// The whole exchange, the answer's body included, within `timeoutSeconds` (async-http-client's own deadline ends
    /// with the answer's head: a receiver that then stalls would hold the delivery, and its feed, for ever).
    public func post(url: String, headers: [(name: String, value: String)], body: [UInt8], timeoutSeconds: Double) async throws -> Int {
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

    /// The client for `url`'s host, pinned to an address checked within `recheckSeconds`.
    /// - Throws: `ValidationError` when the URL is not one a webhook may have, or its host does not resolve or resolves
    ///   to a forbidden address.
    func client(for url: String) async throws -> HTTPClient {
        // Checked again here, at the one door to the network: a URL stored before a check existed (a port beyond
        // 65535 trapped inside the HTTP client, on every start) fails its delivery instead of stopping the server.
        let host = try WebhookService.checkURL(url)
        let now = ContinuousClock.now
        if let client = pinned.withLock({ state -> HTTPClient? in
            guard var entry = state.hosts[host], now - entry.checkedAt < .milliseconds(Int64(recheckSeconds * 1000)) else { return nil }
            entry.usedAt = now
            state.hosts[host] = entry
            return entry.client
        }) {
            return client
        }
        let addresses = try await WebhookService.reachableAddresses(of: host, resolve: resolve)
        // One address: an IPv4 one when there is one (a host with an IPv6 address this machine cannot route to would
        // otherwise fail where the HTTP client's own resolution falls back).
        let address = WebhookService.text(of: addresses.first { $0.count == 4 } ?? addresses[0])
        // The host as the HTTP client reads it from the same URL (Foundation's URL, brackets trimmed) is pinned too: were
        // it spelled otherwise than URLComponents reads it, the override would miss and the client resolve it itself.
        var theirs = URL(string: url)?.host ?? host
        if theirs.hasPrefix("["), theirs.hasSuffix("]") { theirs = String(theirs.dropFirst().dropLast()) }
        var closing: [HTTPClient] = []
        defer { for client in closing { Task { try? await client.shutdown() } } }
        return try pinned.withLock { state in
            guard !state.stopped else { throw HTTPClientError.alreadyShutdown }
            // Replaced clients whose deliveries are all past their deadline.
            let grace = Duration.milliseconds(Int64(graceSeconds * 1000))
            closing = state.retired.filter { now - $0.at >= grace }.map(\.client)
            state.retired.removeAll { now - $0.at >= grace }
            if var entry = state.hosts[host], entry.address == address {
                entry.checkedAt = now
                entry.usedAt = now
                state.hosts[host] = entry
                return entry.client
            }
            if let old = state.hosts.removeValue(forKey: host) { state.retired.append((old.client, now)) }
            if state.hosts.count >= Self.maxHosts, let oldest = state.hosts.min(by: { $0.value.usedAt < $1.value.usedAt }) {
                state.hosts[oldest.key] = nil
                state.retired.append((oldest.value.client, now))
            }
            var configuration = self.configuration
            configuration.dnsOverride = Dictionary([(host, address), (theirs, address)], uniquingKeysWith: { first, _ in first })
            let client = HTTPClient(eventLoopGroupProvider: .shared(HTTPClient.defaultEventLoopGroup), configuration: configuration)
            state.hosts[host] = Pinned.Entry(client: client, address: address, checkedAt: now, usedAt: now)
            return client
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
        let client = try await client(for: url)
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
        try await shutdown()
    }

    /// Shuts every client down (also outside a service group, in tests); a delivery after it fails.
    public func shutdown() async throws {
        let clients = pinned.withLock { state in
            state.stopped = true
            defer { state.hosts = [:]; state.retired = [] }
            return state.hosts.values.map(\.client) + state.retired.map(\.client)
        }
        for client in clients { try await client.shutdown() }
    }
}
