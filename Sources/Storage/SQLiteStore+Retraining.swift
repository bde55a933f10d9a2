import Engine
import Foundation
import GRDB

/// The retraining loop's log: one row per pass (its state beside the whole pass as JSON), and its steps' events.
extension SQLiteStore {
    public func startRetrainPass(_ pass: RetrainPass, event: RetrainingEvent?) async throws -> Bool {
        try await commits.run { db in
            try db.execute(sql: "INSERT INTO retrain_pass (id, feed, state, started_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                           arguments: [pass.id, pass.feed, pass.state.rawValue, pass.startedAt.timeIntervalSince1970, try Codec.encode(pass)])
            guard db.changesCount > 0 else { return false }
            try Self.appendRetrainingEvent(db, event)
            return true
        }
    }

    public func updateRetrainPass(_ pass: RetrainPass, expected: RetrainPass.State, event: RetrainingEvent?) async throws -> Bool {
        try await commits.run { db in
            try db.execute(sql: "UPDATE retrain_pass SET state = ?, body = ? WHERE id = ? AND state = ?",
                           arguments: [pass.state.rawValue, try Codec.encode(pass), pass.id, expected.rawValue])
            guard db.changesCount > 0 else { return false }
            try Self.appendRetrainingEvent(db, event)
            return true
        }
    }

    public func retrainPasses(_ selection: RetrainPass.Selection, limit: Int) async throws -> [RetrainPass] {
        try await writer.read { db in
            let bodies: [String]
            switch selection {
            case .all:
                bodies = try String.fetchAll(db, sql: "SELECT body FROM retrain_pass ORDER BY id DESC LIMIT ?", arguments: [limit])
            case .model(let feed):
                bodies = try String.fetchAll(db, sql: "SELECT body FROM retrain_pass WHERE feed IS ? ORDER BY id DESC LIMIT ?", arguments: [feed, limit])
            }
            return try bodies.map { try Codec.decode(RetrainPass.self, $0) }
        }
    }

    public func latestLabelID() async throws -> Int64 {
        try await writer.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM label") ?? 0 }
    }
}
