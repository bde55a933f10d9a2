import Engine
import Foundation
import PostgresNIO

// Decision events and webhooks (issue 19) on PostgreSQL. Events take their numbers from `decision_event_counter`, as
// the last write of the transaction that changes the decision: the counter row stays locked until commit, so numbers
// are handed out in the order transactions commit (a sequence would not: number 7 could commit after number 8 has
// been read, and a reader past 8 would never see it). Only transactions that change a decision take it.
extension PostgresStore {
    /// Appends events in the caller's transaction; call it as the transaction's last write.
    static func appendDecisionEvents(_ db: Session, _ events: [DecisionEvent]) async throws {
        try await append(db, try events.map(EventRows.columns))
    }

    /// Appends a retraining step in the caller's transaction, as its last write (feed `*` for the shared model's: every
    /// feed's).
    static func appendRetrainingEvent(_ db: Session, _ event: RetrainingEvent?) async throws {
        guard let event else { return }
        try await append(db, [try EventRows.columns(event)])
    }

    /// The one insert of events, numbered from the counter row (held to commit: numbers follow the order of commits).
    private static func append(_ db: Session, _ rows: [EventRows.Columns]) async throws {
        guard !rows.isEmpty else { return }
        let n = rows.count
        try await db.execute("""
            WITH c AS (UPDATE decision_event_counter SET seq = seq + \(n) WHERE id = 1 RETURNING seq)
            INSERT INTO decision_event (seq, feed, item_id, at, cause, body)
            SELECT c.seq - \(n) + u.ord, u.feed, u.item_id, u.at, u.cause, u.body
            FROM c, unnest(\(rows.map(\.feed))::text[], \(rows.map(\.itemID))::text[], \(rows.map(\.at))::float8[], \(rows.map(\.cause))::text[],
                           \(rows.map(\.body))::text[])
              WITH ORDINALITY AS u(feed, item_id, at, cause, body, ord)
            """)
    }

    static func changeEvent(_ row: Row) throws -> ChangeEvent {
        var event = try Codec.decode(ChangeEvent.self, row["body"])
        event.seq = try row["seq"]
        return event
    }

    public func changeEvents(feed: String?, after: Int64, limit: Int, retraining: Bool) async throws -> [ChangeEvent] {
        switch (feed, retraining) {
        case let (feed?, true):
            // The feed's events and every feed's, each read in order along the (feed, seq) index: a merge of two short
            // runs, not a sort of everything after the cursor.
            return try await rows("""
                (SELECT seq, body FROM decision_event WHERE feed = \(feed) AND seq > \(after) ORDER BY seq LIMIT \(limit))
                UNION ALL (SELECT seq, body FROM decision_event WHERE feed = \(EventRows.everyFeed) AND seq > \(after) ORDER BY seq LIMIT \(limit))
                ORDER BY seq LIMIT \(limit)
                """).map(Self.changeEvent)
        case let (feed?, false):
            return try await rows("""
                SELECT seq, body FROM decision_event WHERE feed = \(feed) AND seq > \(after) AND cause <> 'retraining' ORDER BY seq LIMIT \(limit)
                """).map(Self.changeEvent)
        case (nil, _):
            return try await rows("""
                SELECT seq, body FROM decision_event WHERE seq > \(after) AND (\(retraining) OR cause <> 'retraining') ORDER BY seq LIMIT \(limit)
                """).map(Self.changeEvent)
        }
    }

    public func latestEventSeq() async throws -> Int64 {
        try await rows("SELECT seq FROM decision_event_counter WHERE id = 1").first?["seq"] ?? 0
    }

    public func prunedThrough(feed: String?, retraining: Bool) async throws -> Int64 {
        if let feed {
            return try await rows("""
                SELECT coalesce(max(pruned_through), 0)::int8 AS through FROM event_horizon
                WHERE feed IN (\(feed), \(retraining ? EventRows.everyFeed : feed))
                """).first?["through"] ?? 0
        }
        return try await rows("""
            SELECT coalesce(max(pruned_through), 0)::int8 AS through FROM event_horizon WHERE \(retraining) OR feed <> \(EventRows.everyFeed)
            """).first?["through"] ?? 0
    }

    public func pruneEvents(before: Date) async throws -> Int {
        let t = before.timeIntervalSince1970
        return try await transaction { db in
            let deleted = try await db.rows("""
                DELETE FROM decision_event e
                WHERE e.at < \(t)
                  AND e.seq <= coalesce((SELECT min(w.delivered_seq) FROM webhook w WHERE w.feed = e.feed OR e.feed = \(EventRows.everyFeed)), e.seq)
                RETURNING e.feed, e.seq
                """)
            var through: [String: Int64] = [:]
            for row in deleted {
                let feed: String = try row["feed"], seq: Int64 = try row["seq"]
                through[feed] = max(through[feed] ?? 0, seq)
            }
            guard !through.isEmpty else { return 0 }
            try await db.execute("""
                INSERT INTO event_horizon (feed, pruned_through) SELECT * FROM unnest(\(Array(through.keys))::text[], \(Array(through.values))::int8[])
                ON CONFLICT (feed) DO UPDATE SET pruned_through = greatest(event_horizon.pruned_through, excluded.pruned_through)
                """)
            return deleted.count
        }
    }

