import Engine
import Foundation
import Prometheus
import Synchronization

/// Winnow's Prometheus metrics, recorded straight into the registry the server was given (so tests and several
/// servers in one process each see their own), and exposed at `/metrics`.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500),
    ]

    /// The decision counters, one per stage and action, made once: looking a counter up in the registry (its name
    /// and labels built, hashed and locked) for every scored item cost 2% of the server's time under batches. Every
    /// series is exposed from the start (at 0), as Prometheus recommends for known label values.
    private let decisions: [Stage: [Action: Counter]]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var decisions: [Stage: [Action: Counter]] = [:]
        for stage in Stage.allCases {
            for action in Action.allCases {
                decisions[stage, default: [:]][action] = registry.makeCounter(
                    descriptor: .init(namespace: "winnow", metricName: "decisions", unitName: "total", helpText: "Decisions by stage and action."),
                    labels: [("stage", stage.rawValue), ("action", action.rawValue)])
            }
        }
        self.decisions = decisions
    }

    public func request(method: String, route: String, status: Int, duration: Duration) {
        let labels = [("method", method), ("route", route), ("status", String(status))]
        registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "http_requests", unitName: "total",
                                               helpText: "HTTP requests by method, route and status."), labels: labels).increment()
        registry.makeDurationHistogram(descriptor: .init(namespace: "winnow", metricName: "http_request_duration", unitName: "seconds",
                                                         helpText: "HTTP request latency by route."),
                                       labels: [("method", method), ("route", route)], buckets: Self.latencyBuckets).record(duration)
    }

    public func decision(stage: Stage, action: Action) {
        decisions[stage]?[action]?.increment()
    }

    public func items(created: Int) {
        registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "items_created", unitName: "total",
                                               helpText: "Items stored (retries of a stored item not counted).")).increment(by: Int64(created))
    }

    /// The series the previous `activeModel` call set.
    private let activeGauge = Mutex<(version: String, gauge: Gauge)?>(nil)
    private let feedGauges = Mutex<[String: (version: String, gauge: Gauge)]>([:])

    /// One series, at 1: the version in use (the one before it is removed).
    public func activeModel(version: String) {
        activeGauge.withLock { active in
            guard active?.version != version else { return }
            if let previous = active?.gauge { registry.unregisterGauge(previous) }
            let gauge = registry.makeGauge(descriptor: .init(namespace: "winnow", metricName: "active_model", unitName: "info",
                                                             helpText: "1 for the text model version in use."), labels: [("version", version)])
            gauge.set(to: 1)
            active = (version, gauge)
        }
    }

    /// A feed's own model (nil: the feed is back on the shared model): one series per feed at 1, its version in use
    /// (outside testing: /metrics showed the shared model only).
    public func feedModel(feed: String, version: String?) {
        feedGauges.withLock { gauges in
            if let previous = gauges[feed], previous.version != version { registry.unregisterGauge(previous.gauge); gauges[feed] = nil }
            guard let version, gauges[feed] == nil else { return }
            let gauge = registry.makeGauge(descriptor: .init(namespace: "winnow", metricName: "feed_model", unitName: "info",
                                                             helpText: "1 for the text model version a feed with a model of its own uses."),
                                           labels: [("feed", feed), ("version", version)])
            gauge.set(to: 1)
            gauges[feed] = (version, gauge)
        }
    }

    public func scheduler(lagSeconds: Double, pending: Int) {
        registry.makeGauge(descriptor: .init(namespace: "winnow", metricName: "scheduler_lag", unitName: "seconds",
                                             helpText: "How late the oldest due rescore is (0 when none is due).")).set(to: lagSeconds)
        registry.makeGauge(descriptor: .init(namespace: "winnow", metricName: "rescores_pending",
                                             helpText: "Scheduled stage-3 rescores not yet run.")).set(to: Double(pending))
    }

    /// Whether the database answered the last check (1) or not (0), and this process's own figures, as Prometheus's
    /// process collector names them: set on every scrape.
    public func health(databaseUp: Bool, process: ProcessFigures) {
        registry.makeGauge(descriptor: .init(namespace: "winnow", metricName: "database_up",
                                             helpText: "1 when the database took a write check at this scrape, 0 when it did not (see /ready for why).")).set(to: databaseUp ? 1 : 0)
        let figures: [(String, String, Double?)] = [
            ("process_resident_memory_bytes", "Resident memory size in bytes.", process.residentBytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", process.virtualBytes),
            ("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", process.startTime),
            ("process_open_fds", "Number of open file descriptors.", process.openFileDescriptors),
            ("process_max_fds", "Maximum number of open file descriptors.", process.maxFileDescriptors),
        ]
        for (name, help, value) in figures {
            if let value { registry.makeGauge(name: name, help: help).set(to: value) }
        }
        // A counter grows by what the process used since the last scrape.
        if let seconds = process.cpuSeconds {
            let counter = registry.makeCounter(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
            let added = cpuSeconds.withLock { last in
                defer { last = max(last, seconds) }
                return max(0, seconds - last)
            }
            if added > 0 { counter.increment(by: added) }
        }
    }

    private let cpuSeconds = Mutex<Double>(0)

    public func rescored(_ count: Int) {
        registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "rescores", unitName: "total",
                                               helpText: "Stage-3 rescores run.")).increment(by: Int64(count))
    }

    // MARK: Decision events and webhooks

    public func eventsWritten(_ events: [DecisionEvent]) {
        for event in events {
            registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "decision_events", unitName: "total",
                                                   helpText: "Decision events written, by cause."), labels: [("cause", event.cause.kind.rawValue)]).increment()
        }
    }

    /// One delivery attempt to a feed's webhook: `delivered` events taken by the receiver, or a failure (`retry`: the
    /// message had failed before too).
    public func delivery(feed: String, delivered: Int?, retry: Bool) {
        let outcome = delivered == nil ? "failed" : "delivered"
        registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "webhook_attempts", unitName: "total",
                                               helpText: "Webhook delivery attempts by feed and outcome."),
                             labels: [("feed", feed), ("outcome", outcome)]).increment()
        if let delivered, delivered > 0 {
            registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "webhook_events_delivered", unitName: "total",
                                                   helpText: "Events (decision changes and retraining steps) a feed's webhook receiver took."), labels: [("feed", feed)])
                .increment(by: Int64(delivered))
        }
        if retry {
            registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "webhook_retries", unitName: "total",
                                                   helpText: "Webhook attempts that resent a message which had failed."), labels: [("feed", feed)]).increment()
        }
    }

    /// How long the feed's oldest undelivered event has waited (0 when none waits).
    public func deliveryLag(feed: String, seconds: Double) {
        lagGauge(feed: feed).set(to: seconds)
    }

    /// The feed's webhook is removed: its lag series goes (it stayed at its last value until a restart).
    public func webhookRemoved(feed: String) {
        registry.unregisterGauge(lagGauge(feed: feed))
    }

    private func lagGauge(feed: String) -> Gauge {
        registry.makeGauge(descriptor: .init(namespace: "winnow", metricName: "webhook_lag", unitName: "seconds",
                                             helpText: "Age of the oldest event a feed's webhook has not taken."), labels: [("feed", feed)])
    }

    // MARK: Retraining

    /// A retraining pass of the shared model (`feed` nil) or of a feed's own started or reached `state` (training,
    /// shadow, waiting, promoted, refused, failed, superseded).
    public func retrainStep(state: String, feed: String?) {
        registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "retrain_passes", unitName: "total",
                                               helpText: "Retraining passes by the model trained (shared, or a feed's own) and the step reached (started, shadow, waiting, promoted, refused, failed, superseded)."),
                             labels: [("model", feed.map { "feed:" + $0 } ?? "shared"), ("step", state)]).increment()
    }

    // MARK: Banks

    /// An item matched a bank at creation (`kind`: text, image or video).
    public func bankMatch(_ match: BankMatch) {
        registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "bank_matches", unitName: "total",
                                               helpText: "Items that matched a bank at creation, by bank, kind of signature and the action applied."),
                             labels: [("bank", match.bank), ("kind", match.kind.rawValue), ("action", match.action.rawValue)]).increment()
    }

    /// Entries added to banks by reviewers' removals.
    public func bankEntriesAdded(_ count: Int, automatic: Bool) {
        registry.makeCounter(descriptor: .init(namespace: "winnow", metricName: "bank_entries_added", unitName: "total",
                                               helpText: "Bank entries added, automatically (a reviewer's removal) or by an admin."),
                             labels: [("source", automatic ? "review" : "admin")]).increment(by: Int64(count))
    }

    /// The exposition text.
    public func render() -> String { registry.emitToString() }
}

