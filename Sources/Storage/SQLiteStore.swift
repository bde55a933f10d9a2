import Engine
import Foundation
import GRDB
import GRDBSQLite
import PostgresNIO
import Synchronization

/// Winnow's embedded store: one SQLite file through GRDB (`DatabasePool`, WAL, `synchronous=NORMAL`, which loses
/// nothing when the process is killed), or an in-memory database for tests.
///
/// Writes from concurrent requests are grouped into one transaction (`GroupCommit`), each inside its own
/// savepoint, and a caller resumes only after the transaction that holds its write has committed: a returned
/// call is durable, and a bad write rolls back alone.
public final class SQLiteStore: Store {
    let writer: any DatabaseWriter
    let commits: GroupCommit
    /// The file, nil in memory.
    public let path: String?
    /// Copies the write-ahead log into the database file in the background (file stores only).
    private let checkpoints: Task<Void, Never>?
    /// The file as opened: checked every second (with the checkpoints) and by `/ready`.
    let file: DatabaseFileWatch

    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // WAL with synchronous=NORMAL: a commit survives the process being killed (not a power cut).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA cache_size = -32768")  // 32 MiB per connection
            // Checkpoints are driven from the background (below); SQLite's own checkpoint at a commit runs only if
            // the log passes 200,000 pages (800 MiB), i.e. if the background falls far behind: a checkpoint inside
            // a request's commit (two fsyncs) was the slowest part of the tail latency.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 200000")
            // Above the restart threshold below, so restarting the log does not also truncate the file (on this
            // machine's file system an ftruncate discards blocks synchronously, stalling the writer).
            try db.execute(sql: "PRAGMA journal_size_limit = 335544320")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
        self.writer = pool
        self.path = path
        let file = DatabaseFileWatch(path: path)
        self.file = file
        self.commits = GroupCommit(writer: pool, precheck: { try file.check() })
        // A file a newer Winnow migrated: this build would misread its rows.
        let unknown = try pool.read { db in try Self.migrator.appliedIdentifiers(db).subtracting(Self.migrator.migrations) }
        guard unknown.isEmpty else {
            throw StoreError.notWinnows(path: path, reason: "a newer Winnow has changed its schema (migrations \(unknown.sorted().joined(separator: ", ")) "
                                        + "are unknown to this build), so this build would misread it. Use the newer build.")
        }
        try Self.migrator.migrate(pool)
        self.checkpoints = try Self.startCheckpoints(path: path, writer: pool, file: file)
    }

    deinit {
        checkpoints?.cancel()
    }

    /// Every 200 ms, a passive checkpoint on a separate connection copies committed pages from the log into the
    /// database file without blocking the writer or the readers. Under steady writes the log never empties on its
    /// own (the writer adds pages while the copy runs), so once it holds more than 64,000 pages (256 MiB), most of
    /// them already copied, the writer itself runs one more passive checkpoint between two commits: nothing is
    /// written meanwhile, so the copy completes, and the next write starts the log afresh.
    ///
    /// That last checkpoint ends with an fsync of the database file, which must flush every page the background
    /// copied since the previous one (the background's own checkpoints never reach the end of a growing log, so
    /// they sync only the log). Done by the writer, that took a third of a second every four seconds under load,
    /// with all requests waiting; so the background first syncs the database file itself and copies again, twice,
    /// and the writer then holds for the last few pages and two short fsyncs (about 50 ms). Before, a restart
    /// checkpoint from the separate connection chased the writer for its lock and then held it while the writer
    /// slept in SQLite's busy handler: the writer stood still for about 0.4 s of every 4.
    ///
    /// The price of the threshold is a log file of up to about 300 MiB next to the database.
    static func startCheckpoints(path: String, writer: DatabasePool, file: DatabaseFileWatch) throws -> Task<Void, Never> {
        var configuration = Configuration()
        configuration.busyMode = .timeout(2)
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        return Task.detached(priority: .utility) {
            var tick = 0
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                tick += 1
                if tick % 5 == 0 { file.look() }
                let frames = try? await connection.writeWithoutTransaction { db in try db.checkpoint(.passive).walFrameCount }
                guard let frames, frames > 64_000 else { continue }
                for _ in 0..<2 {  // the second round flushes what the first copied while it synced
                    _ = try? await connection.writeWithoutTransaction { db in
                        try syncDatabaseFile(db)
                        return try db.checkpoint(.passive)
                    }
                }
                _ = try? await writer.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            }
        }
    }

    /// fsyncs the main database file through the connection's own file handle (SQLite's VFS: no second file
    /// descriptor, whose closing would drop the process's POSIX locks on the file). False when the connection has
    /// no file (in memory).
    @discardableResult
    static func syncDatabaseFile(_ db: Database) throws -> Bool {
        guard let connection = db.sqliteConnection, let name = sqlite3_db_filename(connection, "main"), name.pointee != 0 else {
            return false
        }
        var file: UnsafeMutablePointer<sqlite3_file>?
        guard sqlite3_file_control(connection, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK,
              let file, let sync = file.pointee.pMethods?.pointee.xSync else { return false }
        let code = sync(file, SQLITE_SYNC_NORMAL)
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "fsync of the database file failed")
        }
        return true
    }

    public init() throws {
        let queue = try DatabaseQueue()
        self.writer = queue
        self.path = nil
        self.checkpoints = nil
        self.file = DatabaseFileWatch(path: "")  // in memory: no file to lose
        self.commits = GroupCommit(writer: queue)
        try Self.migrator.migrate(queue)
    }

    /// Copies the whole write-ahead log into the database file and empties it (after a bulk load, so that what follows
    /// is not measured against a backlog of checkpoint work).
    /// Retries while the background checkpoint holds the log (a large log takes it a while), up to `timeout` seconds.
    public func checkpoint(timeout: Double = 600) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            do {
                _ = try await writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
                return
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// The names of the migrations applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        try writer.read { db in try Self.migrator.appliedMigrations(db) }
    }

    // MARK: Items

    public func createItems(_ items: [NewItem]) async throws -> [CreateOutcome] {
        let encoded = items.map { item in
            (item, StoredJSON.submission(item.submission), StageRecord.encode(item.result), item.submission.contentDigest)
        }
        return try await commits.run { db in
            var outcomes: [CreateOutcome] = []
            outcomes.reserveCapacity(encoded.count)
            let insertItem = try db.cachedStatement(sql: """
                INSERT INTO item (feed, external_id, digest, submission, received_at, created_at, stages, next_rescore_at, next_rescore_age)
                VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (feed, external_id) DO NOTHING
                """)
            let insertStage = try db.cachedStatement(sql: Self.insertStageSQL)
            let itemSQL = insertItem.sqliteStatement
            for (item, submission, result, digest) in encoded {
                let s = item.submission
                // Bound directly (the hot path: GRDB's argument boxing cost more than SQLite's insert).
                let inserted = try RawStatement(itemSQL, db).run { b in
                    b.text(1, s.feed); b.text(2, s.id); b.text(3, digest); b.text(4, submission)
                    b.double(5, item.receivedAt.timeIntervalSince1970); b.double(6, item.createdAt.timeIntervalSince1970)
                    if let next = item.nextRescore { b.double(7, next.at.timeIntervalSince1970); b.double(8, next.ageHours) } else { b.null(7); b.null(8) }
                }
                guard inserted > 0 else {
                    // Stored before: the same content is a retry, other content a conflict.
                    let existing = try Self.itemRow(db, feed: s.feed, id: s.id)!
                    let state = try Self.state(existing)
                    outcomes.append(existing["digest"] as String == digest ? .existing(state) : .conflict(state))
                    continue
                }
                let rowID = db.lastInsertedRowID
                try Self.insertStage(insertStage, db, item: rowID, seq: 1, result: item.result, body: result)
                for opening in item.tickets { _ = try Self.openTicket(db, item: rowID, opening) }
                outcomes.append(.created(ItemState(submission: s, receivedAt: item.receivedAt, createdAt: item.createdAt,
                                                   current: item.result, engagement: nil)))
            }
            return outcomes
        }
    }

    public func item(feed: String, id: String) async throws -> ItemState? {
        try await writer.read { db in try Self.itemRow(db, feed: feed, id: id).map(Self.state) }
    }

    public func items(feed: String, ids: [String]) async throws -> [ItemState] {
        try await writer.read { db in
            try ids.compactMap { id in try Self.itemRow(db, feed: feed, id: id).map(Self.state) }
        }
    }

    public func history(feed: String, id: String) async throws -> [HistoryEntry]? {
        try await writer.read { db in
            guard let row = try Self.itemRow(db, feed: feed, id: id) else { return nil }
            return try Self.history(db, item: row["id"])
        }
    }

    public func itemWithHistory(feed: String, id: String) async throws -> (state: ItemState, history: [HistoryEntry])? {
        try await writer.read { db in
            guard let row = try Self.itemRow(db, feed: feed, id: id) else { return nil }
            return (try Self.state(row), try Self.history(db, item: row["id"]))
        }
    }

    /// The item's stage results, engagement snapshots and ticket events, oldest first (at the same instant, stages
    /// before snapshots before ticket events).
    static func history(_ db: Database, item: Int64) throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        for stage in try Row.fetchAll(db, sql: "SELECT body FROM stage_result WHERE item = ? ORDER BY seq", arguments: [item]) {
            entries.append(.stage(try StageRecord.decode(stage["body"])))
        }
        for snapshot in try Row.fetchAll(db, sql: "SELECT * FROM engagement_snapshot WHERE item = ? ORDER BY at, id", arguments: [item]) {
            entries.append(.engagement(Self.snapshot(snapshot)))
        }
        entries += try ticketEvents(db, item: item).map(HistoryEntry.ticket)
        return HistoryEntry.inOrder(entries)
    }

    public func recordEngagement(feed: String, id: String, snapshot: EngagementSnapshot, keepingAtMost: Int,
                                 decide: @escaping @Sendable (EngagementContext) throws -> Staged?) async throws -> EngagementOutcome? {
        try await commits.run { db -> EngagementOutcome? in
            guard let row = try Self.itemRow(db, feed: feed, id: id) else { return nil }
            let rowID: Int64 = row["id"]
            let state = try Self.state(row)
            try state.checkEngagementTime(snapshot.at)
            let c = snapshot.counters
            // At the cap, this snapshot takes the newest one's place (unless it is stored already: a repeat changes nothing).
            try db.cachedStatement(sql: """
                DELETE FROM engagement_snapshot WHERE id = (SELECT id FROM engagement_snapshot WHERE item = ? ORDER BY at DESC, id DESC LIMIT 1)
                  AND (SELECT count(*) FROM engagement_snapshot WHERE item = ?) >= ?
                  AND NOT EXISTS (SELECT 1 FROM engagement_snapshot WHERE item = ? AND at = ? AND views = ? AND likes = ? AND shares = ?
                                  AND comments = ? AND reports = ? AND hides = ?)
                """).execute(arguments: [rowID, rowID, keepingAtMost, rowID, snapshot.at.timeIntervalSince1970, c.views, c.likes, c.shares,
                                         c.comments, c.reports, c.hides])
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO engagement_snapshot (item, at, views, likes, shares, comments, reports, hides)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [rowID, snapshot.at.timeIntervalSince1970, c.views, c.likes, c.shares, c.comments, c.reports, c.hides])
            let recorded = db.changesCount > 0
            let previous = state.engagement
            let merged = EngagementSnapshot.merging(previous, snapshot)
            guard recorded, merged != previous else {
                return EngagementOutcome(state: state, result: nil, recorded: recorded)
            }
            // The feed's baseline moves by this item's change.
            let oldVelocity: Double? = row["log_velocity"]
            let ageHours = max(0, merged.at.timeIntervalSince(state.createdAt) / 3600)
            let share = FeedBaseline.share(of: merged.counters, ageHours: ageHours)
            let before = FeedBaseline.share(of: previous?.counters ?? Engagement(), ageHours: ageHours)
            let newVelocity = share.logVelocity
            try db.cachedStatement(sql: """
                INSERT INTO feed_baseline (feed, items, views, reports, log_velocity_sum) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (feed) DO UPDATE SET items = items + excluded.items, views = views + excluded.views,
                  reports = reports + excluded.reports, log_velocity_sum = log_velocity_sum + excluded.log_velocity_sum
                """).execute(arguments: [feed, oldVelocity == nil ? 1 : 0, share.views - before.views,
                                         share.reports - before.reports, newVelocity - (oldVelocity ?? 0)])
            let baseline = try Self.baseline(db, feed: feed)
            var updated = state
            updated.engagement = merged
            let context = EngagementContext(state: state, previous: previous?.counters, merged: merged, baseline: baseline,
                                            lastEngagementStageAgeHours: row["last_engagement_stage_age"])
            let staged = try decide(context)
            var lastStageAge: Double? = row["last_engagement_stage_age"]
            var stages: Int = row["stages"]
            if let result = staged?.result {
                stages += 1
                try Self.insertStage(db, item: rowID, seq: stages, result: result)
                updated.current = result
                lastStageAge = result.inputs.ageHours
            }
            if let opening = staged?.ticket { _ = try Self.openTicket(db, item: rowID, opening) }
            try Self.appendDecisionEvent(db, staged?.event)
            try db.cachedStatement(sql: "UPDATE item SET engagement = ?, log_velocity = ?, last_engagement_stage_age = ?, stages = ? WHERE id = ?")
                .execute(arguments: [StoredJSON.snapshot(merged), newVelocity, lastStageAge, stages, rowID])
            return EngagementOutcome(state: updated, result: staged?.result, recorded: true)
        }
    }

    public func rescoreDue(now: Date, limit: Int, decide: @escaping @Sendable (DueRescore) throws -> Rescored) async throws -> Int {
        try await commits.run { db -> Int in
            let due = try Row.fetchAll(db, sql: """
                SELECT i.*, s.body AS current FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
                WHERE i.next_rescore_at IS NOT NULL AND i.next_rescore_at <= ? ORDER BY i.next_rescore_at LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit])
            var baselines: [String: FeedBaseline] = [:]
            for row in due {
                let rowID: Int64 = row["id"]
                let state = try Self.state(row)
                let feed = state.submission.feed
                let baseline = try baselines[feed] ?? Self.baseline(db, feed: feed)
                baselines[feed] = baseline
                let scheduled = ScheduledRescore(ageHours: row["next_rescore_age"], at: Date(timeIntervalSince1970: row["next_rescore_at"]))
                let rescored = try decide(DueRescore(state: state, scheduled: scheduled, baseline: baseline))
                let seq = (row["stages"] as Int) + 1
                try Self.insertStage(db, item: rowID, seq: seq, result: rescored.result)
                try db.cachedStatement(sql: "UPDATE item SET stages = ?, next_rescore_at = ?, next_rescore_age = ? WHERE id = ?")
                    .execute(arguments: [seq, rescored.next?.at.timeIntervalSince1970, rescored.next?.ageHours, rowID])
                if let opening = rescored.ticket { _ = try Self.openTicket(db, item: rowID, opening) }
                try Self.appendDecisionEvent(db, rescored.event)
            }
            return due.count
        }
    }

    public func oldestDueRescore() async throws -> Date? {
        try await writer.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(next_rescore_at) FROM item WHERE next_rescore_at IS NOT NULL").map(Date.init(timeIntervalSince1970:))
        }
    }

    public func pendingRescores() async throws -> Int {
        try await writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM item WHERE next_rescore_at IS NOT NULL") ?? 0 }
    }

    public func baseline(feed: String) async throws -> FeedBaseline {
        try await writer.read { db in try Self.baseline(db, feed: feed) }
    }

    // MARK: Policies

    public func policy(feed: String) async throws -> Policy? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT body FROM policy WHERE feed = ? ORDER BY version DESC LIMIT 1", arguments: [feed])
                .map { try Codec.decode(Policy.self, $0["body"]) }
        }
    }

    public func policies() async throws -> [Policy] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT body FROM policy p WHERE version = (SELECT MAX(version) FROM policy WHERE feed = p.feed) ORDER BY feed
                """).map { try Codec.decode(Policy.self, $0["body"]) }
        }
    }

    public func savePolicy(_ policy: Policy, by: String, at: Date) async throws -> Policy {
        try await storePolicy(policy, by: by, at: at, replacing: nil)!
    }

    public func savePolicy(_ policy: Policy, by: String, at: Date, replacing: Int) async throws -> Policy? {
        try await storePolicy(policy, by: by, at: at, replacing: replacing)
    }

    /// The next version of the feed's policy, unless `replacing` is given and is not the newest (nil then).
    func storePolicy(_ policy: Policy, by: String, at: Date, replacing: Int?) async throws -> Policy? {
        try await commits.run { db in
            let latest = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM policy WHERE feed = ?", arguments: [policy.feed]) ?? 0
            if let replacing, replacing != latest { return nil }
            let version = latest + 1
            var saved = policy
            saved.version = version
            try db.execute(sql: "INSERT INTO policy (feed, version, body, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
                           arguments: [policy.feed, version, try Codec.encode(saved), at.timeIntervalSince1970, by])
            return saved
        }
    }

    // MARK: API keys

    public func createKey(_ key: APIKeyRecord) async throws {
        try await commits.run { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM api_key WHERE name = ?", arguments: [key.name]) != nil {
                throw StoreError.duplicateKeyName(key.name)
            }
            try db.execute(sql: "INSERT INTO api_key (name, role, hash, created_at, tiers, feeds) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [key.name, key.role.rawValue, key.hash, key.createdAt.timeIntervalSince1970, APIKeyRecord.storedTiers(key.tiers),
                                       APIKeyRecord.storedFeeds(key.feeds)])
        }
    }

    public func key(hash: String) async throws -> APIKeyRecord? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE hash = ?", arguments: [hash]).map(Self.key)
        }
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM api_key ORDER BY created_at, name").map(Self.key) }
    }

    public func revokeKey(name: String, at: Date) async throws -> Bool {
        try await commits.run { db in
            try db.execute(sql: "UPDATE api_key SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", arguments: [at.timeIntervalSince1970, name])
            return db.changesCount > 0
        }
    }

    // MARK: Labels and the engagement model

    public func labelledItemsWithEngagement() async throws -> [(state: ItemState, label: String, baseline: FeedBaseline)] {
        try await writer.read { db in
            var baselines: [String: FeedBaseline] = [:]
            // Each item's label as LabelResolution picks it: not withdrawn, the higher tier, then the latest.
            let rows = try Row.fetchAll(db, sql: """
                SELECT l.label AS human_label, i.*, s.body AS current FROM item i
                JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
                JOIN label l ON l.feed = i.feed AND l.item_id = i.external_id
                WHERE i.engagement IS NOT NULL
                  AND l.id = (\(Self.resolvedLabelSQL(feed: "i.feed", item: "i.external_id")))
                ORDER BY i.id
                """)
            return try rows.map { row in
                let state = try Self.state(row)
                let feed = state.submission.feed
                let baseline = try baselines[feed] ?? Self.baseline(db, feed: feed)
                baselines[feed] = baseline
                return (state, row["human_label"] as String, baseline)
            }
        }
    }

    public func saveEngagementModel(_ model: EngagementModel, at: Date) async throws {
        try await commits.run { db in
            try db.execute(sql: "INSERT OR REPLACE INTO engagement_model (version, body, created_at) VALUES (?, ?, ?)",
                           arguments: [model.version, try Codec.encode(model), at.timeIntervalSince1970])
        }
    }

    public func latestEngagementModel() async throws -> EngagementModel? {
        try await writer.read { db in
            try Row.fetchOne(db, sql: "SELECT body FROM engagement_model ORDER BY created_at DESC, rowid DESC LIMIT 1")
                .map { try Codec.decode(EngagementModel.self, $0["body"]) }
        }
    }

    public func checkWritable() async throws {
        file.look()
        try file.check()
        try await writer.write { db in
            try db.execute(sql: "INSERT INTO heartbeat (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                           arguments: [Date().timeIntervalSince1970])
        }
    }

    // MARK: Rows

    /// The item's row with its current stage result as `current`.
    static func itemRow(_ db: Database, feed: String, id: String) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: """
            SELECT i.*, s.body AS current FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
            WHERE i.feed = ? AND i.external_id = ?
            """), arguments: [feed, id])
    }

    /// The item's row by its row id (a ticket's item), with its current stage result as `current`.
    /// - Throws: `StoreError.corruptRow` when there is no such item (a ticket always points at one).
    static func itemRow(_ db: Database, rowID: Int64) throws -> Row {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT i.*, s.body AS current FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages WHERE i.id = ?
            """), arguments: [rowID]) else { throw StoreError.corruptRow("no item with row id \(rowID)") }
        return row
    }

    static func state(_ row: Row) throws -> ItemState {
        let engagement: String? = row["engagement"]
        let reviewed: String? = row["reviewed"]
        return ItemState(
            submission: try Codec.decode(ItemSubmission.self, row["submission"]),
            receivedAt: Date(timeIntervalSince1970: row["received_at"]),
            createdAt: Date(timeIntervalSince1970: row["created_at"]),
            current: try StageRecord.decode(row["current"]),
            engagement: try engagement.map { try Codec.decode(EngagementSnapshot.self, $0) },
            reviewed: try reviewed.map { try Codec.decode(HumanDecision.self, $0) })
    }

    static let insertStageSQL = """
        INSERT INTO stage_result (item, seq, stage, scored_at, model_version, policy_version, action, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        """

    /// Appends one stage result; `statement` is the prepared `insertStageSQL` (callers inserting many fetch it once).
    static func insertStage(_ statement: Statement, _ db: Database, item: Int64, seq: Int, result: StageResult, body: [UInt8]) throws {
        _ = try RawStatement(statement.sqliteStatement, db).run { b in
            b.int(1, item); b.int(2, Int64(seq)); b.text(3, result.stage.rawValue); b.double(4, result.scoredAt.timeIntervalSince1970)
            b.text(5, result.modelVersion); b.int(6, Int64(result.decision.policyVersion)); b.text(7, result.decision.action.rawValue); b.blob(8, body)
        }
    }

    static func insertStage(_ db: Database, item: Int64, seq: Int, result: StageResult) throws {
        try insertStage(db.cachedStatement(sql: insertStageSQL), db, item: item, seq: seq, result: result, body: StageRecord.encode(result))
    }

    static func snapshot(_ row: Row) -> EngagementSnapshot {
        EngagementSnapshot(at: Date(timeIntervalSince1970: row["at"]),
                           counters: Engagement(views: row["views"], likes: row["likes"], shares: row["shares"], comments: row["comments"],
                                                reports: row["reports"], hides: row["hides"]))
    }

    static func baseline(_ db: Database, feed: String) throws -> FeedBaseline {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM feed_baseline WHERE feed = ?"), arguments: [feed]) else {
            return FeedBaseline()
        }
        let items: Int = row["items"]
        let sum: Double = row["log_velocity_sum"]
        // Read as doubles: a sum past Int64 is stored by SQLite as a real.
        let views: Double = row["views"], reports: Double = row["reports"]
        func whole(_ x: Double) -> Int { x >= 9.2e18 ? Int.max : Int(max(0, x)) }
        return FeedBaseline(items: items, views: whole(views), reports: whole(reports),
                            meanLogVelocity: items > 0 ? sum / Double(items) : 0)
    }

    static func key(_ row: Row) throws -> APIKeyRecord {
        let role: String = row["role"]
        let revoked: Double? = row["revoked_at"]
        return APIKeyRecord(name: row["name"], role: Role(rawValue: role) ?? .feed, hash: row["hash"],
                            createdAt: Date(timeIntervalSince1970: row["created_at"]), revokedAt: revoked.map(Date.init(timeIntervalSince1970:)),
                            tiers: APIKeyRecord.tiers(stored: row["tiers"]), feeds: APIKeyRecord.feeds(stored: row["feeds"]))
    }
}

/// Whether the database file at a path is still the one a store opened (device and inode): one deleted or replaced
/// under a running server took every later write into a file nobody would open again, and the next start made a new,
/// empty database (outside testing: items and keys gone, every answer 2xx meanwhile). Once lost, it stays lost until
/// the server restarts.
final class DatabaseFileWatch: Sendable {
    let path: String
    private let opened: (device: UInt64, inode: UInt64)?
    private let lost = Mutex<String?>(nil)

    init(path: String) {
        self.path = path
        opened = Self.identity(path)
    }

    static func identity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    /// Compares the path with the file opened; records a loss.
    func look() {
        guard let opened, lost.withLock({ $0 }) == nil else { return }
        let reason: String?
        if let now = Self.identity(path) {
            reason = now.device == opened.device && now.inode == opened.inode ? nil : "was replaced by another file"
        } else {
            reason = errno == ENOENT ? "was deleted" : nil
        }
        if let reason { lost.withLock { $0 = reason } }
    }

    /// - Throws: `StoreError.fileLost` once the file was found deleted or replaced.
    func check() throws {
        if let reason = lost.withLock({ $0 }) { throw StoreError.fileLost(path: path, reason: reason) }
    }
}

/// Errors of the store, saying what to do.
public enum StoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    /// The database is reachable but is not one this build can use; `reason` says why and what to do.
    case notWinnows(path: String, reason: String)
    /// The database server does not answer now (PostgreSQL down or unreachable); nothing was done.
    case unavailable(reason: String)
    /// The SQLite file this server opened was deleted or replaced while it ran: writes would go to a file nobody opens
    /// again, so none is taken.
    case fileLost(path: String, reason: String)
    case duplicateKeyName(String)
    case corruptRow(String)

    /// Whether the database cannot take the request now (the API's 503).
    public var isUnavailable: Bool {
        switch self {
        case .unavailable, .fileLost: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            if PostgresStore.isURL(path) {
                return "Cannot open the database at \(path) (\(reason)). Check that the server runs and that the URL's user, password, host, port and database are right (--database or WINNOW_DATABASE)."
            }
            return "Cannot open the database at \(path) (\(reason)). Check that the directory exists and is writable, or pass --database PATH."
        case let .notWinnows(path, reason):
            return "Cannot use the database at \(path): \(reason)"
        case let .unavailable(reason):
            return "The database does not answer (\(reason)), so nothing was done. Retry in a few seconds."
        case let .fileLost(path, reason):
            return "The database file \(path) \(reason) while the server ran, so nothing more is written to it. Put the file back (from a backup) and restart the server."
        case let .duplicateKeyName(name):
            // A revoked key keeps its name (the audit trail names keys): revoking does not free it.
            return "A key called '\(name)' exists already (revoked keys keep their names); choose another --name."
        case let .corruptRow(what):
            return "A stored row could not be read (\(what)); the database may have been edited by hand."
        }
    }

    /// Whether `error` says the disk (or the database's quota) is full: SQLite's SQLITE_FULL, PostgreSQL's
    /// `disk_full` (SQLSTATE 53100), or a file write failing with ENOSPC. Nothing was stored; a retry after space is
    /// freed can succeed.
    public static func isOutOfSpace(_ error: any Error) -> Bool {
        if let error = error as? DatabaseError { return error.resultCode == .SQLITE_FULL }
        if let error = error as? PSQLError { return error.serverInfo?[.sqlState] == "53100" }
        let error = error as NSError
        if error.domain == NSPOSIXErrorDomain { return error.code == Int(ENOSPC) }
        if error.domain == NSCocoaErrorDomain {
            if error.code == CocoaError.fileWriteOutOfSpace.rawValue { return true }
            if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError { return isOutOfSpace(underlying) }
        }
        return false
    }
}

/// JSON columns: compact, dates as seconds since 1970.
enum Codec {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return decoder
    }()

    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        do {
            return try decoder.decode(type, from: Data(text.utf8))
        } catch {
            throw StoreError.corruptRow("\(T.self): \(error)")
        }
    }
}

/// One execution of a prepared statement with values bound straight through the SQLite C API.
struct RawStatement {
    let handle: OpaquePointer
    let db: Database

    init(_ handle: OpaquePointer, _ db: Database) {
        self.handle = handle
        self.db = db
    }

    struct Binder {
        let handle: OpaquePointer
        private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        func text(_ i: Int32, _ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                _ = utf8.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(handle, i, $0.baseAddress, Int32($0.count), Binder.transient) }
            }
        }
        func blob(_ i: Int32, _ value: [UInt8]) {
            value.withUnsafeBytes { _ = sqlite3_bind_blob(handle, i, $0.baseAddress, Int32($0.count), Binder.transient) }
        }
        func double(_ i: Int32, _ value: Double) { sqlite3_bind_double(handle, i, value) }
        func int(_ i: Int32, _ value: Int64) { sqlite3_bind_int64(handle, i, value) }
        func null(_ i: Int32) { sqlite3_bind_null(handle, i) }
    }

    /// Binds, steps once, resets; returns the rows changed.
    /// - Throws: `DatabaseError` with SQLite's message when the step fails.
    func run(_ bind: (Binder) -> Void) throws -> Int {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        bind(Binder(handle: handle))
        let code = sqlite3_step(handle)
        defer { sqlite3_reset(handle) }
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(handle))))
        }
        return Int(sqlite3_changes(sqlite3_db_handle(handle)))
    }
}
