import Engine
import Foundation
import GRDB
import Learning
import PostgresNIO
import Testing

@testable import Storage

/// Builds stored items without a text model: the stage results are made by the engine from fixed scores.
struct Items {
    static let engine = ScoringEngine()
    static let policy = Policy(feed: "default", version: 0, rules: ["spam": ClassRule(review: 0.5, remove: 0.9)])

    static func new(_ id: String, spam: Double = 0.1, text: String? = nil, feed: String = "default", at: Date) -> NewItem {
        let item = ItemSubmission(id: id, feed: feed, text: text ?? "text of \(id)", createdAt: at)
        let score = TextScore(classes: ["clear", "spam"], probabilities: [1 - spam, spam], evidence: 1, reasons: [], modelVersion: "m1")
        let result = engine.creation(item, text: score, policy: policy, receivedAt: at)
        return NewItem(submission: item, receivedAt: at, createdAt: at, result: result, nextRescore: engine.configuration.schedule.next(createdAt: at, after: at))
    }

    /// A first stage result as databases before format-1 records stored it (JSON text), for migration tests.
    static func insertJSONStage(_ db: Database, item: Int64, result: StageResult) throws {
        try db.execute(sql: SQLiteStore.insertStageSQL, arguments: [item, 1, result.stage.rawValue, result.scoredAt.timeIntervalSince1970, result.modelVersion,
                                                                    result.decision.policyVersion, result.decision.action.rawValue, try Codec.encode(result)])
    }

    static func rescore(_ due: DueRescore, at: Date) -> Rescored {
        let score = TextScore(classes: ["clear", "spam"], probabilities: [0.9, 0.1], evidence: 1, reasons: [], modelVersion: "m2")
        let step = engine.configuration.schedule.step(scheduled: due.scheduled, createdAt: due.state.createdAt, now: at)
        return Rescored(result: engine.rescore(stage: .time, trigger: "scheduled \(step.ageHours)h", state: due.state, engagement: due.state.engagement,
                                               text: score, policy: policy, baseline: due.baseline, engagementModel: nil, now: at),
                        next: step.next)
    }
}