    public func undeliveredEvents(feed: String) async throws -> (count: Int, oldest: Date?) {
        let row = try await rows("""
            SELECT count(*)::int8 AS n, min(e.at) AS oldest FROM decision_event e JOIN webhook w ON w.feed = \(feed)
            WHERE e.feed IN (w.feed, \(EventRows.everyFeed)) AND e.seq > w.delivered_seq
            """).first
        let n: Int64 = try row?["n"] ?? 0
        return (Int(n), try (row?["oldest"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }

    // MARK: Webhooks

    static func webhook(_ row: Row) throws -> WebhookRecord {
        func date(_ column: String) throws -> Date? { try (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        return WebhookRecord(
            endpoint: WebhookEndpoint(feed: try row["feed"], url: try row["url"], secret: try row["secret"],
                                      topics: WebhookEndpoint.topics(stored: try row["causes"]), endpointID: try row["endpoint_id"],
                                      createdBy: try row["created_by"], createdAt: try date("created_at")!),
            delivery: WebhookDelivery(deliveredSeq: try row["delivered_seq"], batchThrough: try row["batch_through"], attempts: try row["attempts"],
                                      nextAttemptAt: try date("next_attempt_at")!, failingSince: try date("failing_since"),
                                      lastError: try row["last_error"], lastAttemptAt: try date("last_attempt_at"),
                                      lastSuccessAt: try date("last_success_at"), delivered: try row["delivered"], failed: try row["failed"],
                                      leaseHolder: try row["lease_holder"], leaseUntil: try date("lease_until")))
    }

    public func saveWebhook(_ endpoint: WebhookEndpoint) async throws -> (record: WebhookRecord, replaced: Bool) {
        let e = endpoint
        return try await transaction { db in
            // xmax is 0 on a freshly inserted row and set on an updated one.
            guard let row = try await db.row("""
                INSERT INTO webhook (feed, url, secret, causes, endpoint_id, created_by, created_at, delivered_seq)
                VALUES (\(e.feed), \(e.url), \(e.secret), \(WebhookEndpoint.storedTopics(e.topics)), \(e.endpointID), \(e.createdBy),
                        \(e.createdAt.timeIntervalSince1970), (SELECT seq FROM decision_event_counter WHERE id = 1))
                ON CONFLICT (feed) DO UPDATE SET url = excluded.url, secret = excluded.secret, causes = excluded.causes,
                  endpoint_id = excluded.endpoint_id, created_by = excluded.created_by, created_at = excluded.created_at,
                  attempts = 0, next_attempt_at = 0, failing_since = NULL, last_error = NULL
                RETURNING *, (xmax <> 0) AS replaced
                """) else { throw StoreError.corruptRow("webhook: the upsert returned no row") }
            return (try Self.webhook(row), try row["replaced"])
        }
    }

    public func webhook(feed: String) async throws -> WebhookRecord? {
        try await rows("SELECT * FROM webhook WHERE feed = \(feed)").first.map(Self.webhook)
    }

    public func webhooks() async throws -> [WebhookRecord] {
        try await rows("SELECT * FROM webhook ORDER BY feed COLLATE \"C\"").map(Self.webhook)
    }

    public func removeWebhook(feed: String) async throws -> Bool {
        try await !rows("DELETE FROM webhook WHERE feed = \(feed) RETURNING 1").isEmpty
    }

    public func leaseDueWebhooks(now: Date, holder: String, until: Date, limit: Int, batchSize: Int) async throws -> [WebhookRecord] {
        let t = now.timeIntervalSince1970
        // SKIP LOCKED: nodes asking at once take different webhooks; the lease columns keep them apart afterwards.
        return try await rows("""
            UPDATE webhook w SET lease_holder = \(holder), lease_until = \(until.timeIntervalSince1970),
              batch_through = coalesce(w.batch_through, (
                SELECT max(seq) FROM (
                  (SELECT e.seq FROM decision_event e WHERE e.feed = w.feed AND e.seq > w.delivered_seq ORDER BY e.seq LIMIT \(batchSize))
                  UNION ALL (SELECT e.seq FROM decision_event e WHERE e.feed = \(EventRows.everyFeed) AND e.seq > w.delivered_seq
                             ORDER BY e.seq LIMIT \(batchSize))
                  ORDER BY seq LIMIT \(batchSize)) AS next))
            WHERE w.feed IN (
              SELECT d.feed FROM webhook d
              WHERE d.next_attempt_at <= \(t) AND (d.lease_until IS NULL OR d.lease_until < \(t))
                AND (d.batch_through IS NOT NULL
                     OR EXISTS (SELECT 1 FROM decision_event e WHERE e.feed = d.feed AND e.seq > d.delivered_seq)
                     OR EXISTS (SELECT 1 FROM decision_event e WHERE e.feed = \(EventRows.everyFeed) AND e.seq > d.delivered_seq))
              ORDER BY d.next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING w.*
            """).map(Self.webhook)
    }

    public func recordDelivery(feed: String, holder: String, _ result: DeliveryResult) async throws -> Bool {
        switch result {
        case let .delivered(through, events, at):
            let t = at.timeIntervalSince1970
            return try await !rows("""
                UPDATE webhook SET delivered_seq = greatest(delivered_seq, \(through)), batch_through = NULL, attempts = 0, next_attempt_at = 0,
                  failing_since = NULL, last_attempt_at = \(t), last_success_at = CASE WHEN \(events) > 0 THEN \(t) ELSE last_success_at END,
                  delivered = delivered + \(events), lease_holder = NULL, lease_until = NULL
                WHERE feed = \(feed) AND lease_holder = \(holder) RETURNING 1
                """).isEmpty
        case let .failed(error, at, retryAt):
            let t = at.timeIntervalSince1970
            return try await !rows("""
                UPDATE webhook SET attempts = attempts + 1, next_attempt_at = \(retryAt.timeIntervalSince1970), failing_since = coalesce(failing_since, \(t)),
                  last_error = \(error), last_attempt_at = \(t), failed = failed + 1, lease_holder = NULL, lease_until = NULL
                WHERE feed = \(feed) AND lease_holder = \(holder) RETURNING 1
                """).isEmpty
        }
    }
}
