import Foundation
import Learning
import Testing
import TestSupport

/// Two real `winnow serve` processes on one PostgreSQL database (a fresh one per test): what one node writes, the
/// other reads; claims, rescores and idempotent writes race across the nodes; what one node changes (a promotion, a
/// policy, a revoked key) holds on the other within seconds; killing one node loses nothing it acknowledged.
@Suite(.serialized, .enabled(if: TestPostgres.included)) struct MultiNodeTests {
    typealias Server = ServeEndToEndTests.Server
    typealias CommandFailure = ServeEndToEndTests.CommandFailure

    /// Two nodes on one database, with an admin key and a feed key.
    struct Cluster: Sendable {
        let dir: String
        let database: String
        let a: Server
        let b: Server
        let admin: String
        let feed: String
        var nodes: [Server] { [a, b] }

        func key(role: String, name: String) throws -> String {
            try MultiNodeTests.createKey(role: role, name: name, database: database)
        }

        /// What the nodes logged at level error or critical (a failed scheduler or sync pass, say), with the node.
        func loggedErrors() -> [String] {
            zip(["a", "b"], nodes).flatMap { name, node -> [String] in
                let text = node.log.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? ""
                return text.split(separator: "\n").filter { line in
                    let words = line.split(separator: " ", maxSplits: 2)
                    return words.count > 1 && (words[1] == "error" || words[1] == "critical")
                }.map { "node \(name): \($0)" }
            }
        }

        /// Ends both processes (SIGKILL: quick, and nothing is left to check in them).
        func stop() {
            for node in nodes where node.process.isRunning { node.kill9() }
        }
    }

    static func createKey(role: String, name: String, database: String) throws -> String {
        let created = try EndToEndTests.run(["keys", "create", "--role", role, "--name", name, "--database", database])
        guard created.status == 0 else { throw CommandFailure("winnow keys create --name \(name) failed: \(created.stderr)") }
        return created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `body` on two nodes over a fresh database (dropped afterwards), each node with `settings` as its
    /// configuration file and a registry folder of its own (a node must load another node's model from the database).
    static func withCluster(settings: [String: Any] = [:], _ body: (Cluster) async throws -> Void) async throws {
        try await TestPostgres.withDatabase { database in
            let c = try await cluster(database: database, settings: settings)
            defer { c.stop() }
            try await body(c)
        }
    }

    /// The keys, then two nodes started one after the other.
    static func cluster(database: String, settings: [String: Any]) async throws -> Cluster {
        let dir = try EndToEndTests.folder()
        // Created before any node starts, so no node makes (and prints) an admin key of its own.
        let admin = try createKey(role: "admin", name: "admin", database: database)
        let feed = try createKey(role: "feed", name: "feed", database: database)
        func node(_ name: String) throws -> Server {
            var configuration = settings
            configuration["registry"] = dir + "/registry-\(name)"
            let file = dir + "/\(name).json"
            try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: file))
            return try Server(database: database, arguments: ["--config", file], log: dir + "/\(name).log")
        }
        let a = try node("a")
        let b: Server
        do { b = try node("b") } catch { a.kill9(); throw error }
        return Cluster(dir: dir, database: database, a: a, b: b, admin: admin, feed: feed)
    }

    // MARK: JSON

    static func json(_ object: Any) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    static func object(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// A JSON value as canonical text (sorted keys), to compare two answers exactly.
    static func canonical(_ value: Any?) -> String {
        guard let value else { return "null" }
        return String(decoding: (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])) ?? Data(), as: UTF8.self)
    }

    static let texts = [
        "see you at lunch tomorrow", "WINNER!! Claim your FREE prize now, call 09061701461", "thanks for the video, see you on friday",
        "you are a worthless idiot and everyone hates you", "exclusive offer: 150% off, limited time, go to www.win-now.co.uk",
        "just landed, will call you later", "shut up you stupid moron", "the meeting moved to 3pm, bring the slides",
    ]

    static func item(_ id: String, feed: String, _ n: Int) -> [String: Any] {
        ["id": id, "feed": feed, "text": "\(texts[n % texts.count]) #\(n)"]
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// A value concurrent tasks share, behind a lock.
    final class Shared<Value: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Value
        init(_ value: Value) { self.value = value }
        var current: Value { lock.withLock { value } }
        func update(_ body: (inout Value) -> Void) { lock.withLock { body(&value) } }
    }

    // MARK: 1. Items

    /// 50 items through each node (25 one by one, 25 in a batch), each read through both nodes with identical
    /// answers equal to the answer its creation got; the same item posted to both nodes at once is created once
    /// (201) and found once (200), other content under its id is a 409 on either node.
    /// Both nodes deliver webhooks, each feed's by one node at a time (a lease in the database): with a healthy
    /// receiver every event arrives exactly once and in order, whichever node wrote it; when the node delivering dies,
    /// the other takes over once the lease runs out.
    @Test func eachEventIsDeliveredOnceInOrderByOneNodeAndTheOtherTakesOverWhenItDies() async throws {
        // A generous deadline (the receiver runs in the loaded test process): a timed-out delivery would be sent again.
        let events: [String: Any] = ["pollSeconds": 0.05, "batchSize": 3, "timeoutSeconds": 10, "leaseSeconds": 12,
                                     "retry": ["initialSeconds": 0.2, "maxSeconds": 1]]
        // The items are near-copies of each other: with automatic banking, the first removal would remove the rest.
        try await Self.withCluster(settings: ["events": events, "engine": ["review": ["doubleReviewRate": 0, "goldRate": 0],
                                                                           "banks": ["automatic": false]]]) { c in
            let receiver = try await WebhookEndToEndTests.Receiver()
            defer { receiver.stop() }
            let moderator = try c.key(role: "moderator", name: "ann")
            let (saved, policy) = try await c.a.request("PUT", "/v1/policies/hooked", key: c.admin, body: Self.json(["rules": ["harm": ["review": 0.0]]]))
            #expect(saved == 200)
            let version = (policy["policy"] as? [String: Any])?["version"] as? Int
            #expect(try await WebhookEndToEndTests.eventually(10) {
                let (_, answer) = try await c.b.request("GET", "/v1/policies/hooked", key: c.admin)
                return (answer["policy"] as? [String: Any])?["version"] as? Int == version
            })
            let (set, hook) = try await c.a.request("PUT", "/v1/feeds/hooked/webhook", key: c.admin, body: Self.json(["url": receiver.url]))
            #expect(set == 201)
            receiver.state.withLock { $0.secret = hook["secret"] as? String ?? "" }
            // Items and decisions through both nodes, one at a time (node A's policy reaches node B within its sync).
            func decide(_ n: Int, through node: Server) async throws {
                let (created, answer) = try await node.request("POST", "/v1/items", key: c.feed, body: Self.json(Self.item("h-\(n)", feed: "hooked", n)))
                #expect(created == 201)
                #expect((answer["decision"] as? [String: Any])?["action"] as? String == "review", "\(answer)")
                let (_, claimed) = try await node.request("POST", "/v1/review/claim", key: moderator, body: "{}")
                let id = try #require(((claimed["tickets"] as? [[String: Any]])?.first?["ticket"] as? [String: Any])?["id"] as? Int)
                let (decided, _) = try await node.request("POST", "/v1/review/tickets/\(id)/decision", key: moderator,
                                                          body: #"{"label": "spam", "reasonCode": "spam"}"#)
                #expect(decided == 200)
            }
            for n in 1...10 { try await decide(n, through: n % 2 == 0 ? c.b : c.a) }
            #expect(try await WebhookEndToEndTests.eventually(20) { Set(receiver.received) == Set(1...10) }, "received \(receiver.received)")
            #expect(receiver.received == Array(1...10), "a duplicate or a reordering with a healthy receiver")
            // Node A dies; what is written through B still arrives.
            c.a.kill9()
            for n in 11...14 { try await decide(n, through: c.b) }
            #expect(try await WebhookEndToEndTests.eventually(40) { Set(receiver.received) == Set(1...14) }, "received \(receiver.received)")
            WebhookEndToEndTests.expectAllInOrder(receiver.received, count: 14)
            #expect(receiver.state.withLock { $0.badSignatures } == 0)
        }
    }

    @Test func itemsWrittenThroughOneNodeReadIdenticallyThroughTheOther() async throws {
        try await Self.withCluster { c in
            let start = ContinuousClock.now

            // id → the answer its creation got (canonical JSON).
            let created = try await withThrowingTaskGroup(of: [(String, String)].self) { group in
                for (n, node) in c.nodes.enumerated() {
                    let prefix = n == 0 ? "a" : "b"
                    group.addTask {
                        var answers: [(String, String)] = []
                        for i in 0..<25 {
                            let id = "\(prefix)-\(i)"
                            let (status, data) = try await node.send("POST", "/v1/items", key: c.feed, body: Data(Self.json(Self.item(id, feed: "news", i + 100 * n)).utf8))
                            #expect(status == 201, "\(id) through node \(prefix): \(String(decoding: data, as: UTF8.self))")
                            answers.append((id, Self.canonical(Self.object(data))))
                        }
                        let batch = (25..<50).map { Self.item("\(prefix)-\($0)", feed: "news", $0 + 100 * n) }
                        let (status, data) = try await node.send("POST", "/v1/items:batch", key: c.feed, body: Data(Self.json(["items": batch]).utf8))
                        #expect(status == 200)
                        let answer = Self.object(data)
                        #expect(answer["created"] as? Int == 25)
                        let results = answer["results"] as? [[String: Any]] ?? []
                        #expect(results.count == 25)
                        for result in results {
                            #expect(result["status"] as? Int == 201, "\(result)")
                            answers.append((result["id"] as? String ?? "?", Self.canonical(result["item"])))
                        }
                        return answers
                    }
                }
                var all: [String: String] = [:]
                for try await answers in group { for (id, answer) in answers { all[id] = answer } }
                return all
            }
            #expect(created.count == 100)

            var identical = 0
            for (id, answer) in created.sorted(by: { $0.key < $1.key }) {
                let (statusA, dataA) = try await c.a.send("GET", "/v1/items/\(id)?feed=news", key: c.feed)
                let (statusB, dataB) = try await c.b.send("GET", "/v1/items/\(id)?feed=news", key: c.feed)
                #expect(statusA == 200 && statusB == 200, "\(id): \(statusA), \(statusB)")
                let detailA = Self.object(dataA), detailB = Self.object(dataB)
                #expect(Self.canonical(detailA) == Self.canonical(detailB), "\(id) reads differently through the two nodes")
                #expect(Self.canonical(detailA["current"]) == answer, "\(id): the stored answer differs from the one its creation got")
                if Self.canonical(detailA) == Self.canonical(detailB), Self.canonical(detailA["current"]) == answer { identical += 1 }
            }
            #expect(identical == 100)

            // The same item through both nodes at once: one creates it, the other finds it, both answer alike.
            for k in 0..<10 {
                let body = Data(Self.json(Self.item("dup-\(k)", feed: "news", k)).utf8)
                async let first = c.a.send("POST", "/v1/items", key: c.feed, body: body)
                async let second = c.b.send("POST", "/v1/items", key: c.feed, body: body)
                let answers = try await [first, second]
                #expect(answers.map(\.0).sorted() == [200, 201], "dup-\(k): \(answers.map { String(decoding: $0.1, as: UTF8.self) })")
                #expect(Self.canonical(Self.object(answers[0].1)) == Self.canonical(Self.object(answers[1].1)), "dup-\(k)")
            }
            // Other content under a stored id: a 409 on either node, alone or in a batch; the item is unchanged.
            let other = Data(Self.json(["id": "dup-0", "feed": "news", "text": "something else entirely"]).utf8)
            for node in c.nodes {
                let (status, data) = try await node.send("POST", "/v1/items", key: c.feed, body: other)
                #expect(status == 409)
                #expect((Self.object(data)["error"] as? [String: Any])?["code"] as? String == "conflict")
            }
            let mixed = ["items": [["id": "dup-0", "feed": "news", "text": "something else entirely"], Self.item("dup-1", feed: "news", 1), Self.item("new-1", feed: "news", 7)]]
            let (batchStatus, batchData) = try await c.b.send("POST", "/v1/items:batch", key: c.feed, body: Data(Self.json(mixed).utf8))
            #expect(batchStatus == 200)
            #expect((Self.object(batchData)["results"] as? [[String: Any]])?.map { $0["status"] as? Int } == [409, 200, 201])
            let (_, stored) = try await c.a.request("GET", "/v1/items/dup-0?feed=news", key: c.feed)
            #expect((stored["item"] as? [String: Any])?["text"] as? String == "\(Self.texts[0]) #0")
            #expect(c.loggedErrors().isEmpty, "\(c.loggedErrors().prefix(5))")
            print("MultiNode items: 100 items, 10 duplicate races, \(String(format: "%.1f", Self.elapsed(since: start))) s")
        }
    }

    // MARK: 2. Review

    /// What one moderator did: the tickets it decided (answered 200), and every other answer it got.
    struct ModeratorRun: Sendable {
        var decided: [(ticket: Int, item: String)] = []
        var conflicts: [String] = []
        var failures: [String] = []
    }

    /// 1,000 tickets, 16 moderators (8 through each node, each its own key) claiming and deciding at once until the
    /// queue is empty: every ticket decided exactly once, nothing left open, one label per ticket, no 5xx.
    @Test func sixteenModeratorsOnTwoNodesDecideEveryTicketExactlyOnce() async throws {
        try await Self.withCluster(settings: ["engine": ["review": ["doubleReviewRate": 0, "goldRate": 0]]]) { c in
            let tickets = 1_000

            // Every item of feed "review" lands in the review band: P(harm) ≥ 0.
            let policy = Self.json(["rules": ["harm": ["review": 0.0]]])
            let (saved, savedAnswer) = try await c.a.request("PUT", "/v1/policies/review", key: c.admin, body: policy)
            #expect(saved == 200, "\(savedAnswer)")
            let version = (savedAnswer["policy"] as? [String: Any])?["version"] as? Int
            // Node B takes the policy over on its next sync pass.
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                let (_, answer) = try await c.b.request("GET", "/v1/policies/review", key: c.admin)
                if (answer["policy"] as? [String: Any])?["version"] as? Int == version { break }
                try await Task.sleep(for: .milliseconds(100))
            }

            var moderators: [String] = []
            for m in 1...16 { moderators.append(try c.key(role: "moderator", name: String(format: "mod-%02d", m))) }

            let setupStart = ContinuousClock.now
            var items: Set<String> = []
            for (n, node) in c.nodes.enumerated() {
                for part in 0..<2 {
                    let batch = (0..<tickets / 4).map { i -> [String: Any] in
                        let k = (n * 2 + part) * tickets / 4 + i
                        return Self.item("r-\(k)", feed: "review", k)
                    }
                    let (status, data) = try await node.send("POST", "/v1/items:batch", key: c.feed, body: Data(Self.json(["items": batch]).utf8))
                    #expect(status == 200)
                    for result in Self.object(data)["results"] as? [[String: Any]] ?? [] {
                        let action = ((result["item"] as? [String: Any])?["decision"] as? [String: Any])?["action"] as? String
                        #expect(result["status"] as? Int == 201 && action == "review", "\(result["id"] ?? "?"): \(result["status"] ?? "?"), \(action ?? "-")")
                        if let id = result["id"] as? String { items.insert(id) }
                    }
                }
            }
            #expect(items.count == tickets)
            let (_, before) = try await c.b.request("GET", "/v1/review/stats", key: moderators[0])
            #expect(before["open"] as? Int == tickets)
            let setup = Self.elapsed(since: setupStart)

            let start = ContinuousClock.now
            let runs = try await withThrowingTaskGroup(of: ModeratorRun.self) { group in
                for (m, key) in moderators.enumerated() {
                    let node = c.nodes[m % 2]
                    group.addTask {
                        var run = ModeratorRun()
                        while true {
                            let (status, data) = try await node.send("POST", "/v1/review/claim", key: key, body: Data(#"{"count": 5}"#.utf8))
                            guard status == 200 else {
                                run.failures.append("claim: \(status) \(String(decoding: data, as: UTF8.self))")
                                break
                            }
                            let claimed = Self.object(data)["tickets"] as? [[String: Any]] ?? []
                            if claimed.isEmpty { break }  // nothing left that nobody holds
                            for detail in claimed {
                                let ticket = detail["ticket"] as? [String: Any] ?? [:]
                                let id = ticket["id"] as? Int ?? -1
                                let item = ticket["itemId"] as? String ?? "?"
                                let spam = id % 3 == 0
                                let body: [String: Any] = ["label": spam ? "spam" : "clear", "reasonCode": spam ? "spam" : "not_violating",
                                                           "version": ticket["version"] as? Int ?? -1]
                                let (status, data) = try await node.send("POST", "/v1/review/tickets/\(id)/decision", key: key, body: Data(Self.json(body).utf8))
                                let code = (Self.object(data)["error"] as? [String: Any])?["code"] as? String
                                switch status {
                                case 200: run.decided.append((id, item))
                                case 409 where code == "lease_lost" || code == "version_mismatch": run.conflicts.append("\(id): \(code!)")
                                default: run.failures.append("decision \(id): \(status) \(String(decoding: data, as: UTF8.self))")
                                }
                            }
                        }
                        return run
                    }
                }
                var runs: [ModeratorRun] = []
                for try await run in group { runs.append(run) }
                return runs
            }
            let took = Self.elapsed(since: start)

            let decided = runs.flatMap(\.decided)
            #expect(runs.flatMap(\.failures).isEmpty, "\(runs.flatMap(\.failures).prefix(10))")
            #expect(decided.count == tickets, "\(decided.count) decisions answered 200 for \(tickets) tickets")
            #expect(Set(decided.map(\.ticket)).count == tickets, "a ticket was decided twice")
            #expect(Set(decided.map(\.item)) == items, "\(items.subtracting(decided.map(\.item)).count) items not decided")
            #expect(runs.allSatisfy { !$0.decided.isEmpty }, "every moderator decided something: \(runs.map(\.decided.count))")

            for node in c.nodes {
                let (status, stats) = try await node.request("GET", "/v1/review/stats", key: c.admin)
                #expect(status == 200)
                #expect(stats["open"] as? Int == 0)
                #expect(stats["claimed"] as? Int == 0)
                let reviewers = stats["reviewers"] as? [[String: Any]] ?? []
                #expect(reviewers.reduce(0) { $0 + ($1["decisionsLastHour"] as? Int ?? 0) } == tickets)
            }
            var labels: [[String: Any]] = []
            var after: Int?
            repeat {
                let (status, page) = try await c.b.request("GET", "/v1/labels?limit=300" + (after.map { "&after=\($0)" } ?? ""), key: c.admin)
                #expect(status == 200)
                labels += page["labels"] as? [[String: Any]] ?? []
                after = page["nextAfter"] as? Int
            } while after != nil
            #expect(labels.count == tickets)
            let labelled = Set(labels.compactMap { $0["itemId"] as? String })
            #expect(labelled.count == tickets && labelled == items, "\(items.subtracting(labelled).count) items without a label")
            #expect(labels.filter { $0["source"] as? String == "review" && $0["feed"] as? String == "review" }.count == tickets)
            let conflicts = runs.flatMap(\.conflicts)
            #expect(c.loggedErrors().isEmpty, "\(c.loggedErrors().prefix(5))")
            print("MultiNode review: \(tickets) tickets (created in \(String(format: "%.1f", setup)) s) decided by 16 moderators on 2 nodes in \(String(format: "%.1f", took)) s; \(conflicts.count) lease/version conflicts; decisions per moderator \(runs.map(\.decided.count).sorted())")
        }
    }

    // MARK: 3. Shared state

    /// The bundled model's classes, trained on a handful of texts: another version to promote.
    static func secondModel(version: String) throws -> [UInt8] {
        var rows: [LabelledText] = []
        let examples = [
            "clear": ["see you at lunch", "thanks for the video", "the meeting moved to 3pm", "just landed, call you later"],
            "spam": ["WIN a FREE prize now", "call 09061701461 to claim", "exclusive offer 150% off", "click www.win-now.co.uk"],
            "offensive": ["this is damn stupid", "what a crap idea", "shut up moron", "that is so dumb"],
            "abusive": ["everyone hates you", "you worthless idiot", "I will hurt you", "go away and die"],
        ]
        for (label, texts) in examples { rows += texts.map { LabelledText(text: $0, label: label) } }
        var options = TrainingOptions()
        options.algorithm = .naiveBayes
        options.featurizer = FeaturizerConfig(bucketBits: 14)
        options.evidenceTarget = 0
        options.minExamplesPerClass = 1
        let model = try TextClassifier.train(rows, options: options, modelVersion: version).0
        #expect(model.classes == ["abusive", "clear", "offensive", "spam"])
        return try model.serialized()
    }

    /// Posts new items through `node` every 100 ms until `done` holds for an answer, for at most `limit` seconds.
    /// Returns when (seconds from the call) the first request answered by the change was sent, and the last one
    /// answered without it: "within 5 s" means no request sent 5 s or more later was answered the old way.
    static func poll(_ node: Server, key: String, limit: Double = 10, probe: String,
                     until done: ([String: Any]) -> Bool) async throws -> (changed: Double?, lastUnchanged: Double?) {
        let start = ContinuousClock.now
        var n = 0
        var lastUnchanged: Double?
        while Self.elapsed(since: start) < limit {
            n += 1
            let sent = Self.elapsed(since: start)
            let (status, answer) = try await node.request("POST", "/v1/items", key: key, body: Self.json(Self.item("\(probe)-\(n)", feed: "news", n)))
            #expect(status == 201, "\(answer)")
            if done(answer) { return (sent, lastUnchanged) }
            lastUnchanged = sent
            try await Task.sleep(for: .milliseconds(100))
        }
        return (nil, lastUnchanged)
    }

    /// A model promoted through node A scores node B's items within 5 s; a policy saved through A decides B's items
    /// within 5 s; a key revoked is refused by B within 5 s. Both nodes sync every 2 s and cache keys 5 s (defaults).
    @Test func aPromotionAPolicyAndARevocationReachTheOtherNodeWithinFiveSeconds() async throws {
        try await Self.withCluster { c in

            let (_, first) = try await c.b.request("POST", "/v1/items", key: c.feed, body: Self.json(Self.item("first", feed: "news", 0)))
            let original = try #require(first["modelVersion"] as? String)
            #expect(first["policyVersion"] as? Int == 0)

            // Promotion through A.
            let file = try Self.secondModel(version: "multinode-2")
            let (registered, registeredAnswer) = try await c.a.send("POST", "/v1/models", key: c.admin, body: Data(file), contentType: "application/octet-stream")
            #expect(registered == 201, "\(String(decoding: registeredAnswer, as: UTF8.self))")
            let (promoted, promotedAnswer) = try await c.a.request("POST", "/v1/models/multinode-2/promote", key: c.admin)
            #expect(promoted == 200, "\(promotedAnswer)")
            #expect(promotedAnswer["active"] as? String == "multinode-2")
            let (_, onA) = try await c.a.request("POST", "/v1/items", key: c.feed, body: Self.json(Self.item("on-a", feed: "news", 1)))
            #expect(onA["modelVersion"] as? String == "multinode-2")
            let model = try await Self.poll(c.b, key: c.feed, probe: "model") { $0["modelVersion"] as? String == "multinode-2" }
            #expect(model.changed != nil, "node B did not use the promoted model in 10 s")
            #expect((model.lastUnchanged ?? 0) < 5, "node B used the old model for a request sent \(String(format: "%.2f", model.lastUnchanged ?? 0)) s after the promotion")
            #expect(original != "multinode-2")

            // A policy saved through A.
            let policy = Self.json(["rules": ["spam": ["demote": 0.4, "review": 0.6, "remove": 0.9]]])
            let (saved, savedAnswer) = try await c.a.request("PUT", "/v1/policies/news", key: c.admin, body: policy)
            #expect(saved == 200, "\(savedAnswer)")
            let version = try #require((savedAnswer["policy"] as? [String: Any])?["version"] as? Int)
            #expect(version >= 1)
            let (_, policyOnA) = try await c.a.request("POST", "/v1/items", key: c.feed, body: Self.json(Self.item("policy-on-a", feed: "news", 2)))
            #expect(policyOnA["policyVersion"] as? Int == version)
            let policyTook = try await Self.poll(c.b, key: c.feed, probe: "policy") { $0["policyVersion"] as? Int == version }
            #expect(policyTook.changed != nil, "node B did not use the saved policy in 10 s")
            #expect((policyTook.lastUnchanged ?? 0) < 5, "node B used the old policy for a request sent \(String(format: "%.2f", policyTook.lastUnchanged ?? 0)) s after it was saved")

            // A revoked key: both nodes know it (cached), then it is revoked.
            let doomed = try c.key(role: "feed", name: "doomed")
            for (n, node) in c.nodes.enumerated() {
                let (status, _) = try await node.request("POST", "/v1/items", key: doomed, body: Self.json(Self.item("doomed-\(n)", feed: "news", n)))
                #expect(status == 201)
            }
            let revoking = ContinuousClock.now
            let revoked = try EndToEndTests.run(["keys", "revoke", "doomed", "--database", c.database])
            #expect(revoked.status == 0, "\(revoked.stderr)")
            let revocation = Self.elapsed(since: revoking)
            // From the moment the revocation is committed (the command has returned).
            let start = ContinuousClock.now
            // When (seconds after the revocation) the first refused request and the last accepted one were sent: a
            // request sent 5 s or more after the revocation must not be accepted, whatever the client's latency.
            var refused: Double?, lastAccepted: Double?
            var n = 0
            while Self.elapsed(since: start) < 10 {
                n += 1
                let sent = Self.elapsed(since: start)
                let (status, _) = try await c.b.request("POST", "/v1/items", key: doomed, body: Self.json(Self.item("after-revoke-\(n)", feed: "news", n)))
                if status == 401 { refused = sent; break }
                #expect(status == 201)
                lastAccepted = sent
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(refused != nil, "node B still accepted the revoked key 10 s after the revocation")
            #expect((lastAccepted ?? 0) < 5, "node B accepted the revoked key in a request sent \(String(format: "%.2f", lastAccepted ?? 0)) s after the revocation")
            #expect(try await c.a.request("POST", "/v1/items", key: doomed, body: Self.json(Self.item("late", feed: "news", 0))).0 == 401)
            #expect(try await c.b.request("POST", "/v1/items", key: c.feed, body: Self.json(Self.item("still-fine", feed: "news", 0))).0 == 201)
            #expect(c.loggedErrors().isEmpty, "\(c.loggedErrors().prefix(5))")
            print("MultiNode shared state: promotion used by B \(String(format: "%.2f", model.changed ?? -1)) s after it, policy \(String(format: "%.2f", policyTook.changed ?? -1)) s, revoked key last accepted \(String(format: "%.2f", lastAccepted ?? -1)) s and refused \(String(format: "%.2f", refused ?? -1)) s after the revocation (the revoke command took \(String(format: "%.2f", revocation)) s)")
        }
    }

    // MARK: 4. kill -9

    struct WriterRun: Sendable {
        /// Acknowledged items: id → the answer (canonical JSON).
        var acknowledged: [String: String] = [:]
        var requests = 0
        var failures: [String] = []
        var ended: String?
    }

    /// Four writers (two one item at a time, two in batches of 10) load node A while it is killed with SIGKILL:
    /// every item A acknowledged reads through node B exactly as A answered it; B, written to and read from all the
    /// while, fails no request.
    @Test func killingANodeUnderLoadLosesNothingItAcknowledgedAndTheOtherKeepsServing() async throws {
        try await Self.withCluster { c in
            let killed = Shared(false)
            let finished = Shared(false)

            let start = ContinuousClock.now
            let (onA, onB) = try await withThrowingTaskGroup(of: (Bool, WriterRun).self) { group in
                for w in 0..<4 {
                    group.addTask {
                        var run = WriterRun()
                        var n = 0
                        while true {
                            n += 1
                            let batch = w % 2 == 1
                            let items = (0..<(batch ? 10 : 1)).map { Self.item("w\(w)-\(n)-\($0)", feed: "news", n + $0) }
                            let path = batch ? "/v1/items:batch" : "/v1/items"
                            let body = batch ? Self.json(["items": items]) : Self.json(items[0])
                            let status: Int, data: Data
                            do {
                                (status, data) = try await c.a.send("POST", path, key: c.feed, body: Data(body.utf8))
                            } catch {
                                // No answer: only once A is gone.
                                if !killed.current { run.failures.append("\(path) failed before the kill: \(error)") }
                                run.ended = "\(error)"
                                break
                            }
                            run.requests += 1
                            if batch {
                                guard status == 200 else { run.failures.append("batch: \(status)"); continue }
                                for result in Self.object(data)["results"] as? [[String: Any]] ?? [] {
                                    guard result["status"] as? Int == 201, let id = result["id"] as? String else { run.failures.append("\(result)"); continue }
                                    run.acknowledged[id] = Self.canonical(result["item"])
                                }
                            } else {
                                guard status == 201 else { run.failures.append("item: \(status)"); continue }
                                run.acknowledged[items[0]["id"] as! String] = Self.canonical(Self.object(data))
                            }
                        }
                        return (true, run)
                    }
                }
                // Node B: written to and read from before, during and after the kill.
                for w in 0..<2 {
                    group.addTask {
                        var run = WriterRun()
                        var n = 0
                        while !finished.current {
                            n += 1
                            let id = "b\(w)-\(n)"
                            do {
                                let (created, data) = try await c.b.send("POST", "/v1/items", key: c.feed, body: Data(Self.json(Self.item(id, feed: "news", n)).utf8))
                                let (read, _) = try await c.b.send("GET", "/v1/items/\(id)?feed=news", key: c.feed)
                                run.requests += 2
                                if created == 201 { run.acknowledged[id] = Self.canonical(Self.object(data)) }
                                if created != 201 || read != 200 { run.failures.append("\(id): POST \(created), GET \(read)") }
                            } catch {
                                run.failures.append("\(id): \(error)")
                            }
                        }
                        return (false, run)
                    }
                }
                try await Task.sleep(for: .seconds(2))
                killed.update { $0 = true }
                c.a.kill9()
                try await Task.sleep(for: .seconds(2))
                finished.update { $0 = true }
                var onA: [WriterRun] = [], onB: [WriterRun] = []
                for try await (isA, run) in group { if isA { onA.append(run) } else { onB.append(run) } }
                return (onA, onB)
            }
            let took = Self.elapsed(since: start)

            #expect(onA.flatMap(\.failures).isEmpty, "\(onA.flatMap(\.failures).prefix(5))")
            #expect(onB.flatMap(\.failures).isEmpty, "node B failed: \(onB.flatMap(\.failures).prefix(5))")
            #expect(onA.allSatisfy { $0.ended != nil }, "every writer to node A ended on the kill")
            #expect(onB.allSatisfy { $0.requests > 0 })
            let acknowledged = onA.reduce(into: [String: String]()) { $0.merge($1.acknowledged) { a, _ in a } }
            #expect(acknowledged.count >= 20, "only \(acknowledged.count) items acknowledged by node A before the kill")
            var found = 0, same = 0
            var differences: [String] = []
            for (id, answer) in acknowledged.sorted(by: { $0.key < $1.key }) {
                let (status, data) = try await c.b.send("GET", "/v1/items/\(id)?feed=news", key: c.feed)
                #expect(status == 200, "\(id), acknowledged by node A, is missing")
                if status == 200 { found += 1 }
                let read = Self.canonical(Self.object(data)["current"])
                if read == answer { same += 1 } else { differences.append("\(id): acknowledged \(answer), read \(read)") }
            }
            #expect(found == acknowledged.count)
            #expect(same == acknowledged.count, "\(acknowledged.count - same) items read differently from what node A acknowledged: \(differences.prefix(3))")
            let bItems = onB.reduce(0) { $0 + $1.acknowledged.count }
            #expect(c.loggedErrors().isEmpty, "\(c.loggedErrors().prefix(5))")
            print("MultiNode kill -9: node A acknowledged \(acknowledged.count) items in \(onA.reduce(0) { $0 + $1.requests }) requests before SIGKILL, all read through B; node B answered \(onB.reduce(0) { $0 + $1.requests }) requests (\(bItems) items) without a failure; \(String(format: "%.1f", took)) s")
        }
    }

    // MARK: 5. Stage 3

    /// 200 items due for their one stage-3 rescore about a second after creation, both nodes' schedulers passing
    /// every 0.2 s in transactions of 10: each item is rescored exactly once across the nodes.
    @Test func eachDueRescoreRunsExactlyOnceAcrossTheNodes() async throws {
        try await Self.withCluster(settings: ["schedulerIntervalSeconds": 0.2, "schedulerBatch": 10, "engine": ["schedule": ["agesHours": [0.0003]]]]) { c in
            let count = 200
            var items: [String] = []
            let start = ContinuousClock.now
            for (n, node) in c.nodes.enumerated() {
                let batch = (0..<count / 2).map { Self.item("s-\(n)-\($0)", feed: "news", $0) }
                let (status, data) = try await node.send("POST", "/v1/items:batch", key: c.feed, body: Data(Self.json(["items": batch]).utf8))
                #expect(status == 200)
                #expect(Self.object(data)["created"] as? Int == count / 2)
                items += batch.map { $0["id"] as! String }
            }

            // Until no rescore is pending and both nodes have counted what they ran.
            var pending: [Double?] = [], total = 0.0
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                pending = []
                total = 0
                for node in c.nodes {
                    pending.append(try await node.metric("winnow_rescores_pending", key: c.admin))
                    total += try await node.metric("winnow_rescores_total", key: c.admin) ?? 0
                }
                if pending.allSatisfy({ $0 == 0 }), total >= Double(count) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            let took = Self.elapsed(since: start)
            #expect(pending == [0, 0], "rescores still pending: \(pending)")
            // More scheduler passes: nothing may run twice.
            try await Task.sleep(for: .seconds(1))
            var perNode: [Double] = []
            for node in c.nodes { perNode.append(try await node.metric("winnow_rescores_total", key: c.admin) ?? 0) }
            #expect(perNode.reduce(0, +) == Double(count), "rescores run per node: \(perNode)")

            var once = 0
            for (i, id) in items.enumerated() {
                let (status, detail) = try await c.nodes[i % 2].request("GET", "/v1/items/\(id)?feed=news", key: c.feed)
                #expect(status == 200)
                let stages = (detail["history"] as? [[String: Any]] ?? []).filter { $0["kind"] as? String == "stage" }
                    .map { ($0["stage"] as? [String: Any])?["stage"] as? String ?? "?" }
                #expect(stages == ["creation", "time"], "\(id): \(stages)")
                if stages.filter({ $0 == "time" }).count == 1 { once += 1 }
            }
            #expect(once == count)
            #expect(c.loggedErrors().isEmpty, "\(c.loggedErrors().prefix(5))")
            print("MultiNode stage 3: \(count) rescores, per node \(perNode), done \(String(format: "%.1f", took)) s after the first batch")
        }
    }
}

/// Outside testing on PostgreSQL: a node whose database user may only read said "listening" and then answered every
/// write with 500; an empty --database read "No database at ;".
@Suite struct UnwritableDatabaseTests {
    @Test(.enabled(if: TestPostgres.available && EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)))
    func aNodeWhoseUserCannotWriteRefusesToStart() async throws {
        let role = "ro_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        do {
            try await TestPostgres.withDatabase { url in
                _ = try MultiNodeTests.createKey(role: "admin", name: "admin", database: url)  // the schema, made by its owner
                try await TestPostgres.administer(url, "CREATE ROLE \(role) LOGIN")
                try await TestPostgres.administer(url, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \(role)")
                var components = try #require(URLComponents(string: url))
                components.user = role
                let run = try EndToEndTests.run(["serve", "--port", "0", "--database", components.string!, "--model", ServeEndToEndTests.model],
                                                timeout: 30)
                #expect(run.status == 1 && run.stderr.contains("cannot be written (permission denied for table heartbeat"), "\(run.status) \(run.stderr)")
            }
        } catch {
            try? await TestPostgres.administer(TestPostgres.url!, "DROP ROLE IF EXISTS \(role)")
            throw error
        }
        try await TestPostgres.administer(TestPostgres.url!, "DROP ROLE IF EXISTS \(role)")
        let empty = try EndToEndTests.run(["keys", "list", "--database", ""])
        #expect(empty.status == 65 && empty.stderr.contains("No database given"), "\(empty.status) \(empty.stderr)")
    }
}

