import Engine
import Foundation
import Glibc
import Storage
import Testing

/// `winnow serve` as a real process on a free port over a real SQLite file.
@Suite(.serialized) struct ServeEndToEndTests {
    static let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/default.winnow").path

    struct CommandFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: model)))
    func aDecisionSurvivesKillNineAndTheScheduleResumes() async throws {
        let dir = try EndToEndTests.folder()
        let database = dir + "/winnow.sqlite"
        let created = try EndToEndTests.run(["keys", "create", "--role", "feed", "--name", "news-feed", "--database", database])
        #expect(created.status == 0, "\(created.stderr)")
        let key = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.hasPrefix("wnw_"))

        let first = try Server(database: database)
        #expect(first.printed.contains("created the admin API key"))
        #expect(first.printed.contains("curl -s http://127.0.0.1:\(first.port)/v1/items"))
        let item = #"{"id": "post-1", "feed": "news", "text": "WINNER!! Claim your FREE prize now, call 09061701461"}"#
        let (status, answer) = try await first.request("POST", "/v1/items", key: key, body: item)
        #expect(status == 201)
        let decision = (answer["decision"] as? [String: Any])?["action"] as? String
        #expect(decision != nil)
        first.kill9()  // right after the 2xx: nothing may be lost

        let second = try Server(database: database)
        #expect(!second.printed.contains("created the admin API key"))  // only on first start
        let (again, stored) = try await second.request("GET", "/v1/items/post-1?feed=news", key: key)
        #expect(again == 200)
        #expect((stored["current"] as? [String: Any]).flatMap { ($0["decision"] as? [String: Any])?["action"] as? String } == decision)
        let (retry, _) = try await second.request("POST", "/v1/items", key: key, body: item)
        #expect(retry == 200)  // idempotent across restarts
        let (unauthorized, body) = try await second.request("POST", "/v1/items", key: nil, body: item)
        #expect(unauthorized == 401)
        #expect((body["error"] as? [String: Any])?["code"] as? String == "unauthorized")
        second.process.terminate()  // SIGTERM: graceful
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 0)

        // The schedule lives in the file: nothing is due yet, the item's 1-hour rescore waits.
        let rescore = try EndToEndTests.run(["rescore", "--due", "--database", database, "--model", Self.model])
        #expect(rescore.status == 0, "\(rescore.stderr)")
        #expect(rescore.stdout.contains("Rescored 0 due items; 1 item has a rescore scheduled later."))
    }

    /// Batches and engagement updates go through the group commit: their 2xx answers must be as durable as a
    /// single item's. `winnow rescore --due` then runs the stage-3 rescores that came due while no server ran.
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: model)))
    func batchesAndEngagementSurviveKillNineAndCronRescoresWhatIsDue() async throws {
        let dir = try EndToEndTests.folder()
        let database = dir + "/winnow.sqlite"
        let config = dir + "/winnow.json"
        // Rescores 2 seconds and 1 hour after creation; the server's own scheduler is kept out of the way.
        try #"{"schedulerIntervalSeconds": 3600, "engine": {"schedule": {"agesHours": [0.00055, 1]}}}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let key = try EndToEndTests.run(["keys", "create", "--role", "feed", "--name", "feed", "--database", database]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let server = try Server(database: database, arguments: ["--config", config])
        defer { if server.process.isRunning { server.kill9() } }
        let batch = #"{"items": [{"id": "b1", "text": "see you at the station"}, {"id": "b2", "text": "WIN a FREE prize now"}, {"id": "b3", "text": "thanks"}]}"#
        let (status, answer) = try await server.request("POST", "/v1/items:batch", key: key, body: batch)
        #expect(status == 200)
        #expect((answer["results"] as? [[String: Any]])?.map { $0["status"] as? Int } == [201, 201, 201])
        let (engaged, _) = try await server.request("POST", "/v1/items/b1/engagement", key: key, body: #"{"views": 120, "likes": 4, "reports": 1}"#)
        #expect(engaged == 200)
        server.kill9()  // right after the 2xx answers

        try await Task.sleep(for: .seconds(2.5))
        let rescore = try EndToEndTests.run(["rescore", "--due", "--database", database, "--model", Self.model, "--config", config])
        #expect(rescore.status == 0, "\(rescore.stderr)")
        #expect(rescore.stdout.contains("Rescored 3 due items; 3 items have a rescore scheduled later."), "\(rescore.stdout)")

        let again = try Server(database: database, arguments: ["--config", config])
        defer { again.process.terminate(); again.process.waitUntilExit() }
        for id in ["b1", "b2", "b3"] {
            let (found, item) = try await again.request("GET", "/v1/items/\(id)", key: key)
            #expect(found == 200, "\(id)")
            // Stages and engagement snapshots (ticket events depend on the policy and the audit sample).
            let kinds = (item["history"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String != "ticket" }.map { entry -> String in
                let kind = entry["kind"] as? String ?? "?"
                return kind == "stage" ? (entry["stage"] as? [String: Any])?["stage"] as? String ?? "?" : kind
            }
            #expect(kinds == (id == "b1" ? ["creation", "engagement", "engagement", "time"] : ["creation", "time"]), "\(id): \(kinds)")
        }
    }

    @Test(.enabled(if: EndToEndTests.executable != nil))
    func keysCanBeListedAndRevoked() throws {
        let dir = try EndToEndTests.folder()
        let database = dir + "/keys.sqlite"
        #expect(try EndToEndTests.run(["keys", "create", "--role", "moderator", "--name", "ana", "--database", database]).status == 0)
        let duplicate = try EndToEndTests.run(["keys", "create", "--role", "feed", "--name", "ana", "--database", database])
        #expect(duplicate.status != 0)
        #expect(duplicate.stderr.contains("exists already"))
        let badRole = try EndToEndTests.run(["keys", "create", "--role", "boss", "--name", "x", "--database", database])
        #expect(badRole.status != 0)
        let missing = try EndToEndTests.run(["keys", "list", "--database", dir + "/typo.sqlite"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("No database at"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/typo.sqlite"))
        let list = try EndToEndTests.run(["keys", "list", "--database", database])
        #expect(list.stdout.contains("ana"))
        #expect(list.stdout.contains("moderator"))
        #expect(!list.stdout.contains("wnw_"))  // never the secret
        #expect(try EndToEndTests.run(["keys", "revoke", "ana", "--database", database]).status == 0)
        let again = try EndToEndTests.run(["keys", "revoke", "ana", "--database", database])
        #expect(again.status != 0)
        #expect(again.stderr.contains("No live key called 'ana'"))
    }

    @Test(.enabled(if: EndToEndTests.executable != nil))
    func serveRefusesABadModelOrConfiguration() async throws {
        let dir = try EndToEndTests.folder()
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: dir + "/bad.winnow"))
        let bad = try EndToEndTests.run(["serve", "--port", "0", "--database", dir + "/w.sqlite", "--model", dir + "/bad.winnow"])
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("not a Winnow model file"))
        try Data(#"{"engine": {"rule": {"viralFactr": 3}}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/c.json"))
        let typo = try EndToEndTests.run(["serve", "--config", dir + "/c.json"])
        #expect(typo.status != 0)
        #expect(typo.stderr.contains("'engine.rule.viralFactr' is not a field here; did you mean 'viralFactor'?"), "\(typo.stderr)")
        // A port another process holds is named in a sentence (it printed NIO's "bind(descriptor:ptr:bytes:)").
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, size) == 0 && listen(holder, 1) == 0 && getsockname(holder, $0, &size) == 0 }
        }
        #expect(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let busy = try EndToEndTests.run(["serve", "--port", "\(port)", "--database", dir + "/busy.sqlite", "--model", ServeEndToEndTests.model], timeout: 30)
        #expect(busy.status == 1 && busy.stderr.contains("Port \(port) on 127.0.0.1 is in use by another process"), "\(busy.stderr)")
        // The admin key that start made was never shown: it is revoked, so the next start makes and prints one.
        let keys = try await SQLiteStore(path: dir + "/busy.sqlite").keys()
        #expect(keys.count == 1 && keys.allSatisfy { $0.role == .admin && $0.revokedAt != nil }, "\(keys)")
    }
}

