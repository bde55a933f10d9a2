import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// Webhooks from `winnow serve` as a real process to a real HTTP receiver on this machine, which checks every
/// signature with the tests' own Standard Webhooks verifier: a receiver that is down for a while, and a server killed
/// with SIGKILL while it delivers, lose no event and never reorder them.
@Suite(.serialized) struct WebhookEndToEndTests {
    /// What the receiver saw.
    final class Receiver: Sendable {
        struct State {
            var down = false
            /// Seconds each answer waits (a slow receiver keeps deliveries in flight).
            var delay = 0.0
            var secret = ""
            /// Each accepted message: its id and its events' numbers.
            var messages: [(id: String, seqs: [Int])] = []
            var refused = 0
            /// webhook.test messages taken.
            var tests = 0
            var badSignatures = 0
        }

        /// The state behind a lock, shared with the route handler.
        final class Shared: Sendable {
            private let mutex = Mutex(State())
            func withLock<T: Sendable>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
        }

        let state = Shared()
        let port: Int
        private let group: ServiceGroup

        init() async throws {
            let state = self.state
            let router = Router()
            router.post("hook") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 4 << 20)
                let bytes = Array(body.readableBytesView)
                let (down, delay, secret) = state.withLock { ($0.down, $0.delay, $0.secret) }
                if delay > 0 { try await Task.sleep(for: .milliseconds(Int64(delay * 1000))) }
                let id = request.headers[HTTPField.Name("webhook-id")!] ?? ""
                let timestamp = request.headers[HTTPField.Name("webhook-timestamp")!] ?? ""
                let signature = request.headers[HTTPField.Name("webhook-signature")!] ?? ""
                guard StandardWebhooksVerifier.verify(secret: secret, id: id, timestamp: timestamp, body: bytes, signatureHeader: signature) else {
                    state.withLock { $0.badSignatures += 1 }
                    return Response(status: .unauthorized)
                }
                if down {
                    state.withLock { $0.refused += 1 }
                    return Response(status: .serviceUnavailable)
                }
                let message = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
                let events = (message?["data"] as? [String: Any])?["events"] as? [[String: Any]] ?? []
                if message?["type"] as? String == "decision.changed" {
                    state.withLock { $0.messages.append((id, events.compactMap { $0["seq"] as? Int })) }
                } else {
                    state.withLock { $0.tests += 1 }
                }
                return Response(status: .noContent)
            }
            let (ports, bound) = AsyncStream<Int>.makeStream()
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { channel in bound.yield(channel.localAddress?.port ?? 0) }, logger: Logger(label: "receiver"))
            let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "receiver")))
            self.group = group
            Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            port = await iterator.next() ?? 0
        }

        var url: String { "http://127.0.0.1:\(port)/hook" }

        /// Every event number received, in the order received (repeats included).
        var received: [Int] { state.withLock { $0.messages.flatMap(\.seqs) } }

        func stop() { Task { [group] in await group.triggerGracefulShutdown() } }
    }

    static let enabled = EndToEndTests.executable != nil && FileManager.default.fileExists(atPath: ServeEndToEndTests.model)

    /// A server with fast retries, whose default feed sends every item to review; `items` submitted.
    /// `timeoutSeconds` is generous: the receiver runs in the test process, which other suites load heavily.
    static func setUp(items: Int, batchSize: Int, timeoutSeconds: Double = 10, leaseSeconds: Double = 12) async throws
        -> (setup: ReviewEndToEndTests.Setup, config: String) {
        let dir = try EndToEndTests.folder()
        let config = dir + "/events.json"
        let settings: [String: Any] = ["events": ["pollSeconds": 0.05, "batchSize": batchSize, "timeoutSeconds": timeoutSeconds, "leaseSeconds": leaseSeconds,
                                                  "retry": ["initialSeconds": 0.2, "maxSeconds": 1, "failingAfterSeconds": 3600]]]
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: config))
        let setup = try await ReviewEndToEndTests.setUp(items: items, arguments: ["--config", config])
        return (setup, config)
    }

    /// Claims every open ticket as the moderator (10 at a time) and decides it: one decision event each.
    static func decideAll(_ s: ReviewEndToEndTests.Setup, count: Int) async throws {
        var decided = 0
        while decided < count {
            let (status, claimed) = try await s.server.request("POST", "/v1/review/claim", key: s.moderator, body: #"{"count": \#(min(10, count - decided))}"#)
            #expect(status == 200)
            let ids = (claimed["tickets"] as? [[String: Any]] ?? []).compactMap { ($0["ticket"] as? [String: Any])?["id"] as? Int }
            try #require(!ids.isEmpty)
            for id in ids {
                let (answer, _) = try await s.server.request("POST", "/v1/review/tickets/\(id)/decision", key: s.moderator,
                                                             body: #"{"label": "spam", "reasonCode": "spam"}"#)
                #expect(answer == 200)
            }
            decided += ids.count
        }
    }

    /// Runs a `winnow` command on a thread of its own: waiting for the process on one of the few threads Swift
    /// concurrency runs tasks on would starve the receiver, whose handler needs one to answer the server.
    static func cli(_ s: ReviewEndToEndTests.Setup, _ arguments: [String], as key: String) async throws -> EndToEndTests.Result {
        let url = s.url
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try EndToEndTests.run(arguments + ["--url", url, "--key", key]) })
            }
        }
    }

    /// Sets the default feed's webhook with `winnow webhooks set`, and gives the receiver the secret it printed.
    static func setWebhook(_ s: ReviewEndToEndTests.Setup, _ receiver: Receiver) async throws {
        let set = try await Self.cli(s, ["webhooks", "set", "--feed", "default", receiver.url], as: s.admin)
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.hasPrefix("Set the webhook of feed default: \(receiver.url)"))
        let secret = try #require(set.stdout.split(separator: "\n").first { $0.hasPrefix("Signing secret") }?.split(separator: " ").last)
        receiver.state.withLock { $0.secret = String(secret) }
    }

    /// Waits until `done` holds (polling), for at most `seconds`.
    static func eventually(_ seconds: Double, _ done: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await done() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await done()
    }

    /// In order: the first arrival of each number follows the one before, and every number 1…n arrived.
    static func expectAllInOrder(_ received: [Int], count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        var firsts: [Int] = []
        for seq in received where !firsts.contains(seq) { firsts.append(seq) }
        #expect(firsts == Array(1...count), "received \(received)", sourceLocation: sourceLocation)
        // A repeat is only ever a message sent again (at least once), never a jump back within fresh ones.
        #expect(Set(received) == Set(1...count), sourceLocation: sourceLocation)
    }

    @Test(.enabled(if: enabled)) func aReceiverDownForAWhileGetsEveryEventInOrderWhenItIsBack() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        let (s, _) = try await Self.setUp(items: 6, batchSize: 4)
        defer { s.server.kill9() }
        try await Self.setWebhook(s, receiver)
        // A test message: the receiver checks its signature with the secret `set` printed.
        let test = try await Self.cli(s, ["webhooks", "test", "--feed", "default"], as: s.admin)
        #expect(test.status == 0 && test.stdout.contains("the receiver answered 204"), "\(test.stdout)\(test.stderr)")
        #expect(receiver.state.withLock { $0.tests } == 1)
        receiver.state.withLock { $0.down = true }
        let refused = try await Self.cli(s, ["webhooks", "test", "--feed", "default"], as: s.admin)
        #expect(refused.status == 1 && refused.stdout.contains("the receiver answered 503"), "\(refused.stdout)")
        try await Self.decideAll(s, count: 6)
        // It keeps failing while the receiver is down, and says so.
        #expect(try await Self.eventually(60) {
            let (_, hook) = try await s.server.request("GET", "/v1/feeds/default/webhook", key: s.admin)
            let delivery = hook["delivery"] as? [String: Any] ?? [:]
            return (delivery["failedAttempts"] as? Int ?? 0) >= 3 && hook["state"] as? String == "retrying"
        })
        let shown = try await Self.cli(s, ["webhooks", "show", "--feed", "default"], as: s.admin)
        #expect(shown.status == 0 && shown.stdout.contains("State: retrying") && shown.stdout.contains("Pending: 6"), "\(shown.stdout)")
        #expect(shown.stdout.contains("the receiver answered 503") && !shown.stdout.contains("whsec_"))
        let (_, failing) = try await s.server.request("GET", "/v1/feeds/default/webhook", key: s.admin)
        let delivery = failing["delivery"] as? [String: Any] ?? [:]
        #expect(delivery["pending"] as? Int == 6 && delivery["lastError"] as? String == "the receiver answered 503")
        #expect(receiver.received.isEmpty)
        receiver.state.withLock { $0.down = false }
        #expect(try await Self.eventually(60) { Set(receiver.received) == Set(1...6) }, "received \(receiver.received)")
        Self.expectAllInOrder(receiver.received, count: 6)
        #expect(receiver.state.withLock { $0.badSignatures } == 0)
        // Messages of at most 4 events, each a run of consecutive numbers, every event taken once (one server).
        let messages = receiver.state.withLock { $0.messages }
        #expect(messages.flatMap(\.seqs) == Array(1...6))
        #expect(messages.allSatisfy { !$0.seqs.isEmpty && $0.seqs.count <= 4 && $0.seqs == Array($0.seqs.first!...$0.seqs.last!) })
        #expect(Set(messages.map(\.id)).count == messages.count)
        #expect(try await Self.eventually(5) {
            let (_, hook) = try await s.server.request("GET", "/v1/feeds/default/webhook", key: s.admin)
            let d = hook["delivery"] as? [String: Any] ?? [:]
            return d["pending"] as? Int == 0 && d["delivered"] as? Int == 6 && hook["state"] as? String == "healthy"
        })
        #expect(try await s.server.metric("winnow_webhook_events_delivered_total", key: s.admin) == 6)
        let removed = try await Self.cli(s, ["webhooks", "remove", "--feed", "default"], as: s.admin)
        #expect(removed.status == 0 && removed.stdout == "Removed the webhook of feed default.\n")
        let none = try await Self.cli(s, ["webhooks", "show"], as: s.admin)
        #expect(none.stdout.hasPrefix("No feed has a webhook."))
        // The changes feed holds the same events, for a feed without an endpoint.
        let (_, page) = try await s.server.request("GET", "/v1/changes?feed=default", key: s.feed)
        #expect((page["events"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == Array(1...6))
    }

    @Test(.enabled(if: enabled)) func aServerKilledWhileDeliveringDeliversEveryEventAfterItsRestart() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        // A slow receiver and messages of two events: deliveries are in flight when the server dies.
        receiver.state.withLock { $0.delay = 0.3 }
        let (setup, config) = try await Self.setUp(items: 12, batchSize: 2, timeoutSeconds: 5, leaseSeconds: 6)
        var s = setup
        try await Self.setWebhook(s, receiver)
        try await Self.decideAll(s, count: 12)
        #expect(try await Self.eventually(60) { receiver.received.count >= 2 })
        s.server.kill9()
        let before = receiver.received
        #expect(Set(before) != Set(1...12), "everything arrived before the kill; the test shows nothing")
        s.server = try ServeEndToEndTests.Server(database: s.database, arguments: ["--config", config])
        defer { s.server.kill9() }
        receiver.state.withLock { $0.delay = 0 }
        // The dead node's lease runs out (6 s here), then the new one delivers the rest.
        #expect(try await Self.eventually(60) { Set(receiver.received) == Set(1...12) }, "received \(receiver.received)")
        Self.expectAllInOrder(receiver.received, count: 12)
        #expect(receiver.state.withLock { $0.badSignatures } == 0)
    }
}
