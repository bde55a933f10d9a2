import Engine
import Foundation
import ServiceLifecycle

/// How long decision events are kept and how webhooks deliver them (`events` in the server's configuration).
public struct EventsConfiguration: Codable, Equatable, Sendable {
    /// Days events are kept for the changes feed; older ones are pruned, except those a webhook has not delivered yet.
    /// Default 7.
    public var retentionDays = 7.0
    /// Seconds between the prunings. Default 600.
    public var pruneIntervalSeconds = 600.0
    /// Seconds a waiting changes-feed request or an idle deliverer goes between reads of the database when nothing
    /// rang here (events written by other nodes). Default 0.25.
    public var pollSeconds = 0.25
    /// Longest a changes request is held open: one asking to wait longer (the API allows 30 s) waits this long, then
    /// answers its empty page. Lower it behind a proxy that closes quiet requests sooner. Default 30.
    public var maxWaitSeconds = 30.0
    /// Most events in one webhook message. Default 100.
    public var batchSize = 100
    /// Seconds a delivery may take (connecting, sending, the receiver's answer). Default 10.
    public var timeoutSeconds = 10.0
    /// Seconds a node holds a webhook's delivery before another node may take it over (it must outlast a delivery).
    /// Default 30.
    public var leaseSeconds = 30.0
    /// Webhooks delivered at once by one node (a slow receiver holds only its own). Default 16.
    public var concurrency = 16
    /// The backoff between failed attempts, and when a receiver counts as failing.
    public var retry = WebhookRetryPolicy()

    public init() {}

    /// - Throws: `ConfigurationError` naming the setting.
    public func validate() throws {
        guard retentionDays > 0, pruneIntervalSeconds > 0, pollSeconds > 0, pollSeconds <= 5, maxWaitSeconds >= 0 else {
            throw ConfigurationError("events.retentionDays and events.pruneIntervalSeconds must be > 0, events.pollSeconds above 0 and at most 5, and events.maxWaitSeconds ≥ 0.")
        }
        guard (1...1_000).contains(batchSize), (1...16_384).contains(concurrency) else {
            throw ConfigurationError("events.batchSize must be 1-1000 events and events.concurrency 1-16384 webhooks.")
        }
        guard timeoutSeconds > 0, leaseSeconds > timeoutSeconds else {
            throw ConfigurationError("events.timeoutSeconds must be > 0 and events.leaseSeconds longer than it (a node must finish a delivery before another may take over).")
        }
        guard retry.initialSeconds > 0, retry.maxSeconds >= retry.initialSeconds, retry.failingAfterSeconds > 0 else {
            throw ConfigurationError("events.retry.initialSeconds must be > 0, maxSeconds at least initialSeconds, failingAfterSeconds > 0.")
        }
    }
}

/// A cursor older than the events kept: what was missed cannot be replayed.
public struct CursorExpiredError: Error, Equatable, Sendable, CustomStringConvertible {
    public var after: Int64
    public var prunedThrough: Int64
    public var latest: Int64

    public var description: String {
        "Events after \(after) up to \(prunedThrough) were pruned (they are kept for a limited time). Resynchronise: read the current decision of the items you hold with GET /v1/items/{id}, then continue with after=\(latest)."
    }
}

/// `GET /v1/changes`: decision events and retraining steps in order, paged by their sequence numbers, with long polling.
public struct ChangesFeed: Sendable {
    public let scoring: ScoringService
    public let configuration: EventsConfiguration

    public init(scoring: ScoringService, configuration: EventsConfiguration = EventsConfiguration()) {
        self.scoring = scoring
        self.configuration = configuration
    }

    public struct Page: Sendable {
        public var events: [ChangeEvent]
        /// The cursor to pass as `after` next: the last event's number, or `after` when there was none.
        public var next: Int64
        /// Whether more events wait after this page.
        public var more: Bool
    }

    public static let maxLimit = 1_000
    public static let maxWaitSeconds = 30.0

    /// Events of `feed` (nil: every feed) after `after`, at most `limit`, with the retraining steps when `retraining`
    /// (the feed's own model's and the shared model's); with none yet and `wait` > 0, waits up to that many seconds
    /// for one to commit.
    /// - Throws: `ValidationError` naming `after`, `limit` or `wait`; `CursorExpiredError` when events after `after`
    ///   (a cursor, not 0: the start reads from the oldest event kept) were pruned.
    public func read(feed: String?, after: Int64, limit: Int, wait: Double, retraining: Bool = false) async throws -> Page {
        guard after >= 0 else { throw ValidationError(field: "after", "pass 0 to start, or the next value of the previous page") }
        guard (1...Self.maxLimit).contains(limit) else { throw ValidationError(field: "limit", "ask for 1 to \(Self.maxLimit) events per page") }
        guard wait >= 0, wait <= Self.maxWaitSeconds else {
            throw ValidationError(field: "wait", "wait between 0 and \(Int(Self.maxWaitSeconds)) seconds for new events")
        }
        let store = scoring.store
        let deadline = Date().addingTimeInterval(min(wait, configuration.maxWaitSeconds))
        var first = true
        while true {
            let seen = scoring.bell.generation
            let events = try await store.changeEvents(feed: feed, after: after, limit: limit + 1, retraining: retraining)
            // The horizon after the read: a pruning that committed before it shows here, so events it deleted after the
            // cursor are never skipped silently.
            // 0 is not a position but the start: it reads from the oldest event kept.
            let pruned = try await store.prunedThrough(feed: feed, retraining: retraining)
            if after > 0, after < pruned { throw CursorExpiredError(after: after, prunedThrough: pruned, latest: try await store.latestEventSeq()) }
            if !events.isEmpty {
                let page = Array(events.prefix(limit))
                return Page(events: page, next: page.last?.seq ?? after, more: events.count > limit)
            }
            // A cursor past the newest event is no page's `next` (a corrupted one would wait there and skip every
            // event up to it in silence).
            // Checked on the first read only: a cursor at or before the newest stays so while the request waits.
            if first, after > 0, case let latest = try await store.latestEventSeq(), after > latest {
                throw ValidationError(field: "after", "\(after) is past the newest event (\(latest)); resume from a page's next, or from 0")
            }
            first = false
            let left = deadline.timeIntervalSinceNow
            // A server shutting down answers its long polls at once (outside testing: SIGTERM waited for each to time
            // out, up to maxWaitSeconds, a whole grace period of a container platform).
            if left <= 0 || Task.isCancelled || Task.isShuttingDownGracefully { return Page(events: [], next: after, more: false) }
            let bell = scoring.bell
            await withGracefulShutdownHandler {
                await bell.wait(after: seen, seconds: min(left, configuration.pollSeconds))
            } onGracefulShutdown: {
                bell.ring()
            }
        }
    }

    /// Deletes events older than the retention, except those a webhook has not delivered; returns how many.
    @discardableResult
    public func prune() async throws -> Int {
        try await scoring.store.pruneEvents(before: scoring.clock().addingTimeInterval(-configuration.retentionDays * 86_400))
    }
}
