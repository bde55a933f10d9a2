import Engine
import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@testable import Storage

/// What only the PostgreSQL store has: its URL, its connection, its migrations shared by several nodes, and its
/// behaviour under concurrent nodes. (What every store must do is the store conformance suite's.)
@Suite struct PostgresURLTests {
    @Test func aURLIsTakenApartWithItsDefaults() throws {
        let full = try PostgresLocation("postgres://ann:s3cret@db.example:6543/winnow?sslmode=disable")
        #expect([full.host, "\(full.port)", full.username, full.password, full.database] == ["db.example", "6543", "ann", "s3cret", "winnow"])
        let bare = try PostgresLocation("postgresql://ann@localhost/winnow")
        #expect([bare.host, "\(bare.port)", bare.username, bare.password, bare.database] == ["localhost", "5432", "ann", nil, "winnow"])
        #expect(bare.redacted == "postgres://ann@localhost:5432/winnow")
        #expect(full.redacted == "postgres://ann@db.example:6543/winnow")  // never the password
    }

    @Test func percentEncodedPartsAreDecoded() throws {
        let location = try PostgresLocation("postgres://ann%40corp:p%40ss%3Aw%2Fd%20x@[::1]:5433/my%20db")
        #expect(location.username == "ann@corp")
        #expect(location.password == "p@ss:w/d x")
        #expect(location.host == "::1")
        #expect(location.port == 5433)
        #expect(location.database == "my db")
    }

    @Test func aBadURLSaysWhatIsWrongWithoutThePassword() {
        let cases = [
            ("postgres://ann:hunter2@localhost", "no database"),
            ("postgres://localhost/winnow", "no user"),
            ("postgres://ann:hunter2@localhost/winnow?sslmode=require", "TLS"),
            ("postgres://ann:hunter2@localhost/winnow?pool=3", "unknown parameter 'pool'"),
            ("mysql://ann:hunter2@localhost/winnow", "not a PostgreSQL URL"),
        ]
        for (url, words) in cases {
            do {
                _ = try PostgresLocation(url)
                Issue.record("\(url) was accepted")
            } catch {
                let message = "\(error)"
                #expect(message.contains(words), "\(message)")
                #expect(!message.contains("hunter2"), "\(message)")
                #expect(message.contains("postgres://USER:PASSWORD@HOST:PORT/DATABASE"), "\(message)")
            }
        }
    }

    @Test func urlsAreToldFromFilePaths() {
        #expect(PostgresStore.isURL("postgres://a@b/c"))
        #expect(PostgresStore.isURL("PostgreSQL://a@b/c"))
        #expect(!PostgresStore.isURL("winnow.sqlite"))
        #expect(!PostgresStore.isURL("/var/lib/postgres/winnow.sqlite"))
    }
}

@Suite struct PostgresConnectTests {
    /// A refused connection fails at once, with the network's reason, and the password stays out of the message.
    @Test func anUnreachableServerFailsFastWithAClearError() async throws {
        let port = try Listener.unusedPort()
        do {
            _ = try await PostgresStore.connect(url: "postgres://ann:hunter2@127.0.0.1:\(port)/winnow")
            Issue.record("connected to a port nobody listens on")
        } catch let error as StoreError {
            guard case let .cannotOpen(path, reason) = error else { Issue.record("\(error)"); return }
            #expect(path == "postgres://ann@127.0.0.1:\(port)/winnow")
            #expect(!"\(error)".contains("hunter2"))
            // The probe's own connection said so: the pool, which retries for a minute, never started (its failures
            // come out of the schema's migration, "migrating the schema failed: …").
            #expect(reason.lowercased().contains("refused"), "\(reason)")
            #expect(!reason.contains("migrating"), "\(reason)")
        }
    }

