import Engine
import Foundation
import Glibc
import ServiceLifecycleTestKit
import Synchronization
import Testing
import TestSupport

@testable import Server
@testable import Services
@testable import Storage

/// A harness whose default feed sends every item to review.
private func reviewingHarness() async throws -> Harness {
    var configuration = ServerConfiguration()
    configuration.engine.review.goldRate = 0
    configuration.engine.review.doubleReviewRate = 0
    configuration.engine.review.auditRates = [:]
    let h = try await Harness(configuration: configuration)
    #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["review": 0]]])).status == .ok)
    return h
}

private extension Harness {
    /// Submits `id` (it goes to review), claims its ticket as the moderator and decides it: one decision event.
    @discardableResult
    func decide(_ id: String, label: String = "spam", action: String? = nil) async throws -> Int {
        #expect(try await post("/v1/items", json(["id": id, "text": "free cash prize \(id)"])).status == .created)
        let claimed = try await post("/v1/review/claim", as: .moderator, "{}")
        let tickets = claimed.json["tickets"] as? [[String: Any]] ?? []
        let ticket = try #require(tickets.first.flatMap { ($0["ticket"] as? [String: Any])?["id"] as? Int })
        var body: [String: Any] = ["label": label, "reasonCode": label == "spam" ? "spam" : "not_violating"]
        if let action { body["action"] = action }
        let decided = try await post("/v1/review/tickets/\(ticket)/decision", as: .moderator, json(body))
        #expect(decided.status == .ok, "\(decided.body)")
        return ticket
    }

    func changes(_ query: String, as role: Role = .feed) async throws -> Answer {
        try await send(.get, "/v1/changes?\(query)", as: role)
    }
}

private func events(_ answer: Harness.Answer) -> [[String: Any]] { answer.json["events"] as? [[String: Any]] ?? [] }

@Suite struct ChangesFeedRoutesTests {
    @Test func theChangesFeedPagesInOrder() async throws {
        let h = try await reviewingHarness()
        try await h.decide("a")
        try await h.decide("b", label: "clear")
        try await h.decide("c", action: "demote")
        let all = try await h.changes("feed=default")
        #expect(all.status == .ok)
        let page = events(all)
        #expect(page.map { $0["itemId"] as? String } == ["a", "b", "c"])
        #expect(page.map { $0["seq"] as? Int } == [1, 2, 3])
        #expect(page.map { $0["id"] as? String } == ["evt_1", "evt_2", "evt_3"])
        #expect(page.map { ($0["after"] as? [String: Any])?["action"] as? String } == ["remove", "allow", "demote"])
        #expect(page.allSatisfy { ($0["before"] as? [String: Any])?["action"] as? String == "review" })
        let cause = try #require(page[0]["cause"] as? [String: Any])
        #expect(cause["kind"] as? String == "review" && cause["reasonCode"] as? String == "spam" && cause["tier"] as? Int == 1)
        #expect(cause["ticket"] as? Int != nil)
        #expect(all.json["next"] as? Int == 3 && all.json["more"] as? Bool == false)
        // Pages of two.
        let first = try await h.changes("feed=default&limit=2")
        #expect(events(first).count == 2 && first.json["next"] as? Int == 2 && first.json["more"] as? Bool == true)
        let second = try await h.changes("feed=default&after=2&limit=2")
        #expect(events(second).map { $0["seq"] as? Int } == [3] && second.json["more"] as? Bool == false)
        // Nothing new: an empty page that keeps the cursor.
        let none = try await h.changes("feed=default&after=3")
        #expect(events(none).isEmpty && none.json["next"] as? Int == 3)
        #expect(events(try await h.changes("feed=other")).isEmpty)
        // Who may read what.
        let unnamed = try await h.changes("after=0")
        #expect(unnamed.status == .unprocessableContent && unnamed.error["field"] as? String == "feed")
        #expect(events(try await h.changes("after=0", as: .admin)).count == 3)
        #expect(try await h.changes("feed=default", as: .moderator).status == .forbidden)
        for (query, field) in [("feed=default&limit=0", "limit"), ("feed=default&after=-1", "after"), ("feed=default&wait=31", "wait"),
                               ("feed=default&wait=abc", "wait"), ("feed=Bad%20Feed", "feed"),
                               // Past the newest event (3): no page's next (it waited there, skipping what came before).
                               ("feed=default&after=10000", "after"),
                               // A misspelt or repeated parameter (afer=5 read from the start; limit twice took one).
                               ("feed=default&afer=5", "afer"), ("feed=default&limit=10&limit=20", "limit"),
                               // Outside testing: other spellings of a number passed ("+5", "05") where "1e1" did not.
                               ("feed=default&after=%2B1", "after"), ("feed=default&after=01", "after"), ("feed=default&limit=%201", "limit"),
                               // Hexadecimal and exponents waited ("0x2", "0x1p1" and "2e0" read as 2).
                               ("feed=default&wait=0x2", "wait"), ("feed=default&wait=0x1p1", "wait"), ("feed=default&wait=2e0", "wait"),
                               ("feed=default&wait=.5", "wait"), ("feed=default&wait=1.", "wait")] {
            let bad = try await h.changes(query)
            #expect(bad.status == .unprocessableContent && bad.error["field"] as? String == field, "\(query)")
        }
    }

    /// A text the fixture model gives a modest P(spam) (between 5% and 40%): allowed under a high cut-off, removed
    /// under one below it.
    static func modestText(_ h: Harness) throws -> (text: String, spam: Double) {
        let candidates = ["call me about the prize draw tomorrow", "call me tomorrow", "see you now", "call now", "the prize", "free lunch tomorrow",
                          "claim the photos", "text me when you win", "i won the game call you later", "free tomorrow", "win", "call",
                          "free", "claim", "lunch now", "you won", "prize tomorrow at six", "text me now", "see you at lunch"]
        let scored = candidates.map { ($0, h.service.model.score($0, reasons: 0).probabilities[1]) }
        return try #require(scored.first { $0.1 > 0.05 && $0.1 < 0.4 }, "no candidate text is modest under the fixture model: \(scored)")
    }

