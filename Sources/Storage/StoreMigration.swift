import Crypto
import Engine
import Foundation
import GRDB
import Logging
import PostgresNIO

/// Copies an embedded database (`SQLiteStore`) into PostgreSQL (`PostgresStore`): every table, every row with its
/// id, and then checks the copy against the source. Adapter code: both schemas are this module's, and it copies rows
/// as they are (it decides nothing; no Engine rule runs).
///
/// **One transaction for everything.** The emptiness check (or `--force`'s TRUNCATE), the copy of every table, the
/// sequence resets and the verification run in one PostgreSQL transaction, which commits only when every table's
/// count and checksum match. A failed or interrupted copy, or a mismatch, leaves the target exactly as it was (empty,
/// or with its old rows under `--force`), so there is never a half-copied database to clean up, and a second run
/// cannot mistake a broken copy for data. PostgreSQL has no practical limit on a transaction's size, and the target is
/// not in use during a migration; the price is that the whole copy is lost if it fails near the end, and that the
/// target's tables stay locked (readers included, under `--force`) until the commit.
///
/// **The source is one snapshot.** Rows are read from an unchanging view of the SQLite file (a WAL read transaction
/// held from the start), in pages of `batchSize` rows by rowid, so a server still writing to the file cannot make the
/// copy inconsistent; rows it writes meanwhile are simply not copied.
///
/// **What is converted.** Stage results stored as JSON text by Winnows before the binary record are written as
/// `StageRecord`s (`PostgresStore` reads only records); a model version registered before model files were kept in
/// the database gets the bytes of the file its row names (`model_version.file`, relative paths from the current
/// directory, as the server that wrote it read them), when that file exists; `feed_baseline`'s sums, which SQLite
/// turns into REALs past Int64, become exact `numeric`s, each feed's in one of the rows PostgreSQL spreads a baseline
/// over; `engagement_model`'s save order (SQLite's rowid) becomes its `saved` column. `heartbeat` (the readiness
/// probe's scratch row) is not copied.
///
/// **The check.** For each table, both sides are read back in the order of its key (ids; the primary key otherwise,
/// text by its bytes) and each row is rendered canonically (a type tag per value, then a fixed-width number or a
/// length and the bytes; reals by their bits) into one SHA-256, computed here in Swift, so the two databases' types and
/// hash functions play no part. The source side renders the values as they were to be copied (a JSON stage body as
/// the record it became, a model file read from disk as its bytes).
public struct StoreMigration: Sendable {
    public let source: SQLiteStore
    public let target: PostgresStore
    /// Rows per INSERT (and per read of the source; fewer when they hold over 16 MiB, as model files do).
    public var batchSize: Int

    public init(from source: SQLiteStore, to target: PostgresStore, batchSize: Int = 1_000) {
        self.source = source
        self.target = target
        self.batchSize = max(1, batchSize)
    }

    /// Opens the SQLite file to copy from, refusing a missing file or one that is not a Winnow database (opening it as
    /// a store would create one); brings its schema up to date, as `winnow serve` would.
    /// - Throws: `MigrationError.sourceMissing`, `.notWinnow` or `.unreadableSource`.
    public static func openSource(path: String) throws -> SQLiteStore {
        guard FileManager.default.fileExists(atPath: path) else { throw MigrationError.sourceMissing(path) }
        let isWinnow: Bool
        do {
            var configuration = Configuration()
            configuration.readonly = true
            let probe = try DatabaseQueue(path: path, configuration: configuration)
            isWinnow = try probe.read { db in try db.tableExists("item") && db.tableExists("stage_result") }
            try probe.close()
        } catch {
            throw MigrationError.unreadableSource(path, "\(error)")
        }
        guard isWinnow else { throw MigrationError.notWinnow(path) }
        do {
            return try SQLiteStore(path: path)
        } catch {
            throw MigrationError.unreadableSource(path, "\(error)")
        }
    }

    // MARK: Running

    /// Copies every table into the target and checks the copy, in one transaction (see the type's notes).
    /// - Parameter force: empty the Winnow tables of the target first (`TRUNCATE … RESTART IDENTITY`, in the same
    ///   transaction) instead of refusing a target that holds Winnow data.
    /// - Throws: `MigrationError.targetHoldsData` (nothing written), `.mismatch` (rolled back), `.targetBusy`, or
    ///   `.failed` with the reason (a source row that cannot be read, the server's error for a refused row).
    public func run(force: Bool, progress: @escaping @Sendable (MigrationProgress) -> Void = { _ in }) async throws -> MigrationReport {
        do {
            return try await copyAndCheck(try source.snapshotReader(), force: force, batchSize: batchSize, progress: progress)
        } catch let error as MigrationError {
            throw error
        } catch {
            throw MigrationError.failed(PostgresStore.describe(error))
        }
    }

