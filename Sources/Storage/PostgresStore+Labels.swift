import Engine
import Foundation
import PostgresNIO

/// Labels (one row per human judgement; withdrawals and corrections are recorded on the rows, never by deleting) and
/// the model registry's rows, on PostgreSQL.
extension PostgresStore {
    static func insertLabel(_ db: Session, _ label: LabelRecord) async throws -> LabelRecord {
        guard let row = try await db.row("""
            INSERT INTO label (feed, item_id, label, source, "by", at, tier, model_label, model_probability, model_version, replaces)
            VALUES (\(label.feed), \(label.itemID), \(label.label), \(label.source), \(label.by), \(label.at.timeIntervalSince1970), \(label.tier),
                    \(label.modelLabel), \(label.modelProbability), \(label.modelVersion), \(label.replaces))
            RETURNING id
            """) else { throw StoreError.corruptRow("label: the insert returned no id") }
        var stored = label
        stored.id = try row["id"]
        return stored
    }

    static func label(_ row: Row) throws -> LabelRecord {
        let withdrawn: Double? = try row["withdrawn_at"]
        return LabelRecord(id: try row["id"], feed: try row["feed"], itemID: try row["item_id"], label: try row["label"], source: try row["source"],
                           by: try row["by"], at: Date(timeIntervalSince1970: try row["at"]), tier: try row["tier"], modelLabel: try row["model_label"],
                           modelProbability: try row["model_probability"], modelVersion: try row["model_version"],
                           withdrawnAt: withdrawn.map(Date.init(timeIntervalSince1970:)), withdrawnBy: try row["withdrawn_by"],
                           replaces: try row["replaces"], learntInto: try row["learnt_into"])
    }

    public func addLabels(_ labels: [LabelRecord]) async throws -> [LabelRecord] {
        try await transaction { db in
            var stored: [LabelRecord] = []
            for label in labels { stored.append(try await Self.insertLabel(db, label)) }
            return stored
        }
    }

    public func labels(feed: String, itemIDs: [String]) async throws -> [LabelRecord] {
        guard !itemIDs.isEmpty else { return [] }
        return try await rows("SELECT * FROM label WHERE feed = \(feed) AND item_id = ANY(\(itemIDs)) ORDER BY id").map(Self.label)
    }

    public func labelCount(after: Int64, feed: String?, atMost: Int) async throws -> Int {
        let query: PostgresQuery = """
            SELECT COUNT(*)::bigint AS n FROM (SELECT 1 FROM label l WHERE l.id > \(after) AND (\(feed)::text IS NULL OR l.feed = \(feed))
              AND EXISTS (SELECT 1 FROM item i WHERE i.feed = l.feed AND i.external_id = l.item_id) LIMIT \(atMost)) t
            """
        let count: Int64? = try await rows(query).first.map { try $0["n"] }
        return Int(count ?? 0)
    }

    public func labels(since: Date?, after: Int64?, limit: Int) async throws -> [LabelRecord] {
        try await rows("""
            SELECT * FROM label WHERE id > \(after ?? 0) AND at >= \(since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude) ORDER BY id LIMIT \(limit)
            """).map(Self.label)
    }

    /// Marks the label withdrawn unless it was; true when this withdrew it.
    static func withdraw(_ db: Session, id: Int64, by: String, at: Date) async throws -> Bool {
        try await !db.rows("""
            UPDATE label SET withdrawn_at = \(at.timeIntervalSince1970), withdrawn_by = \(by) WHERE id = \(id) AND withdrawn_at IS NULL RETURNING 1
            """).isEmpty
    }

    public func withdrawLabel(id: Int64, by: String, at: Date,
                              revise: @escaping @Sendable (ItemState, LabelRecord) -> DecisionRevision?) async throws -> (label: LabelRecord, changed: Bool)? {
        try await transaction { db -> (label: LabelRecord, changed: Bool)? in
            // The item's lock first, then the label's, as a correction takes them.
            guard let peek = try await db.row("SELECT feed, item_id FROM label WHERE id = \(id)") else { return nil }
            let item = try await Self.lockItem(db, feed: try peek["feed"], id: try peek["item_id"])
            guard let row = try await db.row("SELECT * FROM label WHERE id = \(id) FOR NO KEY UPDATE") else { return nil }
            guard try await Self.withdraw(db, id: id, by: by, at: at) else { return (try Self.label(row), false) }
            let withdrawn = try Self.label(try await db.row("SELECT * FROM label WHERE id = \(id)")!)
            if let item, let revision = revise(item.state, withdrawn) { try await Self.write(db, revision, item: item) }
            return (withdrawn, true)
        }
    }

    /// Writes a change of the decision a label change makes: its stage, the reviewed decision after it, its event and
    /// the ticket it asks for.
    static func write(_ db: Session, _ revision: DecisionRevision, item: LockedItem) async throws {
        let seq = item.stages + 1
        try await insertStages(db, items: [item.id], seqs: [seq], results: [revision.result])
        try await db.execute("UPDATE item SET stages = \(seq), reviewed = \(try revision.reviewed.map(Codec.encode)) WHERE id = \(item.id)")
        try await appendDecisionEvents(db, revision.event.map { [$0] } ?? [])
        if let opening = revision.ticket { _ = try await openTicket(db, item: item.id, opening) }
    }