    /// Through the engine: an allowed item, then a policy that removes it; its stage-3 rescore crosses the new cut-off
    /// (one event) and the next rescore, deciding the same, writes none.
    @Test func aRescoreThatCrossesACutOffIsOneEvent() async throws {
        let h = try await Harness()
        let (text, spam) = try Self.modestText(h)
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["remove": 0.95]]])).status == .ok)
        let created = try await h.post("/v1/items", json(["id": "s", "text": text]))
        #expect((created.json["decision"] as? [String: Any])?["action"] as? String == "allow", "\(created.body)")
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["remove": spam / 2]]])).status == .ok)
        h.clock.advance(hours: 1.01)
        #expect(try await h.service.rescoreDue() == 1)
        h.clock.advance(hours: 6)
        #expect(try await h.service.rescoreDue() == 1)
        let page = events(try await h.changes("feed=default"))
        #expect(page.count == 1)
        let event = try #require(page.first)
        let before = try #require(event["before"] as? [String: Any]), after = try #require(event["after"] as? [String: Any])
        #expect(before["action"] as? String == "allow" && before["label"] as? String == "clear")
        #expect(abs((before["probability"] as? Double ?? 0) - (1 - spam)) < 1e-9)
        #expect(after["action"] as? String == "remove" && after["label"] as? String == "spam")
        #expect(event["cause"] as? [String: Any] as NSDictionary? == ["kind": "rescore", "stage": "time", "trigger": "scheduled 1h"] as NSDictionary)
        #expect(event["policyVersion"] as? Int == 2)
    }

    /// Stage 2: reports on an allowed item push it over the feed's removal cut-off.
    @Test func anEngagementStageThatCrossesACutOffIsOneEvent() async throws {
        let h = try await Harness()
        let (text, _) = try Self.modestText(h)
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["remove": 0.5]]])).status == .ok)
        #expect(try await h.post("/v1/items", json(["id": "e", "text": text])).status == .created)
        h.clock.advance(hours: 0.1)
        let answer = try await h.post("/v1/items/e/engagement", json(["views": 40, "reports": 8]))
        #expect((answer.json["item"] as? [String: Any]).flatMap { ($0["decision"] as? [String: Any])?["action"] as? String } == "remove", "\(answer.body)")
        let page = events(try await h.changes("feed=default"))
        #expect(page.map { ($0["cause"] as? [String: Any])?["kind"] as? String } == ["engagement"])
        #expect(page.map { ($0["before"] as? [String: Any])?["action"] as? String } == ["allow"])
        #expect(((page.first?["cause"] as? [String: Any])?["trigger"] as? String)?.isEmpty == false)
    }

    /// A person's removal, the feed's appeal, and tier 2 (someone else) restoring the item: two events, the second
    /// caused by the appeal.
    @Test func anAppealsOutcomeIsAnEventOfItsOwnCause() async throws {
        let h = try await reviewingHarness()
        try await h.decide("a")
        let appeal = try await h.post("/v1/items/a/appeal", json(["note": "the author says it is a joke"]))
        #expect(appeal.status == .created)
        let claimed = try await h.post("/v1/review/claim", as: .admin, json(["tiers": [2]]))
        let ticket = try #require((claimed.json["tickets"] as? [[String: Any]])?.first.flatMap { ($0["ticket"] as? [String: Any])?["id"] as? Int })
        let restored = try await h.send(.post, "/v1/review/tickets/\(ticket)/decision", as: .admin,
                                        body: json(["label": "clear", "reasonCode": "not_violating"]))
        #expect(restored.status == .ok, "\(restored.body)")
        let page = events(try await h.changes("feed=default"))
        #expect(page.map { ($0["cause"] as? [String: Any])?["kind"] as? String } == ["review", "appeal"])
        let outcome = try #require(page.last)
        #expect((outcome["before"] as? [String: Any])?["action"] as? String == "remove" && (outcome["before"] as? [String: Any])?["label"] as? String == "spam")
        #expect((outcome["after"] as? [String: Any])?["action"] as? String == "allow" && (outcome["after"] as? [String: Any])?["label"] as? String == "clear")
        #expect((outcome["cause"] as? [String: Any])?["ticket"] as? Int == ticket && (outcome["cause"] as? [String: Any])?["tier"] as? Int == 2)
        // A corrected label the decision stands on: the item is removed again, told as a correction.
        let labels = try await h.send(.get, "/v1/labels?limit=10")
        let last = try #require((labels.json["labels"] as? [[String: Any]])?.last?["id"] as? Int)
        #expect(try await h.send(.post, "/v1/labels/\(last)/correct", body: json(["label": "spam"])).status == .created)
        let corrected = events(try await h.changes("feed=default&after=2"))
        #expect(corrected.map { ($0["cause"] as? [String: Any])?["kind"] as? String } == ["correction"])
        #expect(corrected.map { ($0["after"] as? [String: Any])?["action"] as? String } == ["remove"])
        // The reviewer's "not_violating" explained the overturned label, not the removal: no reason code is sent.
        #expect(corrected.first.flatMap { ($0["cause"] as? [String: Any])?.keys.contains("reasonCode") } == false, "\(corrected)")
    }

    /// An admin withdraws the label a reviewer's removal stands on: the policy decides again (review: every spam
    /// probability reaches its cut-off 0), the feed is told (cause withdrawal, naming the label) and a ticket opens.
    @Test func withdrawingTheLabelADecisionStandsOnIsAnEventAndReopensReview() async throws {
        let h = try await reviewingHarness()
        let ticket = try await h.decide("a")
        let labels = try await h.send(.get, "/v1/labels?limit=10")
        let label = try #require((labels.json["labels"] as? [[String: Any]])?.last?["id"] as? Int)
        #expect(try await h.send(.post, "/v1/labels/\(label)/withdraw").status == .ok)
        let page = events(try await h.changes("feed=default&after=1"))
        #expect(page.map { ($0["cause"] as? [String: Any])?["kind"] as? String } == ["withdrawal"])
        let cause = try #require(page.first?["cause"] as? [String: Any])
        #expect(cause["labelId"] as? Int == label && cause["ticket"] as? Int == ticket)
        #expect((page.first?["before"] as? [String: Any])?["action"] as? String == "remove")
        #expect((page.first?["after"] as? [String: Any])?["action"] as? String == "review")
        let item = try await h.send(.get, "/v1/items/a")
        let current = try #require(item.json["current"] as? [String: Any])
        #expect((current["decision"] as? [String: Any])?["action"] as? String == "review", "\(item.body)")
        #expect(current["trigger"] as? String == "withdrawal", "\(item.body)")
        let queue = try await h.send(.get, "/v1/review/queue", as: .moderator)
        let open = (queue.json["tickets"] as? [[String: Any]] ?? []).compactMap { $0["itemId"] as? String }
        #expect(open == ["a"], "\(queue.body)")
        // Withdrawn again: the same answer, no second event.
        #expect(try await h.send(.post, "/v1/labels/\(label)/withdraw").status == .ok)
        #expect(events(try await h.changes("feed=default&after=2")).isEmpty)
    }

    @Test func aWaitingRequestReturnsWhenAnEventCommits() async throws {
        let h = try await reviewingHarness()
        try await h.decide("a")
        // Waits up to 25 seconds; a decision made meanwhile answers it.
        async let waiting = h.changes("feed=default&after=1&wait=25")
        try await Task.sleep(for: .milliseconds(300))
        try await h.decide("b", label: "clear")
        let answer = try await waiting
        #expect(answer.status == .ok)
        #expect(events(answer).map { $0["itemId"] as? String } == ["b"])
        // With nothing to come, a short wait answers an empty page.
        let empty = try await h.changes("feed=default&after=2&wait=0.2")
        #expect(empty.status == .ok && events(empty).isEmpty && empty.json["next"] as? Int == 2)
    }

    @Test func aCursorOlderThanWhatIsKeptIsA410ThatSaysHowToResynchronise() async throws {
        let h = try await reviewingHarness()
        try await h.decide("a")
        try await h.decide("b")
        h.clock.advance(hours: 8 * 24)
        #expect(try await ChangesFeed(scoring: h.service, configuration: h.configuration.events).prune() == 2)
        let gone = try await h.changes("feed=default&after=1")
        #expect(gone.status == .gone)
        #expect(gone.error["code"] as? String == "cursor_expired" && gone.error["field"] as? String == "after")
        let message = gone.error["message"] as? String ?? ""
        #expect(message.contains("GET /v1/items/{id}") && message.contains("after=2"))
        // From the newest number on, reading works again; 0, the start, reads what is kept (nothing here).
        #expect(try await h.changes("feed=default&after=2").status == .ok)
        let start = try await h.changes("feed=default&after=0")
        #expect(start.status == .ok && events(start).isEmpty)
    }
}

