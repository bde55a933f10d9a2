import Engine
import Foundation
import Testing

@testable import Server
@testable import Services
@testable import Storage

/// A harness whose default feed sends every item to review (and gold seeding off unless asked).
private func reviewHarness(goldRate: Double = 0, auditRates: [String: Double] = [:]) async throws -> Harness {
    var configuration = ServerConfiguration()
    configuration.engine.review.goldRate = goldRate
    configuration.engine.review.auditRates = auditRates
    let h = try await Harness(configuration: configuration)
    let policy = try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["review": 0]]]))
    #expect(policy.status == .ok)
    return h
}

private extension Harness {
    /// A harness whose queue holds only what a test opens: no gold tickets, no audits.
    static func withoutGoldOrAudits() async throws -> Harness {
        var configuration = ServerConfiguration()
        configuration.engine.review.goldRate = 0
        configuration.engine.review.auditRates = [:]
        return try await Harness(configuration: configuration)
    }

    /// A harness that draws every tier-1 ticket for two reviews (no gold, no audits), its default feed sending every
    /// item to review, with items `ids` posted.
    static func doubleReviewing(_ ids: [String]) async throws -> Harness {
        var configuration = ServerConfiguration()
        configuration.engine.review.goldRate = 0
        configuration.engine.review.auditRates = [:]
        configuration.engine.review.doubleReviewRate = 1
        let h = try await Harness(configuration: configuration)
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["review": 0]]])).status == .ok)
        for id in ids { #expect(try await h.post("/v1/items", json(["id": id, "text": "free cash prize \(id)"])).status == .created) }
        return h
    }

    func submit(_ ids: [String], text: String = "free cash prize call now") async throws {
        for id in ids {
            let answer = try await post("/v1/items", json(["id": id, "text": "\(text) \(id)", "language": "en"]))
            #expect(answer.status == .created)
        }
    }

    func claim(as role: Role = .moderator, _ body: [String: Any] = [:]) async throws -> [[String: Any]] {
        let answer = try await post("/v1/review/claim", as: role, json(body))
        #expect(answer.status == .ok, "\(answer.body)")
        return answer.json["tickets"] as? [[String: Any]] ?? []
    }
}

private func ticketID(_ detail: [String: Any]) -> Int { (detail["ticket"] as? [String: Any])?["id"] as? Int ?? -1 }
private func ticketField(_ detail: [String: Any], _ key: String) -> Any? { (detail["ticket"] as? [String: Any])?[key] }