    private func copyAndCheck(_ reader: any DatabaseReader, force: Bool, batchSize: Int,
                              progress: @escaping @Sendable (MigrationProgress) -> Void) async throws -> MigrationReport {
        try await target.transaction { db in
            try await Self.prepareTarget(db, force: force)
            var report = MigrationReport()
            for table in Self.tables {
                let started = Date()
                let notes = try await Self.copy(table, from: reader, into: db, batchSize: batchSize, progress: progress)
                report.add(notes)
                progress(.copied(table: table.name, rows: notes.rows, seconds: Date().timeIntervalSince(started)))
            }
            for table in Self.tables {
                for column in table.identity {
                    // The next generated value follows the largest copied one (1 for an empty table).
                    try await db.execute(PostgresQuery(unsafeSQL: """
                        SELECT setval(pg_get_serial_sequence('\(table.name)', '\(column)'), coalesce(max("\(column)"), 0) + 1, false) FROM "\(table.name)"
                        """))
                }
            }
            // Decision events take their numbers from a counter row (not an identity): it continues after the highest number
            // SQLite ever gave (its AUTOINCREMENT record keeps it when the newest events were pruned), and after anything
            // copied that names one (events, horizons, webhooks' places), so that no reader's cursor is ever ahead of it.
            let given = try await reader.read { db in
                try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'decision_event'") ?? 0
            }
            try await db.execute("""
                UPDATE decision_event_counter SET seq = greatest(\(given)::int8,
                  (SELECT coalesce(max(seq), 0) FROM decision_event), (SELECT coalesce(max(pruned_through), 0) FROM event_horizon),
                  (SELECT coalesce(max(greatest(delivered_seq, coalesce(batch_through, 0))), 0) FROM webhook))
                """)
            // Bank revisions continue after the highest copied, so nodes reading changes after it miss nothing.
            try await db.execute("UPDATE bank_revision SET revision = (SELECT coalesce(max(revision), 0) FROM bank_entry)")
            report.checks = try await Self.verify(reader, db, progress: progress)
            guard report.matches else { throw MigrationError.mismatch(report.checks) }
            return report
        }
    }

    /// Compares the two databases as they are now, table by table (counts and checksums), without copying: after a
    /// migration, or to see whether a copy is still current.
    /// - Throws: `MigrationError.checkFailed` with the reason.
    public func verify(progress: @escaping @Sendable (MigrationProgress) -> Void = { _ in }) async throws -> [TableCheck] {
        do {
            let reader = try source.snapshotReader()
            return try await target.read { db in try await Self.verify(reader, db, progress: progress) }
        } catch {
            throw MigrationError.checkFailed(PostgresStore.describe(error))
        }
    }

    /// The tables copied, in the order they are copied (a table after those its rows refer to).
    public static var tableNames: [String] { tables.map(\.name) }

    /// Every table `--force` empties: the copied ones and `heartbeat`. (`winnow_migration`, the schema's own record,
    /// stays.)
    public static var emptiedByForce: [String] { tableNames + ["heartbeat"] }

    /// Locks the target's tables against other writers until commit; then refuses a target with Winnow data, or (with
    /// `force`) empties it.
    static func prepareTarget(_ db: PostgresStore.Session, force: Bool) async throws {
        // A server still using the target holds locks: give up after a while with a message, rather than wait forever.
        try await db.execute("SET LOCAL lock_timeout = '10s'")
        do {
            if force {
                let names = emptiedByForce.map { "\"\($0)\"" }.joined(separator: ", ")
                try await db.execute(PostgresQuery(unsafeSQL: "TRUNCATE \(names) RESTART IDENTITY"))
                return
            }
            let names = tableNames.map { "\"\($0)\"" }.joined(separator: ", ")
            try await db.execute(PostgresQuery(unsafeSQL: "LOCK TABLE \(names) IN EXCLUSIVE MODE"))
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55P03" {
            throw MigrationError.targetBusy
        }
        let probes = tables.map { "SELECT '\($0.name)' AS name WHERE EXISTS (SELECT 1 FROM \"\($0.name)\")" }.joined(separator: " UNION ALL ")
        let holding = Set(try await db.rows(PostgresQuery(unsafeSQL: probes)).map { row -> String in try row["name"] })
        if !holding.isEmpty { throw MigrationError.targetHoldsData(tables: tableNames.filter(holding.contains)) }
    }

    // MARK: Copying

