import Engine
import Foundation
import Storage
import Testing

/// A candidate trained with the store's labels, and the evaluation gate between two model files.
@Suite struct RetrainEndToEndTests {
    @Test(.enabled(if: EndToEndTests.executable != nil))
    func theGatePassesAnEqualModelAndFailsOneMissingAClass() async throws {
        let dir = try EndToEndTests.folder()
        #expect(try EndToEndTests.run(["datasets", "demo", "--out", dir, "--per-class", "40"]).status == 0)
        let active = dir + "/active.winnow", blind = dir + "/blind.winnow"
        #expect(try EndToEndTests.run(["train", "--data", dir + "/train.csv", "--algorithm", "nb", "--out", active, "--bucket-bits", "14"]).status == 0)
        // A candidate that never learned spam (mapped away): it must fail the gate.
        #expect(try EndToEndTests.run(["train", "--data", dir + "/train.csv", "--algorithm", "nb", "--out", blind, "--bucket-bits", "14",
                                       "--label-map", "spam=clear"]).status == 0)
        // A rename that renames nothing (a misspelt FROM) is refused: the label it meant would train as its own class.
        let misspelt = try EndToEndTests.run(["train", "--data", dir + "/train.csv", "--algorithm", "nb", "--out", dir + "/never.winnow", "--label-map", "spma=clear"])
        #expect(misspelt.status == 65 && misspelt.stderr.contains("has no row labelled 'spma', so --label-map spma=clear renames nothing"), "\(misspelt.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/never.winnow"))
        let same = try EndToEndTests.run(["evaluate", "--candidate", active, "--against", active, "--data", dir + "/test.csv",
                                          "--max-macro-f1-drop", "0", "--max-recall-drop", "0"])
        #expect(same.status == 0, "\(same.stderr)")
        #expect(same.stdout.contains("The candidate passes the gate."))
        let failing = try EndToEndTests.run(["evaluate", "--candidate", blind, "--against", active, "--data", dir + "/test.csv", "--json"])
        #expect(failing.status == 2, "\(failing.stderr)")
        let verdict = (try? JSONSerialization.jsonObject(with: Data(failing.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(verdict["passed"] as? Bool == false)
        let checks = verdict["checks"] as? [[String: Any]] ?? []
        #expect(checks.contains { $0["name"] as? String == "recall of spam" && $0["passed"] as? Bool == false })
        #expect(try EndToEndTests.run(["evaluate", "--candidate", blind, "--data", dir + "/test.csv"]).stderr.contains("--against"))

        // With a database, the gate also runs on its blind audits, weighted by 1/π.
        let database = dir + "/audits.sqlite"
        let store = try SQLiteStore(path: database)
        let rules = ReviewRules()
        let workflow = ReviewWorkflow(rules: ReviewRules(configuration: ReviewConfiguration(doubleReviewRate: 0)))
        for i in 0..<6 {
            let spam = i % 2 == 0
            let text = spam ? "WINNER!! claim your free prize now, call 0906170\(i)" : "see you at the station at \(i + 1) o'clock"
            try await StoredItems.add(store, id: "audit-\(i)", text: text, audit: rules, probability: spam ? 0.5 : 0.1)
        }
        for view in try await store.claim(ClaimRequest(reviewer: "auditor", count: 10), now: StoredItems.t0, workflow: workflow, gold: false) {
            let spam = view.item.submission.text.hasPrefix("WINNER")
            _ = try await store.decide(ticket: view.ticket.id, reviewer: "auditor", decision: TicketDecision(label: spam ? "spam" : "clear", reasonCode: "other"),
                                       action: spam ? .remove : .allow, now: StoredItems.t0, workflow: workflow)
        }
        // Six audits are too few for the gate's default (30): the test data alone judges, and the text says why.
        let tooFew = try EndToEndTests.run(["evaluate", "--candidate", active, "--against", active, "--data", dir + "/test.csv", "--database", database])
        #expect(tooFew.status == 0 && tooFew.stdout.contains("6 decided audits in \(database): too few to judge on (--min-rows 30)"), "\(tooFew.stdout)")
        let withAudits = try EndToEndTests.run(["evaluate", "--candidate", blind, "--against", active, "--data", dir + "/test.csv", "--database", database, "--json",
                                                "--min-rows", "5"])
        #expect(withAudits.status == 2)
        let audited = (try? JSONSerialization.jsonObject(with: Data(withAudits.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(audited["audits"] as? Int == 6)
        #expect((audited["auditChecks"] as? [[String: Any]])?.contains { $0["name"] as? String == "recall of spam" && $0["passed"] as? Bool == false } == true)
        let sameWithAudits = try EndToEndTests.run(["evaluate", "--candidate", active, "--against", active, "--data", dir + "/test.csv", "--database", database,
                                                    "--min-rows", "5"])
        #expect(sameWithAudits.status == 0 && sameWithAudits.stdout.contains("On 6 blind audits"), "\(sameWithAudits.stdout)")

        // 'active' with a database is the version its registry made active (outside testing: it read WINNOW_MODEL,
        // the file the server started with, after promotions had replaced it).
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: blind)))
        let record = ModelVersionRecord(version: versionOf(blind), file: blind, kind: "text", classes: ["clear"], parent: nil, card: "", registeredBy: "test",
                                        registeredAt: StoredItems.t0)
        #expect(try await store.registerModel(record, file: bytes))
        try await store.recordPromotion(ModelPromotion(version: record.version, previous: versionOf(active), kind: .promote, by: "test", at: StoredItems.t0))
        let promoted = try EndToEndTests.run(["evaluate", "--candidate", active, "--against", "active", "--data", dir + "/test.csv", "--database", database,
                                              "--min-rows", "5"])
        #expect(promoted.stdout.hasPrefix("Candidate \(versionOf(active)) against \(versionOf(blind)) "), "\(promoted.stdout)\(promoted.stderr)")

        // A node started without the model file it names serves the registry's active version (kept in the
        // database) instead of refusing to start; without a registry to fall back on, the missing file stops it.
        let log = dir + "/serve.log"
        let node = try ServeEndToEndTests.Server(database: database, model: dir + "/missing.winnow", log: log)
        #expect(node.printed.contains("(model \(versionOf(blind)), database"), "\(node.printed)")
        node.process.terminate()
        node.process.waitUntilExit()
        let said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(said.contains("The model file \(dir)/missing.winnow cannot be read") && said.contains("starting on the registry's active model \(versionOf(blind))"), "\(said)")
        // labels import checks classes against that active version too (it read WINNOW_MODEL's file): the promoted
        // model never learned spam, so a spam label is refused without --model, and taken with the file that has it.
        try "id,text,label\nl1,\"win a prize, call now\",spam\n".write(toFile: dir + "/spam.csv", atomically: true, encoding: .utf8)
        let unknown = try EndToEndTests.run(["labels", "import", dir + "/spam.csv", "--database", database])
        #expect(unknown.status == 65 && unknown.stderr.contains("spam.csv:2: unknown label 'spam'"), "\(unknown.stderr)")
        let named = try EndToEndTests.run(["labels", "import", dir + "/spam.csv", "--database", database, "--model", active])
        #expect(named.status == 0 && named.stdout.contains("Imported 1 label"), "\(named.stdout)\(named.stderr)")
        let fresh = try EndToEndTests.run(["serve", "--port", "0", "--database", dir + "/fresh.sqlite", "--model", dir + "/missing.winnow"])
        #expect(fresh.status != 0 && fresh.stderr.contains("missing.winnow"), "\(fresh.stderr)")
    }

    /// A model file's version, as `winnow models inspect --json` gives it.
    func versionOf(_ file: String) -> String {
        let info = (try? EndToEndTests.run(["models", "inspect", file, "--json"]))?.stdout ?? ""
        return ((try? JSONSerialization.jsonObject(with: Data(info.utf8))) as? [String: Any])?["modelVersion"] as? String ?? "?"
    }

    @Test(.enabled(if: EndToEndTests.executable != nil))
    func trainingFromTheStoreUsesTheLabelThatCountsForEachStoredItem() async throws {
        let dir = try EndToEndTests.folder()
        let database = dir + "/w.sqlite"
        let store = try SQLiteStore(path: database)
        let t0 = StoredItems.t0
        var labels: [LabelRecord] = []
        for i in 0..<60 {
            let harmful = i % 2 == 0
            try await StoredItems.add(store, id: "i\(i)", text: harmful ? "win a free prize, call now \(i)" : "see you at lunch on day \(i)")
            // A wrong tier-1 label, overruled by tier 2: training must see the tier-2 one.
            labels.append(LabelRecord(feed: "default", itemID: "i\(i)", label: harmful ? "clear" : "spam", source: "review", by: "junior", at: t0))
            labels.append(LabelRecord(feed: "default", itemID: "i\(i)", label: harmful ? "spam" : "clear", source: "review", by: "senior", at: t0, tier: 2))
        }
        _ = try await store.addLabels(labels)
        let out = dir + "/from-store.winnow"
        // A store whose labels name no item it holds: said so (it read "give a file with at least two classes", exit 1).
        let empty = dir + "/empty.sqlite"
        let emptyStore = try SQLiteStore(path: empty)
        _ = try await emptyStore.addLabels([LabelRecord(feed: "default", itemID: "never-seen", label: "spam", source: "import", by: "t", at: t0)])
        let nothing = try EndToEndTests.run(["train", "--from-store", "--database", empty, "--out", dir + "/none.winnow"])
        #expect(nothing.status == 65 && nothing.stderr.contains("holds no label of an item it stores"), "\(nothing.status) \(nothing.stderr)")
        let trained = try EndToEndTests.run(["train", "--from-store", "--database", database, "--algorithm", "nb", "--out", out, "--bucket-bits", "14", "--json"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let header = ((try? JSONSerialization.jsonObject(with: Data(trained.stdout.utf8))) as? [String: Any])?["header"] as? [String: Any] ?? [:]
        let training = header["training"] as? [String: Any] ?? [:]
        #expect(training["examples"] as? Int == 60)
        #expect(training["classCounts"] as? [Int] == [30, 30])
        let scored = try EndToEndTests.run(["score", "--model", out, "win a free prize, call now"])
        #expect(scored.stdout.hasPrefix("spam"), "\(scored.stdout)")
        #expect(try EndToEndTests.run(["train", "--from-store", "--database", dir + "/none.sqlite", "--out", out]).stderr.contains("No database at"))

        // With base data, the store's labels do not calibrate: the temperatures are fitted on the 60 base rows'
        // out-of-fold scores (were the store's labels calibrating, all 120 rows would, and nothing would be cross-fitted).
        var base = "id,text,label\n"
        for i in 0..<60 { base += i % 2 == 0 ? "b\(i),\"claim your cash reward \(i) today\",spam\n" : "b\(i),\"dinner with mum on night \(i)\",clear\n" }
        try base.write(toFile: dir + "/base.csv", atomically: true, encoding: .utf8)
        let both = try EndToEndTests.run(["train", "--from-store", "--database", database, "--data", dir + "/base.csv", "--out", dir + "/both.winnow",
                                          "--bucket-bits", "14", "--json"])
        #expect(both.status == 0, "\(both.stderr)")
        let bothHeader = ((try? JSONSerialization.jsonObject(with: Data(both.stdout.utf8))) as? [String: Any])?["header"] as? [String: Any] ?? [:]
        let calibration = bothHeader["calibration"] as? [String: Any] ?? [:]
        #expect(calibration["crossFit"] as? [String: Int] == ["folds": 5, "rows": 60], "\(calibration)")
        #expect((bothHeader["training"] as? [String: Any])?["examples"] as? Int == 120)
    }
}

/// Items stored straight through the store, with a neutral stage-1 result (no text model needed).
enum StoredItems {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// With `audit`, the item also gets a blind audit ticket sampled with `probability`.
    static func add(_ store: SQLiteStore, id: String, text: String, audit: ReviewRules? = nil, probability: Double = 1) async throws {
        let item = ItemSubmission(id: id, text: text, createdAt: t0)
        let score = TextScore(classes: ["clear", "spam"], probabilities: [0.5, 0.5], evidence: 1, reasons: [], modelVersion: "m")
        let result = ScoringEngine().creation(item, text: score, policy: Policy.standard(feed: "default", classes: ["clear", "spam"]), receivedAt: t0)
        let state = ItemState(submission: item, receivedAt: t0, createdAt: t0, current: result, engagement: nil)
        let tickets = audit.map { [$0.opening(.audit, state: state, now: t0, auditProbability: probability)] } ?? []
        _ = try await store.createItems([NewItem(submission: item, receivedAt: t0, createdAt: t0, result: result, nextRescore: nil, tickets: tickets)])
    }
}
