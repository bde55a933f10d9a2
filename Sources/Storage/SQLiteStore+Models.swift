import Engine
import Foundation
import GRDB

/// The model registry's rows: versions (file, card, classes, parent) and every change of the active model.
extension SQLiteStore {
    public func registerModel(_ record: ModelVersionRecord, file: [UInt8]) async throws -> Bool {
        try await commits.run { db in
            try db.execute(sql: """
                INSERT INTO model_version (version, file, kind, classes, parent, card, registered_by, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (version) DO NOTHING
                """, arguments: [record.version, record.file, record.kind, try Codec.encode(record.classes), record.parent, record.card,
                                 record.registeredBy, record.registeredAt.timeIntervalSince1970])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "INSERT INTO model_file (version, bytes) VALUES (?, ?)", arguments: [record.version, Data(file)])
            return true
        }
    }

    public func modelFile(version: String) async throws -> [UInt8]? {
        try await writer.read { db in
            try Data.fetchOne(db, sql: "SELECT bytes FROM model_file WHERE version = ?", arguments: [version]).map { [UInt8]($0) }
        }
    }

    public func modelVersions() async throws -> [ModelVersionRecord] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM model_version ORDER BY registered_at, version").map { row in
                ModelVersionRecord(version: row["version"], file: row["file"], kind: row["kind"], classes: try Codec.decode([String].self, row["classes"]),
                                   parent: row["parent"], card: row["card"], registeredBy: row["registered_by"],
                                   registeredAt: Date(timeIntervalSince1970: row["registered_at"]))
            }
        }
    }

    public func recordPromotion(_ promotion: ModelPromotion) async throws {
        try await commits.run { db in
            try db.execute(sql: "INSERT INTO model_promotion (feed, version, previous, kind, by, at, to_shared) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [promotion.feed, promotion.version, promotion.previous, promotion.kind.rawValue, promotion.by,
                                       promotion.at.timeIntervalSince1970, promotion.toShared == true ? 1 : 0])
        }
    }

    public func promotions() async throws -> [ModelPromotion] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM model_promotion ORDER BY id").map { row in
                ModelPromotion(feed: row["feed"], version: row["version"], previous: row["previous"], kind: ModelPromotion.Kind(rawValue: row["kind"]) ?? .promote,
                               by: row["by"], at: Date(timeIntervalSince1970: row["at"]), toShared: (row["to_shared"] as Int) != 0)
            }
        }
    }
}