    /// Copies one table in pages; returns what it copied and noticed.
    static func copy(_ table: Table, from reader: any DatabaseReader, into db: PostgresStore.Session, batchSize: Int,
                     progress: @Sendable (MigrationProgress) -> Void) async throws -> CopyNotes {
        let total = try await reader.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table.sqliteFrom)") ?? 0 }
        var notes = CopyNotes()
        var after = Int64.min
        progress(.copying(table: table.name, copied: 0, total: total))
        while true {
            let start = after
            let page = try await reader.read { db in try Self.page(db, table, after: start, limit: batchSize) }
            if !page.rows.isEmpty {
                try await insert(db, table, page.rows)
                progress(.copying(table: table.name, copied: notes.rows + page.notes.rows, total: total))
            }
            notes.merge(page.notes)
            for note in page.notes.modelFiles { progress(.modelFile(note)) }
            guard let last = page.last else { break }
            after = last
        }
        return notes
    }

    /// Rows after SQLite rowid `after`, up to `limit` or about 16 MiB (model files are large); `last` is the last rowid
    /// read, nil at the end.
    static func page(_ db: Database, _ table: Table, after: Int64, limit: Int) throws -> (rows: [[Value]], last: Int64?, notes: CopyNotes) {
        let sql = "\(table.sqliteSelect(rowid: true)) WHERE \(table.sqliteRowid) > ? ORDER BY \(table.sqliteRowid) LIMIT ?"
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: [after, limit])
        var rows: [[Value]] = [], last: Int64?, bytes = 0
        var notes = CopyNotes()
        while let row = try cursor.next() {
            last = row[0]
            guard let values = try sourceValues(row, table, offset: 1, notes: &notes) else { continue }
            rows.append(values)
            notes.rows += 1
            bytes += values.reduce(0) { $0 + $1.size }
            if bytes >= 16 << 20 { break }
        }
        return (rows, last, notes)
    }

    /// One INSERT of a page, ids included (`OVERRIDING SYSTEM VALUE`: the identity columns are GENERATED ALWAYS), as
    /// one typed array per column (`unnest`): a statement of a few parameters however many rows, which postgres-nio
    /// encodes in one pass and the server plans once. Arrays cannot hold NULLs here, so a column with NULLs in the page
    /// also gets an array of flags, and the placeholder under a flag is stored as NULL.
    static func insert(_ db: PostgresStore.Session, _ table: Table, _ rows: [[Value]]) async throws {
        var binds = PostgresBindings(capacity: table.columns.count * 2)
        var arrays: [String] = [], names: [String] = [], selected: [String] = []
        for (c, column) in table.columns.enumerated() {
            var nulls: [Bool] = []
            if rows.contains(where: { $0[c] == .null }) { nulls = rows.map { $0[c] == .null } }
            func wrong(_ value: Value) -> StoreError {
                StoreError.corruptRow("\(table.name).\(column.name): \(value) where \(column.kind) was expected")
            }
            switch column.kind {
            case .integer:
                binds.append(try rows.map { row -> Int64 in
                    switch row[c] { case let .integer(v): return v; case .null: return 0; case let other: throw wrong(other) }
                })
            case .real:
                binds.append(try rows.map { row -> Double in
                    switch row[c] { case let .real(v): return v; case .null: return 0; case let other: throw wrong(other) }
                })
            case .text, .json, .numeric:
                binds.append(try rows.map { row -> String in
                    switch row[c] { case let .text(v): return v; case .null: return column.kind == .text ? "" : "0"; case let other: throw wrong(other) }
                })
            case .blob, .stageRecord:
                binds.append(try rows.map { row -> ByteBuffer in
                    switch row[c] { case let .bytes(v): return ByteBuffer(bytes: v); case .null: return ByteBuffer(); case let other: throw wrong(other) }
                })
            }
            arrays.append("$\(binds.count)::\(column.kind.arrayType)[]")
            names.append("c\(c)")
            // text arrives as text and becomes json or numeric here
            let value = column.kind == .json || column.kind == .numeric ? "u.c\(c)::\(column.kind.postgresType)" : "u.c\(c)"
            if nulls.isEmpty {
                selected.append(value)
            } else {
                binds.append(nulls)
                arrays.append("$\(binds.count)::bool[]")
                names.append("n\(c)")
                selected.append("CASE WHEN u.n\(c) THEN NULL ELSE \(value) END")
            }
        }
        let sql = """
            INSERT INTO "\(table.name)" (\(table.columns.map { "\"\($0.name)\"" }.joined(separator: ", ")))\(table.identity.isEmpty ? "" : " OVERRIDING SYSTEM VALUE")
            SELECT \(selected.joined(separator: ", ")) FROM unnest(\(arrays.joined(separator: ", "))) AS u(\(names.joined(separator: ", ")))
            """
        try await db.execute(PostgresQuery(unsafeSQL: sql, binds: binds))
    }

    /// A source row's values as they are to be stored (after the rowid at `offset - 1`); nil for a row that has
    /// nothing to copy (a model version with no file anywhere).
    static func sourceValues(_ row: Row, _ table: Table, offset: Int, notes: inout CopyNotes) throws -> [Value]? {
        var values: [Value] = []
        values.reserveCapacity(table.columns.count)
        for (i, column) in table.columns.enumerated() {
            let value: DatabaseValue = row[offset + i]
            values.append(try Self.value(value, column, table, notes: &notes))
        }
        if table.filesFromDisk, values[1] == .null {
            let version: String = row[offset]
            let path: String = row[offset + table.columns.count]
            guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
                notes.modelFiles.append(ModelFileNote(version: version, path: path, found: false))
                return nil
            }
            notes.modelFiles.append(ModelFileNote(version: version, path: path, found: true))
            values[1] = .bytes([UInt8](data))
        }
        return values
    }

    /// A value read from SQLite as the target column's kind.
    /// - Throws: `StoreError.corruptRow` naming the table and column for a value of another type.
    static func value(_ value: DatabaseValue, _ column: Column, _ table: Table, notes: inout CopyNotes) throws -> Value {
        func wrong() -> StoreError {
            StoreError.corruptRow("\(table.name).\(column.name): \(value) where \(column.kind) was expected")
        }
        switch (column.kind, value.storage) {
        case (_, .null): return .null
        case let (.integer, .int64(v)): return .integer(v)
        case let (.integer, .double(v)) where v.rounded() == v && abs(v) < 9.2e18: return .integer(Int64(v))
        case let (.real, .double(v)): return .real(v)
        case let (.real, .int64(v)): return .real(Double(v))
        case let (.text, .string(v)), let (.json, .string(v)): return .text(v)
        case let (.blob, .blob(v)): return .bytes([UInt8](v))
        case let (.numeric, .int64(v)): return .text(String(v))
        case let (.numeric, .double(v)) where v.isFinite && v.rounded() == v:
            // A sum SQLite carried past Int64 as a REAL: its exact integer value.
            return .text(String(format: "%.0f", v))
        case let (.stageRecord, .blob(v)): return .bytes([UInt8](v))
        case let (.stageRecord, .string(json)):
            notes.convertedStageBodies += 1
            return .bytes(StageRecord.encode(try Codec.decode(StageResult.self, json)))
        default: throw wrong()
        }
    }

    // MARK: Verifying

    /// Both sides' counts and checksums, table by table; SQLite's are computed on its own queue meanwhile.
    static func verify(_ reader: any DatabaseReader, _ db: PostgresStore.Session,
                       progress: @escaping @Sendable (MigrationProgress) -> Void) async throws -> [TableCheck] {
        async let sourceSums = reader.read { sqlite in try Self.tables.map { try Self.sourceChecksum(sqlite, $0).sum } }
        var targetSums: [Checksum.Sum] = []
        for table in tables {
            progress(.verifying(table: table.name))
            targetSums.append(try await targetChecksum(db, table).sum)
        }
        return zip(tables, zip(try await sourceSums, targetSums)).map { table, sums in
            TableCheck(table: table.name, sourceRows: sums.0.rows, targetRows: sums.1.rows, sourceSHA256: sums.0.hex, targetSHA256: sums.1.hex)
        }
    }

    static func sourceChecksum(_ db: Database, _ table: Table) throws -> Checksum {
        var sum = Checksum()
        var notes = CopyNotes()
        let sql = "\(table.sqliteSelect(rowid: false)) ORDER BY \(table.sqliteOrder.joined(separator: ", "))"
        let cursor = try Row.fetchCursor(db, sql: sql)
        while let row = try cursor.next() {
            if let values = try sourceValues(row, table, offset: 0, notes: &notes) { sum.add(values) }
        }
        return sum
    }

    static func targetChecksum(_ db: PostgresStore.Session, _ table: Table) async throws -> Checksum {
        var sum = Checksum()
        let rows = try await db.connection.query(PostgresQuery(unsafeSQL: table.postgresVerifySelect), logger: db.logger)
        var values: [Value] = []
        values.reserveCapacity(table.columns.count)
        for try await row in rows {
            values.removeAll(keepingCapacity: true)
            for (cell, column) in zip(row, table.columns) { values.append(try Self.value(cell, column, table)) }
            sum.add(values)
        }
        return sum
    }

    /// A value read back from PostgreSQL (as `postgresVerifySelect` casts it).
    static func value(_ cell: PostgresCell, _ column: Column, _ table: Table) throws -> Value {
        guard cell.bytes != nil else { return .null }
        do {
            switch column.kind {
            case .integer: return .integer(try cell.decode(Int64.self))
            case .real: return .real(try cell.decode(Double.self))
            case .text, .json, .numeric: return .text(try cell.decode(String.self))
            case .blob, .stageRecord: return .bytes(Array(buffer: try cell.decode(ByteBuffer.self)))
            }
        } catch {
            throw StoreError.corruptRow("\(table.name).\(column.name) in PostgreSQL: \(error)")
        }
    }
}