    /// A server that accepts the connection and never answers is given up on after the probe's timeout, not after
    /// the pool's minute.
    @Test func aServerThatNeverAnswersTimesOut() async throws {
        let listener = try Listener()
        defer { listener.close() }
        let location = try PostgresLocation("postgres://ann@127.0.0.1:\(listener.port)/winnow")
        let error = await #expect(throws: StoreError.self) {
            try await PostgresStore.probe(location, timeout: .milliseconds(500), logger: PostgresStore.quiet)
        }
        // The probe's own timeout said so: its sleeping task ("no answer within 0.5 seconds") or its connection's connect
        // timeout, both set to the 500 ms given. No wall-clock bound: under a full parallel test run, a suspended
        // test waits behind every other test's work (CI once measured 134 s here), whatever the code under test does.
        let message = "\(error.map { "\($0)" } ?? "")".lowercased()
        #expect(message.contains("timeout") || message.contains("no answer within \(Duration.milliseconds(500))"), "\(message)")
    }

    @Test(.enabled(if: TestPostgres.available, TestPostgres.missing))
    func aMissingDatabaseIsNamedInTheError() async throws {
        guard var components = URLComponents(string: TestPostgres.url!) else { Issue.record("bad URL"); return }
        components.path = "/no_such_database_here"
        do {
            _ = try await PostgresStore.connect(url: components.string!)
            Issue.record("connected to a database that does not exist")
        } catch let error as StoreError {
            #expect("\(error)".contains("no_such_database_here"), "\(error)")
        }
    }
}