@Suite struct SQLiteStoreTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func migrationsAreNamed() throws {
        #expect(try SQLiteStore().appliedMigrations() == ["v1-items-stages-policies-keys", "v2-review-queue", "v3-checks-without-in-lists", "v4-model-files", "v5-four-eyes", "v6-decision-events", "v7-retraining", "v8-banks", "v9-key-feeds"])
    }

    @Test(arguments: StoreKind.all) func createIsIdempotentAndDetectsConflicts(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        let first = try await store.createItems([Items.new("a", at: t0)])
        guard case .created = first[0] else { Issue.record("expected created"); return }
        let again = try await store.createItems([Items.new("a", at: t0.addingTimeInterval(5))])
        guard case let .existing(state) = again[0] else { Issue.record("expected existing"); return }
        #expect(state.receivedAt == t0)  // the stored answer, not a new one
        let other = try await store.createItems([Items.new("a", text: "something else", at: t0)])
        guard case .conflict = other[0] else { Issue.record("expected conflict"); return }
        // The same id in another feed is another item.
        guard case .created = try await store.createItems([Items.new("a", feed: "sport", at: t0)])[0] else { Issue.record("expected created"); return }
        #expect(try await store.history(feed: "default", id: "a")?.count == 1)
    }

    /// Single-item calls at once (which both stores gather into shared writes), with retries, conflicts, items that
    /// open tickets and one the schema refuses among them: each call gets its own outcome, and only the bad one fails.
    @Test(arguments: StoreKind.all) func concurrentSingleItemCallsEachGetTheirOwnOutcome(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        var bad = Items.new("bad", at: t0)
        bad.submission.feed = String(repeating: "f", count: 65)
        let calls: [(label: String, item: NewItem)] = (0..<120).map { n in
            switch n % 6 {
            case 0: ("created", Items.new("new-\(n)", at: t0))
            case 1: ("created", Items.inReview("review-\(n)", at: t0))
            case 2: ("plain", Items.new("shared", at: t0))
            case 3: ("other", Items.new("shared", text: "other text", at: t0))
            case 4: ("created", Items.new("new-\(n)", feed: "sport", at: t0))
            default: n == 5 ? ("bad", bad) : ("created", Items.new("new-\(n)", at: t0))
            }
        }
        let outcomes = await withTaskGroup(of: (Int, Result<[CreateOutcome], any Error>).self) { group in
            for (n, call) in calls.enumerated() {
                group.addTask {
                    do { return (n, .success(try await store.createItems([call.item]))) } catch { return (n, .failure(error)) }
                }
            }
            return await group.reduce(into: [Int: Result<[CreateOutcome], any Error>]()) { $0[$1.0] = $1.1 }
        }
        // "shared" is stored once, with the text of whichever came first: the others with that text are retries, the
        // others with the other text conflicts.
        var shared: [String: [String]] = [:]
        for (n, call) in calls.enumerated() {
            switch (call.label, outcomes[n]) {
            case ("bad", .failure): break
            case ("created", .success(let o)) where o.count == 1: if case .created = o[0] {} else { Issue.record("call \(n): \(o[0])") }
            case ("plain", .success(let o)) where o.count == 1, ("other", .success(let o)) where o.count == 1:
                let outcome: String = switch o[0] {
                case .created: "created"
                case .existing: "existing"
                case .conflict: "conflict"
                }
                shared[call.label, default: []].append(outcome)
            default: Issue.record("call \(n) (\(call.label)): \(String(describing: outcomes[n]))")
            }
        }
        let stored = shared["plain"]?.contains("created") == true ? "plain" : "other"
        let refused = stored == "plain" ? "other" : "plain"
        #expect(shared[stored]?.sorted() == ["created"] + Array(repeating: "existing", count: 19))
        #expect(shared[refused] == Array(repeating: "conflict", count: 20))
        #expect(try await store.reviewStats(now: t0).open == 20)  // one ticket per "review-" item
        #expect(try await store.item(feed: String(repeating: "f", count: 65), id: "bad") == nil)
    }

    @Test(arguments: StoreKind.all) func theSchemaRefusesWhatTheEngineShouldHaveCaughtAndNothingIsHalfStored(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        var bad = Items.new("x", at: t0)
        bad.submission.feed = String(repeating: "f", count: 65)  // CHECK (length(feed) BETWEEN 1 AND 64)
        let error = await #expect(throws: (any Error).self) { try await store.createItems([Items.new("good", at: t0), bad]) }
        switch kind {
        case .sqlite: #expect(error is DatabaseError)
        case .postgres: #expect((error as? PSQLError)?.serverInfo?[.sqlState] == "23514")  // check_violation
        }
        // The whole call rolled back (its savepoint), and the store goes on working.
        #expect(try await store.item(feed: "default", id: "good") == nil)
        guard case .created = try await store.createItems([Items.new("good", at: t0)])[0] else { Issue.record("expected created"); return }
    }

    /// Engagement read before an item's creation is refused; an item stored with a creation time ahead of its
    /// arrival (as older versions kept it) counts from its arrival.
    @Test(arguments: StoreKind.all) func engagementBeforeCreationIsRefusedAndNothingIsStored(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        var ahead = Items.new("ahead", at: t0)
        ahead.createdAt = t0.addingTimeInterval(3600)
        _ = try await store.createItems([Items.new("a", at: t0), ahead])
        let early = EngagementSnapshot(at: t0.addingTimeInterval(-60), counters: Engagement(views: 5))
        await #expect(throws: ValidationError.self) {
            try await store.recordEngagement(feed: "default", id: "a", snapshot: early) { _ in nil }
        }
        #expect(try await store.item(feed: "default", id: "a")?.engagement == nil)
        #expect(try await store.history(feed: "default", id: "a")?.count == 1)
        let afterArrival = EngagementSnapshot(at: t0.addingTimeInterval(60), counters: Engagement(views: 5))
        #expect(try await store.recordEngagement(feed: "default", id: "ahead", snapshot: afterArrival) { _ in nil }?.recorded == true)
    }

    /// An item keeps at most so many snapshots: past the cap, each new one takes the newest one's place, so the
    /// history keeps how the item started and where it stands, and the merged counters are every update's.
    @Test(arguments: StoreKind.all) func anItemKeepsAtMostItsCapOfSnapshots(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0)])
        for i in 1...6 {
            let snapshot = EngagementSnapshot(at: t0.addingTimeInterval(Double(i) * 60), counters: Engagement(views: i * 10))
            #expect(try await store.recordEngagement(feed: "default", id: "a", snapshot: snapshot, keepingAtMost: 3) { _ in nil }?.recorded == true)
        }
        var kept = try await store.history(feed: "default", id: "a")!.compactMap { if case let .engagement(s) = $0 { s } else { nil } }
        #expect(kept.map(\.counters.views) == [10, 20, 60], "\(kept.map(\.counters.views))")
        // A repeat of a kept snapshot changes nothing (it took the newest one's place for nothing).
        let repeated = EngagementSnapshot(at: t0.addingTimeInterval(60), counters: Engagement(views: 10))
        #expect(try await store.recordEngagement(feed: "default", id: "a", snapshot: repeated, keepingAtMost: 3) { _ in nil }?.recorded == false)
        kept = try await store.history(feed: "default", id: "a")!.compactMap { if case let .engagement(s) = $0 { s } else { nil } }
        #expect(kept.map(\.counters.views) == [10, 20, 60], "\(kept.map(\.counters.views))")
        #expect(try await store.item(feed: "default", id: "a")?.engagement?.counters.views == 60)
    }

    @Test(arguments: StoreKind.all) func engagementMergesRepeatsAndOutOfOrderUpdates(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0)])
        let late = EngagementSnapshot(at: t0.addingTimeInterval(600), counters: Engagement(views: 300, likes: 5))
        let early = EngagementSnapshot(at: t0.addingTimeInterval(300), counters: Engagement(views: 100, likes: 9, reports: 1))
        let one = try await store.recordEngagement(feed: "default", id: "a", snapshot: late) { _ in nil }
        #expect(one?.recorded == true)
        let repeated = try await store.recordEngagement(feed: "default", id: "a", snapshot: late) { _ in
            Issue.record("a repeated snapshot must not run a stage")
            return nil
        }
        #expect(repeated?.recorded == false)
        let merged = try await store.recordEngagement(feed: "default", id: "a", snapshot: early) { context in
            #expect(context.previous == Engagement(views: 300, likes: 5))
            return nil
        }
        #expect(merged?.state.engagement == EngagementSnapshot(at: late.at, counters: Engagement(views: 300, likes: 9, reports: 1)))
        // The feed baseline counts the item once with its merged counters, and a repeat does not move it.
        let again = try await store.recordEngagement(feed: "default", id: "a", snapshot: late) { context in
            Issue.record("repeat")
            return nil
        }
        #expect(again?.recorded == false)
        let baseline = try await store.baseline(feed: "default")
        #expect(baseline.items == 1)
        #expect(baseline.views == 300)
        #expect(baseline.reports == 1)
        #expect(baseline.meanLogVelocity == log1p(EngagementRule.velocity(views: 300, ageHours: 600.0 / 3600)))
        let together = try #require(try await store.itemWithHistory(feed: "default", id: "a"))
        #expect(together.state == (try await store.item(feed: "default", id: "a")))
        #expect(together.history == (try await store.history(feed: "default", id: "a")))
        #expect(try await store.itemWithHistory(feed: "default", id: "nope") == nil)
        let unknown = try await store.recordEngagement(feed: "default", id: "nope", snapshot: late) { _ in nil }
        #expect(unknown == nil)
        let history = try await store.history(feed: "default", id: "a")!
        #expect(history.count == 3)  // the creation stage and two distinct snapshots, in time order
        if case .engagement(let s) = history[1] { #expect(s.at == early.at) } else { Issue.record("expected a snapshot") }
    }

    @Test(arguments: StoreKind.all) func aStageDecidedInsideTheTransactionBecomesCurrent(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", spam: 0.2, at: t0)])
        let at = t0.addingTimeInterval(900)
        let outcome = try await store.recordEngagement(feed: "default", id: "a", snapshot: EngagementSnapshot(at: at, counters: Engagement(views: 200, reports: 3))) { context in
            #expect(context.baseline.items == 1)
            #expect(context.baseline.reports == 3)
            let score = TextScore(classes: ["clear", "spam"], probabilities: [0.8, 0.2], evidence: 1, reasons: [], modelVersion: "m1")
            return Staged(result: Items.engine.rescore(stage: .engagement, trigger: "reports", state: context.state, engagement: context.merged,
                                                       text: score, policy: Items.policy, baseline: context.baseline, engagementModel: nil, asOf: at, now: at))
        }
        #expect(outcome?.result?.stage == .engagement)
        let state = try await store.item(feed: "default", id: "a")
        #expect(state?.current.stage == .engagement)
        #expect(state?.current.inputs.engagement == Engagement(views: 200, reports: 3))
        let stages = try await store.history(feed: "default", id: "a")!.filter { if case .stage = $0 { true } else { false } }
        #expect(stages.count == 2)
    }

    @Test func stateAndScheduleSurviveARestart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-restart-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("winnow.sqlite").path
        do {
            let store = try SQLiteStore(path: path)
            _ = try await store.createItems([Items.new("a", at: t0), Items.new("b", spam: 0.95, at: t0)])
            _ = try await store.savePolicy(Policy(feed: "default", rules: ["spam": ClassRule(remove: 0.8)]), by: "test", at: t0)
            // The 1-hour rescores run before the restart.
            let ran = try await store.rescoreDue(now: t0.addingTimeInterval(3601), limit: 100) { Items.rescore($0, at: t0.addingTimeInterval(3601)) }
            #expect(ran == 2)
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.pendingRescores() == 2)  // each item's 6-hour rescore
        #expect(try await reopened.oldestDueRescore() == t0.addingTimeInterval(6 * 3600))
        #expect(try await reopened.item(feed: "default", id: "b")?.current.stage == .time)
        #expect(try await reopened.policy(feed: "default")?.version == 1)
        // Nothing is due before 6 h; at 7 h each item's 6-hour rescore runs once.
        #expect(try await reopened.rescoreDue(now: t0.addingTimeInterval(5 * 3600), limit: 100) { Items.rescore($0, at: t0) } == 0)
        #expect(try await reopened.rescoreDue(now: t0.addingTimeInterval(7 * 3600), limit: 100) { Items.rescore($0, at: t0.addingTimeInterval(7 * 3600)) } == 2)
        #expect(try await reopened.pendingRescores() == 2)
        #expect(try await reopened.oldestDueRescore() == t0.addingTimeInterval(24 * 3600))
        #expect(try await reopened.history(feed: "default", id: "a")?.count == 3)
    }

    /// What the background checkpoints rely on: the database file can be synced off the writer, and a passive
    /// checkpoint run by the writer between commits copies the whole log, so the next commit starts it afresh.
    /// (On a plain pool without the store's background checkpoints, so that nothing else restarts the log.)
    @Test func aCheckpointByTheWriterLetsTheNextCommitRestartTheLog() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        let pool = try DatabasePool(path: folder.appendingPathComponent("log.sqlite").path, configuration: configuration)
        try await pool.write { db in try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)") }
        let body = String(repeating: "x", count: 1_000)
        for _ in 0..<200 {
            try await pool.write { db in try db.execute(sql: "INSERT INTO t (body) VALUES (?)", arguments: [body]) }
        }
        #expect(try await pool.writeWithoutTransaction { db in try SQLiteStore.syncDatabaseFile(db) })
        let full = try await pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        #expect(full.walFrameCount >= 200)
        #expect(full.checkpointedFrameCount == full.walFrameCount)
        try await pool.write { db in try db.execute(sql: "INSERT INTO t (body) VALUES (?)", arguments: [body]) }
        let restarted = try await pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        #expect(restarted.walFrameCount < 10)

        let memory = try SQLiteStore()
        #expect(try await memory.writer.writeWithoutTransaction { db in try SQLiteStore.syncDatabaseFile(db) } == false)
    }

    @Test(arguments: StoreKind.all) func concurrentWritesAreGroupedAndEachLandsOnce(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<300 {
                group.addTask {
                    let outcome = try await store.createItems([Items.new("item-\(i % 200)", at: self.t0)])
                    switch outcome[0] {
                    case .created, .existing: break
                    case .conflict: Issue.record("no conflict expected")
                    }
                }
            }
            try await group.waitForAll()
        }
        let items = try await store.items(feed: "default", ids: (0..<200).map { "item-\($0)" })
        #expect(items.count == 200)
        #expect(try await store.pendingRescores() == 200)
    }

    @Test(arguments: StoreKind.all) func aFailingWriteRollsBackAloneInItsGroup(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        try await store.createKey(APIKeyRecord(name: "feed", role: .feed, hash: String(repeating: "a", count: 64), createdAt: t0))
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<20 {
                group.addTask {
                    // Every odd write reuses the name "feed" and must fail; the even ones must land.
                    let name = i % 2 == 1 ? "feed" : "key-\(i)"
                    let hash = String(format: "%064d", i + 1)
                    do {
                        try await store.createKey(APIKeyRecord(name: name, role: .feed, hash: i % 2 == 1 ? String(repeating: "b", count: 64) : hash, createdAt: self.t0))
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.filter { $0 }.count == 10)
        #expect(try await store.keys().count == 11)
    }

    /// A file a newer Winnow migrated is refused, naming the migrations this build does not know.
    @Test func aFileANewerBuildMigratedIsRefused() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-newer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("w.sqlite").path
        let store = try SQLiteStore(path: path)
        try await store.writer.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99-from-the-future')") }
        #expect { try SQLiteStore(path: path) } throws: { "\($0)".contains("migrations v99-from-the-future are unknown to this build") }
    }

    @Test(arguments: StoreKind.all) func policiesAreVersionedData(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        let v1 = try await store.savePolicy(Policy(feed: "news", rules: ["spam": ClassRule(remove: 0.9)]), by: "ops", at: t0)
        let v2 = try await store.savePolicy(Policy(feed: "news", rules: ["spam": ClassRule(remove: 0.8)]), by: "ops", at: t0)
        #expect(v1.version == 1)
        #expect(v2.version == 2)
        #expect(try await store.policy(feed: "news")?.rules["spam"]?.remove == 0.8)
        #expect(try await store.policies().map(\.version) == [2])
        #expect(try await store.policy(feed: "other") == nil)
        // A compare-and-set: only while the newest version is the one named (0: none yet).
        #expect(try await store.savePolicy(Policy(feed: "news", rules: [:]), by: "ops", at: t0, replacing: 1) == nil)
        #expect(try await store.policy(feed: "news")?.version == 2)
        #expect(try await store.savePolicy(Policy(feed: "news", rules: [:]), by: "ops", at: t0, replacing: 2)?.version == 3)
        #expect(try await store.savePolicy(Policy(feed: "other", rules: [:]), by: "ops", at: t0, replacing: 1) == nil)
        #expect(try await store.savePolicy(Policy(feed: "other", rules: [:]), by: "ops", at: t0, replacing: 0)?.version == 1)
    }

    @Test(arguments: StoreKind.all) func labelledItemsCarryTheLatestLabel(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0), Items.new("b", at: t0)])
        _ = try await store.recordEngagement(feed: "default", id: "a", snapshot: EngagementSnapshot(at: t0, counters: Engagement(views: 10))) { _ in nil }
        _ = try await store.addLabels([LabelRecord(feed: "default", itemID: "a", label: "spam", source: "review", by: "r1", at: t0)])
        _ = try await store.addLabels([LabelRecord(feed: "default", itemID: "a", label: "clear", source: "review", by: "r2", at: t0)])
        _ = try await store.addLabels([LabelRecord(feed: "default", itemID: "b", label: "spam", source: "review", by: "r1", at: t0)])
        let rows = try await store.labelledItemsWithEngagement()
        #expect(rows.map(\.label) == ["clear"])  // b has no engagement
        #expect(rows.first?.state.submission.id == "a")
    }
}

