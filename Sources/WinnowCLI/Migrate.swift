import ArgumentParser
import Foundation
import Storage
import Synchronization

/// `winnow migrate`: moves an embedded SQLite database into PostgreSQL (`StoreMigration` does the copying and the
/// check; this command opens both ends, reports progress and prints the comparison).
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy an SQLite database into PostgreSQL, every row with its id, and check the copy.",
        discussion: """
            Copies every table of the SQLite file 'winnow serve' used into a PostgreSQL database: items with their \
            whole histories (stage results, engagement snapshots, tickets and their steps), feed baselines, reports and \
            reporters, labels, gold items, API keys, policies, the model registry (versions, their files, promotions) \
            and the engagement model. Ids are kept, and the target's id sequences are moved past them. Stage results \
            stored as JSON by older Winnows are converted to the binary record; a model version registered before \
            model files were kept in the database gets the bytes of its registry file (model_version.file, relative \
            paths from the current directory), or is copied without one, with a warning, if that file is gone.

            The target's schema is created if missing. Everything happens in one PostgreSQL transaction: the copy, then \
            a check of each table (row counts, and a SHA-256 over every row in key order, computed from the rows read \
            back from both databases), printed as a table. Only when every table matches is the transaction committed; \
            on any difference, or any error, nothing is written and the exit status is non-zero.

            The SQLite file is read from one snapshot: stop 'winnow serve' first, or rows written during the copy \
            are not copied. Its schema is brought up to date first, as 'winnow serve' would.

            A target that already holds Winnow data (any row in the copied tables) is refused, unless --force.

            Exit status: 0 copied (or, with --check-only, equal); 2 the databases differ; 1 any other error.

            Examples:
              winnow migrate --from winnow.sqlite --to postgres://winnow:pw@db:5432/winnow
              winnow migrate --from winnow.sqlite --to postgres://winnow@db/winnow --force
              winnow migrate --from winnow.sqlite --to postgres://winnow@db/winnow \\
                --check-only
            """)

    @Option(help: "The SQLite file to copy (what 'winnow serve' used as --database).")
    var from: String

    @Option(help: "The PostgreSQL database to fill: postgres://USER:PASSWORD@HOST:PORT/DATABASE (created beforehand, e.g. with createdb).")
    var to: String

    @Flag(help: ArgumentHelp(
        "Replace whatever Winnow data the target holds.",
        discussion: "Empties every Winnow table of the target first (TRUNCATE \(StoreMigration.emptiedByForce.joined(separator: ", ")) RESTART "
            + "IDENTITY; the schema and its migration record stay), inside the same transaction as the copy: if the copy fails or differs, "
            + "the old rows are still there. Tables of other applications in the same database are not touched."))
    var force = false

    @Flag(name: .customLong("check-only"), help: "Copy nothing: compare the two databases table by table as they are now (after a migration, or to see whether a copy is still current).")
    var checkOnly = false

    @Option(name: .customLong("batch-size"), help: "Rows per INSERT (1-10000).")
    var batchSize = 1_000

    func validate() throws {
        guard !PostgresStore.isURL(from) else {
            throw ValidationError("--from is the SQLite file to copy, and --to the PostgreSQL URL (\(PostgresStore.redacted(url: from)) was given as --from).")
        }
        guard PostgresStore.isURL(to) else {
            throw ValidationError("--to must be a PostgreSQL URL, postgres://USER:PASSWORD@HOST:PORT/DATABASE; got '\(to)'.")
        }
        guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size is between 1 and 10000; got \(batchSize).") }
        guard !(force && checkOnly) else { throw ValidationError("--force and --check-only do not go together: --check-only changes nothing.") }
    }

    func run() async throws {
        let source: SQLiteStore
        do {
            source = try StoreMigration.openSource(path: from)
        } catch {
            throw CommandError("\(error)")
        }
        let target: PostgresStore
        do {
            // A check copies nothing and writes nothing: a database without Winnow's schema is refused, not given it
            // (outside testing: --check-only on a misspelt --to wrote 26 tables there, which later commands took for
            // a Winnow database).
            target = try await PostgresStore.connect(url: to, poolSize: 2, create: !checkOnly)
        } catch {
            throw CommandError("\(error)")
        }
        // Closed on every way out (its connections would otherwise linger until the process ends).
        let outcome: Result<Void, any Error>
        do {
            try await migrate(StoreMigration(from: source, to: target, batchSize: batchSize))
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await target.close()
        try outcome.get()
    }

    func migrate(_ migration: StoreMigration) async throws {
        let reporter = ProgressReporter()
        let started = Date()
        if checkOnly {
            let checks: [TableCheck]
            do {
                checks = try await migration.verify(progress: reporter.report)
            } catch {
                throw CommandError("\(error)")
            }
            print(Self.table(checks) + "\n")
            guard checks.allSatisfy(\.matches) else {
                let differing = checks.filter { !$0.matches }.map(\.table)
                FileHandle.standardError.write(Data("The databases differ in \(differing.joined(separator: ", ")).\n".utf8))
                throw ExitCode(2)
            }
            print("Every table matches (\(Self.grouped(checks.map(\.sourceRows).reduce(0, +))) rows).")
            return
        }
        let report: MigrationReport
        do {
            report = try await migration.run(force: force, progress: reporter.report)
        } catch let error as MigrationError {
            if case let .mismatch(checks) = error {
                print(Self.table(checks) + "\n")
                FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
                throw ExitCode(2)
            }
            throw CommandError("\(error)")
        }
        print(Self.table(report.checks) + "\n")
        var notes: [String] = []
        if report.convertedStageBodies > 0 { notes.append("\(Self.grouped(report.convertedStageBodies)) stage results converted from JSON to records") }
        let fromDisk = report.modelFiles.filter(\.found).count
        if fromDisk > 0 { notes.append("\(fromDisk) model file\(fromDisk == 1 ? "" : "s") read from the registry directory") }
        let seconds = String(format: "%.1f", Date().timeIntervalSince(started))
        print("Copied \(Self.grouped(report.rows)) rows from \(from) into \(PostgresStore.redacted(url: to)) in \(seconds) s; every table matches."
              + (notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ".)"))
        let missing = report.modelFiles.filter { !$0.found }
        if !missing.isEmpty {
            FileHandle.standardError.write(Data("""
                Warning: \(missing.map { "\($0.version) (\($0.path))" }.joined(separator: ", ")) had no model file in the SQLite database nor on disk: \
                copied without one. The server cannot load such a version; register its file again (winnow models register) if it is needed.

                """.utf8))
        }
        print("Point 'winnow serve --database' (or WINNOW_DATABASE) at the --to URL (\(PostgresStore.redacted(url: to)), its password not shown) to use it.")
    }

    /// The comparison, one line per table.
    static func table(_ checks: [TableCheck]) -> String {
        let width = max(5, checks.map(\.table.count).max() ?? 5)
        var lines = [pad("table", width) + "  " + pad("SQLite rows", 12, right: true) + "  " + pad("PostgreSQL rows", 15, right: true)
                     + "  " + pad("SHA-256 (SQLite)", 16) + "  " + pad("SHA-256 (PostgreSQL)", 20) + "  "]
        for check in checks {
            lines.append(pad(check.table, width) + "  " + pad(grouped(check.sourceRows), 12, right: true) + "  "
                         + pad(grouped(check.targetRows), 15, right: true) + "  " + pad(String(check.sourceSHA256.prefix(16)), 16) + "  "
                         + pad(String(check.targetSHA256.prefix(16)), 20) + "  " + (check.matches ? "ok" : "DIFFERS"))
        }
        return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }.joined(separator: "\n")
    }

    /// 1234567 → "1,234,567".
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }
}