@Suite(.enabled(if: TestPostgres.available, TestPostgres.missing))
struct PostgresStoreTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func migrationsAreRecordedOnceAndNodesStartingTogetherDoNotRace() async throws {
        try await TestPostgres.withDatabase { url in
            // Four nodes start at once on an empty database: one migrates, the others wait for it and find nothing to do.
            let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
                for _ in 0..<4 { group.addTask { try await PostgresStore.connect(url: url, poolSize: 2) } }
                return try await group.reduce(into: [PostgresStore]()) { $0.append($1) }
            }
            for store in stores {
                #expect(try await store.appliedMigrations() == PostgresStore.migrations.map(\.name))
            }
            // And again on a database already up to date.
            let again = try await PostgresStore.connect(url: url, poolSize: 2)
            #expect(try await again.appliedMigrations() == PostgresStore.migrations.map(\.name))
            _ = try await again.createItems([Items.new("a", at: t0)])
            #expect(try await stores[0].item(feed: "default", id: "a") != nil)
            for store in stores + [again] { await store.close() }
        }
    }

    /// Outside testing: a command that only reads gave a misspelt database Winnow's 26 tables, a database of another
    /// application got "relation item already exists … check the user, password, host", and a database a newer build
    /// had migrated was used as if it were this build's. Each is refused, saying why, and nothing is created.
    @Test func aDatabaseThatIsNotThisBuildsIsRefusedSayingWhy() async throws {
        try await TestPostgres.withDatabase { url in
            await #expect { try await PostgresStore.connect(url: url, poolSize: 1, create: false) } throws: { error in
                "\(error)".contains("has no Winnow schema")
            }
            try await TestPostgres.administer(url, "CREATE TABLE item (id int)")
            await #expect { try await PostgresStore.connect(url: url, poolSize: 1) } throws: { error in
                "\(error)".contains("holds tables that are not Winnow's (item…)")
            }
            try await TestPostgres.administer(url, "DROP TABLE item")
            let store = try await PostgresStore.connect(url: url, poolSize: 1)
            _ = try await store.rows("INSERT INTO winnow_migration (name, applied_at) VALUES ('v99-from-the-future', 0)")
            await store.close()
            await #expect { try await PostgresStore.connect(url: url, poolSize: 1) } throws: { error in
                "\(error)".contains("migrations v99-from-the-future are unknown to this build")
            }
        }
    }

    /// Outside testing: with PostgreSQL down, a node's requests waited about a minute in the pool and then answered
    /// 500. While `watch` finds the database not answering, every use of the store is refused at once
    /// (`StoreError.unavailable`, the API's 503); once it answers again, the store works as before.
    @Test func whileTheDatabaseDoesNotAnswerTheStoreRefusesAtOnce() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try await PostgresStore.connect(url: url, poolSize: 1)
            _ = try await store.createItems([Items.new("a", at: t0)])
            // Nothing listens on port 1: the probe sees the database down.
            let nowhere = try PostgresLocation("postgres://winnow@127.0.0.1:1/winnow")
            let down = Task { await store.watch(interval: .milliseconds(50), timeout: .seconds(1), logger: PostgresStore.quiet, probing: nowhere) }
            var refused: StoreError?
            for _ in 0..<100 where refused == nil {
                do {
                    _ = try await store.item(feed: "default", id: "a")
                    try await Task.sleep(for: .milliseconds(50))
                } catch let error as StoreError {
                    refused = error
                }
            }
            down.cancel()
            await down.value
            #expect(refused?.isUnavailable == true, "\(String(describing: refused))")
            #expect(refused.map { "\($0)" }?.contains("The database does not answer (") == true)
            // Probing the real database again: it answers, and so does the store.
            let up = Task { await store.watch(interval: .milliseconds(50), timeout: .seconds(1), logger: PostgresStore.quiet) }
            var item: ItemState?
            for _ in 0..<100 where item == nil {
                item = try? await store.item(feed: "default", id: "a")
                if item == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            up.cancel()
            await up.value
            #expect(item != nil)
            await store.close()
        }
    }

    /// Outside testing: requests that arrived in the seconds before the outage was noticed waited in the pool for the
    /// whole outage and then answered 500. An operation waiting for a connection is ended as unavailable when the watch
    /// finds the database down, while the connection it waits for is still busy.
    @Test func anOperationWaitingInThePoolEndsWhenTheOutageIsFound() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try await PostgresStore.connect(url: url, poolSize: 1)
            _ = try await store.createItems([Items.new("a", at: t0)])
            let holderDone = Mutex(false)
            // Busy for 10 s: the waiting operation must end well before (a 3 s margin was too thin for a whole-suite
            // run on a loaded two-core machine, where the watch's task itself waited for a thread).
            let holder = Task {
                _ = try? await store.rows("SELECT pg_sleep(10)")
                holderDone.withLock { $0 = true }
            }
            try await Task.sleep(for: .milliseconds(200))
            let waiting = Task { try await store.item(feed: "default", id: "a") }
            try await Task.sleep(for: .milliseconds(200))
            let nowhere = try PostgresLocation("postgres://winnow@127.0.0.1:1/winnow")
            let down = Task { await store.watch(interval: .milliseconds(50), timeout: .seconds(1), logger: PostgresStore.quiet, probing: nowhere) }
            let result = await waiting.result
            let holderFinished = holderDone.withLock { $0 }
            down.cancel()
            await down.value
            await holder.value
            #expect(!holderFinished, "the waiting operation should end before the busy connection is free")
            guard case let .failure(error) = result else { Issue.record("the waiting operation succeeded"); return }
            #expect((error as? StoreError)?.isUnavailable == true, "\(error)")
            await store.close()
        }
    }

    /// A claim's lease and a decision's item update change no indexed column (key, expression or predicate of an
    /// index), and both tables keep room on their pages: PostgreSQL can update those rows in place (HOT), writing no
    /// index entry. Pinned because any new index on a lease column would quietly double a claim's writes.
    @Test func leasesAndItemUpdatesTouchNoIndexedColumn() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try await PostgresStore.connect(url: url, poolSize: 1)
            let indexed = try await store.rows("""
                SELECT c.relname AS name, pg_get_indexdef(x.indexrelid) AS definition FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
                WHERE x.indrelid IN ('ticket'::regclass, 'item'::regclass)
                """).map { (try $0["name"] as String, try $0["definition"] as String) }
            #expect(indexed.count > 5)
            for (name, definition) in indexed {
                for column in ["lease_holder", "lease_until", "version", "stages", "reviewed", "engagement", "log_velocity"] {
                    #expect(!definition.contains(column), "index \(name) uses \(column): \(definition)")
                }
            }
            let fill = try await store.rows("SELECT relname, reloptions::text AS options FROM pg_class WHERE relname IN ('ticket', 'item') ORDER BY relname")
                .map { try $0["options"] as String? }
            #expect(fill == ["{fillfactor=90}", "{fillfactor=90}"])
            await store.close()
        }
    }

    /// A node keeps its prepared statements (a ticket's view, a step's locks) working when another node's migration
    /// adds columns to the tables they read.
    @Test func preparedStatementsOutliveAddedColumns() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try await PostgresStore.connect(url: url, poolSize: 1)
            _ = try await store.createItems([Items.inReview("a", at: t0), Items.inReview("b", at: t0)])
            let first = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).first)
            _ = try await store.release(ticket: first.ticket.id, reviewer: "ann", version: nil, now: t0, workflow: Items.workflow)
            _ = try await store.rows("ALTER TABLE ticket ADD COLUMN later_note text")
            _ = try await store.rows("ALTER TABLE item ADD COLUMN later_flag integer")
            let again = try #require(try await store.ticket(id: first.ticket.id))
            #expect(again.item == first.item)
            let claimed = try #require(try await store.claim(ClaimRequest(reviewer: "bob"), now: t0, workflow: Items.workflow, gold: false).first)
            let decided = try await store.decide(ticket: claimed.ticket.id, reviewer: "bob", decision: TicketDecision(label: "spam", reasonCode: "spam"),
                                                 action: .remove, now: t0, workflow: Items.workflow)
            #expect(decided.ticket.status == .decided)
            await store.close()
        }
    }

    /// Nodes may connect as a user that can read and write the tables but not create any (the schema's owner
    /// migrated it): an up-to-date schema asks for nothing more.
    @Test func aUserWithoutTheRightToCreateTablesOpensAnUpToDateDatabase() async throws {
        let role = "app_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let dropRole = { try await TestPostgres.administer(TestPostgres.url!, "DROP ROLE IF EXISTS \(role)") }
        do {
            try await TestPostgres.withDatabase { url in
                try await PostgresStore.connect(url: url, poolSize: 1).close()
                try await TestPostgres.administer(url, "CREATE ROLE \(role) LOGIN")
                try await TestPostgres.administer(url, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \(role)")
                try await TestPostgres.administer(url, "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO \(role)")
                var components = URLComponents(string: url)!
                components.user = role
                let app = try await PostgresStore.connect(url: components.string!, poolSize: 2)
                guard case .created = try await app.createItems([Items.inReview("a", at: t0)])[0] else { Issue.record("expected created"); return }
                #expect(try await app.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).count == 1)
                await app.close()
            }
        } catch {
            try? await dropRole()
            throw error
        }
        try await dropRole()
    }

    /// Two nodes, eight reviewers each, over 200 tickets: every ticket is claimed and decided exactly once, and
    /// nobody waits for anybody's claim.
    @Test func sixteenClaimersOnTwoNodesTakeEachTicketOnce() async throws {
        try await TestPostgres.withDatabase { url in
            let nodes = [try await PostgresStore.connect(url: url, poolSize: 8), try await PostgresStore.connect(url: url, poolSize: 8)]
            _ = try await nodes[0].createItems((0..<200).map { i in Items.inReview("i\(i)", spam: 0.51 + Double(i) / 1_000, at: t0) })
            let claimed = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for reviewer in 0..<16 {
                    let store = nodes[reviewer % 2]
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let views = try await store.claim(ClaimRequest(reviewer: "r\(reviewer)", count: 1 + reviewer % 3), now: t0,
                                                              workflow: Items.workflow, gold: false)
                            if views.isEmpty { return mine }
                            for view in views {
                                #expect(view.ticket.lease?.holder == "r\(reviewer)")
                                let decision = TicketDecision(label: "spam", reasonCode: "spam", version: view.ticket.version)
                                let done = try await store.decide(ticket: view.ticket.id, reviewer: "r\(reviewer)", decision: decision, action: .remove,
                                                                  now: t0, workflow: Items.workflow)
                                #expect(done.ticket.status == .decided)
                                mine.append(view.ticket.id)
                            }
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claimed.count == 200)
            #expect(Set(claimed).count == 200)
            let stats = try await nodes[1].reviewStats(now: t0)
            #expect(stats.open == 0)
            #expect(stats.reviewers.map(\.decisionsLastHour).reduce(0, +) == 200)
            // One claim step and one decision per ticket in the histories.
            var claims = 0, decisions = 0
            for i in 0..<200 {
                for case let .ticket(event) in try await nodes[i % 2].history(feed: "default", id: "i\(i)") ?? [] {
                    if event.kind == .claimed { claims += 1 }
                    if event.kind == .decided { decisions += 1 }
                }
            }
            #expect(claims == 200)
            #expect(decisions == 200)
            for node in nodes { await node.close() }
        }
    }

    /// Two nodes run the rescore pass at once, again and again: each due item is rescored exactly once.
    @Test func twoNodesRescoringAtOnceRescoreEachDueItemOnce() async throws {
        try await TestPostgres.withDatabase { url in
            let nodes = [try await PostgresStore.connect(url: url, poolSize: 4), try await PostgresStore.connect(url: url, poolSize: 4)]
            for batch in 0..<3 {
                _ = try await nodes[0].createItems((0..<100).map { i in Items.new("i\(batch * 100 + i)", at: t0) })
            }
            let later = t0.addingTimeInterval(30 * 86_400)
            let rescored = Collected<String>()
            let counted = try await withThrowingTaskGroup(of: Int.self) { group in
                for node in nodes {
                    group.addTask {
                        var total = 0
                        while true {
                            let n = try await node.rescoreDue(now: later, limit: 7) { due in
                                rescored.append(due.state.submission.id)
                                var once = Items.rescore(due, at: later)
                                once.next = nil  // one rescore each: nothing is due again
                                return once
                            }
                            if n == 0 { return total }
                            total += n
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(counted == 300)
            let ids = rescored.all
            #expect(ids.count == 300)
            #expect(Set(ids).count == 300)
            #expect(try await nodes[1].pendingRescores() == 0)
            for id in ["i0", "i150", "i299"] {
                let stages = try await nodes[0].history(feed: "default", id: id)?.filter { if case .stage = $0 { true } else { false } }
                #expect(stages?.count == 2)
            }
            for node in nodes { await node.close() }
        }
    }

    /// Batches sharing items in opposite orders, from two nodes at once: no deadlock, each item stored once and every
    /// other submission of it found as a retry.
    @Test func overlappingBatchesFromTwoNodesStoreEachItemOnce() async throws {
        try await TestPostgres.withDatabase { url in
            let nodes = [try await PostgresStore.connect(url: url, poolSize: 4), try await PostgresStore.connect(url: url, poolSize: 4)]
            let outcomes = try await withThrowingTaskGroup(of: [CreateOutcome].self) { group in
                for round in 0..<8 {
                    let ids = (0..<50).map { "item-\($0)" }
                    let batch = (round % 2 == 0 ? ids : ids.reversed()).map { Items.inReview($0, at: t0) }
                    group.addTask { try await nodes[round % 2].createItems(batch) }
                }
                return try await group.reduce(into: [CreateOutcome]()) { $0 += $1 }
            }
            var created = 0, existing = 0
            for outcome in outcomes {
                switch outcome {
                case .created: created += 1
                case .existing: existing += 1
                case .conflict: Issue.record("no conflict expected")
                }
            }
            #expect(created == 50)
            #expect(existing == 350)
            #expect(try await nodes[0].reviewStats(now: t0).open == 50)  // one ticket per item
            for node in nodes { await node.close() }
        }
    }

    /// Engagement for one item arriving on two nodes at once: the item's lock makes them take turns, so the counters
    /// and the feed's baseline count every update once.
    @Test func concurrentEngagementOnTwoNodesMergesEveryUpdate() async throws {
        try await TestPostgres.withDatabase { url in
            let nodes = [try await PostgresStore.connect(url: url, poolSize: 4), try await PostgresStore.connect(url: url, poolSize: 4)]
            _ = try await nodes[0].createItems([Items.new("a", at: t0), Items.new("b", at: t0)])
            let contexts = Collected<EngagementContext>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 1...40 {
                    group.addTask {
                        let snapshot = EngagementSnapshot(at: t0.addingTimeInterval(Double(i)), counters: Engagement(views: i * 100, reports: i))
                        let outcome = try await nodes[i % 2].recordEngagement(feed: "default", id: i % 4 < 2 ? "a" : "b", snapshot: snapshot) { context in
                            contexts.append(context)
                            return nil
                        }
                        #expect(outcome?.recorded == true)
                    }
                }
                try await group.waitForAll()
            }
            let a = try await nodes[1].item(feed: "default", id: "a")?.engagement
            let b = try await nodes[1].item(feed: "default", id: "b")?.engagement
            #expect(a?.counters.views == 4000)  // i = 40
            #expect(b?.counters.views == 3900)  // i = 39
            // The baseline once every update has committed: two items, their latest views and reports, summed once each.
            // (Each update reads it whole, with its own change, but the two items' rows are separate shards: an update need
            // not see the other item's concurrent one, so no context is bound to hold the final sums.)
            let final = try await nodes[0].baseline(feed: "default")
            #expect(final.items == 2)
            #expect(final.views == 7900)
            #expect(final.reports == 79)
            #expect(contexts.all.allSatisfy { $0.baseline.views <= 7900 && $0.baseline.reports <= 79 && $0.baseline.items <= 2 })
            for node in nodes { await node.close() }
        }
    }

    /// Nodes registering one version at once: one stores it with its file, the others are told it exists, and every
    /// node reads the file back byte for byte.
    @Test func concurrentRegistrationsOfOneVersionStoreItOnce() async throws {
        try await TestPostgres.withDatabase { url in
            let nodes = [try await PostgresStore.connect(url: url, poolSize: 4), try await PostgresStore.connect(url: url, poolSize: 4)]
            let file = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let record = ModelVersionRecord(version: "m2", file: "m2.winnow", kind: "naive-bayes", classes: ["clear", "spam"], parent: nil,
                                            card: "card", registeredBy: "ops", registeredAt: t0)
            let stored = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<8 { group.addTask { try await nodes[i % 2].registerModel(record, file: file) } }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(stored.filter { $0 }.count == 1)
            for node in nodes {
                #expect(try await node.modelFile(version: "m2") == file)
                #expect(try await node.modelVersions() == [record])
            }
            #expect(try await nodes[0].modelFile(version: "m3") == nil)
            for node in nodes { await node.close() }
        }
    }

    /// A feed's policy versions follow each other when two nodes save at once.
    @Test func concurrentPolicySavesGetConsecutiveVersions() async throws {
        try await TestPostgres.withDatabase { url in
            let nodes = [try await PostgresStore.connect(url: url, poolSize: 4), try await PostgresStore.connect(url: url, poolSize: 4)]
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try await nodes[i % 2].savePolicy(Policy(feed: "news", rules: ["spam": ClassRule(remove: 0.9)]), by: "ops", at: t0).version
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(versions.sorted() == Array(1...20))
            #expect(try await nodes[0].policy(feed: "news")?.version == 20)
            for node in nodes { await node.close() }
        }
    }
}

/// Values appended from concurrent tasks.
final class Collected<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])

    func append(_ value: Value) { values.withLock { $0.append(value) } }

    var all: [Value] { values.withLock { $0 } }
}

/// A TCP socket on 127.0.0.1 that listens and never answers (the kernel completes connections into its backlog).
final class Listener: Sendable {
    let descriptor: Int32
    let port: Int

    init() throws {
        (descriptor, port) = try Self.make(listening: true)
    }

    func close() {
        _ = systemClose(descriptor)
    }

    /// A port nobody listens on (bound, then released).
    static func unusedPort() throws -> Int {
        let (descriptor, port) = try make(listening: false)
        _ = systemClose(descriptor)
        return port
    }

    private static func make(listening: Bool) throws -> (Int32, Int) {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw ListenerError() }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && (!listening || listen(descriptor, 16) == 0)
                    && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else { _ = systemClose(descriptor); throw ListenerError() }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }

    struct ListenerError: Error {}
}

private func systemClose(_ descriptor: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(descriptor)
    #else
    Darwin.close(descriptor)
    #endif
}
