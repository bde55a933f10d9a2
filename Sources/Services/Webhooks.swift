import Crypto
import Engine
import Foundation
import Synchronization
import WinnowJSON

/// Sends one webhook request; the server's is async-http-client, following no redirect. Throws when no answer came
/// (refused, timed out, reset): the error's description goes into the webhook's `lastError`, so it must not hold
/// the secret (which a transport never sees: only the signature).
public protocol WebhookTransport: Sendable {
    /// POSTs `body` to `url` with `headers`; returns the answer's status code.
    func post(url: String, headers: [(name: String, value: String)], body: [UInt8], timeoutSeconds: Double) async throws -> Int
}

/// Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over `id.timestamp.body` with the
/// secret's key bytes, sent as `v1,` and the base64 of the MAC.
public enum WebhookSignature {
    public static let secretPrefix = "whsec_"

    /// The key bytes of a `whsec_…` secret; nil when it is not one (or holds fewer than 24 or more than 64 bytes).
    public static func key(of secret: String) -> [UInt8]? {
        guard secret.hasPrefix(secretPrefix), let data = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))),
              (24...64).contains(data.count) else { return nil }
        return Array(data)
    }

    /// A new secret: 32 random bytes.
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return secretPrefix + Data(bytes).base64EncodedString()
    }

    /// The `webhook-signature` header's value.
    public static func sign(id: String, timestamp: Int, body: [UInt8], key: [UInt8]) -> String {
        var content = Array("\(id).\(timestamp).".utf8)
        content += body
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// The three Standard Webhooks headers and the content type.
    public static func headers(id: String, timestamp: Int, body: [UInt8], key: [UInt8]) -> [(name: String, value: String)] {
        [("content-type", "application/json"), ("user-agent", "Winnow-Webhooks/1"), ("webhook-id", id),
         ("webhook-timestamp", String(timestamp)), ("webhook-signature", sign(id: id, timestamp: timestamp, body: body, key: key))]
    }
}

/// The body of a webhook message: Standard Webhooks' `{type, timestamp, data}`, the data a feed's events in order,
/// all of the message's type.
public struct WebhookMessage: Encodable, Sendable {
    public struct Payload: Encodable, Sendable {
        public var feed: String
        public var events: [ChangeEvent]
    }

    /// `decision.changed` or `retraining.step` (the type of every event in it), or `webhook.test` for a test.
    public var type: String
    /// The newest event's time (the same in every retry of the message).
    public var timestamp: Date
    public var data: Payload

    static let encoder = WireEncoder.make()

    public func encoded() throws -> [UInt8] { Array(try Self.encoder.encode(self)) }
}

/// A feed's webhook as an admin sees it: the endpoint (never its secret), its state and its figures.
public struct WebhookStatus: Sendable {
    public var record: WebhookRecord
    /// healthy, retrying or failing (`WebhookRetryPolicy.state`).
    public var state: String
    public var pending: Int
    /// Seconds the oldest undelivered event has waited.
    public var lagSeconds: Double
}

/// A feed's webhook as the API shows it (`GET /v1/feeds/{feed}/webhook`) and the command line reads it: never its
/// secret, except in the answer that set it.
public struct WebhookView: Codable, Sendable {
    public struct Delivery: Codable, Sendable {
        /// Every event of the feed up to this number was delivered.
        public var deliveredThrough: Int64
        public var pending: Int
        public var lagSeconds: Double
        public var delivered: Int64
        public var failedAttempts: Int64
        public var attemptsSinceSuccess: Int
        public var nextAttemptAt: Date?
        public var failingSince: Date?
        public var lastError: String?
        public var lastAttemptAt: Date?
        public var lastSuccessAt: Date?
    }

    public var feed: String
    public var url: String
    /// The causes delivered (and `retraining` for the retraining steps); nil for every event.
    public var events: [String]?
    /// healthy, retrying or failing.
    public var state: String
    public var createdBy: String
    public var createdAt: Date
    public var delivery: Delivery
    /// Only in the answer that set it: shown once.
    public var secret: String?
    public var replaced: Bool?

    public init(_ status: WebhookStatus, secret: String? = nil, replaced: Bool? = nil) {
        let e = status.record.endpoint, d = status.record.delivery
        feed = e.feed
        url = e.url
        events = e.topics.map { $0.map(\.rawValue).sorted() }
        state = status.state
        createdBy = e.createdBy
        createdAt = e.createdAt
        delivery = Delivery(deliveredThrough: d.deliveredSeq, pending: status.pending, lagSeconds: status.lagSeconds, delivered: d.delivered,
                            failedAttempts: d.failed, attemptsSinceSuccess: d.attempts, nextAttemptAt: d.attempts > 0 ? d.nextAttemptAt : nil,
                            failingSince: d.failingSince, lastError: d.lastError, lastAttemptAt: d.lastAttemptAt, lastSuccessAt: d.lastSuccessAt)
        self.secret = secret
        self.replaced = replaced
    }
}

