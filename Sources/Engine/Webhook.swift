import Foundation
import Learning

/// A feed's webhook: where its events are pushed (Standard Webhooks: signed with `secret`), and which it wants
/// (`topics`: decision events by cause, retraining steps; nil: every decision event). One per feed.
public struct WebhookEndpoint: Codable, Equatable, Sendable {
    public var feed: String
    public var url: String
    /// `whsec_` and the base64 of the key's bytes (the Standard Webhooks form). Never shown after it is set.
    public var secret: String
    public var topics: Set<EventTopic>?
    /// A new id each time the endpoint is set (its deliveries' lease and test messages name it).
    public var endpointID: String
    public var createdBy: String
    public var createdAt: Date

    public init(feed: String, url: String, secret: String, topics: Set<EventTopic>?, endpointID: String, createdBy: String, createdAt: Date) {
        self.feed = feed
        self.url = url
        self.secret = secret
        self.topics = topics
        self.endpointID = endpointID
        self.createdBy = createdBy
        self.createdAt = createdAt
    }

    /// The `webhook-id` of the message holding the feed's wanted events `from` through `through`: the same whenever
    /// the body is the same, that is from the feed, the topics it takes and the span (the events are fixed), and not
    /// from the URL or the secret. A webhook set again while a message was being retried (a new secret, a moved
    /// receiver) resends it under its id, so a receiver that deduplicates on it does not apply the batch twice
    /// (outside testing: the id changed with the endpoint).
    public func messageID(from: Int64, through: Int64) -> String {
        var hasher = FNV1a64()
        hasher.add(feed)
        hasher.add(Self.storedTopics(topics) ?? "*")
        return "msg_\(String(hasher.value, radix: 16))_\(from)_\(through)"
    }

    /// Whether the endpoint wants the event: one of its topics, or without topics every decision event (retraining
    /// steps only when asked for, so that a receiver written for decisions never meets another kind).
    public func wants(_ event: ChangeEvent) -> Bool { topics?.contains(event.topic) ?? (event.decision != nil) }

    /// Topics as stored: "retraining,review,undo"; nil (every decision event) stays nil.
    public static func storedTopics(_ topics: Set<EventTopic>?) -> String? {
        topics.map { $0.map(\.rawValue).sorted().joined(separator: ",") }
    }

    public static func topics(stored text: String?) -> Set<EventTopic>? {
        text.map { Set($0.split(separator: ",").compactMap { EventTopic(rawValue: String($0)) }) }
    }
}

/// Where a webhook's deliveries stand: the events delivered (every event up to `deliveredSeq`), the message in flight
/// (events up to `batchThrough`, resent as the same message until the receiver takes it), the retries, the figures,
/// and which node holds the delivery now (a lease, so that one node delivers each event and another takes over when
/// it dies).
public struct WebhookDelivery: Codable, Equatable, Sendable {
    public var deliveredSeq: Int64
    public var batchThrough: Int64?
    /// Failed attempts since the last success.
    public var attempts: Int
    public var nextAttemptAt: Date
    /// The first failure since the last success.
    public var failingSince: Date?
    public var lastError: String?
    public var lastAttemptAt: Date?
    public var lastSuccessAt: Date?
    /// Events delivered, and failed attempts, since the endpoint was first set.
    public var delivered: Int64
    public var failed: Int64
    public var leaseHolder: String?
    public var leaseUntil: Date?

    public init(deliveredSeq: Int64, batchThrough: Int64? = nil, attempts: Int = 0, nextAttemptAt: Date = Date(timeIntervalSince1970: 0),
                failingSince: Date? = nil, lastError: String? = nil, lastAttemptAt: Date? = nil, lastSuccessAt: Date? = nil, delivered: Int64 = 0,
                failed: Int64 = 0, leaseHolder: String? = nil, leaseUntil: Date? = nil) {
        self.deliveredSeq = deliveredSeq
        self.batchThrough = batchThrough
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.failingSince = failingSince
        self.lastError = lastError
        self.lastAttemptAt = lastAttemptAt
        self.lastSuccessAt = lastSuccessAt
        self.delivered = delivered
        self.failed = failed
        self.leaseHolder = leaseHolder
        self.leaseUntil = leaseUntil
    }
}

/// A webhook with its delivery state.
public struct WebhookRecord: Equatable, Sendable {
    public var endpoint: WebhookEndpoint
    public var delivery: WebhookDelivery

    public init(endpoint: WebhookEndpoint, delivery: WebhookDelivery) {
        self.endpoint = endpoint
        self.delivery = delivery
    }
}

/// What one delivery attempt did, as the store records it (fenced by the lease: a node whose lease was taken over
/// records nothing).
public enum DeliveryResult: Sendable, Equatable {
    /// The receiver took every event up to `through` (`events` of them were sent; 0 when none was wanted).
    case delivered(through: Int64, events: Int, at: Date)
    /// The attempt failed; the next one is due at `retryAt`.
    case failed(error: String, at: Date, retryAt: Date)
}

/// How deliveries are retried: exponential backoff from `initialSeconds`, doubling up to `maxSeconds`, each wait
/// drawn between half and all of it (jitter, so receivers coming back are not hit by every sender at once); a receiver
/// failing for `failingAfterSeconds` is marked failing, and its events still wait for it.
public struct WebhookRetryPolicy: Codable, Equatable, Sendable {
    public var initialSeconds: Double
    public var maxSeconds: Double
    public var failingAfterSeconds: Double

    public init(initialSeconds: Double = 5, maxSeconds: Double = 4 * 3600, failingAfterSeconds: Double = 24 * 3600) {
        self.initialSeconds = initialSeconds
        self.maxSeconds = maxSeconds
        self.failingAfterSeconds = failingAfterSeconds
    }

    /// The wait after the `attempt`-th failure in a row (1 for the first), with `draw` in [0, 1) choosing the jitter.
    public func delay(afterFailure attempt: Int, draw: Double) -> Double {
        let exponent = Double(min(max(attempt - 1, 0), 40))
        let full = min(maxSeconds, initialSeconds * pow(2, exponent))
        return full * (0.5 + 0.5 * min(max(draw, 0), 1))
    }

    /// healthy (delivering), retrying (failed lately), failing (failed for longer than `failingAfterSeconds`).
    public func state(of delivery: WebhookDelivery, now: Date) -> String {
        guard let since = delivery.failingSince else { return "healthy" }
        return now.timeIntervalSince(since) >= failingAfterSeconds ? "failing" : "retrying"
    }
}
