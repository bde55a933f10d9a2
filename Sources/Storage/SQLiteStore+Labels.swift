import Engine
import Foundation
import GRDB

/// Labels: one row per human judgement; withdrawals and corrections are recorded on the rows, never by deleting.
extension SQLiteStore {
    /// The id of the label that counts for an item, as `LabelResolution` picks it, as an SQL subquery.
    static func resolvedLabelSQL(feed: String, item: String) -> String {
        """
        SELECT id FROM label WHERE feed = \(feed) AND item_id = \(item) AND withdrawn_at IS NULL ORDER BY tier DESC, at DESC, id DESC LIMIT 1
        """
    }

    static func insertLabel(_ db: Database, _ label: LabelRecord) throws -> LabelRecord {
        try db.cachedStatement(sql: """
            INSERT INTO label (feed, item_id, label, source, by, at, tier, model_label, model_probability, model_version, replaces)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [label.feed, label.itemID, label.label, label.source, label.by, label.at.timeIntervalSince1970, label.tier,
                                     label.modelLabel, label.modelProbability, label.modelVersion, label.replaces])
        var stored = label
        stored.id = db.lastInsertedRowID
        return stored
    }

    static func label(_ row: Row) -> LabelRecord {
        let withdrawn: Double? = row["withdrawn_at"]
        return LabelRecord(id: row["id"], feed: row["feed"], itemID: row["item_id"], label: row["label"], source: row["source"], by: row["by"],
                           at: Date(timeIntervalSince1970: row["at"]), tier: row["tier"], modelLabel: row["model_label"],
                           modelProbability: row["model_probability"], modelVersion: row["model_version"],
                           withdrawnAt: withdrawn.map(Date.init(timeIntervalSince1970:)), withdrawnBy: row["withdrawn_by"], replaces: row["replaces"],
                           learntInto: row["learnt_into"])
    }

    public func labels(feed: String, itemIDs: [String]) async throws -> [LabelRecord] {
        // Not through a Set: Swift's `==` merges "café" composed and decomposed, which are two ids here.
        let ids = itemIDs
        return try await writer.read { db in
            var found: [LabelRecord] = []
            // A statement's variables are bounded (32,766): a thousand ids a statement.
            for start in stride(from: 0, to: ids.count, by: 1_000) {
                let chunk = Array(ids[start..<min(ids.count, start + 1_000)])
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                found += try Row.fetchAll(db, sql: "SELECT * FROM label WHERE feed = ? AND item_id IN (\(marks))",
                                          arguments: StatementArguments([feed] + chunk)).map(Self.label)
            }
            return found.sorted { ($0.id ?? 0) < ($1.id ?? 0) }
        }
    }

    public func addLabels(_ labels: [LabelRecord]) async throws -> [LabelRecord] {
        try await commits.run { db in try labels.map { try Self.insertLabel(db, $0) } }
    }

    public func labelCount(after: Int64, feed: String?, atMost: Int) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM (SELECT 1 FROM label l WHERE l.id > ? AND (? IS NULL OR l.feed = ?)
                  AND EXISTS (SELECT 1 FROM item i WHERE i.feed = l.feed AND i.external_id = l.item_id) LIMIT ?)
                """,
                             arguments: [after, feed, feed, atMost]) ?? 0
        }
    }

    public func labels(since: Date?, after: Int64?, limit: Int) async throws -> [LabelRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM label WHERE id > ? AND at >= ? ORDER BY id LIMIT ?",
                             arguments: [after ?? 0, since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, limit]).map(Self.label)
        }
    }

    /// Marks the label withdrawn unless it was; true when this withdrew it.
    static func withdraw(_ db: Database, id: Int64, by: String, at: Date) throws -> Bool {
        try db.execute(sql: "UPDATE label SET withdrawn_at = ?, withdrawn_by = ? WHERE id = ? AND withdrawn_at IS NULL",
                       arguments: [at.timeIntervalSince1970, by, id])
        return db.changesCount > 0
    }

    public func withdrawLabel(id: Int64, by: String, at: Date,
                              revise: @escaping @Sendable (ItemState, LabelRecord) -> DecisionRevision?) async throws -> (label: LabelRecord, changed: Bool)? {
        try await commits.run { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM label WHERE id = ?", arguments: [id]) else { return nil }
            guard try Self.withdraw(db, id: id, by: by, at: at) else { return (Self.label(row), false) }
            let withdrawn = try Row.fetchOne(db, sql: "SELECT * FROM label WHERE id = ?", arguments: [id]).map(Self.label)!
            if let itemRow = try Self.itemRow(db, feed: withdrawn.feed, id: withdrawn.itemID), let revision = revise(try Self.state(itemRow), withdrawn) {
                try Self.write(db, revision, item: itemRow["id"])
            }
            return (withdrawn, true)
        }
    }

    /// Writes a change of the decision a label change makes: its stage, the reviewed decision after it, its event and
    /// the ticket it asks for.
    static func write(_ db: Database, _ revision: DecisionRevision, item: Int64) throws {
        try appendReviewedStage(db, item: item, revision.result, reviewed: revision.reviewed)
        try appendDecisionEvent(db, revision.event)
        if let opening = revision.ticket { _ = try openTicket(db, item: item, opening) }
    }

    public func markLearnt(_ ids: [Int64], into version: String) async throws {
        guard !ids.isEmpty else { return }
        try await commits.run { db in
            for id in ids {
                try db.execute(sql: "UPDATE label SET learnt_into = ? WHERE id = ? AND learnt_into IS NULL", arguments: [version, id])
            }
        }
    }

    public func correctLabel(id: Int64, label: String, by: String, at: Date,
                             revise: @escaping @Sendable (ItemState, LabelRecord, LabelRecord) -> DecisionRevision?) async throws
        -> LabelCorrection? {
        try await commits.run { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM label WHERE id = ?", arguments: [id]) else { return nil }
            let old = Self.label(row)
            guard try Self.withdraw(db, id: id, by: by, at: at) else { return .alreadyWithdrawn(old) }
            let new = try Self.insertLabel(db, LabelRecord(feed: old.feed, itemID: old.itemID, label: label, source: old.source, by: by, at: at,
                                                           tier: old.tier, modelLabel: old.modelLabel, modelProbability: old.modelProbability,
                                                           modelVersion: old.modelVersion, replaces: id))
            if let itemRow = try Self.itemRow(db, feed: old.feed, id: old.itemID), let revision = revise(try Self.state(itemRow), old, new) {
                try Self.write(db, revision, item: itemRow["id"])
            }
            return .corrected(withdrawn: old, new: new)
        }
    }

    public func resolvedLabels(since: Date?) async throws -> [ResolvedLabel] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT l.*, json_extract(i.submission, '$.text') AS text FROM label l
                LEFT JOIN item i ON i.feed = l.feed AND i.external_id = l.item_id
                WHERE l.id = (\(Self.resolvedLabelSQL(feed: "l.feed", item: "l.item_id"))) AND l.at >= ?
                ORDER BY l.id
                """, arguments: [since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude]).map { row in
                ResolvedLabel(label: Self.label(row), text: row["text"])
            }
        }
    }
}