@Suite struct WebhookRoutesTests {
    static let secret = "whsec_" + Data((0..<32).map { UInt8($0) }).base64EncodedString()

    @Test func theSpecificationsPublishedExampleVerifies() {
        // From the Standard Webhooks specification: secret, message id, timestamp, body and the signature it gives.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id = "msg_p5jXN8AQM9LWM0D4loKWxJek", body = Array(#"{"test": 2432232314}"#.utf8)
        let published = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        #expect(StandardWebhooksVerifier.verify(secret: secret, id: id, timestamp: "1614265330", body: body, signatureHeader: published))
        #expect(!StandardWebhooksVerifier.verify(secret: secret, id: id, timestamp: "1614265331", body: body, signatureHeader: published))
        #expect(WebhookSignature.sign(id: id, timestamp: 1_614_265_330, body: body, key: WebhookSignature.key(of: secret)!) == published)
        #expect(WebhookSignature.key(of: "whsec_abc") == nil && WebhookSignature.key(of: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == nil)
        let generated = WebhookSignature.newSecret()
        #expect(WebhookSignature.key(of: generated)?.count == 32 && generated != WebhookSignature.newSecret())
    }

    @Test func anAdminSetsShowsTestsAndRemovesAFeedsWebhook() async throws {
        let h = try await reviewingHarness()
        let path = "/v1/feeds/default/webhook"
        // Refused endpoints name their field.
        for (body, field) in [(["url": "ftp://127.0.0.1/x"], "url"), (["url": "http://user:pw@127.0.0.1/x"], "url"), (["url": "not a url"], "url"),
                              (["url": "http://no-such-host.invalid/x"], "url"), (["url": "http://127.0.0.1/x#frag"], "url"),
                              // A port beyond 65535 was stored, and trapped inside the HTTP client on every delivery.
                              (["url": "http://127.0.0.1:99999/x"], "url"), (["url": "http://127.0.0.1:0/x"], "url"),
                              // Cloud metadata answers on a link-local address; an unspecified one is nobody's.
                              (["url": "http://169.254.169.254/latest/meta-data"], "url"), (["url": "http://[fe80::1]/x"], "url"),
                              (["url": "http://0.0.0.0/x"], "url"), (["url": "http://[::ffff:169.254.169.254]/x"], "url"),
                              // Outside testing: other cloud metadata addresses were accepted.
                              (["url": "http://[fd00:ec2::254]/x"], "url"), (["url": "http://100.100.100.200/x"], "url"),
                              (["url": "http://[2002:a9fe:a9fe::1]/x"], "url"),
                              (["url": "http://[::a9fe:a9fe]/x"], "url"), (["url": "http://[64:ff9b::a9fe:a9fe]/x"], "url"),
                              // The fifth round: translated, local-use NAT64, Teredo and ISATAP forms, Azure's and Oracle's
                              // metadata, multicast and broadcast.
                              (["url": "http://[::ffff:0:a9fe:a9fe]/x"], "url"), (["url": "http://[64:ff9b:1::a9fe:a9fe]/x"], "url"),
                              (["url": "http://[2001:0:4136:e378:8000:63bf:5601:5601]/x"], "url"), (["url": "http://[::5efe:a9fe:a9fe]/x"], "url"),
                              (["url": "http://[fe80::200:5efe:a9fe:a9fe]/x"], "url"),
                              (["url": "http://168.63.129.16/x"], "url"), (["url": "http://192.0.0.192/x"], "url"),
                              (["url": "http://224.0.0.1/x"], "url"), (["url": "http://255.255.255.255/x"], "url"), (["url": "http://[ff02::1]/x"], "url"),
                              (["url": "http://127.0.0.1/x", "secret": "hunter2"], "secret"),
                              (["url": "http://127.0.0.1/x", "events": ["review", "nope"]], "events[1]")] as [([String: Any], String)] {
            let refused = try await h.send(.put, path, body: json(body))
            #expect(refused.status == .unprocessableContent && refused.error["field"] as? String == field, "\(body): \(refused.body)")
        }
        #expect(try await h.send(.put, path, as: .feed, body: json(["url": "http://127.0.0.1/x"])).status == .forbidden)
        #expect(try await h.send(.get, path).status == .notFound)

        // Set without a secret: one is made and shown once.
        let set = try await h.send(.put, path, body: json(["url": "http://127.0.0.1:9/hook", "events": ["review", "undo"]]))
        #expect(set.status == .created, "\(set.body)")
        let secret = try #require(set.json["secret"] as? String)
        #expect(WebhookSignature.key(of: secret)?.count == 32)
        #expect(set.json["events"] as? [String] == ["review", "undo"] && set.json["state"] as? String == "healthy")
        let shown = try await h.send(.get, path)
        #expect(shown.status == .ok && shown.json["secret"] == nil && shown.json["url"] as? String == "http://127.0.0.1:9/hook")
        #expect(!shown.body.contains(secret))

        // A test message, signed with that secret, goes through the transport.
        let tested = try await h.send(.post, path + "/test")
        #expect(tested.status == .ok && tested.json["delivered"] as? Bool == true && tested.json["status"] as? Int == 204)
        let sent = try #require(h.transport.sent.last)
        #expect(sent.url == "http://127.0.0.1:9/hook" && sent.headers["webhook-id"] == tested.json["messageId"] as? String)
        #expect(StandardWebhooksVerifier.verify(secret: secret, id: sent.headers["webhook-id"]!, timestamp: sent.headers["webhook-timestamp"]!,
                                                body: sent.body, signatureHeader: sent.headers["webhook-signature"]!))
        #expect(sent.headers["authorization"] == nil)
        let message = try JSONSerialization.jsonObject(with: Data(sent.body)) as? [String: Any]
        #expect(message?["type"] as? String == "webhook.test")
        h.transport.answer(500)
        let failed = try await h.send(.post, path + "/test")
        #expect(failed.json["delivered"] as? Bool == false && failed.json["status"] as? Int == 500)

        // Set again with a secret of the admin's: replaced (200), and listed.
        let again = try await h.send(.put, path, body: json(["url": "http://127.0.0.1:9/other", "secret": Self.secret]))
        #expect(again.status == .ok && again.json["replaced"] as? Bool == true && again.json["secret"] as? String == Self.secret)
        // The same settings again change nothing: the endpoint (its messages' webhook-id) and the delivery's record stay.
        let before = try #require(try await h.store.webhook(feed: "default"))
        let same = try await h.send(.put, path, body: json(["url": "http://127.0.0.1:9/other", "secret": Self.secret]))
        #expect(same.status == .ok && same.json["replaced"] as? Bool == true, "\(same.body)")
        #expect(try await h.store.webhook(feed: "default") == before)
        let list = try await h.send(.get, "/v1/webhooks")
        #expect((list.json["webhooks"] as? [[String: Any]])?.map { $0["url"] as? String } == ["http://127.0.0.1:9/other"])
        #expect(try await h.send(.delete, path).status == .ok)
        #expect(try await h.send(.delete, path).status == .notFound)
        #expect(try await h.send(.post, path + "/test").status == .notFound)
    }

    /// Outside testing: SIGTERM waited for every open long poll to time out (up to maxWaitSeconds, 30 s: a container
    /// platform's whole grace period). A poll waiting for events is answered, empty, as soon as shutdown begins.
    @Test func aLongPollEndsWhenTheServerShutsDown() async throws {
        let h = try await reviewingHarness()
        let changes = ChangesFeed(scoring: h.service, configuration: h.configuration.events)
        let latest = try await h.store.latestEventSeq()
        let clock = ContinuousClock()
        let start = clock.now
        let page = try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: ChangesFeed.Page?.self) { group in
                group.addTask { try await changes.read(feed: "default", after: latest, limit: 10, wait: 30) }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(300))
                    trigger.triggerGracefulShutdown()
                    return nil
                }
                var page: ChangesFeed.Page?
                for try await result in group { if let result { page = result } }
                return page
            }
        }
        #expect(page?.events.isEmpty == true && page?.next == latest)
        // Well before its own 30 s wait (the poll is answered when shutdown begins, not when it times out).
        #expect(start.duration(to: clock.now) < .seconds(15))
    }

    /// Outside testing: a single node killed mid-delivery and started again delivered nothing until its dead run's lease
    /// ran out (events.leaseSeconds). A restarted node (same host and port) records that delivery as interrupted and due
    /// now; a lease of another node is left to run out.
    @Test func aRestartedNodeTakesBackItsEarlierRunsDeliveryAtOnce() async throws {
        let h = try await reviewingHarness()
        let webhooks = WebhookService(scoring: h.service, transport: h.transport, configuration: h.configuration.events)
        _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/hook", secret: Self.secret, events: ["review"], by: "admin")
        try await h.decide("a")
        let now = h.service.clock()
        let leased = try await h.store.leaseDueWebhooks(now: now, holder: "web-1:8080:4242:aaaa#5", until: now.addingTimeInterval(30), limit: 1, batchSize: 100)
        #expect(leased.count == 1)
        let other = WebhookDeliverer(scoring: h.service, transport: h.transport, configuration: h.configuration.events,
                                     node: NodeName(name: "web-2:8080:9:x", identity: "web-2:8080"))
        await other.takeBackEarlierRunsLeases()
        #expect(try await webhooks.show(feed: "default")?.record.delivery.leaseHolder == "web-1:8080:4242:aaaa#5")
        let restarted = WebhookDeliverer(scoring: h.service, transport: h.transport, configuration: h.configuration.events,
                                         node: NodeName(name: "web-1:8080:4343:cccc", identity: "web-1:8080"))
        await restarted.takeBackEarlierRunsLeases()
        let delivery = try #require(try await webhooks.show(feed: "default")).record.delivery
        #expect(delivery.leaseHolder == nil && delivery.nextAttemptAt == now && delivery.attempts == 1)
        #expect(delivery.lastError == "interrupted: web-1:8080:4242:aaaa's delivery ended when that process stopped (the node restarted)")
        // Due now: the same message goes out at the next lease.
        let again = try await h.store.leaseDueWebhooks(now: now, holder: "web-1:8080:4343:cccc#1", until: now.addingTimeInterval(30), limit: 1, batchSize: 100)
        #expect(again.count == 1 && again[0].delivery.batchThrough == leased[0].delivery.batchThrough)
    }

    /// A node that comes back after its lease ran out (a paused VM) sends nothing: another node may have resent the
    /// message and later ones (outside testing: one order inversion at the receiver).
    @Test func aDeliveryWhoseLeaseRanOutIsNotSent() async throws {
        let h = try await reviewingHarness()
        let webhooks = WebhookService(scoring: h.service, transport: h.transport, configuration: h.configuration.events)
        _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/hook", secret: Self.secret, events: ["review"], by: "admin")
        let deliverer = WebhookDeliverer(scoring: h.service, transport: h.transport, configuration: h.configuration.events, node: "n1", draw: { 0.5 })
        try await h.decide("a")
        let now = h.service.clock()
        let record = try #require(try await h.store.leaseDueWebhooks(now: now, holder: "n1", until: now.addingTimeInterval(h.configuration.events.leaseSeconds),
                                                                     limit: 1, batchSize: 100).first)
        h.clock.advance(hours: h.configuration.events.leaseSeconds / 3600)  // paused past its lease
        h.transport.answer(200)
        await deliverer.deliver(record)
        #expect(h.transport.sent.isEmpty)
        // The next lease sends it.
        h.clock.advance(hours: 1.0 / 3600)
        let later = h.service.clock()
        let retaken = try #require(try await h.store.leaseDueWebhooks(now: later, holder: "n2", until: later.addingTimeInterval(30), limit: 1, batchSize: 100).first)
        await deliverer.deliver(retaken)
        #expect(h.transport.sent.count == 1)
    }

    /// The deliverer's steps, driven one at a time: a message of the feed's events in order, signed; a failure keeps the
    /// same message for the retry (same id, same body) after a backoff; success moves the feed's place on; causes the
    /// endpoint does not want are skipped without a message.
    @Test func deliveriesAreSignedOrderedRetriedAsTheSameMessageAndFiltered() async throws {
        let h = try await reviewingHarness()
        var events = h.configuration.events
        events.retry = WebhookRetryPolicy(initialSeconds: 60, maxSeconds: 600, failingAfterSeconds: 3600)
        let webhooks = WebhookService(scoring: h.service, transport: h.transport, configuration: events)
        _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/hook", secret: Self.secret, events: ["review"], by: "admin")
        let deliverer = WebhookDeliverer(scoring: h.service, transport: h.transport, configuration: events, node: "n1", draw: { 0.5 })
        let ticket = try await h.decide("a")
        try await h.decide("b", label: "clear")
        func leaseAndDeliver() async throws -> Bool {
            let now = h.service.clock()
            guard let record = try await h.store.leaseDueWebhooks(now: now, holder: "n1", until: now.addingTimeInterval(30), limit: 1, batchSize: 100).first else { return false }
            await deliverer.deliver(record)
            return true
        }
        h.transport.answer(503)
        #expect(try await leaseAndDeliver())
        let first = try #require(h.transport.sent.last)
        var state = try #require(try await webhooks.show(feed: "default"))
        #expect(state.state == "retrying" && state.pending == 2 && state.record.delivery.lastError == "the receiver answered 503")
        #expect(state.record.delivery.nextAttemptAt == h.service.clock().addingTimeInterval(45))  // 60 s × (0.5 + 0.5 × 0.5)
        // Not due yet.
        #expect(try await !leaseAndDeliver())
        // Outside testing: setting the webhook again mid-retry (a new secret, a moved receiver) resent the message under
        // another webhook-id. The id names the message (feed, topics, span), not the endpoint.
        let rotated = "whsec_" + Data((0..<32).map { UInt8($0 * 7 % 256) }).base64EncodedString()
        _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/moved", secret: rotated, events: ["review"], by: "admin")
        h.clock.advance(hours: 1.0 / 60)
        h.transport.answer(200)
        #expect(try await leaseAndDeliver())
        let second = try #require(h.transport.sent.last)
        #expect(second.url == "http://127.0.0.1:9/moved")
        #expect(second.headers["webhook-id"] == first.headers["webhook-id"] && second.body == first.body)
        #expect(StandardWebhooksVerifier.verify(secret: rotated, id: second.headers["webhook-id"]!, timestamp: second.headers["webhook-timestamp"]!,
                                                body: second.body, signatureHeader: second.headers["webhook-signature"]!))
        let body = try #require(try JSONSerialization.jsonObject(with: Data(second.body)) as? [String: Any])
        #expect(body["type"] as? String == "decision.changed")
        let data = try #require(body["data"] as? [String: Any])
        let sentEvents = data["events"] as? [[String: Any]] ?? []
        #expect(sentEvents.map { $0["itemId"] as? String } == ["a", "b"] && sentEvents.map { $0["id"] as? String } == ["evt_1", "evt_2"])
        state = try #require(try await webhooks.show(feed: "default"))
        #expect(state.state == "healthy" && state.pending == 0 && state.record.delivery.delivered == 2 && state.record.delivery.failed == 1)
        // An undo is not wanted by this endpoint: delivered past without a message.
        let count = h.transport.sent.count
        #expect(try await h.post("/v1/review/tickets/\(ticket)/undo", as: .moderator, "{}").status == .ok)
        #expect(try await leaseAndDeliver())
        #expect(h.transport.sent.count == count)
        state = try #require(try await webhooks.show(feed: "default"))
        #expect(state.pending == 0 && state.record.delivery.deliveredSeq == 3 && state.record.delivery.delivered == 2)
        // The figures reach /metrics.
        let metrics = try await h.send(.get, "/metrics")
        #expect(metric(metrics.body, #"winnow_webhook_events_delivered_total{feed="default"}"#) == 2)
        #expect(metric(metrics.body, #"winnow_webhook_attempts_total{feed="default",outcome="failed"}"#) == 1)
        #expect(metric(metrics.body, #"winnow_decision_events_total{cause="undo"}"#) == 1)
        #expect(metric(metrics.body, #"winnow_decision_events_total{cause="review"}"#) == 2)
    }
}

