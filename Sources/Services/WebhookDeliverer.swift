import Engine
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Synchronization

/// Delivers every feed's decision events to its webhook, inside `serve`: at least once, in order per feed.
///
/// Each pass leases the webhooks that are due and have events waiting (`leaseDueWebhooks`: one node at a time holds a
/// feed's delivery; when a node dies its lease runs out and another takes over) and delivers each in its own task, so
/// a slow or dead receiver holds only its own feed, and scoring never waits on any. A message is a feed's next events
/// in order (up to `batchSize`); it is fixed by the lease that first takes it and resent as the same message
/// (same `webhook-id`, same body) until the receiver answers 2xx, with exponential backoff and jitter between tries.
/// Only then does the feed's cursor move past it. Pruning the changes feed runs here too.
public final class WebhookDeliverer: Service, Sendable {
    let scoring: ScoringService
    let transport: any WebhookTransport
    let configuration: EventsConfiguration
    /// This node's name and identity: leases an earlier run of it held are taken back when it starts.
    let nodeName: NodeName
    /// This node's name in the leases.
    public var node: String { nodeName.name }
    let logger: Logger
    let draw: @Sendable () -> Double
    /// Deliveries in flight on this node.
    private let running = Mutex(0)
    /// Numbers this node's leases: each lease's holder is the node's name and its number, so that an attempt whose lease
    /// ran out (and was taken again, by this node or another) cannot record its outcome over the new one's.
    private let leases = Mutex<UInt64>(0)

    public init(scoring: ScoringService, transport: any WebhookTransport, configuration: EventsConfiguration, node: NodeName = .current(port: 0),
                logger: Logger = Logger(label: "winnow.webhooks"), draw: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.scoring = scoring
        self.transport = transport
        self.configuration = configuration
        self.nodeName = node
        self.logger = logger
        self.draw = draw
    }

    var store: any Store { scoring.store }