    public func markLearnt(_ ids: [Int64], into version: String) async throws {
        guard !ids.isEmpty else { return }
        _ = try await rows("UPDATE label SET learnt_into = \(version) WHERE id = ANY(\(ids)) AND learnt_into IS NULL")
    }

    public func correctLabel(id: Int64, label: String, by: String, at: Date,
                             revise: @escaping @Sendable (ItemState, LabelRecord, LabelRecord) -> DecisionRevision?) async throws
        -> LabelCorrection? {
        try await transaction { db -> LabelCorrection? in
            // The item's lock first (the order every writer takes them in: an undo holds it while it withdraws labels),
            // then the label's: two corrections of one label take turns (the second finds it withdrawn, as on SQLite).
            guard let peek = try await db.row("SELECT feed, item_id FROM label WHERE id = \(id)") else { return nil }
            let item = try await Self.lockItem(db, feed: try peek["feed"], id: try peek["item_id"])
            guard let row = try await db.row("SELECT * FROM label WHERE id = \(id) FOR NO KEY UPDATE") else { return nil }
            let old = try Self.label(row)
            guard try await Self.withdraw(db, id: id, by: by, at: at) else { return .alreadyWithdrawn(old) }
            let new = try await Self.insertLabel(db, LabelRecord(feed: old.feed, itemID: old.itemID, label: label, source: old.source, by: by, at: at,
                                                                 tier: old.tier, modelLabel: old.modelLabel, modelProbability: old.modelProbability,
                                                                 modelVersion: old.modelVersion, replaces: id))
            if let item, let revision = revise(item.state, old, new) { try await Self.write(db, revision, item: item) }
            return .corrected(withdrawn: old, new: new)
        }
    }

    public func resolvedLabels(since: Date?) async throws -> [ResolvedLabel] {
        try await rows("""
            SELECT l.*, i.submission->>'text' AS text FROM label l
            LEFT JOIN item i ON i.feed = l.feed AND i.external_id = l.item_id
            WHERE l.id = (\(unescaped: SQLiteStore.resolvedLabelSQL(feed: "l.feed", item: "l.item_id")))
              AND l.at >= \(since?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude)
            ORDER BY l.id
            """).map { row in ResolvedLabel(label: try Self.label(row), text: try row["text"]) }
    }

    // MARK: The model registry

    public func registerModel(_ record: ModelVersionRecord, file: [UInt8]) async throws -> Bool {
        try await transaction { db in
            let stored = try await !db.rows("""
                INSERT INTO model_version (version, file, kind, classes, parent, card, registered_by, registered_at)
                VALUES (\(record.version), \(record.file), \(record.kind), \(try Codec.encode(record.classes)), \(record.parent), \(record.card),
                        \(record.registeredBy), \(record.registeredAt.timeIntervalSince1970))
                ON CONFLICT (version) DO NOTHING RETURNING 1
                """).isEmpty
            guard stored else { return false }
            try await db.execute("INSERT INTO model_file (version, bytes) VALUES (\(record.version), \(ByteBuffer(bytes: file)))")
            return true
        }
    }

    public func modelFile(version: String) async throws -> [UInt8]? {
        let bytes: ByteBuffer? = try await rows("SELECT bytes FROM model_file WHERE version = \(version)").first?["bytes"]
        return bytes.map { Array($0.readableBytesView) }
    }

    public func modelVersions() async throws -> [ModelVersionRecord] {
        try await rows("SELECT * FROM model_version ORDER BY registered_at, version COLLATE \"C\"").map { row in
            ModelVersionRecord(version: try row["version"], file: try row["file"], kind: try row["kind"], classes: try Codec.decode([String].self, row["classes"]),
                               parent: try row["parent"], card: try row["card"], registeredBy: try row["registered_by"],
                               registeredAt: Date(timeIntervalSince1970: try row["registered_at"]))
        }
    }

    public func recordPromotion(_ promotion: ModelPromotion) async throws {
        _ = try await rows("""
            INSERT INTO model_promotion (feed, to_shared, version, previous, kind, "by", at)
            VALUES (\(promotion.feed), \(promotion.toShared == true ? 1 : 0), \(promotion.version), \(promotion.previous), \(promotion.kind.rawValue), \(promotion.by), \(promotion.at.timeIntervalSince1970))
            """)
    }

    public func promotions() async throws -> [ModelPromotion] {
        try await rows("SELECT * FROM model_promotion ORDER BY id").map { row in
            ModelPromotion(feed: try row["feed"], version: try row["version"], previous: try row["previous"], kind: ModelPromotion.Kind(rawValue: try row["kind"]) ?? .promote,
                           by: try row["by"], at: Date(timeIntervalSince1970: try row["at"]), toShared: (try row["to_shared"] as Int) != 0)
        }
    }
}