// MARK: - Tables

extension StoreMigration {
    /// How a column is read from SQLite, written to PostgreSQL, read back and rendered for the checksum.
    enum Kind: CustomStringConvertible {
        case integer, real, text, blob
        /// Exact integers in `numeric` (SQLite: an INTEGER, or a REAL past Int64); compared as their decimal text.
        case numeric
        /// Text in a `json` column, kept as written; compared as text.
        case json
        /// `stage_result.body`: a `StageRecord` (BLOB), or JSON text from older Winnows, converted.
        case stageRecord

        /// The type of the array a page of its values travels in (`json` and `numeric` as text, cast on insert).
        var arrayType: String {
            switch self {
            case .json, .numeric: return "text"
            default: return postgresType
            }
        }

        var postgresType: String {
            switch self {
            case .integer: return "int8"
            case .real: return "float8"
            case .text: return "text"
            case .blob, .stageRecord: return "bytea"
            case .numeric: return "numeric"
            case .json: return "json"
            }
        }

        var description: String {
            switch self {
            case .integer: return "an integer"
            case .real: return "a number"
            case .text, .json: return "text"
            case .blob: return "a blob"
            case .numeric: return "a whole number"
            case .stageRecord: return "a stage record or JSON text"
            }
        }
    }

    struct Column: Sendable {
        var name: String
        var kind: Kind
        /// The expression that reads it from SQLite (default: the column).
        var sqlite: String

