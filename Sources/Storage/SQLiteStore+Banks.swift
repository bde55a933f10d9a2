import Engine
import Foundation
import GRDB

/// Banks and their entries on SQLite. The single writer makes revisions: each write takes the next one after the
/// highest stored.
extension SQLiteStore {
    static let bankColumns = "name, label, action, feeds, description, version, entries, created_by, created_at, updated_at"
    static let entryColumns = "id, bank, kind, value, quality, note, feed, item_id, ticket_id, label_id, added_by, added_at"

    public func saveBank(_ bank: Bank, replacing: Bool) async throws -> (bank: Bank, created: Bool) {
        try await commits.run { db in
            let existing = try Self.bankRow(db, name: bank.name)
            if let existing, !replacing { return (existing, false) }
            let created = existing == nil
            if created {
                try db.execute(sql: "INSERT INTO bank (\(Self.bankColumns)) VALUES (?, ?, ?, ?, ?, 1, 0, ?, ?, ?)",
                               arguments: [bank.name, bank.label, bank.action.rawValue, BankRows.feeds(bank), bank.description, bank.createdBy,
                                           bank.createdAt.timeIntervalSince1970, bank.updatedAt.timeIntervalSince1970])
            } else {
                try db.execute(sql: """
                    UPDATE bank SET label = ?, action = ?, feeds = ?, description = ?, version = version + 1, updated_at = ? WHERE name = ?
                    """, arguments: [bank.label, bank.action.rawValue, BankRows.feeds(bank), bank.description, bank.updatedAt.timeIntervalSince1970, bank.name])
            }
            return (try Self.bankRow(db, name: bank.name)!, created)
        }
    }

