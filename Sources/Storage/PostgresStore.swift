import Engine
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Winnow's shared store: one PostgreSQL database that several stateless nodes use at once, through postgres-nio's
/// connection pool.
///
/// Every write is one transaction in PostgreSQL's default isolation (read committed). Where a write depends on what
/// is stored, it first takes the row's lock (`SELECT … FOR NO KEY UPDATE`, which still lets other transactions insert
/// rows that reference it); work that any node may pick up (claims, due rescores, priority refreshes) takes only rows
/// nobody holds (`SKIP LOCKED`), so nodes never wait on each other there and never take the same row twice.
///
/// Locks are always taken in one order, an item before its tickets, and a batch's new items in (feed, id) order, so
/// two transactions cannot deadlock. The rules are the Engine's, called exactly as `SQLiteStore` calls them.
///
/// Times are `double precision` seconds since 1970 (the same values as SQLite's REAL columns), stage results the same
/// binary records (`bytea`), other structured columns the same JSON text; the submission is `json` (kept as written,
/// and readable with `->>`).
public final class PostgresStore: Store {
    let client: PostgresClient
    let logger: Logger
    /// The pool's `run()`: the client works only while it runs.
    private let running: Task<Void, Never>
    /// Concurrent small item writes, gathered (`ItemWriteGroup`).
    private let itemWrites: ItemWriteGroup
    /// Where the database is, for `watch`'s probes (nil for a store made without a URL).
    private let location: PostgresLocation?
    /// Why the database does not answer, as `watch` last found it; nil while it does.
    private let outage = Mutex<String?>(nil)
    /// Operations in flight when `watch` finds the database down (waiting in the pool for a connection, or on a
    /// query): each is woken then and answers `StoreError.unavailable`, instead of waiting out the outage in the pool
    /// (which fails its requests only after a minute of failed connection attempts, as a 500).
    private let inFlight = Mutex<(next: UInt64, waiting: [UInt64: CheckedContinuation<Void, Never>])>((0, [:]))