    public func run() async throws {
        await takeBackEarlierRunsLeases()
        await withDiscardingTaskGroup { group in
            var lastPrune = Date.distantPast
            var lastLag = Date.distantPast
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let seen = scoring.bell.generation
                let now = scoring.clock()
                let free = configuration.concurrency - running.withLock { $0 }
                if free > 0 {
                    do {
                        let holder = leases.withLock { n -> String in
                            n &+= 1
                            return "\(node)#\(n)"
                        }
                        let leased = try await store.leaseDueWebhooks(now: now, holder: holder, until: now.addingTimeInterval(configuration.leaseSeconds),
                                                                      limit: free, batchSize: configuration.batchSize)
                        for record in leased {
                            running.withLock { $0 += 1 }
                            group.addTask {
                                await self.deliver(record)
                                self.running.withLock { $0 -= 1 }
                                self.scoring.bell.ring()
                            }
                        }
                    } catch is CancellationError {
                        // The server is stopping (or failed to start).
                    } catch {
                        logger.error("leasing webhooks failed; retrying", metadata: ["error": "\(PostgresStore.describe(error))"])
                    }
                }
                // The lag gauges every 5 s (not after each delivery: a read per message would double a busy feed's cost).
                if now.timeIntervalSince(lastLag) >= 5 {
                    lastLag = now
                    await updateLag()
                }
                if now.timeIntervalSince(lastPrune) >= configuration.pruneIntervalSeconds {
                    lastPrune = now
                    do {
                        let pruned = try await ChangesFeed(scoring: scoring, configuration: configuration).prune()
                        if pruned > 0 { logger.info("pruned decision events", metadata: ["count": "\(pruned)"]) }
                    } catch {
                        logger.error("pruning decision events failed; retrying later", metadata: ["error": "\(PostgresStore.describe(error))"])
                    }
                }
                // At most one pass per 100 ms however often events commit: each ring would otherwise be a pass, and a
                // busy feed's message one event; waiting gathers what commits meanwhile into the next message (measured
                // under load: 25 ms cost PostgreSQL 13% of its single-item rate, BENCHMARKS.md).
                try? await Task.sleep(for: .milliseconds(100))
                await scoring.bell.wait(after: seen, seconds: configuration.pollSeconds)
            }
        }
    }

    /// A delivery an earlier run of this node held when it died (kill -9, a crash) is recorded as an interrupted
    /// attempt, due at once: its message goes out again now (the same message, under the same `webhook-id`), not when
    /// the dead lease runs out (`events.leaseSeconds`).
    func takeBackEarlierRunsLeases() async {
        do {
            let now = scoring.clock()
            for record in try await store.webhooks() {
                guard let holder = record.delivery.leaseHolder, let until = record.delivery.leaseUntil, until > now,
                      nodeName.isEarlierRun(holder) else { continue }
                let taken = try await store.recordDelivery(feed: record.endpoint.feed, holder: holder, .failed(
                    error: "interrupted: \(holder.split(separator: "#").first ?? "")'s delivery ended when that process stopped (the node restarted)",
                    at: now, retryAt: now))
                if taken { logger.info("took back a delivery lease of this node's earlier run", metadata: ["feed": "\(record.endpoint.feed)", "holder": "\(holder)"]) }
            }
        } catch is CancellationError {
            // The server is stopping (or failed to start).
        } catch {
            logger.error("reading webhooks' leases failed; they run out by themselves", metadata: ["error": "\(PostgresStore.describe(error))"])
        }
    }

    /// One attempt to deliver the leased webhook's next message; records the outcome, which ends the lease.
    public func deliver(_ record: WebhookRecord) async {
        let endpoint = record.endpoint, feed = endpoint.feed
        let node = record.delivery.leaseHolder ?? self.node
        do {
            let now = scoring.clock()
            let delivered = record.delivery.deliveredSeq
            // The message the lease fixed (the same in every attempt, by this node or one that died).
            guard var through = record.delivery.batchThrough else {
                _ = try await store.recordDelivery(feed: feed, holder: node, .delivered(through: delivered, events: 0, at: now))
                return
            }
            var events = try await store.changeEvents(feed: feed, after: delivered, limit: Int(min(through - delivered, 100_000)), retraining: true)
            events.removeAll { ($0.seq ?? 0) > through }
            var wanted = events.filter(endpoint.wants)
            if wanted.isEmpty {
                _ = try await store.recordDelivery(feed: feed, holder: node, .delivered(through: through, events: 0, at: now))
                return
            }
            guard let key = WebhookSignature.key(of: endpoint.secret) else {
                throw WebhookError(kind: .unreachable, message: "the stored secret is not a whsec_ secret; set the webhook again")
            }
            // A message holds events of one type: the leading run of the batch's first type. The rest follow in the
            // next message; the cut is the same in every attempt (the batch's events are fixed), and so is the id.
            let type = wanted[0].type
            if let other = wanted.firstIndex(where: { $0.type != type }) {
                through = (wanted[other].seq ?? through + 1) - 1
                wanted.removeSubrange(other...)
            }
            let id = endpoint.messageID(from: delivered + 1, through: through)
            let body = try WebhookMessage(type: type, timestamp: wanted.last!.at, data: .init(feed: feed, events: wanted)).encoded()
            let sentAt = scoring.clock()
            // Sent only while the lease has time left for the answer: a node that stopped (a paused VM) and came back
            // after its lease ran out would send a message another node had resent, after later ones (outside testing:
            // one order inversion). The lease runs out and the delivery is taken again.
            if let until = record.delivery.leaseUntil, until.timeIntervalSince(sentAt) < configuration.timeoutSeconds {
                logger.warning("webhook delivery not sent: its lease ends before an answer could come; it is taken again when the lease runs out",
                               metadata: ["feed": "\(feed)", "message": "\(id)", "leaseUntil": "\(ISOTime.format(until))"])
                return
            }
            let headers = WebhookSignature.headers(id: id, timestamp: Int(sentAt.timeIntervalSince1970), body: body, key: key)
            var failure: String?
            do {
                let status = try await transport.post(url: endpoint.url, headers: headers, body: body, timeoutSeconds: configuration.timeoutSeconds)
                if !(200..<300).contains(status) { failure = "the receiver answered \(status)" + (300..<400).contains(status).then(" (redirects are not followed)") }
            } catch {
                failure = Self.describe(error)
            }
            let at = scoring.clock()
            let retry = record.delivery.attempts > 0
            if let failure {
                let wait = configuration.retry.delay(afterFailure: record.delivery.attempts + 1, draw: draw())
                _ = try await store.recordDelivery(feed: feed, holder: node, .failed(error: failure, at: at, retryAt: at.addingTimeInterval(wait)))
                scoring.metrics.delivery(feed: feed, delivered: nil, retry: retry)
                logger.warning("webhook delivery failed; retrying later", metadata: [
                    "feed": "\(feed)", "message": "\(id)", "error": "\(failure)", "attempt": "\(record.delivery.attempts + 1)",
                    "retryInSeconds": "\(Int(wait))"])
            } else {
                // Counted once the store took it (a delivery whose lease had passed to another node is not).
                if try await store.recordDelivery(feed: feed, holder: node, .delivered(through: through, events: wanted.count, at: at)) {
                    scoring.metrics.delivery(feed: feed, delivered: wanted.count, retry: retry)
                }
            }
        } catch {
            // The lease runs out and the delivery is tried again (by this node or another).
            logger.error("webhook delivery could not run; it is retried when its lease runs out", metadata: [
                "feed": "\(feed)", "error": "\(PostgresStore.describe(error))"])
        }
    }

    func updateLag() async {
        do {
            let now = scoring.clock()
            for record in try await store.webhooks() {
                let (_, oldest) = try await store.undeliveredEvents(feed: record.endpoint.feed)
                scoring.metrics.deliveryLag(feed: record.endpoint.feed, seconds: oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
            }
        } catch {
            logger.error("reading webhook lag failed", metadata: ["error": "\(PostgresStore.describe(error))"])
        }
    }

    /// A transport failure in a few words (never the request's headers: the signature stays out of logs too).
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}

extension Bool {
    fileprivate func then(_ text: String) -> String { self ? text : "" }
}