/// Progress on standard error: for tables of 10,000 rows or more, a line every two seconds while copying and one when
/// done, and as its check starts; each model file read from disk.
final class ProgressReporter: Sendable {
    private let lastLine = Mutex<Date>(.distantPast)
    /// The big tables copied, with their rows (their checks take a while too).
    private let bigTables = Mutex<[String: Int]>([:])
    private let bigTable = 10_000

    var report: @Sendable (MigrationProgress) -> Void {
        { [self] event in handle(event) }
    }

    private func handle(_ event: MigrationProgress) {
        switch event {
        case let .copying(table, copied, total):
            guard total >= bigTable, copied > 0, copied < total else { return }
            let now = Date()
            let due = lastLine.withLock { last in
                guard now.timeIntervalSince(last) >= 2 else { return false }
                last = now
                return true
            }
            if due { write("copying \(table): \(Migrate.grouped(copied)) of \(Migrate.grouped(total)) rows (\(copied * 100 / total)%)") }
        case let .copied(table, rows, seconds):
            if rows >= bigTable {
                bigTables.withLock { $0[table] = rows }
                write("copied \(table): \(Migrate.grouped(rows)) rows in \(String(format: "%.1f", seconds)) s")
            }
        case let .modelFile(note):
            if note.found { write("model \(note.version): no file in the database; copied the registry file \(note.path)") }
        case let .verifying(table):
            if let rows = bigTables.withLock({ $0[table] }) { write("checking \(table): reading its \(Migrate.grouped(rows)) rows back from both databases") }
        }
    }

    private func write(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