        init(_ name: String, _ kind: Kind, sqlite: String? = nil) {
            self.name = name
            self.kind = kind
            self.sqlite = sqlite ?? "\"\(name)\""
        }

        /// The expression that reads it back from PostgreSQL: integers widened, `numeric` and `json` as their text.
        var postgres: String {
            switch kind {
            case .integer: return "\"\(name)\"::int8"
            case .numeric, .json: return "\"\(name)\"::text"
            default: return "\"\(name)\""
            }
        }
    }

    struct Table: Sendable {
        var name: String
        var columns: [Column]
        /// The checksum's row order: the primary key (for `engagement_model`, its save order).
        var key: [String]
        /// Identity columns, whose sequences move past the copied values.
        var identity: [String]
        var sqliteFrom: String
        var sqliteRowid = "rowid"
        /// SQLite's expressions for `key` (by default the key's columns: BINARY collation, byte order).
        var sqliteOrder: [String]
        /// `model_file`: a version without a row there takes the file its `model_version` row names.
        var filesFromDisk = false
        /// PostgreSQL's rows to compare, when they are not simply the table's (`feed_baseline`'s shards added up).
        var postgresRows: String?

        init(_ name: String, _ columns: [Column], key: [String] = ["id"], identity: [String] = ["id"], sqliteOrder: [String]? = nil) {
            self.name = name
            self.columns = columns
            self.key = key
            self.identity = identity
            self.sqliteFrom = "\"\(name)\""
            self.sqliteOrder = sqliteOrder ?? key.map { "\"\($0)\"" }
        }

        /// `SELECT [rowid,] columns [, the registry file] FROM …`.
        func sqliteSelect(rowid: Bool) -> String {
            var expressions = columns.map(\.sqlite)
            if rowid { expressions.insert(sqliteRowid, at: 0) }
            if filesFromDisk { expressions.append("v.file") }
            return "SELECT \(expressions.joined(separator: ", ")) FROM \(sqliteFrom)"
        }

        /// Every row in key order, text keys by their bytes (`COLLATE "C"`, as SQLite's BINARY).
        var postgresVerifySelect: String {
            if let postgresRows { return postgresRows }
            let order = key.map { name in
                columns.first { $0.name == name }?.kind == .text ? "\"\(name)\" COLLATE \"C\"" : "\"\(name)\""
            }
            return "SELECT \(columns.map(\.postgres).joined(separator: ", ")) FROM \"\(name)\" ORDER BY \(order.joined(separator: ", "))"
        }
    }

