import Engine
import Foundation
import PostgresNIO

/// Banks and their entries on PostgreSQL, as SQLite keeps them. Every write takes the revision counter row first and
/// holds it to its commit: bank writes are few, and this keeps revisions visible in the order they were given.
extension PostgresStore {
    static let bankColumns = "name, label, action, feeds, description, version, entries, created_by, created_at, updated_at"
    static let entryColumns = "id, bank, kind, value, quality, note, feed, item_id, ticket_id, label_id, added_by, added_at"

    public func saveBank(_ bank: Bank, replacing: Bool) async throws -> (bank: Bank, created: Bool) {
        try await transaction { db in
            // The counter row's lock orders every bank write, so the check below holds until the commit.
            _ = try await Self.nextBankRevision(db)
            let existing = try await Self.bankRow(db, name: bank.name, lock: true)
            if let existing, !replacing { return (existing, false) }
            let created = existing == nil
            if created {
                try await db.execute("""
                    INSERT INTO bank (name, label, action, feeds, description, version, entries, created_by, created_at, updated_at)
                    VALUES (\(bank.name), \(bank.label), \(bank.action.rawValue), \(BankRows.feeds(bank)), \(bank.description), 1, 0, \(bank.createdBy),
                            \(bank.createdAt.timeIntervalSince1970), \(bank.updatedAt.timeIntervalSince1970))
                    """)
            } else {
                try await db.execute("""
                    UPDATE bank SET label = \(bank.label), action = \(bank.action.rawValue), feeds = \(BankRows.feeds(bank)),
                      description = \(bank.description), version = version + 1, updated_at = \(bank.updatedAt.timeIntervalSince1970)
                    WHERE name = \(bank.name)
                    """)
            }
            return (try await Self.bankRow(db, name: bank.name, lock: false)!, created)
        }
    }

    public func banks() async throws -> [Bank] {
        try await rows(PostgresQuery(unsafeSQL: "SELECT \(Self.bankColumns) FROM bank ORDER BY name")).map(Self.bank)
    }

    public func bank(named name: String) async throws -> Bank? {
        try await transaction { db in try await Self.bankRow(db, name: name, lock: false) }
    }

    public func removeBank(named name: String, at: Date) async throws -> Bool {
        try await transaction { db in
            let revision = try await Self.nextBankRevision(db)
            guard try await Self.bankRow(db, name: name, lock: true) != nil else { return false }
            try await db.execute("""
                UPDATE bank_entry SET removed_at = \(at.timeIntervalSince1970), revision = \(revision) WHERE bank = \(name) AND removed_at IS NULL
                """)
            try await db.execute("DELETE FROM bank WHERE name = \(name)")
            return true
        }
    }

    public func addBankEntries(bank name: String, _ entries: [NewBankEntry], by: String, at: Date) async throws -> (bank: Bank, entries: [BankEntry], added: Int)? {
        try await transaction { db in
            let revision = try await Self.nextBankRevision(db)
            guard try await Self.bankRow(db, name: name, lock: true) != nil else { return nil }
            var out: [BankEntry] = []
            var added = 0
            for entry in entries {
                let digest = BankRows.digest(entry.signature)
                if let existing = try await db.row("""
                    SELECT \(unescaped: Self.entryColumns) FROM bank_entry
                    WHERE bank = \(name) AND digest = \(digest) AND label_id IS NOT DISTINCT FROM \(entry.source.labelID) AND removed_at IS NULL LIMIT 1
                    """) {
                    out.append(try Self.entry(existing))
                    continue
                }
                let s = entry.source
                let id: Int64 = try await db.row("""
                    INSERT INTO bank_entry (bank, kind, value, digest, quality, note, feed, item_id, ticket_id, label_id, added_by, added_at, revision)
                    VALUES (\(name), \(entry.signature.kind.rawValue), \(entry.signature.value), \(digest), \(entry.signature.quality), \(entry.note),
                            \(s.feed), \(s.itemID), \(s.ticketID), \(s.labelID), \(by), \(at.timeIntervalSince1970), \(revision))
                    RETURNING id
                    """)!["id"]
                out.append(BankEntry(id: id, bank: name, signature: entry.signature, note: entry.note, source: s, addedBy: by, addedAt: at))
                added += 1
            }
            if added > 0 {
                try await db.execute("""
                    UPDATE bank SET entries = entries + \(added), version = version + 1, updated_at = \(at.timeIntervalSince1970) WHERE name = \(name)
                    """)
            }
            return (try await Self.bankRow(db, name: name, lock: false)!, out, added)
        }
    }