    /// No logs: postgres-nio logs queries at debug level, and a failed connection attempt of the pool at info (at
    /// start, `connect` reports one as its error instead).
    public static let quiet = Logger(label: "winnow.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// - Parameter itemWriters: how many small item writes run at once before further ones gather. One, as SQLite's
    ///   group commit: measured with 32 clients sending single items (BENCHMARKS.md), one writer carried 6,781 items/s,
    ///   two 6,389 and four 5,666, since the fewer writers, the more items share each statement and commit.
    private init(client: PostgresClient, logger: Logger, itemWriters: Int, location: PostgresLocation? = nil) {
        self.client = client
        self.logger = logger
        self.location = location
        self.running = Task { await client.run() }
        self.itemWrites = ItemWriteGroup(writers: itemWriters)
    }

    deinit {
        running.cancel()
    }

    /// Whether `s` names a PostgreSQL database (`postgres://…` or `postgresql://…`) rather than a SQLite file.
    public static func isURL(_ s: String) -> Bool {
        let lower = s.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, without TLS) with a pool of
    /// up to `poolSize` connections, and brings its schema up to date.
    /// - Throws: `StoreError.cannotOpen` (naming the URL without its password) for a bad URL, or when the server
    ///   cannot be reached or refuses the connection within 10 seconds; the pool itself would wait a minute.
    /// How long a transaction may sit idle on the server before it ends it: 10 s.
    static let idleInTransactionMilliseconds = 10_000

    /// With `create` false an empty database is refused (commands that only read), not given the schema.
    public static func connect(url: String, poolSize: Int = 16, create: Bool = true, logger: Logger = quiet) async throws -> PostgresStore {
        let location = try PostgresLocation(url)
        try await probe(location, timeout: .seconds(10), logger: logger)
        var configuration = PostgresClient.Configuration(host: location.host, port: location.port, username: location.username,
                                                         password: location.password, database: location.database, tls: .disable)
        configuration.options.maximumConnections = max(1, poolSize)
        // A transaction whose node stops sending (a paused VM, a partition) is ended by the server after 10 s and
        // its locks released (outside testing: one frozen node held a feed's baseline rows and stalled that feed's
        // engagement updates on every other node for as long as it was frozen). Winnow's transactions never wait on
        // anything but the database between statements.
        configuration.options.additionalStartupParameters = [("application_name", "winnow"),
                                                             ("idle_in_transaction_session_timeout", String(Self.idleInTransactionMilliseconds))]
        let store = PostgresStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger), logger: logger,
                                  itemWriters: 1, location: location)
        do {
            try await store.migrate(create: create)
        } catch let refusal as SchemaRefusal {
            await store.close()
            throw StoreError.notWinnows(path: location.redacted, reason: refusal.description)
        } catch {
            await store.close()
            throw StoreError.cannotOpen(path: location.redacted, reason: "migrating the schema failed: \(Self.describe(error))")
        }
        return store
    }

    /// Gathers the planner's statistics and marks pages visible (after a bulk load, as autovacuum would in time).
    public func analyze() async throws {
        _ = try await rows("VACUUM ANALYZE")
    }

    /// The database's size on disk, in bytes.
    public func databaseBytes() async throws -> Int {
        guard let row = try await rows("SELECT pg_database_size(current_database()) AS bytes").first else { return 0 }
        let bytes: Int64 = try row["bytes"]
        return Int(bytes)
    }

    /// Stops the pool: its connections close, and later calls fail.
    public func close() async {
        running.cancel()
        await running.value
    }

    /// Probes the database every `interval` with a connection of its own (the pool's requests wait up to a minute for
    /// a database that is down) and records what it finds: while it does not answer, every use of the store fails at
    /// once with `StoreError.unavailable` (the API's 503) instead of waiting in the pool, and `/ready` says so within
    /// seconds. Each change is logged, and so is a database that refuses new connections (`max_connections` reached:
    /// the pool's open ones still serve, so that is not an outage). Runs until its task is cancelled.
    /// - Parameter probed: where to probe instead of the store's own database (tests).
    /// A database is taken for down after two probes in a row fail (one slow answer under load is not an outage), and
    /// for up again at the first that succeeds.
    public func watch(interval: Duration = .seconds(2), timeout: Duration = .seconds(5), logger: Logger, probing probed: PostgresLocation? = nil) async {
        guard let location = probed ?? location else { return }
        var full = false, failures = 0
        while !Task.isCancelled {
            let problem = await Self.reach(location, timeout: timeout, logger: Self.quiet)
            let refusing = problem?.contains("SQLSTATE 53300") == true
            if refusing != full {
                full = refusing
                if refusing {
                    logger.warning("the database refuses new connections; requests wait for the pool's open ones. Raise max_connections to cover every node's pool.",
                                   metadata: ["reason": "\(problem ?? "")"])
                }
            }
            failures = problem == nil || refusing ? 0 : failures + 1
            let down = failures >= 2 ? problem : nil
            let before = outage.withLock { outage -> String? in
                defer { outage = down }
                return outage
            }
            if let down, before == nil {
                logger.error("the database does not answer; requests are refused with 503 until it does", metadata: ["reason": "\(down)"])
                let waiting = inFlight.withLock { state in
                    defer { state.waiting = [:] }
                    return Array(state.waiting.values)
                }
                for continuation in waiting { continuation.resume() }
            } else if down == nil, let before {
                logger.notice("the database answers again", metadata: ["was": "\(before)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Refuses at once while `watch` finds the database down.
    /// - Throws: `StoreError.unavailable` with the reason.
    func checkAvailable() throws {
        if let reason = outage.withLock({ $0 }) { throw StoreError.unavailable(reason: reason) }
    }

    /// Runs `operation` (one use of the pool) unless the database is known to be down, and ends it as unavailable
    /// when `watch` finds it down meanwhile (outside testing: requests that arrived in the seconds before the outage
    /// was noticed waited a minute and answered 500). Errors that say the connection or the pool failed, rather than
    /// the request, are `StoreError.unavailable` too (a 503 the client may retry: items are idempotent by id).
    func guarded<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        try checkAvailable()
        do {
            return try await withoutActuallyEscaping(operation) { operation in
                // The operation runs in a child task while this one waits for the group: nothing runs beside it.
                let body = UncheckedSendable(operation)
                return try await withThrowingTaskGroup(of: T?.self) { group in
                    group.addTask { try await body.value() }
                    group.addTask { await self.untilOutage(); return nil }
                    defer { group.cancelAll() }
                    guard case let value?? = try await group.next() else {
                        throw StoreError.unavailable(reason: outage.withLock { $0 } ?? "the database stopped answering")
                    }
                    return value
                }
            }
        } catch let error as StoreError {
            throw error
        } catch let error as CancellationError {
            // Ended by the outage (its operation cancelled), or by the caller.
            if let reason = outage.withLock({ $0 }) { throw StoreError.unavailable(reason: reason) }
            throw error
        } catch {
            // The request's own errors (a ticket already decided, a bad value) stay what they are, outage or not.
            if let lost = Self.connectionFailure(error) { throw StoreError.unavailable(reason: lost) }
            if error is PSQLError, let reason = outage.withLock({ $0 }) { throw StoreError.unavailable(reason: reason) }
            throw error
        }
    }

    /// Suspends until `watch` finds the database down, or the task is cancelled.
    private func untilOutage() async {
        let id = inFlight.withLock { state -> UInt64 in
            state.next &+= 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Registered under the lock unless cancelled or down already (the watch takes the list under it too).
                let now = inFlight.withLock { state -> Bool in
                    if Task.isCancelled || outage.withLock({ $0 }) != nil { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            inFlight.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }

    /// Why `error` says the database or the connection to it failed (not the request), or nil: a closed or broken
    /// connection, the pool's failed connection attempts, the server shutting down or refusing connections now.
    static func connectionFailure(_ error: any Error) -> String? {
        if let error = error as? PSQLError {
            switch error.code {
            case .connectionError, .serverClosedConnection, .uncleanShutdown, .poolClosed:
                return "the connection to the database failed: \(describe(error))"
            case .server:
                // 08: connection exceptions; 57P01-57P03: the server is shutting down, crashed or not yet accepting;
                // 25P03: this connection sat idle in a transaction too long (a paused node) and was ended.
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || ["57P01", "57P02", "57P03", "25P03"].contains(state) ? describe(error) : nil
            default:
                return nil
            }
        }
        // The pool's own errors (its module is not imported here): after a minute of failed attempts its circuit
        // breaker fails requests at once until a connection succeeds again.
        let words = String(describing: error)
        if String(describing: type(of: error)) == "ConnectionPoolError", words.contains("circuitBreaker") || words.contains("CircuitBreaker") {
            return "the database has refused new connections for a while"
        }
        return nil
    }

    /// One connection and `SELECT 1` before the pool starts: a wrong address, password or database name fails here at
    /// once with the server's reason, and a server that does not answer within `timeout`.
    static func probe(_ location: PostgresLocation, timeout: Duration, logger: Logger) async throws {
        if let reason = await reach(location, timeout: timeout, logger: logger) {
            throw StoreError.cannotOpen(path: location.redacted, reason: reason)
        }
    }

    /// Why one new connection and `SELECT 1` fail within `timeout`, in the server's or the network's words; nil when
    /// they succeed.
    static func reach(_ location: PostgresLocation, timeout: Duration, logger: Logger) async -> String? {
        var configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.username,
                                                             password: location.password, database: location.database, tls: .disable)
        configuration.options.connectTimeout = .nanoseconds(Int64(timeout / .nanoseconds(1)))
        let probing = configuration
        let reached: String?
        do {
            reached = try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    do {
                        let connection = try await PostgresConnection.connect(configuration: probing, id: 0, logger: logger)
                        do {
                            _ = try await connection.query("SELECT 1", logger: logger).collect()
                        } catch {
                            try? await connection.close()
                            throw error
                        }
                        try? await connection.close()
                        return nil
                    } catch {
                        return Self.describe(error)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return "no answer within \(timeout); is the server running, and is \(location.host):\(location.port) reachable from here?"
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
        } catch {
            return "the probe was cancelled"
        }
        return reached
    }

    /// `describe(error)` for an error of PostgreSQL's client, nil for any other.
    public static func serverWords(_ error: any Error) -> String? {
        error is PSQLError ? describe(error) : nil
    }

    /// What went wrong, in the server's or the network's words (never the password, which no error carries).
    public static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = error.underlying { return networkWords("\(underlying)") }
            return networkWords(String(reflecting: error))
        }
        return networkWords("\(error)")
    }

    /// A network failure in words (outside testing: the 503's message carried NIO's nested error values,
    /// `SingleConnectionFailure(target: …)`); other text as it is, cut at 300 characters.
    static func networkWords(_ text: String) -> String {
        for (needle, words) in [("Connection refused", "connection refused: nothing listens at the database's address"),
                                ("No route to host", "no route to the database's host"), ("Network is unreachable", "the network is unreachable"),
                                ("Connection reset", "the connection was reset"), ("connectTimeout", "the connection timed out"),
                                ("timed out", "the connection timed out"), ("Name or service not known", "the database's host name does not resolve"),
                                ("authMechanismRequiresPassword", "the database asks for a password and the URL has none: give it as postgres://USER:PASSWORD@HOST/DB")]
            where text.contains(needle) {
            return words
        }
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    // MARK: Transactions

    /// Runs `body` in one transaction on one pooled connection: `begin`, the body, COMMIT; ROLLBACK when the body
    /// throws, whose error comes out as it was thrown (a `TicketError`, a `ValidationError`, a `PSQLError`).
    func transaction<T: Sendable>(_ begin: String = "BEGIN", _ body: (Session) async throws -> T) async throws -> T {
        try await guarded { try await client.withConnection { connection in
            let session = Session(connection: connection, logger: logger)
            try await session.execute(PostgresQuery(unsafeSQL: begin))
            let value: T
            do {
                value = try await body(session)
            } catch {
                try? await session.execute("ROLLBACK")
                throw error
            }
            try await session.execute("COMMIT")
            return value
        } }
    }

    /// A read of several statements from one snapshot (like SQLite's reads): a repeatable-read, read-only transaction.
    func read<T: Sendable>(_ body: (Session) async throws -> T) async throws -> T {
        try await transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", body)
    }

    /// A read of one statement, on any pooled connection.
    func rows(_ query: PostgresQuery) async throws -> [Row] {
        try await guarded { try await client.query(query, logger: logger).collect().map(Row.init) }
    }

    // MARK: Items

    public func createItems(_ items: [NewItem]) async throws -> [CreateOutcome] {
        guard !items.isEmpty else { return [] }
        return try await itemWrites.create(items) { try await self.writeItems($0) }
    }

    /// Stores `items` as one batch: in one statement when none opens a ticket, else in one transaction.
    func writeItems(_ items: [NewItem]) async throws -> [CreateOutcome] {
        var feeds: [String] = [], ids: [String] = [], digests: [String] = [], submissions: [String] = []
        var received: [Double] = [], created: [Double] = [], scheduled: [Bool] = [], nextAt: [Double] = [], nextAge: [Double] = []
        for item in items {
            feeds.append(item.submission.feed)
            ids.append(item.submission.id)
            digests.append(item.submission.contentDigest)
            submissions.append(StoredJSON.submission(item.submission))
            received.append(item.receivedAt.timeIntervalSince1970)
            created.append(item.createdAt.timeIntervalSince1970)
            scheduled.append(item.nextRescore != nil)
            nextAt.append(item.nextRescore?.at.timeIntervalSince1970 ?? 0)
            nextAge.append(item.nextRescore?.ageHours ?? 0)
        }
        if items.allSatisfy({ $0.tickets.isEmpty }) {
            return try await createItemsInOneStatement(items, feeds: feeds, ids: ids, digests: digests, submissions: submissions, received: received,
                                                       created: created, scheduled: scheduled, nextAt: nextAt, nextAge: nextAge)
        }
        return try await transaction { db in
            // Row ids are drawn in the batch's order (as SQLite gives them), but the rows are inserted, and so locked, in
            // (feed, id) order: two batches sharing items then take their locks in the same order and cannot deadlock.
            // The same id twice in one batch: the first is stored, the second finds it.
            var inserted: [Key: Int64] = [:]
            for row in try await db.rows("""
                INSERT INTO item (id, feed, external_id, digest, submission, received_at, created_at, stages, next_rescore_at, next_rescore_age)
                OVERRIDING SYSTEM VALUE
                SELECT u.id, u.feed, u.external_id, u.digest, u.submission::json, u.received_at, u.created_at, 1,
                  CASE WHEN u.scheduled THEN u.next_at END, CASE WHEN u.scheduled THEN u.next_age END
                FROM (
                  SELECT nextval(pg_get_serial_sequence('item', 'id')) AS id, v.* FROM (
                    SELECT * FROM unnest(\(feeds)::text[], \(ids)::text[], \(digests)::text[], \(submissions)::text[], \(received)::float8[],
                                         \(created)::float8[], \(scheduled)::bool[], \(nextAt)::float8[], \(nextAge)::float8[]) WITH ORDINALITY
                      AS w(feed, external_id, digest, submission, received_at, created_at, scheduled, next_at, next_age, n)
                    ORDER BY w.n
                  ) v
                ) u
                ORDER BY u.feed COLLATE "C", u.external_id COLLATE "C", u.n
                ON CONFLICT (feed, external_id) DO NOTHING
                RETURNING id, feed, external_id
                """) {
                inserted[Key(feed: try row["feed"], id: try row["external_id"])] = try row["id"]
            }
            // Each new item's first stage and its tickets, in the batch's order (ticket ids follow it, as on SQLite).
            var outcomes: [CreateOutcome?] = Array(repeating: nil, count: items.count)
            var stageItems: [Int64] = [], stageResults: [StageResult] = []
            var opened: [(row: Int64, openings: [TicketOpening])] = []
            for (index, item) in items.enumerated() {
                let key = Key(feed: item.submission.feed, id: item.submission.id)
                guard let row = inserted.removeValue(forKey: key) else { continue }
                stageItems.append(row)
                stageResults.append(item.result)
                if !item.tickets.isEmpty { opened.append((row, item.tickets)) }
                outcomes[index] = .created(ItemState(submission: item.submission, receivedAt: item.receivedAt, createdAt: item.createdAt,
                                                     current: item.result, engagement: nil))
            }
            try await Self.insertStages(db, items: stageItems, seqs: Array(repeating: 1, count: stageItems.count), results: stageResults)
            try await Self.openNewTickets(db, opened.map { (item: $0.row, openings: $0.openings) })
            return try await Self.outcomes(items, created: outcomes) { try await db.rows($0) }
        }
    }

    /// An item's identity: its feed and its id in the feed.
    struct Key: Hashable {
        var feed: String
        var id: String
    }

    public func item(feed: String, id: String) async throws -> ItemState? {
        try await rows(Self.itemQuery(feed: feed, id: id)).first.map(Self.state)
    }

    public func items(feed: String, ids: [String]) async throws -> [ItemState] {
        let found = try await rows("""
            SELECT i.*, s.body AS current FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
            WHERE i.feed = \(feed) AND i.external_id = ANY(\(ids))
            """).map(Self.state)
        // In the order asked, as SQLite returns them; ids by their bytes (Swift's `==` takes "café" composed and
        // decomposed for one string, where they are two items).
        let byID = Dictionary(found.map { (Array($0.submission.id.utf8), $0) }, uniquingKeysWith: { a, _ in a })
        return ids.compactMap { byID[Array($0.utf8)] }
    }

    public func history(feed: String, id: String) async throws -> [HistoryEntry]? {
        try await rows(Self.itemWithHistoryQuery(feed: feed, id: id)).first.map(Self.history)
    }

    public func itemWithHistory(feed: String, id: String) async throws -> (state: ItemState, history: [HistoryEntry])? {
        try await rows(Self.itemWithHistoryQuery(feed: feed, id: id)).first.map { (try Self.state($0), try Self.history($0)) }
    }

    /// The item with its current stage result (as `itemQuery`) and its history (`historyColumns`): one statement, so
    /// one snapshot and one round trip.
    static func itemWithHistoryQuery(feed: String, id: String) -> PostgresQuery {
        """
        SELECT i.*, s.body AS current, \(unescaped: historyColumns(item: "i.id"))
        FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages \(unescaped: historyJoin(item: "i.id"))
        WHERE i.feed = \(feed) AND i.external_id = \(id)
        """
    }

    /// The columns of the history of the item whose row id is the SQL expression `item` (with `historyJoin` in the
    /// FROM clause), read by `history(_:)`: its stage results by sequence number, its engagement snapshots by time
    /// (one array per column), and its ticket events by row id. Gold tickets (probes of a reviewer) are not part of
    /// its history.
    ///
    /// The events and the gold tickets to leave out are both looked up by the item (not SQLite's join on the
    /// ticket): with a join, a planner that misjudges how many tickets are not gold (statistics lag a bulk load) reads
    /// every ticket for each history.
    static func historyColumns(item: String) -> String {
        """
        ARRAY(SELECT h.body FROM stage_result h WHERE h.item = \(item) ORDER BY h.seq) AS history_stages,
        history_snapshots.*,
        ARRAY(SELECT h.body FROM ticket_event h
              WHERE h.item = \(item) AND h.ticket NOT IN (SELECT g.id FROM ticket g WHERE g.item = \(item) AND g.gold_label IS NOT NULL)
              ORDER BY h.id) AS history_events
        """
    }

    /// The FROM clause's part of `historyColumns`: the engagement snapshots, NULL arrays when there are none.
    static func historyJoin(item: String) -> String {
        let columns = ["at", "views", "likes", "shares", "comments", "reports", "hides"]
        return """
            CROSS JOIN LATERAL (SELECT \(columns.map { "array_agg(h.\($0) ORDER BY h.at, h.id) AS history_snapshot_\($0)" }.joined(separator: ", "))
                                FROM engagement_snapshot h WHERE h.item = \(item)) history_snapshots
            """
    }

    /// The item's stage results, engagement snapshots and ticket events from a row with `historyColumns`, oldest first
    /// (at the same instant, stages before snapshots before ticket events).
    static func history(_ row: Row) throws -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        for body in try row["history_stages"] as [ByteBuffer] { entries.append(.stage(try stage(body))) }
        if let at: [Double] = try row["history_snapshot_at"] {
            let views: [Int] = try row["history_snapshot_views"], likes: [Int] = try row["history_snapshot_likes"]
            let shares: [Int] = try row["history_snapshot_shares"], comments: [Int] = try row["history_snapshot_comments"]
            let reports: [Int] = try row["history_snapshot_reports"], hides: [Int] = try row["history_snapshot_hides"]
            for n in at.indices {
                entries.append(.engagement(EngagementSnapshot(at: Date(timeIntervalSince1970: at[n]),
                                                              counters: Engagement(views: views[n], likes: likes[n], shares: shares[n], comments: comments[n],
                                                                                   reports: reports[n], hides: hides[n]))))
            }
        }
        for body in try row["history_events"] as [String] { entries.append(.ticket(try Codec.decode(TicketEvent.self, body))) }
        return HistoryEntry.inOrder(entries)
    }

    public func recordEngagement(feed: String, id: String, snapshot: EngagementSnapshot, keepingAtMost: Int,
                                 decide: @escaping @Sendable (EngagementContext) throws -> Staged?) async throws -> EngagementOutcome? {
        try await transaction { db -> EngagementOutcome? in
            guard let item = try await Self.lockItem(db, feed: feed, id: id) else { return nil }
            let state = item.state
            try state.checkEngagementTime(snapshot.at)
            let c = snapshot.counters
            // At the cap, this snapshot takes the newest one's place (unless it is stored already: a repeat changes
            // nothing); the item's row is locked, one writer at a time.
            try await db.execute("""
                DELETE FROM engagement_snapshot WHERE id = (SELECT id FROM engagement_snapshot WHERE item = \(item.id) ORDER BY at DESC, id DESC LIMIT 1)
                  AND (SELECT count(*) FROM engagement_snapshot WHERE item = \(item.id)) >= \(keepingAtMost)
                  AND NOT EXISTS (SELECT 1 FROM engagement_snapshot WHERE item = \(item.id) AND at = \(snapshot.at.timeIntervalSince1970)
                                  AND views = \(c.views) AND likes = \(c.likes) AND shares = \(c.shares) AND comments = \(c.comments)
                                  AND reports = \(c.reports) AND hides = \(c.hides))
                """)
            let recorded = try await !db.rows("""
                INSERT INTO engagement_snapshot (item, at, views, likes, shares, comments, reports, hides)
                VALUES (\(item.id), \(snapshot.at.timeIntervalSince1970), \(c.views), \(c.likes), \(c.shares), \(c.comments), \(c.reports), \(c.hides))
                ON CONFLICT DO NOTHING RETURNING 1
                """).isEmpty
            let previous = state.engagement
            let merged = EngagementSnapshot.merging(previous, snapshot)
            guard recorded, merged != previous else {
                return EngagementOutcome(state: state, result: nil, recorded: recorded)
            }
            // The feed's baseline moves by this item's change, in the item's shard of the feed's rows (each stays locked
            // until commit, so updates of one feed take turns only within a shard), and is read back whole, this change
            // included, as SQLite's single writer reads it.
            let oldVelocity: Double? = try item.row["log_velocity"]
            let ageHours = max(0, merged.at.timeIntervalSince(state.createdAt) / 3600)
            let share = FeedBaseline.share(of: merged.counters, ageHours: ageHours)
            let before = FeedBaseline.share(of: previous?.counters ?? Engagement(), ageHours: ageHours)
            let newVelocity = share.logVelocity
            try await db.execute("""
                INSERT INTO feed_baseline (feed, shard, items, views, reports, log_velocity_sum)
                VALUES (\(feed), \(Int(item.id % Self.baselineShards)), \(oldVelocity == nil ? 1 : 0), \(share.views - before.views),
                        \(share.reports - before.reports), \(newVelocity - (oldVelocity ?? 0)))
                ON CONFLICT (feed, shard) DO UPDATE SET items = feed_baseline.items + excluded.items, views = feed_baseline.views + excluded.views,
                  reports = feed_baseline.reports + excluded.reports, log_velocity_sum = feed_baseline.log_velocity_sum + excluded.log_velocity_sum
                """)
            let baseline = try await Self.baseline(db, feed: feed)
            var updated = state
            updated.engagement = merged
            let lastEngagementStageAge: Double? = try item.row["last_engagement_stage_age"]
            let context = EngagementContext(state: state, previous: previous?.counters, merged: merged, baseline: baseline,
                                            lastEngagementStageAgeHours: lastEngagementStageAge)
            let staged = try decide(context)
            var lastStageAge = lastEngagementStageAge
            var stages = item.stages
            if let result = staged?.result {
                stages += 1
                try await Self.insertStages(db, items: [item.id], seqs: [stages], results: [result])
                updated.current = result
                lastStageAge = result.inputs.ageHours
            }
            if let opening = staged?.ticket { _ = try await Self.openTicket(db, item: item.id, opening) }
            try await db.execute("""
                UPDATE item SET engagement = \(StoredJSON.snapshot(merged)), log_velocity = \(newVelocity), last_engagement_stage_age = \(lastStageAge),
                  stages = \(stages) WHERE id = \(item.id)
                """)
            try await Self.appendDecisionEvents(db, staged?.event.map { [$0] } ?? [])
            return EngagementOutcome(state: updated, result: staged?.result, recorded: true)
        }
    }

    public func rescoreDue(now: Date, limit: Int, decide: @escaping @Sendable (DueRescore) throws -> Rescored) async throws -> Int {
        try await transaction { db -> Int in
            // Due items nobody else holds: two nodes running this at once take different items, and an item rescored
            // meanwhile (its next rescore moved on) is no longer due when its lock is taken.
            let due = try await Self.lockedItems(db, """
                SELECT * FROM item WHERE next_rescore_at IS NOT NULL AND next_rescore_at <= \(now.timeIntervalSince1970)
                ORDER BY next_rescore_at LIMIT \(limit) FOR NO KEY UPDATE SKIP LOCKED
                """)
            guard !due.isEmpty else { return 0 }
            var baselines: [String: FeedBaseline] = [:]
            var rescores: [Rescored] = []
            for item in due {
                let feed = item.state.submission.feed
                let baseline: FeedBaseline
                if let known = baselines[feed] { baseline = known } else { baseline = try await Self.baseline(db, feed: feed) }
                baselines[feed] = baseline
                let scheduled = ScheduledRescore(ageHours: try item.row["next_rescore_age"], at: Date(timeIntervalSince1970: try item.row["next_rescore_at"]))
                rescores.append(try decide(DueRescore(state: item.state, scheduled: scheduled, baseline: baseline)))
            }
            // The results and the next rescores in two statements for the whole pass, then the tickets they ask for.
            let ids = due.map(\.id), seqs = due.map { $0.stages + 1 }
            try await Self.insertStages(db, items: ids, seqs: seqs, results: rescores.map(\.result))
            try await db.execute("""
                UPDATE item SET stages = u.stages, next_rescore_at = CASE WHEN u.scheduled THEN u.next_at END,
                  next_rescore_age = CASE WHEN u.scheduled THEN u.next_age END
                FROM unnest(\(ids)::int8[], \(seqs)::int8[], \(rescores.map { $0.next != nil })::bool[],
                            \(rescores.map { $0.next?.at.timeIntervalSince1970 ?? 0 })::float8[], \(rescores.map { $0.next?.ageHours ?? 0 })::float8[])
                  AS u(id, stages, scheduled, next_at, next_age)
                WHERE item.id = u.id
                """)
            for (item, rescored) in zip(due, rescores) {
                if let opening = rescored.ticket { _ = try await Self.openTicket(db, item: item.id, opening) }
            }
            try await Self.appendDecisionEvents(db, rescores.compactMap(\.event))
            return due.count
        }
    }

    public func oldestDueRescore() async throws -> Date? {
        let oldest: Double? = try await rows("SELECT min(next_rescore_at) AS oldest FROM item WHERE next_rescore_at IS NOT NULL").first?["oldest"]
        return oldest.map(Date.init(timeIntervalSince1970:))
    }

    public func pendingRescores() async throws -> Int {
        try await rows("SELECT count(*) AS n FROM item WHERE next_rescore_at IS NOT NULL").first?["n"] ?? 0
    }

    public func baseline(feed: String) async throws -> FeedBaseline {
        try await guarded { try await client.withConnection { connection in try await Self.baseline(Session(connection: connection, logger: logger), feed: feed) } }
    }

    // MARK: Policies

    public func policy(feed: String) async throws -> Policy? {
        try await rows("SELECT body FROM policy WHERE feed = \(feed) ORDER BY version DESC LIMIT 1").first
            .map { try Codec.decode(Policy.self, $0["body"]) }
    }

    public func policies() async throws -> [Policy] {
        try await rows("""
            SELECT body FROM policy p WHERE version = (SELECT max(version) FROM policy WHERE feed = p.feed) ORDER BY feed COLLATE "C"
            """)
            .map { try Codec.decode(Policy.self, $0["body"]) }
    }

    public func savePolicy(_ policy: Policy, by: String, at: Date) async throws -> Policy {
        try await storePolicy(policy, by: by, at: at, replacing: nil)!
    }

    public func savePolicy(_ policy: Policy, by: String, at: Date, replacing: Int) async throws -> Policy? {
        try await storePolicy(policy, by: by, at: at, replacing: replacing)
    }

    /// The next version of the feed's policy, unless `replacing` is given and is not the newest (nil then).
    func storePolicy(_ policy: Policy, by: String, at: Date, replacing: Int?) async throws -> Policy? {
        try await transaction { db -> Policy? in
            // One saver per feed at a time (a transaction-scoped lock on the feed's name), so versions follow each other.
            try await db.execute("SELECT pg_advisory_xact_lock(\(Self.policyLock), hashtext(\(policy.feed)))")
            let latest: Int = try await db.row("SELECT max(version) AS v FROM policy WHERE feed = \(policy.feed)")?["v"] ?? 0
            if let replacing, replacing != latest { return nil }
            var saved = policy
            saved.version = latest + 1
            try await db.execute("""
                INSERT INTO policy (feed, version, body, created_at, created_by)
                VALUES (\(policy.feed), \(saved.version), \(try Codec.encode(saved)), \(at.timeIntervalSince1970), \(by))
                """)
            return saved
        }
    }

    /// The first key of the advisory locks that serialise a feed's policy versions.
    static let policyLock: Int32 = 0x5750_4f4c  // "WPOL"

    // MARK: API keys

    public func createKey(_ key: APIKeyRecord) async throws {
        let stored = try await rows("""
            INSERT INTO api_key (name, role, hash, created_at, tiers, feeds)
            VALUES (\(key.name), \(key.role.rawValue), \(key.hash), \(key.createdAt.timeIntervalSince1970), \(APIKeyRecord.storedTiers(key.tiers)),
                    \(APIKeyRecord.storedFeeds(key.feeds)))
            ON CONFLICT (name) DO NOTHING RETURNING 1
            """)
        if stored.isEmpty { throw StoreError.duplicateKeyName(key.name) }
    }

    public func key(hash: String) async throws -> APIKeyRecord? {
        try await rows("SELECT * FROM api_key WHERE hash = \(hash)").first.map(Self.key)
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await rows("SELECT * FROM api_key ORDER BY created_at, name COLLATE \"C\"").map(Self.key)
    }

    public func revokeKey(name: String, at: Date) async throws -> Bool {
        try await !rows("UPDATE api_key SET revoked_at = \(at.timeIntervalSince1970) WHERE name = \(name) AND revoked_at IS NULL RETURNING 1").isEmpty
    }

    // MARK: Labels and the engagement model

    public func labelledItemsWithEngagement() async throws -> [(state: ItemState, label: String, baseline: FeedBaseline)] {
        try await read { db in
            var baselines: [String: FeedBaseline] = [:]
            var labelled: [(state: ItemState, label: String, baseline: FeedBaseline)] = []
            // Each item's label as LabelResolution picks it: not withdrawn, the higher tier, then the latest.
            for row in try await db.rows("""
                SELECT l.label AS human_label, i.*, s.body AS current FROM item i
                JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
                JOIN label l ON l.feed = i.feed AND l.item_id = i.external_id
                WHERE i.engagement IS NOT NULL
                  AND l.id = (\(unescaped: SQLiteStore.resolvedLabelSQL(feed: "i.feed", item: "i.external_id")))
                ORDER BY i.id
                """) {
                let state = try Self.state(row)
                let feed = state.submission.feed
                let baseline: FeedBaseline
                if let known = baselines[feed] { baseline = known } else { baseline = try await Self.baseline(db, feed: feed) }
                baselines[feed] = baseline
                labelled.append((state, try row["human_label"], baseline))
            }
            return labelled
        }
    }

    public func saveEngagementModel(_ model: EngagementModel, at: Date) async throws {
        // Saved again under its version, it counts as the newest (SQLite's INSERT OR REPLACE gives the row a new rowid).
        _ = try await rows("""
            INSERT INTO engagement_model (version, body, created_at) VALUES (\(model.version), \(try Codec.encode(model)), \(at.timeIntervalSince1970))
            ON CONFLICT (version) DO UPDATE SET body = excluded.body, created_at = excluded.created_at, saved = DEFAULT
            """)
    }

    public func latestEngagementModel() async throws -> EngagementModel? {
        try await rows("SELECT body FROM engagement_model ORDER BY created_at DESC, saved DESC LIMIT 1").first
            .map { try Codec.decode(EngagementModel.self, $0["body"]) }
    }

    public func checkWritable() async throws {
        _ = try await rows("""
            INSERT INTO heartbeat (id, at) VALUES (1, \(Date().timeIntervalSince1970)) ON CONFLICT (id) DO UPDATE SET at = excluded.at
            """)
    }

    // MARK: Rows

    /// The item with its current stage result as `current`.
    static func itemQuery(feed: String, id: String) -> PostgresQuery {
        """
        SELECT i.*, s.body AS current FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
        WHERE i.feed = \(feed) AND i.external_id = \(id)
        """
    }

    /// A stored item row, locked for this transaction, with its state.
    struct LockedItem {
        var row: Row
        var id: Int64
        var stages: Int
        var state: ItemState
    }

    /// Locks the item's row until commit (writers of the same item take turns) and reads it; nil for an unknown item.
    static func lockItem(_ db: Session, feed: String, id: String) async throws -> LockedItem? {
        try await lockedItems(db, "SELECT * FROM item WHERE feed = \(feed) AND external_id = \(id) FOR NO KEY UPDATE").first
    }

    /// Runs `query`, a `SELECT * FROM item … FOR NO KEY UPDATE` of item rows, then reads their current stage results.
    ///
    /// In two statements: a row locked after waiting for another transaction's update is read as that update left it,
    /// but a table joined in the same statement would still be read as it was before (its old current stage, or no
    /// row at all); the second statement reads the stages as committed by then.
    static func lockedItems(_ db: Session, _ query: PostgresQuery) async throws -> [LockedItem] {
        let rows = try await db.rows(query)
        guard !rows.isEmpty else { return [] }
        var ids: [Int64] = [], seqs: [Int] = []
        for row in rows {
            ids.append(try row["id"])
            seqs.append(try row["stages"])
        }
        var bodies: [Int64: ByteBuffer] = [:]
        for row in try await db.rows("""
            SELECT s.item, s.body FROM stage_result s JOIN unnest(\(ids)::int8[], \(seqs)::int8[]) AS u(item, seq) ON s.item = u.item AND s.seq = u.seq
            """) {
            bodies[try row["item"]] = try row["body"]
        }
        return try zip(ids, zip(seqs, rows)).map { id, stagesAndRow in
            let (stages, row) = stagesAndRow
            guard let body = bodies[id] else { throw StoreError.corruptRow("item \(id) has no stage \(stages)") }
            return LockedItem(row: row, id: id, stages: stages, state: try state(row, current: stage(body)))
        }
    }

    static func state(_ row: Row) throws -> ItemState {
        try state(row, current: stage(row["current"]))
    }

    static func state(_ row: Row, current: StageResult) throws -> ItemState {
        let engagement: String? = try row["engagement"]
        let reviewed: String? = try row["reviewed"]
        return ItemState(
            submission: try Codec.decode(ItemSubmission.self, row["submission"]),
            receivedAt: Date(timeIntervalSince1970: try row["received_at"]),
            createdAt: Date(timeIntervalSince1970: try row["created_at"]),
            current: current,
            engagement: try engagement.map { try Codec.decode(EngagementSnapshot.self, $0) },
            reviewed: try reviewed.map { try Codec.decode(HumanDecision.self, $0) })
    }

    /// A stored stage result (`StageRecord`).
    static func stage(_ body: ByteBuffer) throws -> StageResult {
        try body.withUnsafeReadableBytes { try StageRecord.decode($0) }
    }

    /// Appends stage results, one per item (as `StageRecord`s), in one statement.
    /// Items that open no ticket (most of them: allowed, demoted or removed at creation) with their first stages in one
    /// statement, committed on its own: one round trip for the whole call, where a transaction takes four. The item rows
    /// and their stages are inserted by one statement of data-modifying parts, so both or neither are stored; ids are
    /// drawn in the batch's order and rows inserted in (feed, id) order, as in the transaction.
    func createItemsInOneStatement(_ items: [NewItem], feeds: [String], ids: [String], digests: [String], submissions: [String],
                                   received: [Double], created: [Double], scheduled: [Bool], nextAt: [Double],
                                   nextAge: [Double]) async throws -> [CreateOutcome] {
        let (stages, scored, models, policies, actions, bodies) = Self.stageColumns(items.map(\.result))
        var inserted = Set<Key>()
        for row in try await rows("""
            WITH input AS MATERIALIZED (
              SELECT nextval(pg_get_serial_sequence('item', 'id')) AS id, w.* FROM (
                SELECT * FROM unnest(\(feeds)::text[], \(ids)::text[], \(digests)::text[], \(submissions)::text[], \(received)::float8[],
                                     \(created)::float8[], \(scheduled)::bool[], \(nextAt)::float8[], \(nextAge)::float8[], \(stages)::text[],
                                     \(scored)::float8[], \(models)::text[], \(policies)::int8[], \(actions)::text[], \(bodies)::bytea[]) WITH ORDINALITY
                  AS u(feed, external_id, digest, submission, received_at, created_at, scheduled, next_at, next_age, stage, scored_at,
                       model_version, policy_version, action, body, n)
                ORDER BY u.n
              ) w
            ), stored AS (
              INSERT INTO item (id, feed, external_id, digest, submission, received_at, created_at, stages, next_rescore_at, next_rescore_age)
              OVERRIDING SYSTEM VALUE
              SELECT id, feed, external_id, digest, submission::json, received_at, created_at, 1,
                CASE WHEN scheduled THEN next_at END, CASE WHEN scheduled THEN next_age END
              FROM input ORDER BY feed COLLATE "C", external_id COLLATE "C", n
              ON CONFLICT (feed, external_id) DO NOTHING
              RETURNING id, feed, external_id
            ), staged AS (
              INSERT INTO stage_result (item, seq, stage, scored_at, model_version, policy_version, action, body)
              SELECT input.id, 1, input.stage, input.scored_at, input.model_version, input.policy_version, input.action, input.body
              FROM stored JOIN input ON input.id = stored.id
            )
            SELECT feed, external_id FROM stored
            """) {
            inserted.insert(Key(feed: try row["feed"], id: try row["external_id"]))
        }
        var outcomes: [CreateOutcome?] = Array(repeating: nil, count: items.count)
        for (index, item) in items.enumerated() where inserted.remove(Key(feed: item.submission.feed, id: item.submission.id)) != nil {
            outcomes[index] = .created(ItemState(submission: item.submission, receivedAt: item.receivedAt, createdAt: item.createdAt,
                                                 current: item.result, engagement: nil))
        }
        return try await Self.outcomes(items, created: outcomes) { try await self.rows($0) }
    }

    /// Every item's outcome: `created` where this call stored it, and for the others (stored before, or earlier in
    /// the same batch) read through `rows`: the same content is a retry, other content a conflict.
    static func outcomes(_ items: [NewItem], created: [CreateOutcome?],
                         rows: (PostgresQuery) async throws -> [Row]) async throws -> [CreateOutcome] {
        var outcomes = created
        let others = items.indices.filter { outcomes[$0] == nil }
        if !others.isEmpty {
            var existing: [Key: (digest: String, state: ItemState)] = [:]
            for row in try await rows("""
                SELECT i.*, s.body AS current FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
                WHERE (i.feed, i.external_id) IN (SELECT * FROM unnest(\(others.map { items[$0].submission.feed })::text[],
                                                                       \(others.map { items[$0].submission.id })::text[]))
                """) {
                let state = try Self.state(row)
                existing[Key(feed: state.submission.feed, id: state.submission.id)] = (try row["digest"], state)
            }
            for index in others {
                let s = items[index].submission
                guard let stored = existing[Key(feed: s.feed, id: s.id)] else {
                    throw StoreError.corruptRow("item \(s.feed)/\(s.id) was neither stored nor found")
                }
                outcomes[index] = stored.digest == s.contentDigest ? .existing(stored.state) : .conflict(stored.state)
            }
        }
        return outcomes.map { $0! }
    }

    /// Stage results as the columns of `stage_result` (one array each, for `unnest`).
    static func stageColumns(_ results: [StageResult]) -> (stages: [String], scored: [Double], models: [String], policies: [Int],
                                                           actions: [String], bodies: [ByteBuffer]) {
        (results.map(\.stage.rawValue), results.map(\.scoredAt.timeIntervalSince1970), results.map(\.modelVersion),
         results.map(\.decision.policyVersion), results.map(\.decision.action.rawValue), results.map { ByteBuffer(bytes: StageRecord.encode($0)) })
    }

    static func insertStages(_ db: Session, items: [Int64], seqs: [Int], results: [StageResult]) async throws {
        guard !items.isEmpty else { return }
        let (stages, scored, models, policies, actions, bodies) = stageColumns(results)
        try await db.execute("""
            INSERT INTO stage_result (item, seq, stage, scored_at, model_version, policy_version, action, body)
            SELECT * FROM unnest(\(items)::int8[], \(seqs)::int8[], \(stages)::text[], \(scored)::float8[], \(models)::text[], \(policies)::int8[],
                                 \(actions)::text[], \(bodies)::bytea[])
            """)
    }

    static func snapshot(_ row: Row) throws -> EngagementSnapshot {
        EngagementSnapshot(at: Date(timeIntervalSince1970: try row["at"]),
                           counters: Engagement(views: try row["views"], likes: try row["likes"], shares: try row["shares"], comments: try row["comments"],
                                                reports: try row["reports"], hides: try row["hides"]))
    }

    /// The rows a feed's baseline is spread over (migration v3-baseline-shards).
    static let baselineShards: Int64 = 16

    /// The feed's baseline: its rows added up, the sums as doubles (they are `numeric`, exact past Int64, as SQLite's
    /// turn into REAL).
    static func baseline(_ db: Session, feed: String) async throws -> FeedBaseline {
        guard let row = try await db.row("""
            SELECT sum(items)::int8 AS items, sum(views)::float8 AS views, sum(reports)::float8 AS reports, sum(log_velocity_sum) AS log_velocity_sum
            FROM feed_baseline WHERE feed = \(feed) HAVING count(*) > 0
            """) else { return FeedBaseline() }
        return try baseline(row)
    }

    static func baseline(_ row: Row) throws -> FeedBaseline {
        let items: Int = try row["items"]
        let sum: Double = try row["log_velocity_sum"]
        let views: Double = try row["views"], reports: Double = try row["reports"]
        func whole(_ x: Double) -> Int { x >= 9.2e18 ? Int.max : Int(max(0, x)) }
        return FeedBaseline(items: items, views: whole(views), reports: whole(reports), meanLogVelocity: items > 0 ? sum / Double(items) : 0)
    }

    static func key(_ row: Row) throws -> APIKeyRecord {
        let role: String = try row["role"]
        let revoked: Double? = try row["revoked_at"]
        let tiers: String? = try row["tiers"]
        let feeds: String? = try row["feeds"]
        return APIKeyRecord(name: try row["name"], role: Role(rawValue: role) ?? .feed, hash: try row["hash"],
                            createdAt: Date(timeIntervalSince1970: try row["created_at"]), revokedAt: revoked.map(Date.init(timeIntervalSince1970:)),
                            tiers: APIKeyRecord.tiers(stored: tiers), feeds: APIKeyRecord.feeds(stored: feeds))
    }
}

extension PostgresStore {
    /// One pooled connection, inside a transaction or not, with the store's logger.
    struct Session {
        let connection: PostgresConnection
        let logger: Logger

        /// Every row of `query` (read to the end, so that an error in executing it is thrown here).
        func rows(_ query: PostgresQuery) async throws -> [Row] {
            try await connection.query(query, logger: logger).collect().map(Row.init)
        }

        func row(_ query: PostgresQuery) async throws -> Row? {
            try await rows(query).first
        }

        /// Runs a statement, reading whatever rows it returns.
        func execute(_ query: PostgresQuery) async throws {
            _ = try await connection.query(query, logger: logger).collect()
        }
    }

    /// A result row read by column name, as SQLite's rows are.
    struct Row {
        let cells: PostgresRandomAccessRow

        init(_ row: PostgresRow) {
            cells = row.makeRandomAccess()
        }

        /// - Throws: `StoreError.corruptRow` for a column the statement does not return; `PostgresDecodingError` for a
        ///   value of another type (or NULL where none is allowed).
        subscript<T: PostgresDecodable>(_ column: String) -> T {
            get throws {
                guard cells.contains(column) else { throw StoreError.corruptRow("no column \(column) in the row") }
                return try cells[column].decode(T.self)
            }
        }
    }
}

/// A database URL taken apart: `postgres://user:password@host:port/database` (or `postgresql://`), percent-encoded
/// where needed; the port defaults to 5432. TLS is not supported: `sslmode=disable` (or `allow`, `prefer`) is accepted.
public struct PostgresLocation: Equatable, Sendable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String

    /// The URL without its password, for messages and logs.
    public var redacted: String {
        "postgres://\(username)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// - Throws: `StoreError.cannotOpen` saying what is missing or wrong (never repeating the password).
    public init(_ url: String) throws {
        func bad(_ reason: String) -> StoreError {
            StoreError.cannotOpen(path: Self.withoutPassword(url), reason: reason + "; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
        guard PostgresStore.isURL(url), let components = URLComponents(string: url) else { throw bad("not a PostgreSQL URL") }
        guard let host = components.host, !host.isEmpty else { throw bad("the URL names no host") }
        guard let user = components.user, !user.isEmpty else { throw bad("the URL names no user") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw bad("the URL names no database (the path after the host)") }
        if let port = components.port, !(1...65535).contains(port) { throw bad("port \(port) is out of range") }
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"?), ("sslmode", "allow"?), ("sslmode", "prefer"?): continue
            case ("sslmode", let mode):
                throw bad("sslmode=\(mode ?? "") asks for TLS, which Winnow does not speak to PostgreSQL; use sslmode=disable on a trusted network")
            default: throw bad("unknown parameter '\(item.name)'; only sslmode=disable is understood")
            }
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        self.username = user
        self.password = components.password
        self.database = database.removingPercentEncoding ?? database
    }

    /// `url` with any password replaced by `***` (for a URL too broken to take apart).
    public static func withoutPassword(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].lastIndex(of: "@") else { return url }
        let credentials = url[scheme.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// A closure handed to a child task while its caller waits for that task to finish (`PostgresStore.guarded`): it
/// runs alone, so what it captures is not shared between threads.
private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: () async throws -> T
    init(_ value: @escaping () async throws -> T) { self.value = value }
}