/// A webhook's endpoint was refused.
public struct WebhookError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case notFound, unreachable }
    public var kind: Kind
    public var message: String
    public var description: String { message }
}

/// Each feed's webhook: set, shown, tested and removed by an admin (`PUT/GET/DELETE /v1/feeds/{feed}/webhook`,
/// `winnow webhooks`). The checks of an endpoint live here; deliveries are the `WebhookDeliverer`'s.
public struct WebhookService: Sendable {
    public let scoring: ScoringService
    public let transport: any WebhookTransport
    public let configuration: EventsConfiguration
    /// The addresses a host name resolves to, nil when it does not (getaddrinfo within 5 s by default; tests inject
    /// their own).
    let resolve: @Sendable (String) async -> [[UInt8]]?

    public init(scoring: ScoringService, transport: any WebhookTransport, configuration: EventsConfiguration = EventsConfiguration(),
                resolve: @escaping @Sendable (String) async -> [[UInt8]]? = { await WebhookService.addresses(of: $0, timeoutSeconds: 5) }) {
        self.scoring = scoring
        self.transport = transport
        self.configuration = configuration
        self.resolve = resolve
    }

    var store: any Store { scoring.store }

    /// Checks and stores the feed's endpoint; returns it with the secret to show once (generated when none was given).
    /// - Throws: `ValidationError` naming `url`, `secret` or `events`.
    public func set(feed: String, url: String, secret: String?, events: [String]?, by: String) async throws
        -> (status: WebhookStatus, secret: String, replaced: Bool) {
        guard Policy.isValidFeed(feed) else { throw ValidationError(field: "feed", PolicyError.invalidFeed(feed).description) }
        _ = try await Self.reachableAddresses(of: try Self.checkURL(url), resolve: resolve)
        if let secret, WebhookSignature.key(of: secret) == nil {
            throw ValidationError(field: "secret", "a secret is 'whsec_' followed by the base64 of 24 to 64 random bytes; leave it out and Winnow makes one")
        }
        var wanted: Set<EventTopic>?
        if let events {
            guard !events.isEmpty else {
                throw ValidationError(field: "events", "name at least one cause (or retraining), or leave events out for every decision event")
            }
            var topics = Set<EventTopic>()
            for (i, name) in events.enumerated() {
                guard let topic = EventTopic(rawValue: name) else {
                    throw ValidationError(field: "events[\(i)]", "'\(name.prefix(64))' is neither a cause nor retraining; use \(EventTopic.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                topics.insert(topic)
            }
            wanted = topics
        }
        // The same settings again (a deploy tool re-applying them) change nothing: a new endpoint would give the message
        // being retried another webhook-id, and wipe the delivery's failure record.
        if let secret, let existing = try await store.webhook(feed: feed), existing.endpoint.url == url, existing.endpoint.secret == secret,
           existing.endpoint.topics == wanted {
            return (try await status(of: existing), secret, true)
        }
        let key = secret ?? WebhookSignature.newSecret()
        let endpoint = WebhookEndpoint(feed: feed, url: url, secret: key, topics: wanted, endpointID: Self.newEndpointID(), createdBy: by,
                                       createdAt: scoring.clock())
        let (record, replaced) = try await store.saveWebhook(endpoint)
        scoring.bell.ring()
        return (try await status(of: record), key, replaced)
    }

    public func show(feed: String) async throws -> WebhookStatus? {
        guard let record = try await store.webhook(feed: feed) else { return nil }
        return try await status(of: record)
    }

    public func list() async throws -> [WebhookStatus] {
        var out: [WebhookStatus] = []
        for record in try await store.webhooks() { out.append(try await status(of: record)) }
        return out
    }

    public func remove(feed: String) async throws -> Bool {
        let removed = try await store.removeWebhook(feed: feed)
        if removed { scoring.metrics.webhookRemoved(feed: feed) }
        return removed
    }

    /// The outcome of a test message, as the API answers it and the command line reads it.
    public struct TestResult: Codable, Sendable {
        public var delivered: Bool
        /// The receiver's status code, when it answered.
        public var status: Int?
        public var error: String?
        /// To a tenth of a millisecond.
        public var milliseconds: Double
        public var messageID: String

        private enum CodingKeys: String, CodingKey { case delivered, status, error, milliseconds, messageID = "messageId" }
    }

    /// Sends a signed `webhook.test` message with no events, now, outside the delivery queue (its figures and retries
    /// are untouched).
    /// - Throws: `WebhookError.notFound` when the feed has no webhook.
    public func test(feed: String) async throws -> TestResult {
        guard let record = try await store.webhook(feed: feed), let key = WebhookSignature.key(of: record.endpoint.secret) else {
            throw WebhookError(kind: .notFound, message: "Feed '\(feed)' has no webhook; set one with PUT /v1/feeds/\(feed)/webhook.")
        }
        let now = scoring.clock()
        let id = "msg_test_\(record.endpoint.endpointID)_\(Int(now.timeIntervalSince1970 * 1000))"
        let body = try WebhookMessage(type: "webhook.test", timestamp: now, data: .init(feed: feed, events: [])).encoded()
        let started = ContinuousClock.now
        do {
            let status = try await transport.post(url: record.endpoint.url, headers: WebhookSignature.headers(
                id: id, timestamp: Int(now.timeIntervalSince1970), body: body, key: key), body: body, timeoutSeconds: configuration.timeoutSeconds)
            let ms = Self.milliseconds(since: started)
            return TestResult(delivered: (200..<300).contains(status), status: status,
                              error: (200..<300).contains(status) ? nil : "the receiver answered \(status)", milliseconds: ms, messageID: id)
        } catch {
            return TestResult(delivered: false, status: nil, error: WebhookDeliverer.describe(error), milliseconds: Self.milliseconds(since: started),
                              messageID: id)
        }
    }

    func status(of record: WebhookRecord) async throws -> WebhookStatus {
        let (pending, oldest) = try await store.undeliveredEvents(feed: record.endpoint.feed)
        let now = scoring.clock()
        return WebhookStatus(record: record, state: configuration.retry.state(of: record.delivery, now: now), pending: pending,
                             lagSeconds: oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return ((Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15) * 10).rounded() / 10
    }

    static func newEndpointID() -> String {
        var generator = SystemRandomNumberGenerator()
        return String(UInt64.random(in: 0...UInt64.max, using: &generator), radix: 36)
    }

    /// Checks an endpoint URL: absolute http(s), a host, no credentials (receivers check the signature instead), no
    /// fragment, at most 2,048 bytes. Returns the host.
    /// - Throws: `ValidationError` naming `url`.
    public static func checkURL(_ url: String) throws -> String {
        guard url.utf8.count <= 2_048 else { throw ValidationError(field: "url", "the URL is longer than 2,048 bytes") }
        guard !url.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } == true }),
              let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw ValidationError(field: "url", "'\(url.prefix(100))' is not a URL; send one like https://feed.example/winnow-events")
        }
        guard scheme == "http" || scheme == "https" else {
            throw ValidationError(field: "url", "the URL's scheme is '\(scheme.prefix(20))'; webhooks are delivered over http or https only")
        }
        guard let host = components.host, !host.isEmpty else { throw ValidationError(field: "url", "the URL names no host") }
        if let port = components.port, !(1...65_535).contains(port) {
            throw ValidationError(field: "url", "the URL's port is \(port); a port is 1 to 65535")
        }
        guard components.user == nil, components.password == nil else {
            throw ValidationError(field: "url", "the URL carries credentials; Winnow sends none: the receiver checks each message's signature instead")
        }
        guard components.fragment == nil else { throw ValidationError(field: "url", "the URL has a fragment (#…), which is never sent; remove it") }
        return host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// The addresses `host` (a name or an address) resolves to, when none of them is one a webhook must not reach
    /// (`isForbiddenTarget`). Asked when an endpoint is set and again before each delivery connects, which then goes to
    /// the address checked here, never to a later answer of the resolver (a name that resolved to the feed service
    /// when it was set may resolve to a metadata service by the time a message is sent).
    /// - Throws: `ValidationError` naming `url`: the host does not resolve, or one of its addresses is forbidden.
    public static func reachableAddresses(of host: String, resolve: @Sendable (String) async -> [[UInt8]]?) async throws -> [[UInt8]] {
        guard let addresses = await resolve(host), !addresses.isEmpty else {
            throw ValidationError(field: "url", "the host '\(host.prefix(253))' does not resolve here; give a name this server can look up, or an address")
        }
        if let forbidden = addresses.first(where: isForbiddenTarget) {
            let named = text(of: forbidden) == host ? "'\(host)'" : "'\(host.prefix(253))' (\(text(of: forbidden)))"
            throw ValidationError(field: "url", "the host \(named) is an unspecified, link-local, multicast or broadcast address, or another where cloud metadata services answer (169.254.0.0/16, fe80::/10, fd00:ec2::254, 100.100.100.200, 168.63.129.16, 192.0.0.192), in IPv4 or inside IPv6; give the feed service's own address")
        }
        return addresses
    }