/// Outside testing: the database file deleted under a running server took every later write (each answered 2xx)
/// into a file nobody would open again; the next start made a new, empty database. Once the file is found deleted or
/// replaced, writes and the readiness check refuse (a 503 naming the file and what to do).
@Suite struct LostDatabaseFileTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: [false, true])
    func aDeletedOrReplacedFileStopsTheWrites(replaced: Bool) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-lost-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("db.sqlite").path
        let store = try SQLiteStore(path: path)
        _ = try await store.createItems([Items.new("a", at: t0)])
        try await store.checkWritable()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        if replaced { _ = try SQLiteStore(path: path) }
        await #expect { try await store.checkWritable() } throws: { error in
            guard let error = error as? StoreError, error.isUnavailable else { return false }
            return "\(error)" == "The database file \(path) \(replaced ? "was replaced by another file" : "was deleted") while the server ran, so nothing more is written to it. Put the file back (from a backup) and restart the server."
        }
        await #expect(throws: StoreError.fileLost(path: path, reason: replaced ? "was replaced by another file" : "was deleted")) {
            try await store.createItems([Items.new("b", at: t0)])
        }
    }
}

@Suite struct StoredFormTests {
    static let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} del \u{7F} é 😀 <>&"

    @Test func stageResultsRoundTripThroughRecordsAndOldJSONRows() throws {
        let inputs = StageInputs(trigger: Self.tricky, ageHours: 1.25, engagement: Engagement(views: 10, likes: 2, shares: 3, comments: 4, reports: 5, hides: 6),
                                 velocity: 8.5, baselineVelocity: 1e-7, viral: true, baselineReportRate: 0.0021, engagementOddsRatio: 4.838581304133621,
                                 engagementModel: "bayes", author: Author(id: "u\"1", accountAgeDays: 0.5, followers: 12, priorRemovals: 0))
        let full = StageResult(
            stage: .engagement, scoredAt: Date(timeIntervalSince1970: 1_800_000_000.123), modelVersion: "m@1",
            probabilities: ["clear": 0.2, "spam": 0.7999999999999999, "z": 1e-300], label: "spam", evidence: 0.5,
            decision: PolicyDecision(action: .review, label: "spam", probability: 0.8, policyVersion: 2, reason: "≥ cut-off"),
            priority: .high, reasons: [Reason(label: "spam", feature: "free \"prize\"", kind: .ngram, contribution: -2.5e-5)],
            relevance: RelevanceScore(quality: 0.2, engagement: 0.3, freshness: 1, relevance: 0.06), inputs: inputs, changed: "a → b")
        let bare = StageResult(
            stage: .creation, scoredAt: Date(timeIntervalSince1970: 0), modelVersion: "m", probabilities: ["clear": 1], label: "clear", evidence: 1,
            decision: PolicyDecision(action: .allow, label: nil, probability: nil, policyVersion: 0, reason: "none"), priority: nil, reasons: [],
            relevance: RelevanceScore(quality: 1, engagement: 0.5, freshness: 1, relevance: 0.5), inputs: StageInputs(trigger: "created", ageHours: 0))
        for result in [full, bare] {
            let record = StageRecord.encode(result)
            #expect(record.first == StageRecord.version)
            #expect(try record.withUnsafeBytes { try StageRecord.decode($0) } == result)
            #expect(try StageRecord.decode(Data(record).databaseValue) == result)
            // Rows written before records hold the result as JSON text, and still read.
            #expect(try StageRecord.decode(Codec.encode(result).databaseValue) == result)
        }
        // The layout, pinned: version 1, "creation", the time, "m", one class ("clear", 1), "clear", the evidence,
        // "allow", policy version 0, "none", three absent options, no reasons, four relevance numbers, "created",
        // the age, not viral, seven absent inputs and no change: 122 bytes (its JSON took 400).
        #expect(StageRecord.encode(bare).count == 122)
        #expect(try StageRecord.encode(full).count < Codec.encode(full).utf8.count / 2)
    }

    /// Every field distinct, a string over 127 bytes (two-byte length) and the extreme integers.
    static let golden = StageResult(
        stage: .engagement, scoredAt: Date(timeIntervalSinceReferenceDate: 800_000_000.25), modelVersion: "m7",
        probabilities: ["clear": 0.125, "spam": 0.875], label: "spam", evidence: 0.5,
        decision: PolicyDecision(action: .review, label: "spam", probability: 0.875, policyVersion: 300, reason: String(repeating: "é", count: 70)),
        priority: .high, reasons: [Reason(label: "spam", feature: "win", kind: .ngram, contribution: -2)],
        relevance: RelevanceScore(quality: 1, engagement: 2, freshness: 3, relevance: 4),
        inputs: StageInputs(trigger: "t", ageHours: 5, engagement: Engagement(views: 1, likes: 2, shares: 3, comments: 4, reports: 5, hides: 64),
                            velocity: 6, baselineVelocity: 7, viral: true, baselineReportRate: 8, engagementOddsRatio: 9, engagementModel: "e",
                            author: Author(id: "a", accountAgeDays: 10, followers: Int.max, priorRemovals: Int.min)),
        changed: "c")

    /// Format 1's bytes for `golden`, written out: a change to the layout must come with a new format version, since
    /// the records already stored would otherwise be misread without an error.
    static let goldenHex = [
        "010a656e676167656d656e740000200084d7c741026d370205636c656172000000000000c03f047370616d0000000000",
        "00ec3f047370616d000000000000e03f06726576696577d8048c01c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3",
        "a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3",
        "a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3",
        "a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a9c3a901047370616d01000000000000ec3f01046869676801047370",
        "616d0377696e056e6772616d00000000000000c0000000000000f03f0000000000000040000000000000084000000000",
        "00001040017400000000000014400101020406080a8001010000000000001840010000000000001c4001000000000000",
        "204001000000000000224001016501016101000000000000244001feffffffffffffffff0101ffffffffffffffffff01",
        "010163",
    ].joined()

    @Test func formatOneIsPinnedByAKnownRecord() throws {
        let record = StageRecord.encode(Self.golden)
        #expect(record.map { String(format: "%02x", $0) }.joined() == Self.goldenHex)
        #expect(try record.withUnsafeBytes { try StageRecord.decode($0) } == Self.golden)
    }

    @Test func brokenRecordsAreRefusedAsCorruptRows() throws {
        let result = StageResult(
            stage: .time, scoredAt: Date(timeIntervalSince1970: 1_800_000_000.5), modelVersion: "m", probabilities: ["clear": 0.25, "spam": 0.75],
            label: "spam", evidence: 1, decision: PolicyDecision(action: .review, label: "spam", probability: 0.75, policyVersion: 3, reason: "r"),
            priority: .normal, reasons: [Reason(label: "spam", feature: "win", kind: .word, contribution: 1.5)],
            relevance: RelevanceScore(quality: 0.25, engagement: 0.5, freshness: 0.5, relevance: 0.0625),
            inputs: StageInputs(trigger: "scheduled 1h", ageHours: 1, engagement: Engagement(views: 300, likes: 1, shares: 0, comments: 0, reports: 2, hides: 0),
                                author: Author(id: "a", followers: -1)),
            changed: "x")
        let record = StageRecord.encode(result)
        #expect(try record.withUnsafeBytes { try StageRecord.decode($0) } == result)
        func decode(_ bytes: [UInt8]) throws -> StageResult { try bytes.withUnsafeBytes { try StageRecord.decode($0) } }
        func refused(_ bytes: [UInt8], saying words: String) -> Bool {
            do {
                _ = try decode(bytes)
                return false
            } catch let StoreError.corruptRow(message) {
                return message.contains(words)
            } catch {
                return false
            }
        }
        // Every cut short, and one byte too many.
        for length in 0..<record.count { #expect(refused(Array(record.prefix(length)), saying: "StageResult"), "cut at \(length)") }
        #expect(refused(record + [0], saying: "1 byte(s) after the end"))
        // Another format, and a stage no Winnow knows (the stage's name starts at byte 2: "time" becomes "tame"). Format 2
        // (a bank match after the change) expects more bytes than a format-1 record has.
        #expect(refused([3] + record.dropFirst(), saying: "unknown record format 3"))
        #expect(refused([2] + record.dropFirst(), saying: "StageResult"))
        var renamed = record
        renamed[3] = UInt8(ascii: "a")
        #expect(refused(renamed, saying: "'tame' is not a Stage"))
        #expect(throws: StoreError.self) { try StageRecord.decode(DatabaseValue.null) }
        // A flag other than 0 or 1 (the last three bytes are: change present, its length, "x").
        var flagged = record
        flagged[flagged.count - 3] = 2
        #expect(refused(flagged, saying: "where a flag (0 or 1) was expected"))
        // A stage name that is not UTF-8, a length beyond the record, and a number past 64 bits.
        #expect(refused([1, 2, 0xFF, 0xFE], saying: "not UTF-8"))
        #expect(refused([1, 0x7F, 0x61], saying: "ends inside a list or string of 127"))
        #expect(refused([1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02], saying: "longer than 64 bits"))
    }

    @Test func submissionsAndSnapshotsRoundTrip() throws {
        let submission = ItemSubmission(id: "a\u{0}b", feed: "news", text: Self.tricky, language: "pt-BR",
                                        author: Author(id: "u", accountAgeDays: 3.5, followers: nil, priorRemovals: 2), createdAt: Date(timeIntervalSince1970: 12.5))
        #expect(try Codec.decode(ItemSubmission.self, StoredJSON.submission(submission)) == submission)
        let plain = ItemSubmission(id: "x", text: "y")
        #expect(try Codec.decode(ItemSubmission.self, StoredJSON.submission(plain)) == plain)
        let snapshot = EngagementSnapshot(at: Date(timeIntervalSince1970: 99.25), counters: Engagement(views: 1, likes: 2, shares: 3, comments: 4, reports: 5, hides: 6))
        #expect(try Codec.decode(EngagementSnapshot.self, StoredJSON.snapshot(snapshot)) == snapshot)
    }
}