@Suite struct ReviewRouteTests {
    @Test func aModeratorClaimsAndDecidesAndTheDecisionBecomesTheItems() async throws {
        let h = try await reviewHarness()
        try await h.submit(["a"])
        #expect(try await h.post("/v1/review/claim", as: .feed, "{}").status == .forbidden)
        let tickets = try await h.claim()
        #expect(tickets.count == 1)
        let detail = tickets[0]
        let id = ticketID(detail)
        #expect((detail["item"] as? [String: Any])?["text"] as? String == "free cash prize call now a")
        #expect(detail["classes"] as? [String] == ["clear", "spam"])
        #expect((detail["reasonCodes"] as? [String])?.contains("not_violating") == true)
        #expect((detail["scores"] as? [String: Any])?["label"] != nil)
        #expect(ticketField(detail, "reasons") as? [String] == ["review_band"])
        #expect((ticketField(detail, "lease") as? [String: Any])?["holder"] as? String == "test-moderator")
        #expect(abs((ticketField(detail, "slaSecondsLeft") as? Double ?? 0) - 14_400) < 1e-6)

        // Someone without the lease cannot decide; bad values name their field.
        let other = try await h.send(.post, "/v1/review/tickets/\(id)/decision", as: .admin, body: json(["label": "spam", "reasonCode": "spam"]))
        #expect(other.status == .conflict && other.error["code"] as? String == "lease_lost")
        let badLabel = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "ham", "reasonCode": "spam"]))
        #expect(badLabel.status == .unprocessableContent && badLabel.error["field"] as? String == "label")
        let badCode = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "dunno"]))
        #expect(badCode.status == .unprocessableContent && badCode.error["field"] as? String == "reasonCode")
        let stale = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam", "version": 1]))
        #expect(stale.status == .conflict && stale.error["field"] as? String == "version")

        let version = ticketField(detail, "version") as? Int ?? 0
        h.clock.advance(hours: 1.0 / 60)
        let decided = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator,
                                       json(["label": "spam", "reasonCode": "scam", "note": "known scam", "version": version]))
        #expect(decided.status == .ok, "\(decided.body)")
        #expect(decided.json["action"] as? String == "remove")
        let twice = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "scam"]))
        #expect(twice.status == .conflict && twice.error["code"] as? String == "already_decided")

        let item = try await h.send(.get, "/v1/items/a", as: .feed).json
        let current = item["current"] as? [String: Any] ?? [:]
        #expect(current["stage"] as? String == "review")
        #expect((current["decision"] as? [String: Any])?["action"] as? String == "remove")
        // The feed reads what was decided and its code, not who decided nor their note.
        #expect((current["decision"] as? [String: Any])?["reason"] as? String == "decided by a reviewer (tier 1, scam)")
        let kinds = (item["history"] as? [[String: Any]] ?? []).map { entry -> String in
            if let event = entry["ticket"] as? [String: Any] { return "ticket:\(event["kind"] as? String ?? "")" }
            return entry["kind"] as? String ?? ""
        }
        #expect(kinds == ["stage", "ticket:opened", "ticket:claimed", "stage", "ticket:decided"])
        // Who took each step, and their notes, are the review team's: an admin reads them, the feed does not.
        let steps = (item["history"] as? [[String: Any]] ?? []).compactMap { $0["ticket"] as? [String: Any] }
        #expect(steps.count == 3 && steps.allSatisfy { $0["by"] == nil && $0["note"] == nil }, "\(steps)")
        #expect(!(try await h.send(.get, "/v1/items/a", as: .feed).body).contains("test-moderator"))
        let asAdmin = (try await h.send(.get, "/v1/items/a", as: .admin).json["history"] as? [[String: Any]] ?? []).compactMap { $0["ticket"] as? [String: Any] }
        let decidedStep = asAdmin.first { $0["kind"] as? String == "decided" }
        #expect(decidedStep?["by"] as? String == "test-moderator" && decidedStep?["note"] as? String == "known scam", "\(asAdmin)")
        #expect(try await h.store.labelSources().count == 1)
        #expect(try await h.claim().isEmpty)
    }

    /// Outside testing: ticket ids "+1" and "01" read as ticket 1, and `?tier=+1` as tier 1. The API writes numbers
    /// one way and reads them the same way: other spellings are a 404 (a path) or a 422 naming the parameter.
    @Test func aTicketIDAndATierHaveOneSpelling() async throws {
        let h = try await reviewHarness()
        try await h.submit(["p1"])
        let id = ticketID(try #require(try await h.claim().first))
        #expect(try await h.send(.get, "/v1/review/tickets/\(id)", as: .moderator).status == .ok)
        for spelling in ["+\(id)", "0\(id)", "\(id).0", "%20\(id)", "-0"] {
            let answer = try await h.send(.get, "/v1/review/tickets/\(spelling)", as: .moderator)
            #expect(answer.status == .notFound && (answer.error["message"] as? String)?.contains("positive whole numbers") == true, "\(spelling): \(answer.body)")
        }
        #expect(try await h.send(.get, "/v1/review/queue?tier=1", as: .moderator).status == .ok)
        for tier in ["%2B1", "01", "1.0"] {
            #expect(try await h.send(.get, "/v1/review/queue?tier=\(tier)", as: .moderator).error["field"] as? String == "tier", "\(tier)")
        }
    }

    @Test func leasesExpireRenewAndRelease() async throws {
        let h = try await reviewHarness()
        try await h.submit(["a"])
        let id = ticketID(try await h.claim()[0])
        h.clock.advance(hours: 4.0 / 60)
        // Renew takes no body: one that says something is refused (it was read by no one, so `version` looked checked).
        let withBody = try await h.post("/v1/review/tickets/\(id)/renew", as: .moderator, json(["version": 99]))
        #expect(withBody.status == .unprocessableContent && withBody.error["field"] as? String == "body"
                && withBody.error["message"] as? String == "POST /v1/review/tickets/{id}/renew takes no body; send none.", "\(withBody.body)")
        #expect(try await h.post("/v1/review/tickets/\(id)/renew", as: .moderator, " { } ").status == .ok)
        // JSON's white space only: a no-break space inside the braces is not `{}`.
        #expect(try await h.post("/v1/review/tickets/\(id)/renew", as: .moderator, "{\u{A0}}").error["field"] as? String == "body")
        // A body on GET has no meaning in HTTP: left unread, as before.
        #expect(try await h.send(.get, "/v1/review/queue", as: .moderator, body: #"{"tier": 2}"#).status == .ok)
        let renewed = try await h.post("/v1/review/tickets/\(id)/renew", as: .moderator, "")
        #expect(renewed.status == .ok)
        h.clock.advance(hours: 4.0 / 60)  // 8 minutes after the claim, 4 after the renewal: still held
        #expect(try await h.claim(as: .admin).isEmpty)
        h.clock.advance(hours: 2.0 / 60)  // past the renewed lease
        let late = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"]))
        #expect(late.status == .conflict)
        #expect((late.error["message"] as? String)?.contains("expired and nobody holds it now") == true)
        let taken = try await h.claim(as: .admin)
        #expect(taken.map(ticketID) == [id])
        let released = try await h.send(.post, "/v1/review/tickets/\(id)/release", as: .admin)
        #expect(released.status == .ok)
        #expect((released.json["ticket"] as? [String: Any])?["lease"] == nil)
        #expect(try await h.claim().map(ticketID) == [id])
        #expect(try await h.post("/v1/review/tickets/x/release", as: .moderator, "").status == .notFound)
        #expect(try await h.post("/v1/review/tickets/999/release", as: .moderator, "").status == .notFound)
    }

    @Test func escalationGoesToTierTwoWithTheNoteAndHistory() async throws {
        let h = try await reviewHarness()
        try await h.submit(["a"])
        let id = ticketID(try await h.claim()[0])
        let blank = try await h.post("/v1/review/tickets/\(id)/escalate", as: .moderator, json(["note": " "]))
        #expect(blank.status == .unprocessableContent && blank.error["field"] as? String == "note")
        let escalated = try await h.post("/v1/review/tickets/\(id)/escalate", as: .moderator, json(["note": "needs a second look"]))
        #expect((escalated.json["ticket"] as? [String: Any])?["tier"] as? Int == 2)
        #expect(try await h.claim().isEmpty)
        let senior = try await h.claim(as: .admin, ["tiers": [2]])
        #expect(ticketField(senior[0], "note") as? String == "needs a second look")
        #expect(ticketField(senior[0], "reasons") as? [String] == ["review_band", "escalation"])
        let history = senior[0]["history"] as? [[String: Any]] ?? []
        let escalation = history.compactMap { $0["ticket"] as? [String: Any] }.first { $0["kind"] as? String == "escalated" }
        #expect(escalation?["by"] as? String == "test-moderator")
        #expect(try await h.post("/v1/review/claim", as: .moderator, json(["tiers": [3]])).error["field"] as? String == "tiers[0]")
        #expect(try await h.post("/v1/review/claim", as: .moderator, json(["count": 11])).error["field"] as? String == "count")
    }

    /// A claim queries one index range per tier × language × skill: the lists are bounded, so no body can make a claim
    /// (and the writes waiting behind it) slow. The 16 KB body of 1,000 languages and 1,000 skills is refused at once.
    @Test func aClaimsListsAreBoundedAndEachBadEntryIsNamed() async throws {
        let h = try await Harness()
        let many = (0..<1_000).map { "l\($0)" }
        for (body, field) in [(["languages": many, "skills": many], "languages"), (["skills": many], "skills"),
                              (["languages": ["en", String(repeating: "x", count: 36)]], "languages[1]"), (["languages": ["en", "pt", "fr_FR"]], "languages[2]"), (["skills": [""]], "skills[0]"),
                              (["excluding": Array(0..<101)], "excluding")] as [([String: Any], String)] {
            let answer = try await h.post("/v1/review/claim", as: .moderator, json(body))
            #expect(answer.status == .unprocessableContent)
            #expect(answer.error["field"] as? String == field)
        }
        // At the limits a claim is served.
        let limits = ["languages": ["en", "pt-BR", "es", "fr", "de", "it", "nl", "zh-Hant"], "skills": (0..<8).map { "s\($0)" }, "tiers": [1, 2]] as [String: Any]
        #expect(try await h.post("/v1/review/claim", as: .moderator, json(limits)).status == .ok)
    }

    @Test func queueIsPagedByPriorityAndStatsCountIt() async throws {
        let h = try await reviewHarness()
        try await h.submit((0..<5).map { "q\($0)" })
        var seen: [Int] = []
        var cursor: String?
        repeat {
            let page = try await h.send(.get, "/v1/review/queue?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), as: .moderator).json
            let tickets = page["tickets"] as? [[String: Any]] ?? []
            seen += tickets.compactMap { $0["id"] as? Int }
            let priorities = tickets.compactMap { $0["priority"] as? Double }
            #expect(priorities == priorities.sorted(by: >))
            cursor = page["nextCursor"] as? String
        } while cursor != nil
        #expect(seen.count == 5 && Set(seen).count == 5)
        #expect(try await h.send(.get, "/v1/review/queue?cursor=nonsense", as: .moderator).error["field"] as? String == "cursor")
        #expect(try await h.send(.get, "/v1/review/queue?tier=9", as: .moderator).error["field"] as? String == "tier")
        _ = try await h.claim()
        h.clock.advance(hours: 5)
        let stats = try await h.send(.get, "/v1/review/stats", as: .moderator).json
        #expect(stats["open"] as? Int == 5)
        #expect(stats["overdue"] as? Int == 5)
        #expect(stats["byLanguage"] as? [String: Int] == ["en": 5])
        #expect(stats["byReason"] as? [String: Int] == ["review_band": 5])
        #expect(abs((stats["oldestAgeSeconds"] as? Double ?? 0) - 18_000) < 1e-3)
        #expect(try await h.send(.get, "/v1/review/stats", as: .feed).status == .forbidden)
    }

    /// Outside testing: a report's `at` could be a day ahead of the server and before the item was created, where an
    /// engagement update is refused 5 minutes ahead and before creation. A report takes the same times.
    @Test func aReportsTimeFollowsEngagementsRules() async throws {
        let h = try await Harness.withoutGoldOrAudits()
        h.clock.advance(hours: 1)
        #expect(try await h.post("/v1/items", json(["id": "r", "text": "see you at the station at six"])).status == .created)
        func at(_ seconds: Double) -> String { ISOTime.format(Harness.start.addingTimeInterval(3600 + seconds)) }
        let ahead = try await h.post("/v1/items/r/reports", json(["reporter": "u1", "at": at(301)]))
        #expect(ahead.status == .unprocessableContent && ahead.error["field"] as? String == "at", "\(ahead.body)")
        #expect((ahead.error["message"] as? String)?.contains("at most 5 minutes after now") == true, "\(ahead.body)")
        let before = try await h.post("/v1/items/r/reports", json(["reporter": "u1", "at": at(-1)]))
        #expect(before.status == .unprocessableContent && before.error["field"] as? String == "at", "\(before.body)")
        #expect((before.error["message"] as? String)?.contains("before the item was created") == true, "\(before.body)")
        #expect(try await h.post("/v1/items/r/reports", json(["reporter": "u1", "at": at(0)])).status == .ok)
        #expect(try await h.post("/v1/items/r/reports", json(["reporter": "u2", "at": at(300)])).status == .ok)
        #expect(try await h.post("/v1/items/none/reports", json(["reporter": "u2", "at": at(0)])).status == .notFound)
    }

    @Test func reportsAndAppealsOpenTickets() async throws {
        let h = try await Harness.withoutGoldOrAudits()
        #expect(try await h.post("/v1/items", json(["id": "r", "text": "see you at the station at six"])).status == .created)
        for reporter in ["u1", "u2"] {
            let answer = try await h.post("/v1/items/r/reports", json(["reporter": reporter]))
            #expect(answer.json["ticket"] == nil)
        }
        let third = try await h.post("/v1/items/r/reports", json(["reporter": "u3"]))
        #expect(third.json["weightedReports"] as? Double == 3)
        #expect((third.json["ticket"] as? [String: Any])?["reasons"] as? [String] == ["reports"])
        // The feed reads its ticket's state and due time, not the review team's side (holder, note, priority, blind).
        #expect(Set(((third.json["ticket"] as? [String: Any]) ?? [:]).keys) == ["id", "feed", "itemId", "tier", "reasons", "status", "openedAt", "dueAt"])
        #expect(try await h.post("/v1/items/r/reports", json(["reporter": ""])).error["field"] as? String == "reporter")
        #expect(try await h.post("/v1/items/nope/reports", json(["reporter": "u1"])).status == .notFound)

        // A person clears it; the feed appeals: that goes to tier 2.
        let id = ticketID(try await h.claim()[0])
        #expect(try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "clear", "reasonCode": "not_violating"])).status == .ok)
        let appeal = try await h.post("/v1/items/r/appeal", json(["note": "the user says it is a threat"]))
        #expect(appeal.status == .created)
        let ticket = appeal.json["ticket"] as? [String: Any] ?? [:]
        #expect(ticket["tier"] as? Int == 2)
        #expect(ticket["reasons"] as? [String] == ["appeal"])
        #expect(try await h.post("/v1/items/r/appeal", as: .moderator, "{}").status == .forbidden)
    }

    /// Escalating an appeal keeps the appellant's words beside the escalation's (outside testing: the escalation's note
    /// replaced them, and the senior reviewer never saw why the feed appealed).
    @Test func anEscalatedAppealKeepsTheAppealsNote() async throws {
        let h = try await Harness.withoutGoldOrAudits()
        #expect(try await h.post("/v1/items", json(["id": "lyric", "text": "see you at the station at six"])).status == .created)
        #expect(try await h.post("/v1/items/lyric/appeal", json(["note": "a line from a song"])).status == .created)
        let id = ticketID(try #require(try await h.claim().first))
        #expect(try await h.post("/v1/review/tickets/\(id)/escalate", as: .moderator, json(["note": "looks coordinated"])).status == .ok)
        let senior = try #require(try await h.claim(as: .admin, ["tiers": [2]]).first)
        #expect(ticketField(senior, "note") as? String == "looks coordinated — the appeal said: a line from a song", "\(senior)")
    }

    /// Reports of an item that stands removed open no ticket (outside testing: each flood of reports on an item a
    /// person had removed put it back in the queue); the reports still count.
    @Test func reportsOfARemovedItemOpenNoTicket() async throws {
        let h = try await Harness.withoutGoldOrAudits()
        #expect(try await h.post("/v1/items", json(["id": "r", "text": "see you at the station at six"])).status == .created)
        for reporter in ["u1", "u2", "u3"] { _ = try await h.post("/v1/items/r/reports", json(["reporter": reporter])) }
        let id = ticketID(try await h.claim()[0])
        #expect(try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"])).status == .ok)
        let item = try await h.send(.get, "/v1/items/r", as: .feed).json
        #expect(((item["current"] as? [String: Any])?["decision"] as? [String: Any])?["action"] as? String == "remove")
        for n in 4...15 {
            let answer = try await h.post("/v1/items/r/reports", json(["reporter": "u\(n)"]))
            #expect(answer.status == .ok || answer.status == .created)
            #expect(answer.json["ticket"] == nil, "report \(n) of a removed item opened a ticket")
        }
        #expect(try await h.claim().isEmpty)
        #expect(try await h.post("/v1/items/r/reports", json(["reporter": "u16"])).json["weightedReports"] as? Double ?? 0 > 12)
    }

    @Test func auditTicketsAreBlind() async throws {
        var configuration = ServerConfiguration()
        configuration.engine.review.goldRate = 0
        configuration.engine.review.auditRates = ["allow": 1]
        let h = try await Harness(configuration: configuration)
        #expect(try await h.post("/v1/items", json(["id": "quiet", "text": "see you at the station at six"])).status == .created)
        let tickets = try await h.claim()
        #expect(tickets.count == 1)
        #expect(ticketField(tickets[0], "blind") as? Bool == true)
        #expect(tickets[0]["scores"] == nil)
        let history = tickets[0]["history"] as? [[String: Any]] ?? []
        #expect(!history.contains { $0["kind"] as? String == "stage" })
        let id = ticketID(tickets[0])
        // Escalated, it stays blind at tier 2, whose judgement settles the audit (it showed the scores).
        #expect(try await h.post("/v1/review/tickets/\(id)/escalate", as: .moderator, json(["note": "cannot tell"])).status == .ok)
        let senior = try #require(try await h.claim(as: .admin, ["tiers": [2]]).first)
        #expect(ticketID(senior) == id && ticketField(senior, "blind") as? Bool == true && senior["scores"] == nil, "\(senior)")
        #expect(ticketField(senior, "reasons") as? [String] == ["audit", "escalation"])
        #expect(!(senior["history"] as? [[String: Any]] ?? []).contains { $0["kind"] as? String == "stage" })
        #expect(try await h.post("/v1/review/tickets/\(id)/decision", as: .admin, json(["label": "clear", "reasonCode": "not_violating"])).status == .ok)
        let source = try await h.store.labelSources()
        #expect(source == ["audit"])
        // The audit feeds the estimates: one allowed item judged clear, sampled with probability 1.
        #expect(try await h.send(.get, "/v1/stats", as: .moderator).status == .forbidden)
        let stats = try await h.send(.get, "/v1/stats", as: .admin).json
        let audits = stats["audits"] as? [String: Any] ?? [:]
        #expect(audits["audits"] as? Int == 1)
        let missed = audits["missedHarm"] as? [String: Any] ?? [:]
        #expect(missed["value"] as? Double == 0 && missed["audits"] as? Int == 1)
        #expect(audits["removalPrecision"] == nil)
        #expect((stats["queue"] as? [String: Any])?["open"] as? Int == 0)
        // A period counts the automatic decisions made in it.
        let inPeriod = try await h.send(.get, "/v1/stats?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z", as: .admin).json
        #expect((inPeriod["audits"] as? [String: Any])?["audits"] as? Int == 1)
        let later = try await h.send(.get, "/v1/stats?since=2100-01-01T00:00:00Z", as: .admin).json
        #expect((later["audits"] as? [String: Any])?["audits"] as? Int == 0)
        #expect(try await h.send(.get, "/v1/stats?since=yesterday", as: .admin).error["field"] as? String == "since")
        #expect(try await h.send(.get, "/v1/stats?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", as: .admin).error["field"] as? String == "until")

        // A later audit of the same item shows no step of the earlier ticket: its decision carries the label a
        // reviewer gave (outside review: only stages were left out of a blind ticket's history).
        let rules = ReviewRules(configuration: configuration.engine.review)
        let second = try await h.store.openTicket(feed: "default", id: "quiet") { state in
            rules.opening(.audit, state: state, now: h.clock.now(), auditProbability: 1)
        }
        let again = try #require(try await h.claim().first)
        #expect(ticketID(again) == Int(try #require(second?.id)) && ticketField(again, "blind") as? Bool == true)
        let steps = (again["history"] as? [[String: Any]] ?? []).compactMap { $0["ticket"] as? [String: Any] }
        #expect(!steps.isEmpty && steps.allSatisfy { $0["ticket"] as? Int == ticketID(again) && $0["label"] == nil }, "\(steps)")
    }

    @Test func goldItemsAreSeededUnannouncedAndScoreTheReviewer() async throws {
        let h = try await reviewHarness(goldRate: 1)
        try await h.submit(["g"])
        #expect(try await h.send(.post, "/v1/review/gold", as: .moderator, body: json(["id": "g", "label": "spam"])).status == .forbidden)
        #expect(try await h.send(.post, "/v1/review/gold", as: .admin, body: json(["id": "g", "label": "ham"])).error["field"] as? String == "label")
        #expect(try await h.send(.post, "/v1/review/gold", as: .admin, body: json(["id": "nope", "label": "spam"])).status == .notFound)
        #expect(try await h.send(.post, "/v1/review/gold", as: .admin, body: json(["id": "g", "label": "spam"])).status == .created)
        // While the item's own ticket is open, no copy of it is drawn as gold (two tickets of one item would tell).
        let own = try await h.claim(["count": 2])
        #expect(own.count == 1 && ticketField(own[0], "reasons") as? [String] == ["review_band"])
        #expect(try await h.post("/v1/review/tickets/\(ticketID(own[0]))/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"])).status == .ok)
        let tickets = try await h.claim()
        #expect(tickets.count == 1)  // the gold copy
        let gold = tickets[0]
        #expect(ticketField(gold, "reasons") as? [String] == ["review_band"])
        #expect(!gold.description.contains("gold"))
        let id = ticketID(gold)
        #expect(try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"])).status == .ok)
        // The reviewers' figures are the admins': a moderator's counts before and after a decision would tell gold.
        #expect((try await h.send(.get, "/v1/review/stats", as: .moderator).json["reviewers"] as? [Any])?.isEmpty == true)
        let reviewers = try await h.send(.get, "/v1/review/stats", as: .admin).json["reviewers"] as? [[String: Any]] ?? []
        #expect(reviewers.first?["goldSeen"] as? Int == 1)
        #expect(reviewers.first?["goldAccuracy"] as? Double == 1)
        #expect(try await h.store.labelSources() == ["review"])  // the item's own ticket's; the gold decision makes none
    }

    /// Outside testing: releasing a gold ticket answered status `decided` with the holder's lease still shown, where a
    /// released real ticket answers `open` and no one's. It answers the same now, and it is not handed out again.
    @Test func aReleasedGoldTicketAnswersAsAReleasedRealOne() async throws {
        let h = try await reviewHarness(goldRate: 1)
        try await h.submit(["g", "r"])
        let own = try await h.claim(["count": 2])
        for ticket in own {
            #expect(try await h.post("/v1/review/tickets/\(ticketID(ticket))/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"])).status == .ok)
        }
        #expect(try await h.send(.post, "/v1/review/gold", as: .admin, body: json(["id": "g", "label": "spam"])).status == .created)
        let gold = try #require(try await h.claim().first)
        let released = try await h.post("/v1/review/tickets/\(ticketID(gold))/release", as: .moderator, "")
        let ticket = try #require(released.json["ticket"] as? [String: Any], "\(released.body)")
        #expect(released.status == .ok && ticket["status"] as? String == "open" && ticket["lease"] == nil, "\(released.body)")
        #expect(ticket["version"] as? Int == (ticketField(gold, "version") as? Int).map { $0 + 1 })
        #expect(try await h.claim().isEmpty)
        // What follows answers as it does for a released real ticket: no one holds it (it said "already decided").
        let id = ticketID(gold)
        for (path, body) in [("renew", ""), ("release", ""), ("escalate", #"{"note": "x"}"#), ("decision", #"{"label": "spam", "reasonCode": "spam"}"#)] {
            let answer = try await h.post("/v1/review/tickets/\(id)/\(path)", as: .moderator, body)
            #expect(answer.status == .conflict && answer.error["code"] as? String == "lease_lost", "\(path): \(answer.body)")
        }
        #expect(ticketField(try await h.send(.get, "/v1/review/tickets/\(id)", as: .moderator).json, "status") as? String == "open")
    }
}

/// Outside testing: a gold ticket was always a review-band ticket, so the card of an item the policy had allowed said
/// "Policy: allow at creation" (and its history "creation: allow"), which gave the probe away; rewritten as "review",
/// its P(harm) still sat below the review cut-off. A gold ticket now opens as the ticket that brought its item to a
/// person did: here a blind audit, whose card shows what a real audit's shows and nothing more.
@Suite struct GoldDisguiseTests {
    @Test func aGoldTicketsCardIsShapedAsARealOnesForTheSameReason() async throws {
        var configuration = ServerConfiguration()
        configuration.engine.review.goldRate = 1
        configuration.engine.review.auditRates = ["allow": 1]
        let h = try await Harness(configuration: configuration)
        for id in ["g", "h"] {
            let posted = try await h.post("/v1/items", json(["id": id, "text": "see you at the station at six, \(id)"]))
            #expect((posted.json["decision"] as? [String: Any])?["action"] as? String == "allow", "\(posted.body)")
        }
        #expect(try await h.send(.post, "/v1/review/gold", as: .admin, body: json(["id": "g", "label": "clear"])).status == .created)
        // g's own audit is open, so it is not drawn: the claim takes the two real audits.
        let real = try await h.post("/v1/review/claim", as: .moderator, json(["count": 2])).json["tickets"] as? [[String: Any]] ?? []
        #expect(real.count == 2)
        let audit = try #require(real.first)
        for card in real {
            let id = try #require((card["ticket"] as? [String: Any])?["id"] as? Int)
            #expect(try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "clear", "reasonCode": "not_violating"])).status == .ok)
        }
        let claimed = try await h.post("/v1/review/claim", as: .moderator, "{}")
        let card = try #require((claimed.json["tickets"] as? [[String: Any]])?.first, "\(claimed.body)")
        let ticket = try #require(card["ticket"] as? [String: Any]), auditTicket = try #require(audit["ticket"] as? [String: Any])
        #expect((card["item"] as? [String: Any])?["id"] as? String == "g")
        #expect(ticket["reasons"] as? [String] == ["audit"] && ticket["blind"] as? Bool == true, "\(ticket)")
        // The same fields as the real audit's card and ticket, no scores and no stage, only its own two steps.
        #expect(Set(card.keys) == Set(audit.keys), "\(card.keys) against \(audit.keys)")
        #expect(Set(ticket.keys) == Set(auditTicket.keys), "\(ticket.keys) against \(auditTicket.keys)")
        #expect(card["scores"] == nil)
        let history = card["history"] as? [[String: Any]] ?? []
        #expect(history.allSatisfy { $0["stage"] == nil }, "\(history)")
        #expect(history.compactMap { ($0["ticket"] as? [String: Any])?["kind"] as? String } == ["opened", "claimed"], "\(history)")
    }
}

extension SQLiteStore {
    func labelSources() async throws -> [String] {
        try await writer.read { db in try String.fetchAll(db, sql: "SELECT source FROM label ORDER BY id") }
    }
}

@Suite struct DoubleReviewRouteTests {
    @Test func doubleReviewsReportCohensKappaInTheStats() async throws {
        let h = try await Harness.doubleReviewing(["a", "b"])
        let firsts = try await h.post("/v1/review/claim", as: .moderator, json(["count": 2])).json["tickets"] as? [[String: Any]] ?? []
        let ids = firsts.compactMap { ($0["ticket"] as? [String: Any])?["id"] as? Int }
        #expect(ids.count == 2)
        for id in ids {
            let first = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"]))
            #expect(first.json["outcome"] as? String == "awaiting_second_review")
        }
        #expect((try await h.post("/v1/review/claim", as: .moderator, json(["count": 2])).json["tickets"] as? [Any])?.isEmpty == true)
        let seconds = try await h.post("/v1/review/claim", as: .admin, json(["count": 2])).json["tickets"] as? [[String: Any]] ?? []
        // The second reviewer reads no step of the first's (a claim by test-moderator said a first review was made, and by whom).
        for ticket in seconds {
            let steps = (ticket["history"] as? [[String: Any]] ?? []).compactMap { $0["ticket"] as? [String: Any] }
            #expect(!steps.contains { $0["by"] as? String == "test-moderator" }, "\(steps)")
            #expect(steps.contains { $0["kind"] as? String == "claimed" && $0["by"] as? String == "test-admin" }, "\(steps)")
        }
        let agree = try await h.send(.post, "/v1/review/tickets/\(ids[0])/decision", as: .admin, body: json(["label": "spam", "reasonCode": "spam"]))
        #expect(agree.json["outcome"] as? String == "decided")
        let split = try await h.send(.post, "/v1/review/tickets/\(ids[1])/decision", as: .admin, body: json(["label": "clear", "reasonCode": "not_violating"]))
        #expect(split.json["outcome"] as? String == "escalated_on_disagreement")
        #expect((try await h.send(.get, "/v1/review/stats", as: .moderator).json["agreement"] as? [String: Any])?["pairs"] as? Int == 0)
        let agreement = try await h.send(.get, "/v1/review/stats", as: .admin).json["agreement"] as? [String: Any] ?? [:]
        #expect(agreement["pairs"] as? Int == 2)
        // (spam, spam) and (spam, clear): p_o = 0.5, p_e = 1 · 0.5 = 0.5, κ = 0.
        #expect(agreement["kappa"] as? Double == 0)
        #expect((agreement["pairsByReviewer"] as? [String: Int]) == ["test-moderator": 2, "test-admin": 2])
    }
}

@Suite struct ReviewConfigurationTests {
    func load(_ json: String) throws -> ServerConfiguration {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-review-config-\(UUID().uuidString).json")
        try Data(json.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try ServerConfiguration.load(file: file.path, environment: [:])
        try configuration.validate()
        return configuration
    }

    @Test func namedMapsTakeNewKeysAndKeepTheDefaults() throws {
        let c = try load(#"{"engine": {"review": {"severity": {"hate": 4}, "skills": {"abusive": "senior"}, "slaMinutes": {"viral": 5}, "leaseSeconds": 120}}}"#)
        #expect(c.engine.review.severity["hate"] == 4)
        #expect(c.engine.review.severity["spam"] == 1)
        #expect(c.engine.review.skills == ["abusive": "senior"])
        #expect(c.engine.review.slaMinutes["viral"] == 5 && c.engine.review.slaMinutes["appeal"] == 60)
        #expect(c.engine.review.leaseSeconds == 120)
        // Settings themselves still refuse typos.
        #expect(throws: ConfigurationError.self) { try load(#"{"engine": {"review": {"leaseSecs": 120}}}"#) }
    }

    @Test(arguments: [
        #"{"engine": {"review": {"leaseSeconds": 0}}}"#,
        #"{"engine": {"review": {"slaMinutes": {"vrial": 5}}}}"#,
        #"{"engine": {"review": {"goldRate": 2}}}"#,
        #"{"engine": {"review": {"auditRates": {"review": 0.1}}}}"#,
        #"{"engine": {"review": {"reasonCodes": []}}}"#,
        #"{"engine": {"review": {"reopenFactor": 0.5}}}"#,
    ])
    func badReviewSettingsAreRefused(_ json: String) {
        #expect(throws: ConfigurationError.self) { try load(json) }
    }
}

/// Four eyes over HTTP (issue 18): a key works only its tiers, and a moderator who escalates a ticket cannot then
/// decide it at tier 2.
@Suite struct FourEyesRouteTests {
    func send(_ h: Harness, key: String, _ path: String, _ body: String) async throws -> Harness.Answer {
        try await h.send(.post, path, as: nil, body: body, headers: [.authorization: "Bearer \(key)"])
    }

    @Test func aKeyClaimsOnlyItsTiers() async throws {
        let h = try await reviewHarness()
        let junior = try await APIKeys.create(name: "junior", role: .moderator, in: h.store, at: Harness.start)
        let refused = try await send(h, key: junior, "/v1/review/claim", json(["tiers": [1, 2]]))
        #expect(refused.status == .forbidden)
        #expect(refused.error["field"] as? String == "tiers")
        #expect((refused.error["message"] as? String)?.contains("--tiers 1,2") == true)
        #expect(try await send(h, key: junior, "/v1/review/claim", json(["tiers": [1]])).status == .ok)
        let senior = try await APIKeys.create(name: "senior", role: .moderator, tiers: [.one, .two], in: h.store, at: Harness.start)
        #expect(try await send(h, key: senior, "/v1/review/claim", json(["tiers": [2]])).status == .ok)
        #expect(try await h.post("/v1/review/claim", as: .admin, json(["tiers": [2]])).status == .ok)  // admins work every tier
    }

    @Test func whoEscalatesATicketDoesNotDecideItAtTierTwo() async throws {
        let h = try await reviewHarness()
        try await h.submit(["x"])
        let ann = try await APIKeys.create(name: "ann", role: .moderator, tiers: [.one, .two], in: h.store, at: Harness.start)
        let sam = try await APIKeys.create(name: "sam", role: .moderator, tiers: [.one, .two], in: h.store, at: Harness.start)
        let claimed = try await send(h, key: ann, "/v1/review/claim", "{}").json["tickets"] as? [[String: Any]] ?? []
        let id = ticketID(try #require(claimed.first))
        #expect(try await send(h, key: ann, "/v1/review/tickets/\(id)/escalate", json(["note": "my call, at tier 2"])).status == .ok)
        let again = try await send(h, key: ann, "/v1/review/claim", json(["tiers": [2]]))
        #expect(again.status == .ok)
        #expect((again.json["tickets"] as? [Any])?.isEmpty == true)
        let other = try await send(h, key: sam, "/v1/review/claim", json(["tiers": [2]])).json["tickets"] as? [[String: Any]] ?? []
        #expect(other.map(ticketID) == [id])
    }

    /// A claim that names no tier takes tier 1, or, for a key that may work tier 2 alone, tier 2 (outside testing:
    /// such a key was refused tier 1 on every claim that did not name its tier).
    @Test func aClaimWithoutTiersTakesTheKeysOwn() async throws {
        let h = try await reviewHarness()
        try await h.submit(["x", "y"])
        let ann = try await APIKeys.create(name: "ann", role: .moderator, tiers: [.one, .two], in: h.store, at: Harness.start)
        let claimed = try await send(h, key: ann, "/v1/review/claim", "{}").json["tickets"] as? [[String: Any]] ?? []
        let id = ticketID(try #require(claimed.first))
        #expect(try await send(h, key: ann, "/v1/review/tickets/\(id)/escalate", json(["note": "a senior should say"])).status == .ok)
        let tim = try await APIKeys.create(name: "tim", role: .moderator, tiers: [.two], in: h.store, at: Harness.start)
        let taken = try await send(h, key: tim, "/v1/review/claim", json(["count": 5]))
        #expect(taken.status == .ok, "\(taken.body)")
        #expect((taken.json["tickets"] as? [[String: Any]] ?? []).map(ticketID) == [id])  // the tier-1 ticket of y stays
        #expect(try await send(h, key: tim, "/v1/review/claim", json(["tiers": [1]])).status == .forbidden)
        // The queue without ?tier reads the key's tier the same way (it read tier 1, a 403 for this key).
        let queue = try await get(h, key: tim, "/v1/review/queue")
        #expect(queue.status == .ok && queue.json["tier"] as? Int == 2, "\(queue.body)")
        #expect(try await get(h, key: ann, "/v1/review/queue").json["tier"] as? Int == 1)
    }
}

extension FourEyesRouteTests {
    func get(_ h: Harness, key: String, _ path: String) async throws -> Harness.Answer {
        try await h.send(.get, path, as: nil, headers: [.authorization: "Bearer \(key)"])
    }

    /// A tier-1 key neither reads a tier-2 ticket nor lists the tier-2 queue (outside review: both answered, notes and
    /// holders included), nor, taking back its hidden first review of a ticket lifted to tier 2 since, gets it leased
    /// to decide.
    @Test func aTierOneKeyNeitherReadsNorListsNorTakesBackTierTwoTickets() async throws {
        let h = try await Harness.doubleReviewing(["x", "y"])
        let junior = try await APIKeys.create(name: "junior", role: .moderator, in: h.store, at: Harness.start)
        let claimed = try await send(h, key: junior, "/v1/review/claim", json(["count": 2])).json["tickets"] as? [[String: Any]] ?? []
        let ids = claimed.map(ticketID)
        try #require(ids.count == 2)
        let (first, escalated) = (ids[0], ids[1])
        #expect(try await send(h, key: junior, "/v1/review/tickets/\(escalated)/escalate", json(["note": "a threat? a senior should say"])).status == .ok)

        let read = try await get(h, key: junior, "/v1/review/tickets/\(escalated)")
        #expect(read.status == .forbidden, "\(read.body)")
        #expect((read.error["message"] as? String)?.hasPrefix("Ticket \(escalated) is a tier 2 ticket, and the key 'junior' may work tier 1 only.") == true, "\(read.body)")
        let queue = try await get(h, key: junior, "/v1/review/queue?tier=2")
        #expect(queue.status == .forbidden && queue.error["field"] as? String == "tier", "\(queue.body)")
        #expect(try await get(h, key: junior, "/v1/review/queue?tier=1").status == .ok)
        #expect(try await h.send(.get, "/v1/review/tickets/\(escalated)", as: .moderator).status == .ok)  // a tier-2 key reads it
        #expect(try await h.send(.get, "/v1/review/queue?tier=2", as: .moderator).json["tickets"] as? [Any] != nil)

        // The junior's first review of the other is hidden until a second; an appeal of an item a person decided
        // before lifts its ticket to tier 2 (what `ReviewService.appeal` opens then), which drops the junior's lease.
        let judged = try await send(h, key: junior, "/v1/review/tickets/\(first)/decision", json(["label": "spam", "reasonCode": "spam"]))
        #expect(judged.json["outcome"] as? String == "awaiting_second_review", "\(judged.body)")
        let rules = ReviewRules(configuration: h.configuration.engine.review)
        let lifted = try await h.store.openTicket(feed: "default", id: "x") { state in
            rules.opening(.appeal, state: state, tier: .two, now: h.clock.now(), by: "feed", note: "the user says it is fine")
        }
        #expect(lifted?.tier == .two)
        let undo = try await send(h, key: junior, "/v1/review/tickets/\(first)/undo", "{}")
        #expect(undo.status == .forbidden, "\(undo.body)")
        let ticket = try await h.send(.get, "/v1/review/tickets/\(first)", as: .moderator).json["ticket"] as? [String: Any] ?? [:]
        #expect(ticket["tier"] as? Int == 2)
        #expect(ticket["leasedTo"] == nil && ticket["lease"] == nil, "\(ticket)")
    }
}

/// Taking back a decision over HTTP (issue 18): the decider, within `undoMinutes`, once.
@Suite struct UndoRouteTests {
    @Test func aModeratorTakesBackTheirDecisionWithinTheWindow() async throws {
        let h = try await reviewHarness()
        try await h.submit(["a", "b"])
        var id = ticketID(try #require(try await h.claim().first))
        func decide(_ label: String) async throws {
            let answer = try await h.post("/v1/review/tickets/\(id)/decision", as: .moderator, json(["label": label, "reasonCode": label == "spam" ? "spam" : "not_violating"]))
            #expect(answer.status == .ok, "\(answer.body)")
        }
        try await decide("spam")
        // Only who decided: another key gets a 409 naming why.
        let other = try await h.send(.post, "/v1/review/tickets/\(id)/undo", as: .admin)
        #expect(other.status == .conflict && other.error["code"] as? String == "cannot_undo")
        #expect((other.error["message"] as? String)?.contains("decided by test-moderator, not by you") == true)

        let undone = try await h.send(.post, "/v1/review/tickets/\(id)/undo", as: .moderator)
        #expect(undone.status == .ok, "\(undone.body)")
        let ticket = try #require(undone.json["ticket"] as? [String: Any])
        #expect((ticket["ticket"] as? [String: Any])?["status"] as? String == "open")
        #expect(((ticket["ticket"] as? [String: Any])?["lease"] as? [String: Any])?["holder"] as? String == "test-moderator")
        let withdrawn = try #require(undone.json["withdrawnLabels"] as? [[String: Any]])
        #expect(withdrawn.count == 1 && withdrawn[0]["label"] as? String == "spam" && withdrawn[0]["withdrawnBy"] as? String == "test-moderator")
        let item = try await h.send(.get, "/v1/items/a", as: .feed)
        #expect((item.json["current"] as? [String: Any])?["trigger"] as? String == "undo")

        // Decided again, and the window passes: too late.
        try await decide("clear")
        h.clock.advance(hours: 11.0 / 60)
        let late = try await h.send(.post, "/v1/review/tickets/\(id)/undo", as: .moderator)
        #expect(late.status == .conflict && (late.error["message"] as? String)?.contains("for 10 minutes") == true)
        id = 999_999
        #expect(try await h.send(.post, "/v1/review/tickets/\(id)/undo", as: .moderator).status == .notFound)
    }
}

/// Learning offers through the claim: a reviewer who empties the queue is offered automatic decisions the model would
/// learn most from, within the day's budget, marked `learning`.
@Suite struct LearningOfferRouteTests {
    @Test func anEmptyQueueOffersUncertainAutomaticDecisionsWithinTheDaysBudget() async throws {
        var configuration = ServerConfiguration()
        configuration.engine.review.goldRate = 0
        configuration.engine.review.auditRates = [:]
        configuration.engine.review.learningOffersPerDay = 2
        let h = try await Harness(configuration: configuration)
        // Nothing goes to review: every decision is automatic.
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["demote": 0.99]]])).status == .ok)
        for (i, text) in (Fixture.clear.prefix(3) + Fixture.spam.prefix(3)).enumerated() {
            #expect(try await h.post("/v1/items", json(["id": "i\(i)", "text": text])).status == .created)
        }
        // A labelled item is never offered.
        _ = try await h.store.addLabels([LabelRecord(feed: "default", itemID: "i0", label: "clear", source: "import", by: "x", at: h.clock.now())])
        let first = try await h.claim(["count": 1])
        #expect(first.count == 1)
        #expect(ticketField(first[0], "reasons") as? [String] == ["learning"])
        let offered = try #require((first[0]["item"] as? [String: Any])?["id"] as? String)
        #expect(offered != "i0")
        try await decide(h, first)
        let second = try await h.claim(["count": 5])
        #expect(second.count == 1, "the day's budget is 2")
        try await decide(h, second)
        #expect(try await h.claim(["count": 5]).isEmpty)
        #expect(try await h.store.ticketsOpened(reason: .learning, since: Harness.start) == 2)
        // A day later the budget is back; items already offered are not offered again.
        h.clock.advance(hours: 25)
        #expect(try await h.post("/v1/items", json(["id": "late", "text": Fixture.clear[5]])).status == .created)
        let later = try await h.claim(["count": 5])
        #expect(later.count == 1 && (later[0]["item"] as? [String: Any])?["id"] as? String == "late", "only items of the last 24 hours")
    }

    func decide(_ h: Harness, _ claimed: [[String: Any]]) async throws {
        for detail in claimed {
            let answer = try await h.post("/v1/review/tickets/\(ticketID(detail))/decision", as: .moderator,
                                          json(["label": "clear", "reasonCode": "not_violating", "version": ticketField(detail, "version") ?? 1]))
            #expect(answer.status == .ok, "\(answer.body)")
        }
    }
}