    /// An address's usual text: 192.0.2.1, 2001:db8::1.
    public static func text(of address: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = address.count == 4 ? AF_INET : AF_INET6
        guard address.count == 4 || address.count == 16,
              address.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }) != nil else {
            return address.map(String.init).joined(separator: ".")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The addresses `host` resolves to (getaddrinfo, off the caller's thread), each as its raw bytes (4 for IPv4, 16
    /// for IPv6); nil when it does not resolve within `timeoutSeconds` (a resolver that does not answer in time counts
    /// as no).
    public static func addresses(of host: String, timeoutSeconds: Double) async -> [[UInt8]]? {
        await withCheckedContinuation { continuation in
            let answered = Mutex(false)
            let answer: @Sendable ([[UInt8]]?) -> Void = { resolved in
                let first = answered.withLock { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: resolved) }
            }
            Thread.detachNewThread {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, nil, &hints, &result)
                var found: [[UInt8]] = []
                var next = result
                while let entry = next {
                    if let address = entry.pointee.ai_addr {
                        switch Int32(address.pointee.sa_family) {
                        case AF_INET:
                            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                                withUnsafeBytes(of: v4.pointee.sin_addr) { found.append(Array($0)) }
                            }
                        case AF_INET6:
                            address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                                withUnsafeBytes(of: v6.pointee.sin6_addr) { found.append(Array($0)) }
                            }
                        default: break
                        }
                    }
                    next = entry.pointee.ai_next
                }
                if let result { freeaddrinfo(result) }
                answer(status == 0 ? found : nil)
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) { answer(nil) }
        }
    }

    /// Whether an address is one no feed service listens on and a webhook must not reach: unspecified (0.0.0.0, ::),
    /// link-local (169.254.0.0/16, fe80::/10), multicast and broadcast (224.0.0.0/4, 255.255.255.255, ff00::/8), and
    /// the other addresses cloud metadata services answer on (AWS's fd00:ec2::254, Alibaba's 100.100.100.200, Azure's
    /// WireServer 168.63.129.16, Oracle's 192.0.0.192), IPv4 inside IPv6 included: mapped, translated, compatible,
    /// NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48), 6to4, Teredo and ISATAP.
    public static func isForbiddenTarget(_ address: [UInt8]) -> Bool {
        var v4: [UInt8]?
        if address.count == 4 { v4 = address }
        if address.count == 16 {
            let tail = Array(address[12...])
            // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), translated (::ffff:0:a.b.c.d), compatible (::a.b.c.d) and
            // NAT64 (64:ff9b::/96, and the local-use 64:ff9b:1::/48 with the address at the end).
            if address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF { v4 = tail }
            if address[0..<8].allSatisfy({ $0 == 0 }), address[8] == 0xFF, address[9] == 0xFF, address[10] == 0, address[11] == 0 { v4 = tail }
            if address[0..<12].allSatisfy({ $0 == 0 }), tail != [0, 0, 0, 0], tail != [0, 0, 0, 1] { v4 = tail }
            if address[0..<12].elementsEqual([0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]) { v4 = tail }
            if address[0..<6].elementsEqual([0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01]) { v4 = tail }
            // Teredo (2001:0::/32) carries the client's IPv4 address inverted in the last four bytes.
            if address[0..<4].elementsEqual([0x20, 0x01, 0x00, 0x00]), isForbiddenTarget(tail.map { ~$0 }) { return true }
            // ISATAP: an interface identifier of 0000:5efe or 0200:5efe, the IPv4 address after it, under any prefix.
            if address[8] & 0xFD == 0, address[9] == 0, address[10] == 0x5E, address[11] == 0xFE, isForbiddenTarget(tail) { return true }
            // 6to4 (2002:a.b.c.d::/48) carries its IPv4 address in bytes 2-5.
            if address[0] == 0x20, address[1] == 0x02, isForbiddenTarget(Array(address[2..<6])) { return true }
        }
        if let v4 {
            return v4.allSatisfy { $0 == 0 } || (v4[0] == 169 && v4[1] == 254) || v4[0] >= 224
                || [[100, 100, 100, 200], [168, 63, 129, 16], [192, 0, 0, 192]].contains(v4)
        }
        guard address.count == 16 else { return false }
        let awsMetadata: [UInt8] = [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54]
        return address.allSatisfy { $0 == 0 } || (address[0] == 0xFE && address[1] & 0xC0 == 0x80) || address[0] == 0xFF || address == awsMetadata
    }
}