    public func banks() async throws -> [Bank] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.bankColumns) FROM bank ORDER BY name").map(Self.bank)
        }
    }

    public func bank(named name: String) async throws -> Bank? {
        try await writer.read { db in try Self.bankRow(db, name: name) }
    }

    public func removeBank(named name: String, at: Date) async throws -> Bool {
        try await commits.run { db in
            guard try Self.bankRow(db, name: name) != nil else { return false }
            let revision = try Self.nextBankRevision(db)
            try db.execute(sql: "UPDATE bank_entry SET removed_at = ?, revision = ? WHERE bank = ? AND removed_at IS NULL",
                           arguments: [at.timeIntervalSince1970, revision, name])
            try db.execute(sql: "DELETE FROM bank WHERE name = ?", arguments: [name])
            return true
        }
    }

    public func addBankEntries(bank name: String, _ entries: [NewBankEntry], by: String, at: Date) async throws -> (bank: Bank, entries: [BankEntry], added: Int)? {
        try await commits.run { db in
            guard try Self.bankRow(db, name: name) != nil else { return nil }
            let revision = try Self.nextBankRevision(db)
            var out: [BankEntry] = []
            var added = 0
            for entry in entries {
                let digest = BankRows.digest(entry.signature)
                if let existing = try Row.fetchOne(db, sql: """
                    SELECT \(Self.entryColumns) FROM bank_entry WHERE bank = ? AND digest = ? AND label_id IS ? AND removed_at IS NULL LIMIT 1
                    """, arguments: [name, digest, entry.source.labelID]) {
                    out.append(try Self.entry(existing))
                    continue
                }
                let s = entry.source
                try db.execute(sql: """
                    INSERT INTO bank_entry (bank, kind, value, digest, quality, note, feed, item_id, ticket_id, label_id, added_by, added_at, revision)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [name, entry.signature.kind.rawValue, entry.signature.value, digest, entry.signature.quality, entry.note,
                                     s.feed, s.itemID, s.ticketID, s.labelID, by, at.timeIntervalSince1970, revision])
                out.append(BankEntry(id: db.lastInsertedRowID, bank: name, signature: entry.signature, note: entry.note, source: s, addedBy: by, addedAt: at))
                added += 1
            }
            if added > 0 {
                try db.execute(sql: "UPDATE bank SET entries = entries + ?, version = version + 1, updated_at = ? WHERE name = ?",
                               arguments: [added, at.timeIntervalSince1970, name])
            }
            return (try Self.bankRow(db, name: name)!, out, added)
        }
    }

    public func removeBankEntries(bank name: String, ids: [Int64], at: Date) async throws -> (bank: Bank, removed: Int)? {
        try await commits.run { db in
            guard try Self.bankRow(db, name: name) != nil else { return nil }
            let revision = try Self.nextBankRevision(db)
            var removed = 0
            for id in Set(ids) {
                try db.execute(sql: "UPDATE bank_entry SET removed_at = ?, revision = ? WHERE id = ? AND bank = ? AND removed_at IS NULL",
                               arguments: [at.timeIntervalSince1970, revision, id, name])
                removed += db.changesCount
            }
            if removed > 0 {
                try db.execute(sql: "UPDATE bank SET entries = entries - ?, version = version + 1, updated_at = ? WHERE name = ?",
                               arguments: [removed, at.timeIntervalSince1970, name])
            }
            return (try Self.bankRow(db, name: name)!, removed)
        }
    }

    public func removeBankEntries(labelIDs: [Int64], at: Date) async throws -> [BankEntry] {
        guard !labelIDs.isEmpty else { return [] }
        return try await commits.run { db in
            var entries: [BankEntry] = []
            for label in Set(labelIDs) {
                entries += try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM bank_entry WHERE label_id = ? AND removed_at IS NULL",
                                            arguments: [label]).map(Self.entry)
            }
            guard !entries.isEmpty else { return [] }
            let revision = try Self.nextBankRevision(db)
            for entry in entries {
                try db.execute(sql: "UPDATE bank_entry SET removed_at = ?, revision = ? WHERE id = ?", arguments: [at.timeIntervalSince1970, revision, entry.id])
                try db.execute(sql: "UPDATE bank SET entries = entries - 1, version = version + 1, updated_at = ? WHERE name = ?",
                               arguments: [at.timeIntervalSince1970, entry.bank])
            }
            return entries
        }
    }

    public func bankEntries(bank name: String, after: Int64, limit: Int) async throws -> [BankEntry] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.entryColumns) FROM bank_entry WHERE bank = ? AND removed_at IS NULL AND id > ? ORDER BY id LIMIT ?",
                             arguments: [name, after, limit]).map(Self.entry)
        }
    }

    public func bankChanges(after revision: Int64, entryID: Int64, limit: Int) async throws -> [BankChange] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.entryColumns), revision, removed_at IS NOT NULL AS removed FROM bank_entry
                WHERE revision > ? OR (revision = ? AND id > ?) ORDER BY revision, id LIMIT ?
                """, arguments: [revision, revision, entryID, limit]).map { row in
                BankChange(revision: row["revision"], entry: try Self.entry(row), removed: row["removed"])
            }
        }
    }

    private static func nextBankRevision(_ db: Database) throws -> Int64 {
        (try Int64.fetchOne(db, sql: "SELECT MAX(revision) FROM bank_entry") ?? 0) + 1
    }

    private static func bankRow(_ db: Database, name: String) throws -> Bank? {
        try Row.fetchOne(db, sql: "SELECT \(bankColumns) FROM bank WHERE name = ?", arguments: [name]).map(bank)
    }

    private static func bank(_ row: Row) throws -> Bank {
        try BankRows.bank(name: row["name"], label: row["label"], action: row["action"], feeds: row["feeds"], description: row["description"],
                          version: row["version"], entries: row["entries"], createdBy: row["created_by"], createdAt: row["created_at"],
                          updatedAt: row["updated_at"])
    }

    private static func entry(_ row: Row) throws -> BankEntry {
        try BankRows.entry(id: row["id"], bank: row["bank"], kind: row["kind"], value: row["value"], quality: row["quality"], note: row["note"],
                           feed: row["feed"], itemID: row["item_id"], ticketID: row["ticket_id"], labelID: row["label_id"],
                           addedBy: row["added_by"], addedAt: row["added_at"])
    }
}
