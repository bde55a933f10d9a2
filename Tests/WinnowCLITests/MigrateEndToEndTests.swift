import Engine
import Foundation
import Storage
import Testing
import TestSupport

/// `winnow migrate` as an operator runs it: an SQLite file into a fresh PostgreSQL database, then again.
@Suite struct MigrateEndToEndTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(.enabled(if: EndToEndTests.executable != nil && TestPostgres.included))
    func copiesChecksRefusesAndReplacesWithForce() async throws {
        let dir = try EndToEndTests.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let database = dir + "/winnow.sqlite"
        let store = try SQLiteStore(path: database)
        try await store.createKey(APIKeyRecord(name: "root", role: .admin, hash: String(repeating: "a", count: 64), createdAt: Self.t0))
        _ = try await store.savePolicy(Policy(feed: "news", rules: ["spam": ClassRule(remove: 0.9)]), by: "ops", at: Self.t0)
        _ = try await store.addLabels([LabelRecord(feed: "news", itemID: "x1", label: "spam", source: "import", by: "team", at: Self.t0)])
        let url = try await TestPostgres.freshDatabase()

        // A check of a database without Winnow's schema writes nothing there (it wrote the schema, outside testing).
        let unmade = try EndToEndTests.run(["migrate", "--from", database, "--to", url, "--check-only"])
        #expect(unmade.status == 1 && unmade.stderr.contains("no Winnow schema"), "\(unmade.stderr)")
        let keys = try EndToEndTests.run(["keys", "list", "--database", url])
        #expect(keys.status != 0 && keys.stderr.contains("no Winnow schema"), "\(keys.stdout)\(keys.stderr)")

        let copied = try EndToEndTests.run(["migrate", "--from", database, "--to", url])
        #expect(copied.status == 0, "\(copied.stderr)")
        let lines = copied.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("table") == true)
        for table in StoreMigration.tableNames {
            #expect(lines.contains { $0.hasPrefix(table + " ") && $0.hasSuffix("ok") }, "\(table) in\n\(copied.stdout)")
        }
        let keyLine = try #require(lines.first { $0.hasPrefix("api_key ") })
        #expect(keyLine.split(separator: " ").prefix(3) == ["api_key", "1", "1"])
        #expect(copied.stdout.contains("Copied 3 rows from \(database) into postgres://"))
        #expect(copied.stdout.contains("every table matches"))
        #expect(!copied.stdout.contains("DIFFERS"))

        // The target holds data now: a second run refuses and says how to go on; --force replaces it.
        let again = try EndToEndTests.run(["migrate", "--from", database, "--to", url])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds Winnow data (rows in policy, api_key, label); nothing was copied"), "\(again.stderr)")
        #expect(again.stderr.contains("--force"))
        let forced = try EndToEndTests.run(["migrate", "--from", database, "--to", url, "--force", "--batch-size", "1"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdout.contains("every table matches"))

        // --check-only compares without copying: equal, then (a key revoked in PostgreSQL) different, exit status 2.
        let same = try EndToEndTests.run(["migrate", "--from", database, "--to", url, "--check-only"])
        #expect(same.status == 0, "\(same.stderr)")
        #expect(same.stdout.contains("Every table matches (3 rows)."))
        let postgres = try await PostgresStore.connect(url: url, poolSize: 1)
        #expect(try await postgres.revokeKey(name: "root", at: Self.t0))
        await postgres.close()
        let changed = try EndToEndTests.run(["migrate", "--from", database, "--to", url, "--check-only"])
        #expect(changed.status == 2)
        #expect(changed.stdout.split(separator: "\n").contains { $0.hasPrefix("api_key ") && $0.hasSuffix("DIFFERS") })
        #expect(changed.stderr.contains("The databases differ in api_key."), "\(changed.stderr)")
    }

    @Test(.enabled(if: EndToEndTests.executable != nil))
    func mistakesAreExplained() throws {
        let dir = try EndToEndTests.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = try EndToEndTests.run(["migrate", "--from", dir + "/none.sqlite", "--to", "postgres://winnow@127.0.0.1:1/winnow"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("No SQLite database at \(dir)/none.sqlite; pass --from PATH"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/none.sqlite"))

        let swapped = try EndToEndTests.run(["migrate", "--from", "postgres://winnow:secret@db/winnow", "--to", dir + "/winnow.sqlite"])
        #expect(swapped.status != 0)
        #expect(swapped.stderr.contains("--from is the SQLite file to copy, and --to the PostgreSQL URL"), "\(swapped.stderr)")
        #expect(!swapped.stderr.contains("secret"))

        // Nothing listens on port 1: PostgresStore.connect's own message, without the password.
        _ = try SQLiteStore(path: dir + "/winnow.sqlite")
        let unreachable = try EndToEndTests.run(["migrate", "--from", dir + "/winnow.sqlite", "--to", "postgres://winnow:secret@127.0.0.1:1/winnow"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("Cannot open the database at postgres://winnow@127.0.0.1:1/winnow"), "\(unreachable.stderr)")
        #expect(!unreachable.stderr.contains("secret"))

        // Read with its line breaks as spaces (the help is wrapped to the terminal's width).
        let help = try EndToEndTests.run(["migrate", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("winnow migrate --from winnow.sqlite --to postgres://"))
        #expect(help.contains("TRUNCATE item, stage_result"), "\(help)")
        #expect(help.contains("--check-only"))
    }
}