extension WebhookRoutesTests {
    /// A retraining pass's steps are events (`retraining.step`) in the changes feed among the decision events, in
    /// commit order, and reach the feed's webhook in messages of their own type: a message never mixes types.
    @Test func retrainingStepsAreEventsDeliveredInMessagesOfTheirOwnType() async throws {
        var configuration = ServerConfiguration()
        configuration.registry = Scratch.path("retrain-events").path
        configuration.engine.review.goldRate = 0
        configuration.engine.review.doubleReviewRate = 0
        configuration.engine.review.auditRates = [:]
        let h = try await Harness(configuration: configuration)
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["review": 0]]])).status == .ok)
        let registry = ModelRegistry(scoring: h.service, directory: configuration.registry)
        _ = try await registry.startServing()
        let webhooks = WebhookService(scoring: h.service, transport: h.transport, configuration: h.configuration.events)
        _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/hook", secret: Self.secret,
                                   events: EventTopic.allCases.map(\.rawValue), by: "admin")

        try await h.decide("a")
        let loop = Retrainer(registry: registry, configuration: RetrainerTests.configuration(),
                             data: RetrainData(sources: ["fixture"], base: { RetrainerTests.rows }, test: { RetrainerTests.rows }), node: "node-a")
        let pass = try #require(try await loop.tick())
        #expect(pass.state == .promoted, "\(pass.message)")
        try await h.decide("b")

        // Asked for: a reader written for decisions alone never meets a retraining step.
        #expect(events(try await h.changes("feed=default&after=0")).map { $0["seq"] as? Int } == [1, 6])
        #expect(events(try await h.changes("feed=default&after=0&retraining=false")).map { $0["type"] as? String } == ["decision.changed", "decision.changed"])
        let refused = try await h.changes("feed=default&after=0&retraining=yes")
        #expect(refused.status == .unprocessableContent && (refused.json["error"] as? [String: Any])?["field"] as? String == "retraining")
        let page = try await h.changes("feed=default&after=0&retraining=true")
        let read = events(page)
        #expect(read.map { $0["type"] as? String } == ["decision.changed"] + Array(repeating: "retraining.step", count: 4) + ["decision.changed"])
        #expect(read.map { $0["seq"] as? Int } == [1, 2, 3, 4, 5, 6])
        let steps = read.compactMap { $0["pass"] as? [String: Any] }
        #expect(steps.map { $0["state"] as? String } == ["training", "shadow", "promoting", "promoted"])
        #expect(steps.allSatisfy { $0["id"] as? Int == 1 && $0["by"] as? String == "node-a" })
        #expect(steps.last?["candidate"] as? String == h.service.model.version)
        #expect(read[1]["feed"] == nil && read[1]["itemId"] == nil && read[1]["id"] as? String == "evt_2")
        // An admin reading every feed sees them once.
        #expect(events(try await h.changes("after=0&retraining=true", as: .admin)).count == 6)
        #expect(events(try await h.changes("after=0", as: .admin)).count == 2)

        // Three messages however large the batch: the decision, the four steps, the decision.
        let deliverer = WebhookDeliverer(scoring: h.service, transport: h.transport, configuration: h.configuration.events, node: "n1", draw: { 0.5 })
        h.transport.answer(200)
        /// Delivers every message due, one lease at a time; returns the bodies sent.
        func deliverAll() async throws -> [[String: Any]] {
            let before = h.transport.sent.count
            for _ in 0..<4 {
                let now = h.service.clock()
                guard let record = try await h.store.leaseDueWebhooks(now: now, holder: "n1", until: now.addingTimeInterval(30), limit: 1, batchSize: 100).first else { break }
                await deliverer.deliver(record)
            }
            return try h.transport.sent.dropFirst(before).map { try #require(try JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any]) }
        }
        let messages = try await deliverAll()
        #expect(messages.map { $0["type"] as? String } == ["decision.changed", "retraining.step", "decision.changed"])
        let delivered = messages.map { (($0["data"] as? [String: Any])?["events"] as? [[String: Any]] ?? []).compactMap { $0["seq"] as? Int } }
        #expect(delivered == [[1], [2, 3, 4, 5], [6]])
        #expect(h.transport.sent.map { $0.headers["webhook-id"]?.hasSuffix("_1_1") ?? false } == [true, false, false])
        #expect(h.transport.sent[1].headers["webhook-id"]?.hasSuffix("_2_5") == true)
        #expect(try await webhooks.show(feed: "default")?.pending == 0)

        // A webhook that asks only for retraining steps gets none of the decisions (and one that names nothing, the
        // decisions alone: `deliveriesAreSignedOrderedRetriedAsTheSameMessageAndFiltered`).
        _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/hook", secret: Self.secret, events: ["retraining"], by: "admin")
        #expect(try await webhooks.show(feed: "default")?.record.endpoint.topics == [.retraining])
        try await h.decide("c")
        h.clock.advance(hours: 24)
        #expect(try await loop.tick()?.id == 2)
        let later = try await deliverAll()
        #expect(later.count == 1 && later.allSatisfy { $0["type"] as? String == "retraining.step" })
        let passes = later.flatMap { (($0["data"] as? [String: Any])?["events"] as? [[String: Any]] ?? []).compactMap { ($0["pass"] as? [String: Any])?["id"] as? Int } }
        #expect(!passes.isEmpty && passes.allSatisfy { $0 == 2 })
        #expect(try await webhooks.show(feed: "default")?.pending == 0)
        // One that names nothing gets every decision and no step.
        _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/hook", secret: Self.secret, events: nil, by: "admin")
        try await h.decide("d")
        h.clock.advance(hours: 24)
        #expect(try await loop.tick()?.id == 3)
        let decisionsOnly = try await deliverAll()
        #expect(decisionsOnly.map { $0["type"] as? String } == ["decision.changed"])
        #expect(decisionsOnly.flatMap { (($0["data"] as? [String: Any])?["events"] as? [[String: Any]] ?? []).compactMap { $0["itemId"] as? String } } == ["d"])
        #expect(try await webhooks.show(feed: "default")?.pending == 0)
        await #expect(throws: ValidationError.self) {
            _ = try await webhooks.set(feed: "default", url: "http://127.0.0.1:9/hook", secret: Self.secret, events: ["retrain"], by: "admin")
        }
    }
}

