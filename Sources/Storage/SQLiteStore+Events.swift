import Engine
import Foundation
import GRDB

// Decision events, retraining steps and webhooks (issues 19 and 20). Events are appended by the transactions that change a decision (the single
// writer numbers them in commit order); everything here reads them or keeps the webhooks' delivery state.
extension SQLiteStore {
    /// Appends an event in the caller's transaction.
    static func appendDecisionEvent(_ db: Database, _ event: DecisionEvent?) throws {
        guard let event else { return }
        try append(db, try EventRows.columns(event))
    }

    /// Appends a retraining step in the caller's transaction (feed `*` for the shared model's: every feed's).
    static func appendRetrainingEvent(_ db: Database, _ event: RetrainingEvent?) throws {
        guard let event else { return }
        try append(db, try EventRows.columns(event))
    }

    /// The one insert of an event; the single writer numbers it (AUTOINCREMENT) in commit order.
    private static func append(_ db: Database, _ row: EventRows.Columns) throws {
        try db.cachedStatement(sql: "INSERT INTO decision_event (feed, item_id, at, cause, body) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [row.feed, row.itemID, row.at, row.cause, row.body])
    }

    static func changeEvent(_ row: Row) throws -> ChangeEvent {
        var event = try Codec.decode(ChangeEvent.self, row["body"])
        event.seq = row["seq"]
        return event
    }

    public func changeEvents(feed: String?, after: Int64, limit: Int, retraining: Bool) async throws -> [ChangeEvent] {
        try await writer.read { db in
            let rows: [Row]
            switch (feed, retraining) {
            case let (feed?, true):
                // The feed's events and every feed's, each read in order along the (feed, seq) index: a merge of two short
                // runs, not a sort of everything after the cursor.
                rows = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT seq, body FROM (SELECT seq, body FROM decision_event WHERE feed = ? AND seq > ? ORDER BY seq LIMIT ?)
                    UNION ALL SELECT seq, body FROM (SELECT seq, body FROM decision_event WHERE feed = ? AND seq > ? ORDER BY seq LIMIT ?)
                    ORDER BY seq LIMIT ?
                    """), arguments: [feed, after, limit, EventRows.everyFeed, after, limit, limit])
            case let (feed?, false):
                rows = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT seq, body FROM decision_event WHERE feed = ? AND seq > ? AND cause <> 'retraining' ORDER BY seq LIMIT ?
                    """), arguments: [feed, after, limit])
            case (nil, _):
                rows = try Row.fetchAll(db.cachedStatement(sql: """
                    SELECT seq, body FROM decision_event WHERE seq > ? AND (? OR cause <> 'retraining') ORDER BY seq LIMIT ?
                    """), arguments: [after, retraining, limit])
            }
            return try rows.map(Self.changeEvent)
        }
    }

    public func latestEventSeq() async throws -> Int64 {
        // The sequence's own record: AUTOINCREMENT keeps the highest number ever given, pruned events included.
        try await writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'decision_event'") ?? 0
        }
    }

    public func prunedThrough(feed: String?, retraining: Bool) async throws -> Int64 {
        try await writer.read { db in
            if let feed {
                return try Int64.fetchOne(db, sql: "SELECT coalesce(max(pruned_through), 0) FROM event_horizon WHERE feed IN (?, ?)",
                                          arguments: [feed, retraining ? EventRows.everyFeed : feed]) ?? 0
            }
            return try Int64.fetchOne(db, sql: "SELECT coalesce(max(pruned_through), 0) FROM event_horizon WHERE ? OR feed <> ?",
                                      arguments: [retraining, EventRows.everyFeed]) ?? 0
        }
    }

    public func pruneEvents(before: Date) async throws -> Int {
        try await commits.run { db in
            // An event goes once every webhook that delivers it has: its feed's, or (every feed's events) each one's.
            let delivered = """
                e.seq <= coalesce((SELECT min(w.delivered_seq) FROM webhook w WHERE w.feed = e.feed OR e.feed = '\(EventRows.everyFeed)'), e.seq)
                """
            // Each feed's horizon moves to the highest number deleted of its events.
            try db.execute(sql: """
                INSERT INTO event_horizon (feed, pruned_through)
                SELECT e.feed, max(e.seq) FROM decision_event e WHERE e.at < ? AND \(delivered) GROUP BY e.feed
                ON CONFLICT (feed) DO UPDATE SET pruned_through = max(pruned_through, excluded.pruned_through)
                """, arguments: [before.timeIntervalSince1970])
            try db.execute(sql: "DELETE FROM decision_event AS e WHERE e.at < ? AND \(delivered)", arguments: [before.timeIntervalSince1970])
            return db.changesCount
        }
    }

    public func undeliveredEvents(feed: String) async throws -> (count: Int, oldest: Date?) {
        try await writer.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT count(*) AS n, min(e.at) AS oldest FROM decision_event e JOIN webhook w ON w.feed = ?
                WHERE e.feed IN (w.feed, ?) AND e.seq > w.delivered_seq
                """, arguments: [feed, EventRows.everyFeed])
            return (row?["n"] ?? 0, (row?["oldest"] as Double?).map(Date.init(timeIntervalSince1970:)))
        }
    }

    // MARK: Webhooks

    static func webhook(_ row: Row) -> WebhookRecord {
        func date(_ column: String) -> Date? { (row[column] as Double?).map(Date.init(timeIntervalSince1970:)) }
        return WebhookRecord(
            endpoint: WebhookEndpoint(feed: row["feed"], url: row["url"], secret: row["secret"], topics: WebhookEndpoint.topics(stored: row["causes"]),
                                      endpointID: row["endpoint_id"], createdBy: row["created_by"], createdAt: date("created_at")!),
            delivery: WebhookDelivery(deliveredSeq: row["delivered_seq"], batchThrough: row["batch_through"], attempts: row["attempts"],
                                      nextAttemptAt: date("next_attempt_at")!, failingSince: date("failing_since"), lastError: row["last_error"],
                                      lastAttemptAt: date("last_attempt_at"), lastSuccessAt: date("last_success_at"), delivered: row["delivered"],
                                      failed: row["failed"], leaseHolder: row["lease_holder"], leaseUntil: date("lease_until")))
    }

    public func saveWebhook(_ endpoint: WebhookEndpoint) async throws -> (record: WebhookRecord, replaced: Bool) {
        try await commits.run { db in
            let replaced = try Row.fetchOne(db, sql: "SELECT 1 FROM webhook WHERE feed = ?", arguments: [endpoint.feed]) != nil
            let latest = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'decision_event'") ?? 0
            let e = endpoint
            try db.execute(sql: """
                INSERT INTO webhook (feed, url, secret, causes, endpoint_id, created_by, created_at, delivered_seq)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (feed) DO UPDATE SET url = excluded.url, secret = excluded.secret, causes = excluded.causes,
                  endpoint_id = excluded.endpoint_id, created_by = excluded.created_by, created_at = excluded.created_at,
                  attempts = 0, next_attempt_at = 0, failing_since = NULL, last_error = NULL
                """, arguments: [e.feed, e.url, e.secret, WebhookEndpoint.storedTopics(e.topics), e.endpointID, e.createdBy,
                                 e.createdAt.timeIntervalSince1970, latest])
            let row = try Row.fetchOne(db, sql: "SELECT * FROM webhook WHERE feed = ?", arguments: [endpoint.feed])!
            return (Self.webhook(row), replaced)
        }
    }

    public func webhook(feed: String) async throws -> WebhookRecord? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM webhook WHERE feed = ?", arguments: [feed]).map(Self.webhook) }
    }

    public func webhooks() async throws -> [WebhookRecord] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM webhook ORDER BY feed").map(Self.webhook) }
    }

    public func removeWebhook(feed: String) async throws -> Bool {
        try await commits.run { db in
            try db.execute(sql: "DELETE FROM webhook WHERE feed = ?", arguments: [feed])
            return db.changesCount > 0
        }
    }

    public func leaseDueWebhooks(now: Date, holder: String, until: Date, limit: Int, batchSize: Int) async throws -> [WebhookRecord] {
        let t = now.timeIntervalSince1970
        return try await commits.run { db in
            try Row.fetchAll(db, sql: """
                UPDATE webhook SET lease_holder = ?5, lease_until = ?6,
                  batch_through = coalesce(batch_through, (
                    SELECT max(seq) FROM (
                      SELECT seq FROM (SELECT e.seq FROM decision_event e WHERE e.feed = webhook.feed AND e.seq > webhook.delivered_seq
                                       ORDER BY e.seq LIMIT ?1)
                      UNION ALL SELECT seq FROM (SELECT e.seq FROM decision_event e WHERE e.feed = ?2 AND e.seq > webhook.delivered_seq
                                                 ORDER BY e.seq LIMIT ?1)
                      ORDER BY seq LIMIT ?1)))
                WHERE feed IN (
                  SELECT w.feed FROM webhook w
                  WHERE w.next_attempt_at <= ?3 AND (w.lease_until IS NULL OR w.lease_until < ?3)
                    AND (w.batch_through IS NOT NULL
                         OR EXISTS (SELECT 1 FROM decision_event e WHERE e.feed = w.feed AND e.seq > w.delivered_seq)
                         OR EXISTS (SELECT 1 FROM decision_event e WHERE e.feed = ?2 AND e.seq > w.delivered_seq))
                  ORDER BY w.next_attempt_at LIMIT ?4)
                RETURNING *
                """, arguments: [batchSize, EventRows.everyFeed, t, limit, holder, until.timeIntervalSince1970]).map(Self.webhook)
        }
    }

    public func recordDelivery(feed: String, holder: String, _ result: DeliveryResult) async throws -> Bool {
        try await commits.run { db in
            switch result {
            case let .delivered(through, events, at):
                try db.execute(sql: """
                    UPDATE webhook SET delivered_seq = max(delivered_seq, ?), batch_through = NULL, attempts = 0, next_attempt_at = 0,
                      failing_since = NULL, last_attempt_at = ?, last_success_at = CASE WHEN ? > 0 THEN ? ELSE last_success_at END,
                      delivered = delivered + ?, lease_holder = NULL, lease_until = NULL
                    WHERE feed = ? AND lease_holder = ?
                    """, arguments: [through, at.timeIntervalSince1970, events, at.timeIntervalSince1970, events, feed, holder])
            case let .failed(error, at, retryAt):
                try db.execute(sql: """
                    UPDATE webhook SET attempts = attempts + 1, next_attempt_at = ?, failing_since = coalesce(failing_since, ?), last_error = ?,
                      last_attempt_at = ?, failed = failed + 1, lease_holder = NULL, lease_until = NULL
                    WHERE feed = ? AND lease_holder = ?
                    """, arguments: [retryAt.timeIntervalSince1970, at.timeIntervalSince1970, error, at.timeIntervalSince1970, feed, holder])
            }
            return db.changesCount > 0
        }
    }
}