/// `winnow train --stage engagement` on a database with labelled, engaged items.
@Suite struct EngagementTrainingTests {
    @Test(.enabled(if: EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func trainsFromTheStoreOnceThereAreEnoughLabels() async throws {
        let dir = try EndToEndTests.folder()
        let database = dir + "/w.sqlite"
        let store = try SQLiteStore(path: database)
        let t0 = StoredItems.t0
        func add(_ n: Range<Int>, labelled: Bool) async throws {
            for i in n {
                let harmful = i % 3 == 0
                try await StoredItems.add(store, id: "i\(i)", text: harmful ? "free prize call now \(i)" : "see you at lunch \(i)")
                let counters = Engagement(views: 100 + i, likes: harmful ? 1 : 10, reports: harmful ? 5 : 0)
                _ = try await store.recordEngagement(feed: "default", id: "i\(i)", snapshot: EngagementSnapshot(at: t0.addingTimeInterval(3600), counters: counters)) { _ in nil }
                if labelled {
                    _ = try await store.addLabels([LabelRecord(feed: "default", itemID: "i\(i)", label: harmful ? "spam" : "clear", source: "review", by: "t", at: t0)])
                }
            }
        }
        try await add(0..<100, labelled: true)
        let early = try EndToEndTests.run(["train", "--stage", "engagement", "--database", database, "--model", ServeEndToEndTests.model])
        #expect(early.status != 0)
        #expect(early.stderr.contains("Only 100 labelled items with engagement"))
        try await add(100..<260, labelled: true)
        let trained = try EndToEndTests.run(["train", "--stage", "engagement", "--database", database, "--model", ServeEndToEndTests.model])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("260 labelled items with engagement (87 harmful)"))
        let model = try #require(try await store.latestEngagementModel())
        #expect(model.examples == 260)
        // Reports per view separate the two kinds here: its weight is the largest.
        let reportWeight = model.weights[EngagementFeatures.names.firstIndex(of: "log_report_rate")!]
        #expect(reportWeight > 0)
    }
}
