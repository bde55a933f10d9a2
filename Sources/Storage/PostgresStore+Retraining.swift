import Engine
import Foundation
import PostgresNIO

/// The retraining loop's log, as SQLite keeps it, and its steps' events.
extension PostgresStore {
    public func startRetrainPass(_ pass: RetrainPass, event: RetrainingEvent?) async throws -> Bool {
        try await transaction { db in
            guard try await !db.rows("""
                INSERT INTO retrain_pass (id, feed, state, started_at, body)
                VALUES (\(pass.id), \(pass.feed), \(pass.state.rawValue), \(pass.startedAt.timeIntervalSince1970), \(try Codec.encode(pass)))
                ON CONFLICT (id) DO NOTHING RETURNING 1
                """).isEmpty else { return false }
            try await Self.appendRetrainingEvent(db, event)
            return true
        }
    }

    public func updateRetrainPass(_ pass: RetrainPass, expected: RetrainPass.State, event: RetrainingEvent?) async throws -> Bool {
        try await transaction { db in
            guard try await !db.rows("""
                UPDATE retrain_pass SET state = \(pass.state.rawValue), body = \(try Codec.encode(pass))
                WHERE id = \(pass.id) AND state = \(expected.rawValue) RETURNING 1
                """).isEmpty else { return false }
            try await Self.appendRetrainingEvent(db, event)
            return true
        }
    }

    public func retrainPasses(_ selection: RetrainPass.Selection, limit: Int) async throws -> [RetrainPass] {
        let found: [Row]
        switch selection {
        case .all: found = try await rows("SELECT body FROM retrain_pass ORDER BY id DESC LIMIT \(limit)")
        case .model(let feed): found = try await rows("SELECT body FROM retrain_pass WHERE feed IS NOT DISTINCT FROM \(feed) ORDER BY id DESC LIMIT \(limit)")
        }
        return try found.map { try Codec.decode(RetrainPass.self, try $0["body"]) }
    }

    public func latestLabelID() async throws -> Int64 {
        try await rows("SELECT COALESCE(MAX(id), 0)::bigint AS latest FROM label").first.map { try $0["latest"] } ?? 0
    }
}