    /// Every table with data, in copying order, with the final SQLite schema's columns (v1 to v4).
    static let tables: [Table] = {
        let i = Kind.integer, r = Kind.real, t = Kind.text
        var engagementModel = Table("engagement_model", [Column("version", t), Column("body", t), Column("created_at", r), Column("saved", i, sqlite: "rowid")],
                                    key: ["saved"], identity: ["saved"], sqliteOrder: ["rowid"])
        engagementModel.sqliteFrom = "engagement_model"
        var modelFile = Table("model_file", [Column("version", t, sqlite: "v.version"), Column("bytes", .blob, sqlite: "f.bytes")],
                              key: ["version"], identity: [], sqliteOrder: ["v.version"])
        modelFile.sqliteFrom = "model_version v LEFT JOIN model_file f ON f.version = v.version"
        modelFile.sqliteRowid = "v.rowid"
        modelFile.filesFromDisk = true
        // PostgreSQL spreads a feed's baseline over rows that add up (migration v3-baseline-shards, an item's updates in
        // shard id % 16). A feed's sums are copied into its shard 0 (the column's default), and compared added up per
        // feed, which is what a store reads: after the copy, one row each, so the sums are the copied values exactly.
        var feedBaseline = Table("feed_baseline", [Column("feed", t), Column("items", i), Column("views", .numeric), Column("reports", .numeric),
                                                   Column("log_velocity_sum", r)], key: ["feed"], identity: [])
        feedBaseline.postgresRows = """
            SELECT feed, sum(items)::int8, sum(views)::text, sum(reports)::text, sum(log_velocity_sum) FROM feed_baseline
            GROUP BY feed ORDER BY feed COLLATE "C"
            """
        return [
            Table("item", [Column("id", i), Column("feed", t), Column("external_id", t), Column("digest", t), Column("submission", .json),
                           Column("received_at", r), Column("created_at", r), Column("stages", i), Column("engagement", t), Column("log_velocity", r),
                           Column("last_engagement_stage_age", r), Column("next_rescore_at", r), Column("next_rescore_age", r), Column("reviewed", t)]),
            Table("stage_result", [Column("id", i), Column("item", i), Column("seq", i), Column("stage", t), Column("scored_at", r),
                                   Column("model_version", t), Column("policy_version", i), Column("action", t), Column("body", .stageRecord)]),
            Table("engagement_snapshot", [Column("id", i), Column("item", i), Column("at", r), Column("views", i), Column("likes", i), Column("shares", i),
                                          Column("comments", i), Column("reports", i), Column("hides", i)]),
            feedBaseline,
            Table("policy", [Column("feed", t), Column("version", i), Column("body", t), Column("created_at", r), Column("created_by", t)],
                  key: ["feed", "version"], identity: []),
            Table("api_key", [Column("name", t), Column("role", t), Column("hash", t), Column("created_at", r), Column("revoked_at", r),
                              Column("tiers", t), Column("feeds", t)],
                  key: ["name"], identity: []),
            Table("label", [Column("id", i), Column("feed", t), Column("item_id", t), Column("label", t), Column("source", t), Column("by", t),
                            Column("at", r), Column("tier", i), Column("model_label", t), Column("model_probability", r), Column("model_version", t),
                            Column("withdrawn_at", r), Column("withdrawn_by", t), Column("replaces", i), Column("learnt_into", t)]),
            engagementModel,
            Table("ticket", [Column("id", i), Column("item", i), Column("tier", i), Column("reasons", i), Column("status", t), Column("language", t),
                             Column("skill", t), Column("opened_at", r), Column("due_at", r), Column("base_priority", r), Column("priority", r),
                             Column("refresh_at", r), Column("lease_holder", t), Column("lease_until", r), Column("version", i),
                             Column("audit_probability", r), Column("gold_label", t), Column("note", t), Column("decided_at", r), Column("decided_by", t),
                             Column("decided_label", t), Column("first_by", t), Column("first_at", r), Column("first_label", t), Column("first_action", t),
                             Column("first_code", t), Column("first_note", t), Column("second_by", t), Column("second_label", t),
                             Column("escalated_by", t)]),
            Table("ticket_event", [Column("id", i), Column("ticket", i), Column("item", i), Column("at", r), Column("kind", t), Column("body", t)]),
            Table("report", [Column("id", i), Column("item", i), Column("reporter", t), Column("at", r), Column("outcome", t)]),
            Table("reporter", [Column("feed", t), Column("reporter", t), Column("upheld", i), Column("rejected", i)], key: ["feed", "reporter"], identity: []),
            Table("gold", [Column("item", i), Column("label", t), Column("added_by", t), Column("added_at", r)], key: ["item"], identity: []),
            Table("model_version", [Column("version", t), Column("file", t), Column("kind", t), Column("classes", t), Column("parent", t), Column("card", t),
                                    Column("registered_by", t), Column("registered_at", r)], key: ["version"], identity: []),
            modelFile,
            Table("model_promotion", [Column("id", i), Column("feed", t), Column("to_shared", i), Column("version", t), Column("previous", t), Column("kind", t), Column("by", t),
                                      Column("at", r)]),
            Table("decision_event", [Column("seq", i), Column("feed", t), Column("item_id", t), Column("at", r), Column("cause", t), Column("body", t)],
                  key: ["seq"], identity: []),
            Table("event_horizon", [Column("feed", t), Column("pruned_through", i)], key: ["feed"], identity: []),
            Table("webhook", [Column("feed", t), Column("url", t), Column("secret", t), Column("causes", t), Column("endpoint_id", t),
                              Column("created_by", t), Column("created_at", r), Column("delivered_seq", i), Column("batch_through", i),
                              Column("attempts", i), Column("next_attempt_at", r), Column("failing_since", r), Column("last_error", t),
                              Column("last_attempt_at", r), Column("last_success_at", r), Column("delivered", i), Column("failed", i),
                              Column("lease_holder", t), Column("lease_until", r)], key: ["feed"], identity: []),
            Table("retrain_pass", [Column("id", i), Column("feed", t), Column("state", t), Column("started_at", r), Column("body", t)], identity: []),
            Table("bank", [Column("name", t), Column("label", t), Column("action", t), Column("feeds", t), Column("description", t), Column("version", i),
                           Column("entries", i), Column("created_by", t), Column("created_at", r), Column("updated_at", r)], key: ["name"], identity: []),
            Table("bank_entry", [Column("id", i), Column("bank", t), Column("kind", t), Column("value", t), Column("digest", t), Column("quality", i),
                                 Column("note", t), Column("feed", t), Column("item_id", t), Column("ticket_id", i), Column("label_id", i),
                                 Column("added_by", t), Column("added_at", r), Column("removed_at", r), Column("revision", i)]),
        ]
    }()
}