/// A value behind a lock that closures on other threads can share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}

@Suite struct WebhookClientTests {
    /// A receiver that sends its answer's head and then nothing: the request still ends at its deadline (async-http-
    /// client's own deadline stops at the head), so a stalled receiver cannot hold its feed's delivery for ever.
    /// A socket listening on a free loopback port, and the port.
    static func listening() throws -> (socket: Int32, port: Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw CocoaError(.fileWriteUnknown) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(listener, raw, size) == 0, listen(listener, 4) == 0, getsockname(listener, raw, &size) == 0 else {
                    close(listener)
                    throw CocoaError(.fileWriteUnknown)
                }
            }
        }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// On a thread of its own: accepts one connection on `listener`, reads what arrives first (into `received`, when
    /// given), writes `answer`, and closes the connection after `holdSeconds`.
    static func answerOnce(_ listener: Int32, _ answer: String, holdSeconds: UInt32 = 0, received: Shared<String>? = nil) {
        Thread {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { return }
            var buffer = [UInt8](repeating: 0, count: 65_536)
            let count = read(connection, &buffer, buffer.count)
            received?.value.withLock { $0 = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self) }
            let bytes = Array(answer.utf8)
            _ = write(connection, bytes, bytes.count)
            sleep(holdSeconds)
            close(connection)
        }.start()
    }

    @Test func aReceiverThatStallsAfterItsHeadIsCutOffAtTheDeadline() async throws {
        let (listener, port) = try Self.listening()
        defer { close(listener) }
        // Answers a head promising 100 bytes, and never sends them.
        Self.answerOnce(listener, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", holdSeconds: 5)
        let client = WebhookClient(readTimeoutSeconds: 30)
        // Without the deadline the exchange would end only when the receiver closes (5 s), with another error.
        await #expect(throws: WebhookClient.DeadlineExceeded.self) {
            _ = try await client.post(url: "http://127.0.0.1:\(port)/hook", headers: [], body: Array("{}".utf8), timeoutSeconds: 1)
        }
        try await client.shutdown()
    }

    /// DNS rebinding: a delivery connects to the address its host was checked at, never to a later answer of the
    /// resolver. The name here resolves through the test's resolver only (`.test` names never resolve in DNS), so the
    /// answer arriving proves the HTTP client did not resolve it itself; the request still names the host.
    @Test func aDeliveryConnectsToTheAddressItsHostWasCheckedAt() async throws {
        let (listener, port) = try Self.listening()
        defer { close(listener) }
        let received = Shared("")
        Self.answerOnce(listener, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", received: received)
        let asked = Shared<[String]>([])
        let client = WebhookClient(readTimeoutSeconds: 5) { host in
            asked.value.withLock { $0.append(host) }
            return host.lowercased() == "hooks.winnow.test" ? [[127, 0, 0, 1]] : nil
        }
        // Spelled in mixed case: pinned however the HTTP client reads the name.
        let status = try await client.post(url: "http://Hooks.Winnow.test:\(port)/hook", headers: [], body: Array("{}".utf8), timeoutSeconds: 5)
        #expect(status == 204)
        #expect(received.value.withLock { $0 }.lowercased().contains("\r\nhost: hooks.winnow.test:\(port)\r\n"), "\(received.value.withLock { $0 })")
        #expect(asked.value.withLock { $0 }.map { $0.lowercased() } == ["hooks.winnow.test"])
        try await client.shutdown()
    }

    /// A name that resolved to the feed service when its webhook was set, and now to a metadata service: the delivery is
    /// refused before anything connects, naming the address; a name resolving to one allowed and one forbidden address
    /// is refused too (the HTTP client would pick either).
    @Test func aHostThatNowResolvesToAForbiddenAddressIsNotReached() async throws {
        let (listener, port) = try Self.listening()
        defer { close(listener) }
        let received = Shared("")
        Self.answerOnce(listener, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", received: received)
        let answers = Shared<[[[UInt8]]]>([[[127, 0, 0, 1]], [[169, 254, 169, 254]], [[127, 0, 0, 1], [169, 254, 169, 254]]])
        // Checked again before every delivery (recheckSeconds 0): a resolver with a TTL of zero, as an attacker's is.
        let client = WebhookClient(readTimeoutSeconds: 5, recheckSeconds: 0) { _ in
            answers.value.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        }
        let url = "http://rebound.winnow.test:\(port)/hook"
        #expect(try await client.post(url: url, headers: [], body: Array("{}".utf8), timeoutSeconds: 5) == 204)
        for _ in 0..<2 {
            let error = await #expect(throws: ValidationError.self) {
                _ = try await client.post(url: url, headers: [], body: Array("{}".utf8), timeoutSeconds: 5)
            }
            #expect(error?.field == "url")
            #expect(error?.message.hasPrefix("the host 'rebound.winnow.test' (169.254.169.254) is an unspecified, link-local") == true,
                    "\(String(describing: error))")
        }
        // And one that no longer resolves.
        await #expect(throws: ValidationError(field: "url", "the host 'rebound.winnow.test' does not resolve here; give a name this server can look up, or an address")) {
            _ = try await client.post(url: url, headers: [], body: Array("{}".utf8), timeoutSeconds: 5)
        }
        try await client.shutdown()
    }

    /// A host whose address changes gets a client pinned to the new one; the old one is kept for deliveries in flight.
    @Test func aNewAddressOfAHostIsUsedOnceChecked() async throws {
        let (first, firstPort) = try Self.listening()
        defer { close(first) }
        Self.answerOnce(first, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        // The second receiver listens on 127.0.0.2 (all of 127/8 is loopback) at the same port number when it can; the
        // resolver moves the name from one address to the other.
        let second = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(second) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.2")
        address.sin_port = UInt16(firstPort).bigEndian
        var reuse: Int32 = 1
        setsockopt(second, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(second, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        try #require(bound && listen(second, 4) == 0, "127.0.0.2:\(firstPort) is taken here")
        Self.answerOnce(second, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
        let answers = Shared<[[[UInt8]]]>([[[127, 0, 0, 1]], [[127, 0, 0, 2]]])
        let client = WebhookClient(readTimeoutSeconds: 5, recheckSeconds: 0) { _ in answers.value.withLock { $0.removeFirst() } }
        let url = "http://moving.winnow.test:\(firstPort)/hook"
        #expect(try await client.post(url: url, headers: [], body: Array("{}".utf8), timeoutSeconds: 5) == 200)
        #expect(try await client.post(url: url, headers: [], body: Array("{}".utf8), timeoutSeconds: 5) == 202)
        try await client.shutdown()
    }

    /// A receiver nobody listens on: the failure reads in a few words (it read "connection reset (error set):
    /// Connection refused) (errno: 111)").
    @Test func aRefusedConnectionIsSaidPlainly() async throws {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, size) == 0 && getsockname(probe, $0, &size) == 0 }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(probe)  // a port that was free a moment ago, and nobody listens on now
        let client = WebhookClient(readTimeoutSeconds: 5)
        do {
            // The exchange alone (`post` races it against the same deadline): the client's own timeout ends its retries.
            _ = try await client.exchange(url: "http://127.0.0.1:\(port)/hook", headers: [], body: Array("{}".utf8), timeoutSeconds: 1)
            Issue.record("expected the connection to be refused")
        } catch {
            #expect("\(error)" == "connection refused")
        }
        try await client.shutdown()
    }

    /// Outside testing: an https URL whose receiver speaks plain HTTP failed with BoringSSL's whole error stack, this
    /// build's source paths in it. The failure reads as a sentence.
    @Test func aFailedTLSHandshakeIsSaidPlainly() async throws {
        let (listener, port) = try Self.listening()
        defer { close(listener) }
        // Answers the TLS client hello with plain HTTP.
        Self.answerOnce(listener, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        let client = WebhookClient(readTimeoutSeconds: 5)
        do {
            _ = try await client.exchange(url: "https://127.0.0.1:\(port)/hook", headers: [], body: Array("{}".utf8), timeoutSeconds: 5)
            Issue.record("expected the TLS handshake to fail")
        } catch {
            #expect("\(error)" == "the TLS handshake failed (does the receiver speak HTTPS on this port, with a certificate this server trusts?)")
            #expect(!"\(error)".contains(".build"))
        }
        try await client.shutdown()
    }

    /// A URL stored before the port check (or written into the table by hand) fails its delivery with the reason; the
    /// HTTP client traps on a port beyond 65535, which stopped the server at every start.
    @Test func aStoredURLWithAnImpossiblePortFailsInsteadOfTrapping() async throws {
        let client = WebhookClient(readTimeoutSeconds: 5)
        let error = await #expect(throws: ValidationError.self) {
            _ = try await client.post(url: "http://127.0.0.1:99999/hook", headers: [], body: Array("{}".utf8), timeoutSeconds: 1)
        }
        #expect(error?.message == "the URL's port is 99999; a port is 1 to 65535", "\(String(describing: error))")
        try await client.shutdown()
    }
}