    public func removeBankEntries(bank name: String, ids: [Int64], at: Date) async throws -> (bank: Bank, removed: Int)? {
        try await transaction { db in
            let revision = try await Self.nextBankRevision(db)
            guard try await Self.bankRow(db, name: name, lock: true) != nil else { return nil }
            let removed = try await db.rows("""
                UPDATE bank_entry SET removed_at = \(at.timeIntervalSince1970), revision = \(revision)
                WHERE bank = \(name) AND id = ANY(\(Array(Set(ids)))) AND removed_at IS NULL RETURNING id
                """).count
            if removed > 0 {
                try await db.execute("""
                    UPDATE bank SET entries = entries - \(removed), version = version + 1, updated_at = \(at.timeIntervalSince1970) WHERE name = \(name)
                    """)
            }
            return (try await Self.bankRow(db, name: name, lock: false)!, removed)
        }
    }

    public func removeBankEntries(labelIDs: [Int64], at: Date) async throws -> [BankEntry] {
        guard !labelIDs.isEmpty else { return [] }
        return try await transaction { db in
            let revision = try await Self.nextBankRevision(db)
            let rows = try await db.rows("""
                UPDATE bank_entry SET removed_at = \(at.timeIntervalSince1970), revision = \(revision)
                WHERE label_id = ANY(\(Array(Set(labelIDs)))) AND removed_at IS NULL RETURNING \(unescaped: Self.entryColumns)
                """)
            let entries = try rows.map(Self.entry)
            for entry in entries {
                try await db.execute("""
                    UPDATE bank SET entries = entries - 1, version = version + 1, updated_at = \(at.timeIntervalSince1970) WHERE name = \(entry.bank)
                    """)
            }
            return entries
        }
    }

    public func bankEntries(bank name: String, after: Int64, limit: Int) async throws -> [BankEntry] {
        try await rows("""
            SELECT \(unescaped: Self.entryColumns) FROM bank_entry WHERE bank = \(name) AND removed_at IS NULL AND id > \(after) ORDER BY id LIMIT \(limit)
            """).map(Self.entry)
    }

    public func bankChanges(after revision: Int64, entryID: Int64, limit: Int) async throws -> [BankChange] {
        try await rows("""
            SELECT \(unescaped: Self.entryColumns), revision, removed_at IS NOT NULL AS removed FROM bank_entry
            WHERE revision > \(revision) OR (revision = \(revision) AND id > \(entryID)) ORDER BY revision, id LIMIT \(limit)
            """).map { row in
            BankChange(revision: try row["revision"], entry: try Self.entry(row), removed: try row["removed"])
        }
    }

    private static func nextBankRevision(_ db: Session) async throws -> Int64 {
        try await db.row("UPDATE bank_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision")!["revision"]
    }

    private static func bankRow(_ db: Session, name: String, lock: Bool) async throws -> Bank? {
        try await db.row("SELECT \(unescaped: bankColumns) FROM bank WHERE name = \(name)\(unescaped: lock ? " FOR UPDATE" : "")").map(bank)
    }

    private static func bank(_ row: Row) throws -> Bank {
        try BankRows.bank(name: row["name"], label: row["label"], action: row["action"], feeds: row["feeds"], description: row["description"],
                          version: Int(try row["version"] as Int64), entries: Int(try row["entries"] as Int64), createdBy: row["created_by"],
                          createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    private static func entry(_ row: Row) throws -> BankEntry {
        try BankRows.entry(id: row["id"], bank: row["bank"], kind: row["kind"], value: row["value"], quality: (try row["quality"] as Int32?).map(Int.init),
                           note: row["note"], feed: row["feed"], itemID: row["item_id"], ticketID: row["ticket_id"], labelID: row["label_id"],
                           addedBy: row["added_by"], addedAt: row["added_at"])
    }
}