// MARK: - Values and checksums

extension StoreMigration {
    /// A copied value, typed as both databases can hold it.
    enum Value: Equatable, Sendable {
        case null
        case integer(Int64)
        case real(Double)
        case text(String)
        case bytes([UInt8])

        /// About how many bytes it takes (for the page size).
        var size: Int {
            switch self {
            case .null: return 1
            case .integer, .real: return 8
            case let .text(s): return s.utf8.count
            case let .bytes(b): return b.count
            }
        }
    }

    /// SHA-256 over the canonical rendering of rows, and their count. Each value is a tag byte (0 NULL, 1 integer,
    /// 2 real, 3 text, 4 bytes) followed by 8 bytes big-endian (the integer; the real's IEEE 754 bits) or by the length
    /// (8 bytes big-endian) and the bytes (UTF-8 for text): the rendering of a row can be read back unambiguously, so
    /// two different tables of rows cannot render the same.
    struct Checksum {
        private var hasher = SHA256()
        private var buffer: [UInt8] = []
        private(set) var rows = 0

        mutating func add(_ row: [Value]) {
            buffer.removeAll(keepingCapacity: true)
            for value in row { Self.render(value, into: &buffer) }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            rows += 1
        }

        static func render(_ value: Value, into buffer: inout [UInt8]) {
            func number(_ x: UInt64) { withUnsafeBytes(of: x.bigEndian) { buffer.append(contentsOf: $0) } }
            switch value {
            case .null: buffer.append(0)
            case let .integer(v): buffer.append(1); number(UInt64(bitPattern: v))
            case let .real(v): buffer.append(2); number(v.bitPattern)
            case let .text(v): buffer.append(3); number(UInt64(v.utf8.count)); buffer.append(contentsOf: v.utf8)
            case let .bytes(v): buffer.append(4); number(UInt64(v.count)); buffer.append(contentsOf: v)
            }
        }

        var hex: String {
            hasher.finalize().map { String(format: "%02x", $0) }.joined()
        }

        /// The count and the digest (in hex), which can cross to another task.
        struct Sum: Sendable {
            var rows: Int
            var hex: String
        }

        var sum: Sum { Sum(rows: rows, hex: hex) }
    }

    /// What copying a table did besides copying.
    struct CopyNotes: Sendable {
        var rows = 0
        var convertedStageBodies = 0
        var modelFiles: [ModelFileNote] = []

        mutating func merge(_ other: CopyNotes) {
            rows += other.rows
            convertedStageBodies += other.convertedStageBodies
            modelFiles += other.modelFiles
        }
    }
}

// MARK: - Results and errors

/// A model version that had no file in the SQLite database: its registry file was copied (`found`), or it was not
/// there and the version was copied without one (the server cannot load it until it is registered again).
public struct ModelFileNote: Sendable, Equatable {
    public var version: String
    public var path: String
    public var found: Bool
}

/// What a migration reports while it runs.
public enum MigrationProgress: Sendable {
    /// Rows copied of a table so far (after each INSERT), of `total` in the source.
    case copying(table: String, copied: Int, total: Int)
    case copied(table: String, rows: Int, seconds: Double)
    case modelFile(ModelFileNote)
    case verifying(table: String)
}

/// One table compared: its rows and the SHA-256 of their canonical rendering, on each side.
public struct TableCheck: Sendable, Equatable {
    public var table: String
    public var sourceRows: Int
    public var targetRows: Int
    public var sourceSHA256: String
    public var targetSHA256: String

    public var matches: Bool { sourceRows == targetRows && sourceSHA256 == targetSHA256 }
}

/// What a migration copied and found.
public struct MigrationReport: Sendable {
    public var checks: [TableCheck] = []
    /// Rows copied, every table together.
    public var rows = 0
    /// Stage results stored as JSON text in SQLite, written as records.
    public var convertedStageBodies = 0
    /// Model versions whose file came from the registry directory, or was nowhere.
    public var modelFiles: [ModelFileNote] = []

    public var matches: Bool { checks.allSatisfy(\.matches) }

    mutating func add(_ notes: StoreMigration.CopyNotes) {
        rows += notes.rows
        convertedStageBodies += notes.convertedStageBodies
        modelFiles += notes.modelFiles
    }
}

/// Why a migration stopped, saying what to do.
public enum MigrationError: Error, CustomStringConvertible, Equatable {
    case sourceMissing(String)
    case notWinnow(String)
    case unreadableSource(String, String)
    case targetHoldsData(tables: [String])
    case targetBusy
    case mismatch([TableCheck])
    case failed(String)
    case checkFailed(String)

    public var description: String {
        switch self {
        case let .sourceMissing(path):
            return "No SQLite database at \(path); pass --from PATH, the file 'winnow serve' used (its --database or WINNOW_DATABASE)."
        case let .notWinnow(path):
            return "\(path) is an SQLite file but not a Winnow database (it has no item and stage_result tables); pass --from the file 'winnow serve' used."
        case let .unreadableSource(path, reason):
            return "Cannot open \(path) as a Winnow database (\(reason)). Check that it is the SQLite file 'winnow serve' used and that its folder "
                + "is writable (the schema is brought up to date first, and SQLite keeps its log beside the file)."
        case let .targetHoldsData(tables):
            return "The PostgreSQL database already holds Winnow data (rows in \(tables.joined(separator: ", "))); nothing was copied. "
                + "Point --to at an empty database (e.g. createdb winnow_new), or run again with --force to empty its Winnow tables and replace them "
                + "with the SQLite file's rows."
        case .targetBusy:
            return "Another connection is using the PostgreSQL database's tables (waited 10 s for their locks); nothing was copied. "
                + "Stop the servers using it ('winnow serve' with this --database) and run again."
        case let .mismatch(checks):
            let differing = checks.filter { !$0.matches }.map { check in
                check.sourceRows == check.targetRows ? "\(check.table) (same \(check.sourceRows) rows, different contents)"
                    : "\(check.table) (\(check.sourceRows) rows in SQLite, \(check.targetRows) in PostgreSQL)"
            }
            return "The copy does not match the source in \(differing.joined(separator: ", ")); the transaction was rolled back and the "
                + "PostgreSQL database is as it was. This is a bug in the migration or a changed schema: please report it with the table above."
        case let .failed(reason):
            return "The copy failed (\(reason)); it was rolled back and the PostgreSQL database is as it was. Fix the cause and run again."
        case let .checkFailed(reason):
            return "The databases could not be compared (\(reason)); nothing was changed. Fix the cause and run again."
        }
    }
}

extension SQLiteStore {
    /// One unchanging view of the database for a long read: a snapshot of a file (a WAL read transaction held open,
    /// so the writer carries on), the queue itself in memory.
    func snapshotReader() throws -> any DatabaseReader {
        if let pool = writer as? DatabasePool { return try pool.makeSnapshot() }
        return writer
    }
}

extension PostgresStore {
    /// `url` without its password, for messages (a file's path as it is).
    public static func redacted(url: String) -> String {
        (try? PostgresLocation(url).redacted) ?? PostgresLocation.withoutPassword(url)
    }
}
