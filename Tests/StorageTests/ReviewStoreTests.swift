import Engine
import Foundation
import GRDB
import Testing

@testable import Storage

/// Items in the review band with their tickets, as `ScoringService.submit` makes them.
extension Items {
    static let rules = ReviewRules()

    static func inReview(_ id: String, spam: Double = 0.6, language: String? = nil, followers: Int? = nil, at: Date) -> NewItem {
        var item = new(id, spam: spam, at: at)
        item.submission.language = language
        if let followers { item.submission.author = Author(id: "author-\(id)", followers: followers) }
        let state = ItemState(submission: item.submission, receivedAt: at, createdAt: at, current: item.result, engagement: nil)
        item.tickets = [rules.opening(after: item.result, state: state, now: at)].compactMap { $0 }
        return item
    }

    /// Review steps without double reviews (escalations due in 120 minutes, leases of 300 seconds).
    static let workflow = ReviewWorkflow(rules: ReviewRules(configuration: ReviewConfiguration(doubleReviewRate: 0)))
    /// Every tier-1 ticket decided twice.
    static let doubleReviewing = ReviewWorkflow(rules: ReviewRules(configuration: ReviewConfiguration(doubleReviewRate: 1)))
}

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

@Suite struct ReviewStoreTests {
    @Test(arguments: StoreKind.all) func aReviewBandItemOpensOneTicketAndALaterStageJoinsIt(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0), Items.new("b", spam: 0.1, at: t0)])
        let queue = try await store.reviewQueue(tier: .one, after: nil, limit: 10)
        #expect(queue.map(\.ticket.itemID) == ["a"])
        #expect(queue[0].ticket.reasons == [.reviewBand])
        // A second reason joins the open ticket: still one ticket, now due within the shorter SLA.
        let joined = try await store.openTicket(feed: "default", id: "a") { state in
            Items.rules.opening(.viral, state: state, now: t0.addingTimeInterval(60))
        }
        #expect(joined?.id == queue[0].ticket.id)
        #expect(joined?.reasons == [.reviewBand, .viral])
        #expect(joined?.dueAt == t0.addingTimeInterval(60 + 15 * 60))
        #expect(try await store.reviewQueue(tier: .one, after: nil, limit: 10).count == 1)
        // The same reason again with a wider reach only moves the ticket up the queue: no new step in the history.
        let wider = try await store.openTicket(feed: "default", id: "a") { state in
            var opening = Items.rules.opening(.reviewBand, state: state, now: t0.addingTimeInterval(120))
            opening.expectedViews = 990
            return opening
        }
        #expect(abs((wider?.basePriority ?? 0) - 0.8 * 3) < 1e-12)
        #expect(wider?.version == joined?.version)  // nothing a reviewer judges changed: a decision naming the version still passes
        let unchanged = try await store.openTicket(feed: "default", id: "a") { state in
            Items.rules.opening(.reviewBand, state: state, now: t0.addingTimeInterval(180))
        }
        #expect(unchanged?.version == wider?.version)
        let events = try await store.history(feed: "default", id: "a")!.compactMap { if case let .ticket(e) = $0 { e } else { nil } }
        #expect(events.map(\.kind) == [.opened, .joined])
    }

    /// A new item with two openings (its review band and a sampled audit) gets one ticket, the second reason joined to
    /// the first, whether the store opens them one by one or all of a batch at once.
    @Test(arguments: StoreKind.all) func aNewItemsSecondOpeningJoinsItsFirstTicket(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        var item = Items.inReview("a", at: t0)
        let state = ItemState(submission: item.submission, receivedAt: t0, createdAt: t0, current: item.result, engagement: nil)
        var audit = Items.rules.opening(.audit, state: state, now: t0, auditProbability: 0.05)
        audit.note = "sampled"
        item.tickets.append(audit)
        _ = try await store.createItems([Items.new("b", spam: 0.1, at: t0), item, Items.inReview("c", at: t0)])
        let queue = try await store.reviewQueue(tier: .one, after: nil, limit: 10).map(\.ticket)
        #expect(queue.map(\.itemID).sorted() == ["a", "c"])
        let ticket = try #require(queue.first { $0.itemID == "a" })
        #expect(ticket.reasons == [.reviewBand, .audit])
        #expect(ticket.version == 2)
        #expect(ticket.auditProbability == 0.05)
        #expect(ticket.note == "sampled")
        #expect(ticket.id < queue.first { $0.itemID == "c" }!.id)  // ticket ids follow the batch's order
        let events = try await store.history(feed: "default", id: "a")!.compactMap { if case let .ticket(e) = $0 { e } else { nil } }
        #expect(events.map(\.kind) == [.opened, .joined])
        #expect(events.map(\.reason) == [.reviewBand, .audit])
        #expect(events.allSatisfy { $0.ticket == ticket.id })
    }

    @Test(arguments: StoreKind.all) func anExpiredLeaseReturnsTheTicketAndItsHolderCanNoLongerDecide(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let first = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)
        #expect(first.count == 1)
        let id = first[0].ticket.id
        // While the lease lives nobody else gets the ticket.
        #expect(try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(299), workflow: Items.workflow, gold: false).isEmpty)
        let second = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(301), workflow: Items.workflow, gold: false)
        #expect(second.map(\.ticket.id) == [id])
        let decision = TicketDecision(label: "spam", reasonCode: "spam")
        await #expect(throws: TicketError.leaseLost(ticket: id, holder: "bob", expired: false)) {
            _ = try await store.decide(ticket: id, reviewer: "ann", decision: decision, action: .remove, now: t0.addingTimeInterval(302), workflow: Items.workflow)
        }
        let decided = try await store.decide(ticket: id, reviewer: "bob", decision: decision, action: .remove, now: t0.addingTimeInterval(303),
                                             workflow: Items.workflow)
        #expect(decided.ticket.status == .decided)
        #expect(decided.item.current.stage == .review)
        #expect(decided.item.current.decision.action == .remove)
        #expect(decided.item.reviewed?.by == "bob")
        let events = try await store.history(feed: "default", id: "a")!.compactMap { if case let .ticket(e) = $0 { e } else { nil } }
        #expect(events.map(\.kind) == [.opened, .claimed, .expired, .claimed, .decided])
        #expect(events[2].by == "ann" && events[2].at == t0.addingTimeInterval(300))
        // The decision is stored: it survives reading the item again, and a label row records it.
        #expect(try await store.item(feed: "default", id: "a")?.reviewed?.label == "spam")
        #expect(try await store.labelCount() == 1)
    }

    @Test(arguments: StoreKind.all) func aClaimLogsExactlyItsEventAndItsViewIsTheStoredHistory(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0), Items.inReview("b", spam: 0.7, at: t0)])
        // A time that is no round number and a name that JSON escapes.
        let now = t0.addingTimeInterval(12.345678901), reviewer = "ann/\"ü\"\\"
        let views = try await store.claim(ClaimRequest(reviewer: reviewer, count: 2), now: now, workflow: Items.workflow, gold: false)
        #expect(views.count == 2)
        for view in views {
            let stored = try #require(try await store.history(feed: "default", id: view.item.submission.id))
            #expect(view.history == stored)
            let again = try #require(try await store.ticket(id: view.ticket.id))
            #expect(again.ticket == view.ticket && again.item == view.item && again.history == view.history)
            guard case let .ticket(last) = stored.last else { Issue.record("the claim is not the last step"); continue }
            // As its JSON keeps it (seconds as a JSON number), on both stores.
            let claimed = TicketEvent(ticket: view.ticket.id, kind: .claimed, at: now, by: reviewer)
            #expect(last == (try Codec.decode(TicketEvent.self, try Codec.encode(claimed))))
        }
    }

    @Test(arguments: StoreKind.all) func aVersionCheckAndTheStatusMakeASecondDecisionImpossible(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let view = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        let id = view.ticket.id
        let stale = TicketDecision(label: "spam", reasonCode: "spam", version: view.ticket.version - 1)
        await #expect(throws: TicketError.versionMismatch(ticket: id, expected: view.ticket.version - 1, current: view.ticket.version)) {
            _ = try await store.decide(ticket: id, reviewer: "ann", decision: stale, action: .remove, now: t0, workflow: Items.workflow)
        }
        let current = TicketDecision(label: "clear", reasonCode: "not_violating", version: view.ticket.version)
        _ = try await store.decide(ticket: id, reviewer: "ann", decision: current, action: .allow, now: t0, workflow: Items.workflow)
        await #expect(throws: TicketError.alreadyDecided(id)) {
            _ = try await store.decide(ticket: id, reviewer: "ann", decision: current, action: .allow, now: t0, workflow: Items.workflow)
        }
        await #expect(throws: TicketError.notFound(999)) {
            _ = try await store.release(ticket: 999, reviewer: "ann", version: nil, now: t0, workflow: Items.workflow)
        }
    }

    @Test func sixteenConcurrentClaimersDecideEachOfAThousandTicketsExactlyOnce() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-claims-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("claims.sqlite").path)
        for batch in 0..<10 {
            _ = try await store.createItems((0..<100).map { i in Items.inReview("i\(batch * 100 + i)", spam: 0.51 + Double(i) / 1_000, at: t0) })
        }
        let decided = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for reviewer in 0..<16 {
                group.addTask {
                    var mine: [Int64] = []
                    while true {
                        let views = try await store.claim(ClaimRequest(reviewer: "r\(reviewer)", count: 1 + reviewer % 3), now: t0, workflow: Items.workflow,
                                                          gold: false)
                        if views.isEmpty { return mine }
                        for view in views {
                            let decision = TicketDecision(label: "spam", reasonCode: "spam", version: view.ticket.version)
                            let done = try await store.decide(ticket: view.ticket.id, reviewer: "r\(reviewer)", decision: decision, action: .remove,
                                                              now: t0, workflow: Items.workflow)
                            #expect(done.ticket.status == .decided)
                            mine.append(view.ticket.id)
                        }
                    }
                }
            }
            var all: [Int64] = []
            for try await ids in group { all += ids }
            return all
        }
        #expect(decided.count == 1_000)
        #expect(Set(decided).count == 1_000)
        #expect(try await store.reviewQueue(tier: .one, after: nil, limit: 10).isEmpty)
        #expect(try await store.labelCount() == 1_000)
        let stats = try await store.reviewStats(now: t0)
        #expect(stats.open == 0)
        #expect(stats.reviewers.map(\.decisionsLastHour).reduce(0, +) == 1_000)
        #expect(try await store.decidedEventCount() == 1_000)
    }

    /// One reviewer's claims at the same moment (two terminals, a double click) lease no more than a claim's count
    /// between them: on PostgreSQL each claim's statement read the queue before the others committed, and the reviewer
    /// came to hold eight claims' worth.
    @Test(arguments: StoreKind.all) func concurrentClaimsOfOneReviewerHoldNoMoreThanOneClaimsCount(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems((0..<60).map { i in Items.inReview("c\(i)", spam: 0.51 + Double(i) / 1_000, at: t0) })
        let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
            for _ in 0..<8 {
                group.addTask { try await store.claim(ClaimRequest(reviewer: "ann", count: 5), now: t0, workflow: Items.workflow, gold: false).map(\.ticket.id) }
            }
            var all: [[Int64]] = []
            for try await ids in group { all.append(ids) }
            return all
        }
        #expect(claims.allSatisfy { $0.count == 5 })
        #expect(Set(claims.joined()).count == 5, "\(claims)")
        #expect(try await store.reviewStats(now: t0).claimed == 5)
        // Another reviewer still gets tickets of their own.
        let other = try await store.claim(ClaimRequest(reviewer: "bob", count: 5), now: t0, workflow: Items.workflow, gold: false).map(\.ticket.id)
        #expect(other.count == 5 && Set(other).isDisjoint(with: claims.joined()))
    }

    @Test(arguments: StoreKind.all) func claimsFollowPriorityAndRouteByLanguageAndSkill(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        var skilled = Items.inReview("skill", spam: 0.55, at: t0)
        skilled.tickets[0].skill = "spam-expert"
        _ = try await store.createItems([
            Items.inReview("sure", spam: 0.85, at: t0),                       // uncertainty 0.3
            Items.inReview("unsure", spam: 0.55, at: t0),                     // uncertainty 0.9
            Items.inReview("reach", spam: 0.55, followers: 9_900, at: t0),    // 0.9, expected views 990: reach 3
            Items.inReview("portuguese", spam: 0.55, language: "pt", followers: 100_000, at: t0),
            skilled,
        ])
        let english = ClaimRequest(reviewer: "ann", count: 10, languages: ["en"])
        let order = try await store.claim(english, now: t0, workflow: Items.workflow, gold: false).map(\.item.submission.id)
        #expect(order == ["reach", "unsure", "sure"])
        let portuguese = try await store.claim(ClaimRequest(reviewer: "bia", count: 10, languages: ["pt"], skills: ["spam-expert"]), now: t0,
                                               workflow: Items.workflow, gold: false)
        #expect(portuguese.map(\.item.submission.id) == ["portuguese", "skill"])
    }

    @Test(arguments: StoreKind.all) func aTicketNearItsDueTimeOvertakesAFresherOneOnceRefreshed(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("old", spam: 0.55, at: t0)])
        let later = t0.addingTimeInterval(230 * 60)  // 10 minutes before the old ticket's 4-hour SLA
        _ = try await store.createItems([Items.inReview("new", spam: 0.55, followers: 100, at: later)])
        // Stored priorities: old 0.9 (as opened), new 0.9 × log10(20) ≈ 1.17.
        #expect(try await store.reviewQueue(tier: .one, after: nil, limit: 2).map(\.ticket.itemID) == ["new", "old"])
        let refreshed = try await store.refreshTicketPriorities(now: later, limit: 100)
        #expect(refreshed == 1)  // only the old ticket was due for a refresh
        let queue = try await store.reviewQueue(tier: .one, after: nil, limit: 2)
        #expect(queue.map(\.ticket.itemID) == ["old", "new"])
        let urgency = 1 + 3 * (230.0 / 240) * (230.0 / 240)
        #expect(abs(queue[0].priority - 0.9 * urgency) < 1e-9)
    }

    @Test(arguments: StoreKind.all) func reportsAreWeightedByTrackRecordAndAClearedItemNeedsAHigherBar(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", spam: 0.1, at: t0), Items.new("b", spam: 0.1, at: t0)])
        let rules = Items.rules
        let decide: @Sendable (ReportContext) -> (weighted: Double, ticket: TicketOpening?) = { context in
            let weighted = context.reporters.reduce(0) { $0 + ReporterWeight.weight(upheld: $1.upheld, rejected: $1.rejected) }
            let cleared = context.state.reviewed?.action == .allow
            guard ReporterWeight.opensTicket(weightedReports: weighted, clearedByPerson: cleared) else { return (weighted, nil) }
            return (weighted, rules.opening(.reports, state: context.state, now: t0))
        }
        for reporter in ["u1", "u2"] { _ = try await store.recordReport(feed: "default", id: "a", reporter: reporter, at: t0, decide: decide) }
        let repeated = try await store.recordReport(feed: "default", id: "a", reporter: "u2", at: t0, decide: decide)
        #expect(repeated?.recorded == false)
        #expect(repeated?.ticket == nil)
        let third = try await store.recordReport(feed: "default", id: "a", reporter: "u3", at: t0, decide: decide)
        #expect(third?.weightedReports == 3)
        let ticket = try #require(third?.ticket)
        #expect(ticket.reasons == [.reports])
        // A person clears the item: the three reports are rejected, each reporter now weighs 2·1/3.
        let claimed = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)
        #expect(claimed.first?.pendingReports == 3)  // the reviewer sees how many users reported it (issue 18)
        _ = try await store.decide(ticket: ticket.id, reviewer: "ann", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                   action: .allow, now: t0, workflow: Items.workflow)
        #expect(try await store.ticket(id: ticket.id)?.pendingReports == 0)  // judged with the item
        // On another item their three reports weigh 2 < 3: no ticket.
        for reporter in ["u1", "u2", "u3"] { _ = try await store.recordReport(feed: "default", id: "b", reporter: reporter, at: t0, decide: decide) }
        #expect(try await store.reviewQueue(tier: .one, after: nil, limit: 10).isEmpty)
        // The cleared item reopens only at 9 weighted reports: eight new reporters (weight 1 each) are not enough, nine are.
        for i in 0..<8 { _ = try await store.recordReport(feed: "default", id: "a", reporter: "n\(i)", at: t0, decide: decide) }
        #expect(try await store.reviewQueue(tier: .one, after: nil, limit: 10).isEmpty)
        let ninth = try await store.recordReport(feed: "default", id: "a", reporter: "n8", at: t0, decide: decide)
        #expect(ninth?.weightedReports == 9)
        #expect(ninth?.ticket?.reasons == [.reports])
    }

    @Test(arguments: StoreKind.all) func escalationMovesTheTicketToTierTwoWithTheNote(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let view = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        let escalated = try await store.escalate(ticket: view.ticket.id, reviewer: "ann", version: view.ticket.version, note: "looks like a scam ring",
                                                 now: t0.addingTimeInterval(60), workflow: Items.workflow)
        #expect(escalated.tier == .two)
        #expect(escalated.reasons == [.reviewBand, .escalation])
        #expect(escalated.lease == nil)
        #expect(escalated.dueAt == t0.addingTimeInterval(60 + 120 * 60))
        #expect(try await store.claim(ClaimRequest(reviewer: "bob"), now: t0, workflow: Items.workflow, gold: false).isEmpty)
        let senior = try await store.claim(ClaimRequest(reviewer: "sam", tiers: [.two]), now: t0.addingTimeInterval(120), workflow: Items.workflow, gold: false)
        #expect(senior.first?.ticket.note == "looks like a scam ring")
        let events = senior[0].history.compactMap { if case let .ticket(e) = $0 { e } else { nil } }
        #expect(events.map(\.kind) == [.opened, .claimed, .escalated, .claimed])
        #expect(events[2].note == "looks like a scam ring" && events[2].by == "ann")
    }

    /// No gold copy of an item with an open ticket of its own (an audit, say): two tickets of one item would tell,
    /// and the gold one showed the scores the blind audit withholds (outside testing).
    @Test(arguments: StoreKind.all) func anItemWithAnOpenTicketIsNotDrawnAsGold(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("g", spam: 0.1, at: t0)])
        #expect(try await store.addGold(feed: "default", id: "g", label: "spam", by: "admin", at: t0))
        let rules = ReviewRules()
        let audit = try #require(try await store.openTicket(feed: "default", id: "g") { rules.opening(.audit, state: $0, now: t0, auditProbability: 1) })
        #expect(try await store.claim(ClaimRequest(reviewer: "zed", count: 5), now: t0, workflow: Items.workflow, gold: true).map(\.ticket.id) == [audit.id])
        _ = try await store.decide(ticket: audit.id, reviewer: "zed", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                   action: .allow, now: t0, workflow: Items.workflow)
        // Decided, the item may be drawn again.
        #expect(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: true).first?.ticket.goldLabel == "spam")
    }

    @Test(arguments: StoreKind.all) func goldTicketsScoreTheReviewerAndLeaveTheItemAlone(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("g", spam: 0.1, at: t0)])
        #expect(try await store.addGold(feed: "default", id: "g", label: "spam", by: "admin", at: t0))
        #expect(try await store.addGold(feed: "default", id: "missing", label: "spam", by: "admin", at: t0) == false)
        let view = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: true).first)
        #expect(view.ticket.goldLabel == "spam")
        // An item nobody was asked about reaches a person only as a blind audit: so does its gold ticket.
        #expect(view.ticket.reasons == [.audit])
        _ = try await store.decide(ticket: view.ticket.id, reviewer: "ann", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                   action: .allow, now: t0, workflow: Items.workflow)
        // The same reviewer never gets the same gold item twice.
        #expect(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: true).isEmpty)
        // Nor after releasing it, nor from tier 2 only, nor in a language they did not ask for.
        let cid = try #require(try await store.claim(ClaimRequest(reviewer: "cid"), now: t0, workflow: Items.workflow, gold: true).first)
        _ = try await store.release(ticket: cid.ticket.id, reviewer: "cid", version: nil, now: t0, workflow: Items.workflow)
        #expect(try await store.claim(ClaimRequest(reviewer: "cid"), now: t0, workflow: Items.workflow, gold: true).isEmpty)
        #expect(try await store.claim(ClaimRequest(reviewer: "dee", tiers: [.two]), now: t0, workflow: Items.workflow, gold: true).isEmpty)
        #expect(try await store.claim(ClaimRequest(reviewer: "dee", languages: ["pt"]), now: t0, workflow: Items.workflow, gold: true).count == 1)
        // A gold ticket whose lease runs out leaves the queue.
        let eve = try #require(try await store.claim(ClaimRequest(reviewer: "eve"), now: t0, workflow: Items.workflow, gold: true).first)
        _ = try await store.refreshTicketPriorities(now: t0.addingTimeInterval(301), limit: 100)
        #expect(try await store.ticket(id: eve.ticket.id)?.ticket.status == .withdrawn)
        let bob = try #require(try await store.claim(ClaimRequest(reviewer: "bob"), now: t0, workflow: Items.workflow, gold: true).first)
        _ = try await store.decide(ticket: bob.ticket.id, reviewer: "bob", decision: TicketDecision(label: "spam", reasonCode: "spam"),
                                   action: .remove, now: t0, workflow: Items.workflow)
        let item = try #require(try await store.item(feed: "default", id: "g"))
        #expect(item.reviewed == nil)
        #expect(item.current.stage == .creation)
        #expect(try await store.labelCount() == 0)
        let history = try await store.history(feed: "default", id: "g")!
        #expect(history.count == 1)  // gold tickets are not part of the item's history
        let reviewers = try await store.reviewStats(now: t0).reviewers
        #expect(reviewers.map(\.name) == ["ann", "bob"])
        #expect(reviewers.map(\.goldAccuracy) == [0, 1])
        #expect(reviewers.map(\.decisionsLastHour) == [0, 0])
    }

    /// Outside review: every gold ticket read "in the review band" (at a P(harm) below the cut-off, for an item the
    /// policy had allowed) and opened at the instant it was claimed. It opens for the reason its item first reached a
    /// person, with that ticket's priority, as long before the claim as that ticket took to be decided; an item nobody
    /// was asked about opens as a blind audit, some minutes before.
    @Test(arguments: StoreKind.all) func aGoldTicketOpensAsTheTicketThatBroughtItsItemToAPerson(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("band", spam: 0.6, at: t0), Items.new("quiet", spam: 0.1, at: t0)])
        let real = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).first)
        #expect(real.item.submission.id == "band")
        _ = try await store.decide(ticket: real.ticket.id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"),
                                   action: .remove, now: t0.addingTimeInterval(240), workflow: Items.workflow)
        #expect(try await store.addGold(feed: "default", id: "band", label: "spam", by: "admin", at: t0))
        #expect(try await store.addGold(feed: "default", id: "quiet", label: "clear", by: "admin", at: t0))
        let later = t0.addingTimeInterval(86_400)
        var gold: [String: TicketView] = [:]
        for _ in 0..<2 {
            let view = try #require(try await store.claim(ClaimRequest(reviewer: "bob", count: 1), now: later, workflow: Items.workflow, gold: true).first)
            gold[view.item.submission.id] = view
        }
        let band = try #require(gold["band"]), quiet = try #require(gold["quiet"])
        let sla = { (reason: TicketReason) in Items.workflow.rules.configuration.sla(for: [reason]) * 60 }
        #expect(band.ticket.goldLabel == "spam" && band.ticket.reasons == [.reviewBand])
        #expect(band.ticket.openedAt == later.addingTimeInterval(-240))
        #expect(band.ticket.dueAt == band.ticket.openedAt.addingTimeInterval(sla(.reviewBand)))
        #expect(band.ticket.basePriority == real.ticket.basePriority)
        // Its stages read as sent to review, as the real ticket's did, and its steps are its own.
        #expect(band.item.current.decision.action == .review && band.item.reviewed == nil)
        let steps = band.history.compactMap { entry -> TicketEvent? in if case let .ticket(e) = entry { e } else { nil } }
        #expect(steps.map(\.kind) == [.opened, .claimed] && steps.allSatisfy { $0.ticket == band.ticket.id })
        #expect(steps.first?.at == band.ticket.openedAt && steps.first?.reason == .reviewBand && steps.last?.at == later)
        #expect(quiet.ticket.goldLabel == "clear" && quiet.ticket.reasons == [.audit] && quiet.ticket.isBlind)
        #expect(quiet.ticket.basePriority == TicketPriority.base(pHarm: 0.5, expectedViews: 0, severity: 1))
        let waited = later.timeIntervalSince(quiet.ticket.openedAt)
        #expect(waited > 0 && waited <= min(sla(.audit) / 4, 3_600), "\(waited)")
        #expect(quiet.ticket.dueAt == quiet.ticket.openedAt.addingTimeInterval(sla(.audit)))
    }

    @Test(arguments: StoreKind.all) func statsCountTheQueue(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", language: "en", at: t0), Items.inReview("b", language: "pt", at: t0),
                                         Items.inReview("c", at: t0)])
        _ = try await store.openTicket(feed: "default", id: "c") { Items.rules.opening(.appeal, state: $0, now: t0) }
        _ = try await store.claim(ClaimRequest(reviewer: "ann", languages: ["en"]), now: t0, workflow: Items.workflow, gold: false)
        let stats = try await store.reviewStats(now: t0.addingTimeInterval(5 * 3600))
        #expect(stats.open == 3)
        #expect(stats.claimed == 0)  // the lease ran out
        #expect(stats.byTier == ["tier1": 3])
        #expect(stats.byReason == ["review_band": 3, "appeal": 1])
        #expect(stats.byLanguage == ["en": 1, "pt": 1, "any": 1])
        #expect(abs((stats.oldestAgeSeconds ?? 0) - 5 * 3600) < 1e-3)
        #expect(stats.overdue == 3)
    }

    @Test func aVersionOneDatabaseIsMigratedWithItsItems() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("old.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(queue, upTo: "v1-items-stages-policies-keys")
        let item = Items.new("old", spam: 0.6, at: t0)
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO item (feed, external_id, digest, submission, received_at, created_at, stages) VALUES ('default', 'old', ?, ?, ?, ?, 1)
                """, arguments: [item.submission.contentDigest, StoredJSON.submission(item.submission), t0.timeIntervalSince1970, t0.timeIntervalSince1970])
            try Items.insertJSONStage(db, item: db.lastInsertedRowID, result: item.result)
        }
        try queue.close()
        let store = try SQLiteStore(path: path)
        #expect(try store.appliedMigrations() == ["v1-items-stages-policies-keys", "v2-review-queue", "v3-checks-without-in-lists", "v4-model-files",
                                                  "v5-four-eyes", "v6-decision-events", "v7-retraining", "v8-banks", "v9-key-feeds"])
        let state = try #require(try await store.item(feed: "default", id: "old"))
        #expect(state.current == item.result)
        #expect(state.reviewed == nil)
        // A stage stored after the upgrade is a record; the item's history reads the old JSON row and the new one.
        var second = item.result
        second.stage = .engagement
        second.scoredAt = t0.addingTimeInterval(600)
        second.changed = "a report"
        let outcome = try await store.recordEngagement(feed: "default", id: "old",
                                                       snapshot: EngagementSnapshot(at: t0.addingTimeInterval(600), counters: Engagement(views: 5, reports: 1))) { [second] _ in
            Staged(result: second)
        }
        #expect(outcome?.result == second)
        let stages = try #require(try await store.history(feed: "default", id: "old")).compactMap { entry -> StageResult? in
            if case let .stage(result) = entry { return result } else { return nil }
        }
        #expect(stages == [item.result, second])
        #expect(try #require(try await store.item(feed: "default", id: "old")).current == second)
    }

    /// An SQLite file in a folder of its own, migrated up to `migration`, holding `item` (its stage stored as the old
    /// JSON row) and what `fill` adds given the item's row id; closed, ready for `SQLiteStore` to migrate the rest.
    static func oldDatabase(upTo migration: String, with item: NewItem, _ fill: @escaping @Sendable (Database, Int64) throws -> Void) async throws
        -> (path: String, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("old.sqlite").path
        let queue = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(queue, upTo: migration)
        let id = item.submission.id
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO item (feed, external_id, digest, submission, received_at, created_at, stages) VALUES ('default', ?, ?, ?, ?, ?, 1)
                """, arguments: [id, item.submission.contentDigest, StoredJSON.submission(item.submission), t0.timeIntervalSince1970, t0.timeIntervalSince1970])
            let row = db.lastInsertedRowID
            try Items.insertJSONStage(db, item: row, result: item.result)
            try fill(db, row)
        }
        try queue.close()
        return (path, directory)
    }

    /// v5 (four eyes): a ticket escalated before it knows who escalated it (from its history), so they cannot claim it
    /// at tier 2; keys made before keys carried tiers keep both tiers.
    @Test func aVersionFourDatabaseLearnsWhoEscalatedAndItsKeysKeepBothTiers() async throws {
        let item = Items.inReview("esc", at: t0)
        let opening = try #require(item.tickets.first)
        let (path, directory) = try await Self.oldDatabase(upTo: "v4-model-files", with: item) { db, row in
            let ticket = try SQLiteStore.openTicket(db, item: row, opening)
            try db.execute(sql: "UPDATE ticket SET tier = 2 WHERE id = ?", arguments: [ticket])
            try SQLiteStore.appendEvent(db, TicketEvent(ticket: ticket, kind: .escalated, at: t0, by: "ann", reason: .escalation, tier: .two),
                                        ticket: ticket, item: row)
            try db.execute(sql: "INSERT INTO api_key (name, role, hash, created_at) VALUES ('old-mod', 'moderator', ?, ?)", arguments: [String(repeating: "a", count: 64), t0.timeIntervalSince1970])
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        #expect(try await store.key(hash: String(repeating: "a", count: 64))?.tiers == [.one, .two])
        let tierTwo = ClaimRequest(reviewer: "ann", tiers: [.two])
        #expect(try await store.claim(tierTwo, now: t0, workflow: Items.workflow, gold: false).isEmpty)
        var sam = tierTwo
        sam.reviewer = "sam"
        #expect(try await store.claim(sam, now: t0, workflow: Items.workflow, gold: false).count == 1)
    }

    /// v3 rebuilds the tables with IN-list checks: rows, open tickets and labels survive, and the rules still hold.
    @Test func aVersionTwoDatabaseKeepsItsTicketsLabelsAndRulesThroughVersionThree() async throws {
        let item = Items.inReview("kept", at: t0)
        let opening = try #require(item.tickets.first)
        let (path, directory) = try await Self.oldDatabase(upTo: "v2-review-queue", with: item) { db, row in
            _ = try SQLiteStore.openTicket(db, item: row, opening)
            _ = try SQLiteStore.insertLabel(db, LabelRecord(feed: "default", itemID: "kept", label: "spam", source: "import", by: "ann", at: t0))
            try db.execute(sql: "INSERT INTO report (item, reporter, at, outcome) VALUES (?, 'r1', ?, 'upheld')", arguments: [row, t0.timeIntervalSince1970])
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: path)
        #expect(try store.appliedMigrations().suffix(7) == ["v3-checks-without-in-lists", "v4-model-files", "v5-four-eyes", "v6-decision-events", "v7-retraining", "v8-banks", "v9-key-feeds"])
        #expect(try #require(try await store.item(feed: "default", id: "kept")).current == item.result)
        #expect(try await store.labels(since: nil, after: nil, limit: 10).map(\.label) == ["spam"])
        let claimed = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(60), workflow: Items.workflow, gold: false)
        #expect(claimed.map(\.item.submission.id) == ["kept"])
        // The same rules as before, written without IN lists: a value outside each list is still refused.
        let check = try DatabaseQueue(path: path)
        for sql in ["UPDATE stage_result SET stage = 'later'", "UPDATE stage_result SET action = 'hide'", "UPDATE ticket SET status = 'lost'",
                    "UPDATE ticket SET tier = 3", "UPDATE label SET source = 'guess'", "UPDATE label SET tier = 0", "UPDATE report SET outcome = 'maybe'"] {
            #expect(throws: DatabaseError.self, "\(sql)") { try check.write { db in try db.execute(sql: sql) } }
        }
        try await check.write { db in
            try db.execute(sql: "UPDATE stage_result SET stage = 'review', action = 'remove'")
            try db.execute(sql: "UPDATE label SET source = 'appeal', tier = 2")
            try db.execute(sql: "UPDATE report SET outcome = NULL")
        }
    }
}

@Suite struct ReviewStoreGuardTests {
    @Test(arguments: StoreKind.all) func aGoldTicketHidesAPersonsEarlierVerdictAndShowsItsOwnSteps(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("g", at: t0)])
        let first = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        _ = try await store.decide(ticket: first.ticket.id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"), action: .remove,
                                   now: t0.addingTimeInterval(60), workflow: Items.workflow)
        // A later automatic stage keeps the person's verdict; it must not show in the gold view either.
        _ = try await store.recordEngagement(feed: "default", id: "g", snapshot: EngagementSnapshot(at: t0.addingTimeInterval(120), counters: Engagement(views: 5))) { context in
            Staged(result: Items.rules.keepingHumanDecision(context.state.current, context.state.reviewed, after: context.state.current))
        }
        #expect(try await store.addGold(feed: "default", id: "g", label: "spam", by: "admin", at: t0))
        let gold = try #require(try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(180), workflow: Items.workflow, gold: true).first)
        #expect(gold.ticket.goldLabel == "spam")
        #expect(gold.item.reviewed == nil)
        #expect(gold.item.current.stage == .creation)
        let kinds = gold.history.map { entry -> String in
            switch entry {
            case let .stage(r): return "stage:\(r.stage.rawValue)"
            case .engagement: return "engagement"
            case let .ticket(e): return "ticket:\(e.kind.rawValue)"
            }
        }
        #expect(kinds == ["stage:creation", "engagement", "ticket:opened", "ticket:claimed"])
    }

    @Test(arguments: StoreKind.all) func raisingATicketToTierTwoTakesItFromItsTierOneHolder(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let held = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        let appealed = try await store.openTicket(feed: "default", id: "a") { Items.rules.opening(.appeal, state: $0, tier: .two, now: t0, by: "feed") }
        #expect(appealed?.tier == .two && appealed?.lease == nil)
        let refusal = TicketError.leaseLost(ticket: held.ticket.id, holder: nil, expired: false, inTierTwo: true)
        await #expect(throws: refusal) {
            _ = try await store.decide(ticket: held.ticket.id, reviewer: "ann", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                       action: .allow, now: t0, workflow: Items.workflow)
        }
        // The tier-1 reviewer is told where the ticket went, not only that it is not theirs.
        #expect(refusal.description.contains("is in tier 2 now"))
    }

    @Test(arguments: StoreKind.all) func renewingKeepsTheVersionADecisionNames(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let held = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        let renewed = try await store.renew(ticket: held.ticket.id, reviewer: "ann", now: t0.addingTimeInterval(200), workflow: Items.workflow)
        #expect(renewed.version == held.ticket.version)
        #expect(renewed.lease?.until == t0.addingTimeInterval(500))
        let decided = try await store.decide(ticket: held.ticket.id, reviewer: "ann",
                                             decision: TicketDecision(label: "spam", reasonCode: "spam", version: held.ticket.version), action: .remove,
                                             now: t0.addingTimeInterval(450), workflow: Items.workflow)
        #expect(decided.ticket.status == .decided)
    }

    @Test(arguments: StoreKind.all) func ticketsOpenAtTheServersTimeNotAReportersClaimedOne(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", spam: 0.1, at: t0)])
        let now = t0.addingTimeInterval(3600)
        let decide: @Sendable (ReportContext) -> (weighted: Double, ticket: TicketOpening?) = { context in
            (3, Items.rules.opening(.reports, state: context.state, now: now))
        }
        // A report claiming to come from 1970 still opens a ticket now, due an hour from now.
        let outcome = try await store.recordReport(feed: "default", id: "a", reporter: "u1", at: Date(timeIntervalSince1970: 0), decide: decide)
        #expect(outcome?.ticket?.openedAt == now)
        #expect(outcome?.ticket?.dueAt == now.addingTimeInterval(3600))
    }
}

@Suite struct AuditSampleStoreTests {
    @Test(arguments: StoreKind.all) func decidedAuditsBecomeSamplesWithTheirAutomaticDecisionProbabilityAndTime(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        var removed = Items.new("r", spam: 0.95, at: t0)
        var allowed = Items.new("a", spam: 0.1, at: t0)
        for item in [removed, allowed] { #expect(item.result.decision.action != .review) }
        removed.tickets = [Items.rules.opening(.audit, state: ItemState(submission: removed.submission, receivedAt: t0, createdAt: t0, current: removed.result,
                                                                        engagement: nil), now: t0, auditProbability: 0.01)]
        allowed.tickets = [Items.rules.opening(.audit, state: ItemState(submission: allowed.submission, receivedAt: t0, createdAt: t0, current: allowed.result,
                                                                        engagement: nil), now: t0, auditProbability: 0.002)]
        _ = try await store.createItems([removed, allowed, Items.inReview("band", at: t0)])
        for view in try await store.claim(ClaimRequest(reviewer: "ann", count: 3), now: t0, workflow: Items.workflow, gold: false) {
            let label = view.item.submission.id == "r" ? "clear" : "spam"
            _ = try await store.decide(ticket: view.ticket.id, reviewer: "ann", decision: TicketDecision(label: label, reasonCode: "other"),
                                       action: label == "clear" ? .allow : .remove, now: t0, workflow: Items.workflow)
        }
        // In ticket order, which is the order a store opened them in (PostgreSQL inserts a batch in (feed, id) order).
        let samples = try await store.auditSamples().sorted { $0.inclusionProbability > $1.inclusionProbability }
        #expect(samples == [
            AuditSample(action: removed.result.decision.action, autoLabel: "spam", trueLabel: "clear", inclusionProbability: 0.01,
                        decidedAt: removed.result.scoredAt),
            AuditSample(action: .allow, autoLabel: nil, trueLabel: "spam", inclusionProbability: 0.002, decidedAt: allowed.result.scoredAt),
        ])
        // A period takes the decisions made at or after `since` and before `until` (both were made at t0).
        #expect(Set(try await store.auditSamples(since: t0, until: t0.addingTimeInterval(1)).map(\.inclusionProbability)) == [0.01, 0.002])
        #expect(try await store.auditSamples(since: t0.addingTimeInterval(1), until: nil).isEmpty)
        #expect(try await store.auditSamples(since: nil, until: t0).isEmpty)
    }
}

extension LabelRepository {
    func labelCount() async throws -> Int {
        try await labels(since: nil, after: nil, limit: 1_000_000).count
    }
}

extension SQLiteStore {
    func decidedEventCount() async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM ticket_event WHERE kind = 'decided'") ?? 0
        }
    }
}

@Suite struct DoubleReviewStoreTests {
    func decide(_ store: any Store, _ ticket: Int64, by reviewer: String, _ label: String) async throws -> DecidedTicket {
        try await store.decide(ticket: ticket, reviewer: reviewer, decision: TicketDecision(label: label, reasonCode: "other"),
                               action: label == "clear" ? .allow : .remove, now: t0.addingTimeInterval(60), workflow: Items.doubleReviewing)
    }

    /// Outside testing: a reviewer's pace counted only the decisions that settled a ticket (a first review, a second
    /// that disagreed were not counted: 5 decisions showed as 1). Every judgement counts, a first review still hidden too.
    @Test(arguments: StoreKind.all) func everyJudgementCountsInTheReviewersPace(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0), Items.inReview("b", at: t0)])
        let tickets = try await store.claim(ClaimRequest(reviewer: "ann", count: 2), now: t0, workflow: Items.workflow, gold: false).map(\.ticket.id)
        #expect(try await decide(store, tickets[0], by: "ann", "spam").outcome == .awaitingSecondReview)
        #expect(try await decide(store, tickets[1], by: "ann", "spam").outcome == .awaitingSecondReview)
        _ = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(61), workflow: Items.workflow, gold: false)
        #expect(try await decide(store, tickets[0], by: "bob", "clear").outcome == .escalatedOnDisagreement)
        _ = try await store.claim(ClaimRequest(reviewer: "cat", tiers: [.two]), now: t0.addingTimeInterval(62), workflow: Items.workflow, gold: false)
        _ = try await decide(store, tickets[0], by: "cat", "spam")
        let stats = try await store.reviewStats(now: t0.addingTimeInterval(120))
        let pace = Dictionary(uniqueKeysWithValues: stats.reviewers.map { ($0.name, $0.decisionsLastHour) })
        // ann: two first reviews (one still hidden); bob: the second that disagreed; cat: tier 2.
        #expect(pace == ["ann": 2, "bob": 1, "cat": 1], "\(stats.reviewers)")
        #expect(stats.reviewers.allSatisfy { $0.decisionsLast24Hours == $0.decisionsLastHour })
    }

    @Test(arguments: StoreKind.all) func twoAgreeingReviewsDecideTheItemAndTheFirstStaysHiddenUntilTheSecond(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let first = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        let pending = try await decide(store, first.ticket.id, by: "ann", "spam")
        #expect(pending.outcome == .awaitingSecondReview)
        #expect(pending.ticket.status == .open && pending.ticket.lease == nil)
        #expect(pending.item.reviewed == nil)
        // Not back to the same reviewer; the next one sees no trace of the first decision.
        #expect(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).isEmpty)
        let second = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(90), workflow: Items.workflow, gold: false)[0]
        #expect(!second.history.contains { if case let .ticket(e) = $0 { e.kind == .decided } else { false } })
        #expect(try await store.labelCount() == 0)
        let settled = try await store.decide(ticket: second.ticket.id, reviewer: "bob", decision: TicketDecision(label: "spam", reasonCode: "spam"),
                                             action: .remove, now: t0.addingTimeInterval(120), workflow: Items.doubleReviewing)
        #expect(settled.outcome == .decided && settled.ticket.status == .decided)
        #expect(settled.item.reviewed?.by == "bob")
        #expect(try await store.labelCount() == 2)
        let decisions = try await store.history(feed: "default", id: "a")!.compactMap { entry -> String? in
            if case let .ticket(e) = entry, e.kind == .decided { return e.by } else { return nil }
        }
        #expect(decisions == ["ann", "bob"])
        #expect(try await store.doubleReviews() == [DoubleReview(firstBy: "ann", first: "spam", secondBy: "bob", second: "spam")])
    }

    @Test(arguments: StoreKind.all) func disagreementGoesToTierTwoWithBothJudgements(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let id = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0].ticket.id
        _ = try await decide(store, id, by: "ann", "spam")
        _ = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0, workflow: Items.workflow, gold: false)
        let split = try await decide(store, id, by: "bob", "clear")
        #expect(split.outcome == .escalatedOnDisagreement)
        #expect(split.ticket.tier == .two && split.ticket.status == .open && split.ticket.reasons.contains(.escalation))
        #expect(split.ticket.note == "two reviewers disagreed: ann said spam, bob said clear")
        #expect(split.item.reviewed == nil)
        #expect(try await store.labelCount() == 2)
        // Tier 2 decides once, whatever the double-review setting.
        _ = try await store.claim(ClaimRequest(reviewer: "sam", tiers: [.two]), now: t0, workflow: Items.workflow, gold: false)
        let final = try await decide(store, id, by: "sam", "clear")
        #expect(final.outcome == .decided && final.item.reviewed?.tier == .two)
        #expect(try await store.doubleReviews() == [DoubleReview(firstBy: "ann", first: "spam", secondBy: "bob", second: "clear")])
    }
}

/// Four eyes (issue 18): at tier 2 nobody decides an item they judged before. Before, a moderator could escalate their
/// own ticket and decide it at tier 2, and the second, disagreeing reviewer of a double review decided the tier-2
/// ticket in 12 of 23 escalations.
@Suite struct FourEyesStoreTests {
    let workflow = Items.workflow

    func claimTierTwo(_ store: any Store, _ reviewer: String) async throws -> [Int64] {
        try await store.claim(ClaimRequest(reviewer: reviewer, tiers: [.two]), now: t0.addingTimeInterval(120), workflow: workflow, gold: false).map(\.ticket.id)
    }

    @Test(arguments: StoreKind.all) func whoEscalatedATicketCannotClaimItAtTierTwo(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let view = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: workflow, gold: false)[0]
        _ = try await store.escalate(ticket: view.ticket.id, reviewer: "ann", version: nil, note: "not sure", now: t0.addingTimeInterval(60), workflow: workflow)
        #expect(try await claimTierTwo(store, "ann").isEmpty)
        #expect(try await claimTierTwo(store, "sam") == [view.ticket.id])
    }

    @Test(arguments: StoreKind.all) func neitherReviewerOfADisagreementDecidesItsTierTwoTicket(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("b", at: t0)])
        let first = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: workflow, gold: false)[0]
        func decide(_ reviewer: String, _ label: String) async throws -> DecidedTicket {
            try await store.decide(ticket: first.ticket.id, reviewer: reviewer, decision: TicketDecision(label: label, reasonCode: "other"),
                                   action: label == "clear" ? .allow : .remove, now: t0.addingTimeInterval(60), workflow: Items.doubleReviewing)
        }
        #expect(try await decide("ann", "spam").outcome == .awaitingSecondReview)
        _ = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0, workflow: workflow, gold: false)
        #expect(try await decide("bob", "clear").outcome == .escalatedOnDisagreement)
        #expect(try await claimTierTwo(store, "ann").isEmpty)
        #expect(try await claimTierTwo(store, "bob").isEmpty)
        #expect(try await claimTierTwo(store, "sam") == [first.ticket.id])
    }

    @Test(arguments: StoreKind.all) func theReviewerOfADecisionDoesNotDecideItsAppealButDecidesOtherTierTwoTickets(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("c", at: t0), Items.inReview("d", at: t0)])
        let rules = Items.rules
        // ann decides c; bob decides d; both decisions are appealed (tier 2: a person decided).
        for reviewer in ["ann", "bob"] {
            let view = try await store.claim(ClaimRequest(reviewer: reviewer), now: t0, workflow: workflow, gold: false)[0]
            _ = try await store.decide(ticket: view.ticket.id, reviewer: reviewer, decision: TicketDecision(label: "spam", reasonCode: "spam"),
                                       action: .remove, now: t0.addingTimeInterval(30), workflow: workflow)
        }
        let decidedBy = Dictionary(uniqueKeysWithValues: try await ["c", "d"].asyncMap { id in
            (id, try #require(try await store.itemWithHistory(feed: "default", id: id)?.state.reviewed?.by))
        })
        var appeals: [String: Int64] = [:]
        for id in ["c", "d"] {
            let ticket = try #require(try await store.openTicket(feed: "default", id: id) { state in
                rules.opening(.appeal, state: state, tier: .two, now: t0.addingTimeInterval(60), by: "feed", note: "we disagree")
            })
            appeals[id] = ticket.id
        }
        let annOwn = try #require(decidedBy.first { $0.value == "ann" }?.key)
        let bobOwn = try #require(decidedBy.first { $0.value == "bob" }?.key)
        #expect(try await claimTierTwo(store, "ann") == [appeals[bobOwn]!])
        #expect(try await claimTierTwo(store, "bob") == [appeals[annOwn]!])
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}

/// Issue 18: `review next` twice re-claimed the ticket already held and wrote a second "claimed" event.
@Suite struct ReclaimStoreTests {
    @Test(arguments: StoreKind.all) func claimingAgainWhatOneHoldsRenewsItsLease(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let first = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).first)
        let again = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0.addingTimeInterval(60), workflow: Items.workflow, gold: false).first)
        #expect(again.ticket.id == first.ticket.id)
        #expect(again.ticket.lease?.until == t0.addingTimeInterval(60 + 300))
        let events = again.history.compactMap { if case let .ticket(e) = $0 { e } else { nil } }
        #expect(events.map(\.kind) == [.opened, .claimed, .renewed])
        // A renewal keeps the version (outside testing: the second claim made it new, so a decision naming the version
        // the reviewer was shown first got a 409 although only the lease had changed).
        #expect(again.ticket.version == first.ticket.version)
        // Once the lease has run out, claiming it again is a new claim, and a new version.
        let late = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0.addingTimeInterval(60 + 301), workflow: Items.workflow, gold: false).first)
        let kinds = late.history.compactMap { entry -> TicketEvent.Kind? in if case let .ticket(e) = entry { e.kind } else { nil } }
        #expect(kinds == [.opened, .claimed, .renewed, .claimed])
        #expect(late.ticket.version == first.ticket.version + 1)
    }

    /// Outside testing: a gold ticket the reviewer held did not come back on their next claim (claims read only real
    /// tickets), where a real one they hold does: a tell. Now it comes back the same way, renewed, its version kept;
    /// nobody else is handed it, and once its lease has run out it is not handed back.
    @Test(arguments: StoreKind.all) func aHeldGoldTicketComesBackAsARealOneDoes(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("g", spam: 0.1, at: t0), Items.inReview("a", spam: 0.6, at: t0)])
        #expect(try await store.addGold(feed: "default", id: "g", label: "spam", by: "admin", at: t0))
        let gold = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: true).first)
        #expect(gold.ticket.goldLabel == "spam")
        // The queue its holder reads lists it, as it lists the real tickets they hold; nobody else's does.
        let queue = { (reader: String?) in
            try await store.reviewQueue(tier: .one, after: nil, limit: 10, goldHeldBy: reader.map { ($0, t0.addingTimeInterval(10)) }).map(\.ticket.id)
        }
        #expect(try await queue("ann").contains(gold.ticket.id))
        #expect(try await !queue("bob").contains(gold.ticket.id))
        #expect(try await !queue(nil).contains(gold.ticket.id))
        let paged = try await store.reviewQueue(tier: .one, after: (-1, 0), limit: 10, goldHeldBy: ("ann", t0.addingTimeInterval(10)))
        #expect(paged.isEmpty)  // the cursor's clause still applies beside the gold one
        let other = try await store.claim(ClaimRequest(reviewer: "bob", count: 5), now: t0.addingTimeInterval(30), workflow: Items.workflow, gold: false)
        #expect(other.map(\.ticket.itemID) == ["a"])
        _ = try await store.release(ticket: other[0].ticket.id, reviewer: "bob", version: nil, now: t0.addingTimeInterval(31), workflow: Items.workflow)
        let again = try await store.claim(ClaimRequest(reviewer: "ann", count: 5), now: t0.addingTimeInterval(60), workflow: Items.workflow, gold: false)
        #expect(Set(again.map(\.ticket.itemID)) == ["g", "a"])
        let back = try #require(again.first { $0.ticket.id == gold.ticket.id })
        #expect(back.ticket.goldLabel == "spam" && back.ticket.version == gold.ticket.version)
        #expect(back.ticket.lease?.until == t0.addingTimeInterval(60 + 300))
        let kinds = back.history.compactMap { entry -> TicketEvent.Kind? in if case let .ticket(e) = entry { e.kind } else { nil } }
        #expect(kinds.suffix(2) == [.claimed, .renewed], "\(kinds)")
        // Its lease run out, it is not handed back (the scheduler withdraws it).
        let late = try await store.claim(ClaimRequest(reviewer: "ann", count: 5), now: t0.addingTimeInterval(60 + 301), workflow: Items.workflow, gold: false)
        #expect(!late.contains { $0.ticket.id == gold.ticket.id })
        // A claim that draws a new gold ticket hands it out once (it is the reviewer's as soon as it is made, and held
        // gold tickets come back: outside testing, it came twice in one claim).
        _ = try await store.createItems([Items.new("h", spam: 0.1, at: t0)])
        #expect(try await store.addGold(feed: "default", id: "h", label: "clear", by: "admin", at: t0))
        let drawn = try await store.claim(ClaimRequest(reviewer: "cid", count: 5), now: t0.addingTimeInterval(400), workflow: Items.workflow, gold: true)
        #expect(drawn.count == 1 && drawn.first?.ticket.goldLabel != nil, "\(drawn.map(\.ticket.id))")
    }

    /// The reviewer holds one ticket and claims more: the decision on the first, naming the version they were shown,
    /// passes.
    @Test(arguments: StoreKind.all) func aDecisionNamingTheVersionShownPassesAfterAnotherClaim(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", spam: 0.8, at: t0)])
        let first = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).first)
        _ = try await store.createItems([Items.inReview("b", spam: 0.6, at: t0.addingTimeInterval(30))])
        let both = try await store.claim(ClaimRequest(reviewer: "ann", count: 5), now: t0.addingTimeInterval(60), workflow: Items.workflow, gold: false)
        #expect(Set(both.map(\.ticket.itemID)) == ["a", "b"])
        let decision = TicketDecision(label: "spam", reasonCode: "spam", version: first.ticket.version)
        let decided = try await store.changeTicket(id: first.ticket.id) {
            try Items.workflow.decide($0, reviewer: "ann", decision: decision, action: .remove, now: t0.addingTimeInterval(90))
        }
        #expect(decided.ticket.status == .decided)
    }
}

/// Issue 18: a reviewer takes back their own decision for a configured time (default 10 minutes), recorded as a
/// correction in the history, never an overwrite.
@Suite struct UndoStoreTests {
    let classes = ["clear", "spam"]
    var policy: Policy { Policy.standard(feed: "default", classes: classes) }

    func undo(_ store: any Store, _ id: Int64, by reviewer: String, at: Date) async throws -> DecidedTicket {
        let policy = self.policy, classes = self.classes
        return try await store.changeTicket(id: id) { try Items.workflow.undo($0, reviewer: reviewer, now: at, policy: policy, classes: classes) }
    }

    /// Outside testing: taking back an appeal's decision handed the item to the policy, though the reviewer's removal
    /// the appeal was against (its label still live) had stood until then. That removal stands again, as the item's
    /// reviewed decision (later automatic stages keep it), and the feed is told.
    @Test(arguments: StoreKind.all) func takingBackAnAppealsDecisionLeavesTheEarlierDecisionStanding(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let first = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).first).ticket.id
        let removed = try await store.decide(ticket: first, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"), action: .remove,
                                             now: t0.addingTimeInterval(60), workflow: Items.workflow)
        let appeal = try #require(try await store.openTicket(feed: "default", id: "a") {
            Items.rules.opening(.appeal, state: $0, tier: .two, now: t0.addingTimeInterval(100), by: "feed")
        })
        _ = try await store.claim(ClaimRequest(reviewer: "lead", tiers: [.two]), now: t0.addingTimeInterval(110), workflow: Items.workflow, gold: false)
        let allowed = try await store.decide(ticket: appeal.id, reviewer: "lead", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                             action: .allow, now: t0.addingTimeInterval(120), workflow: Items.workflow)
        #expect(allowed.item.current.decision.action == .allow && allowed.item.reviewed?.by == "lead")
        let undone = try await undo(store, appeal.id, by: "lead", at: t0.addingTimeInterval(130))
        var earlier = try #require(removed.item.reviewed)
        earlier.prior = nil
        #expect(undone.item.reviewed == earlier)
        #expect(undone.item.current.decision.action == .remove && undone.item.current.decision.label == "spam")
        #expect(undone.item.current.decision.reason.hasPrefix("decision taken back by its reviewer; the earlier decision stands again: decided by a reviewer"),
                "\(undone.item.current.decision.reason)")
        let (state, _) = try #require(try await store.itemWithHistory(feed: "default", id: "a"))
        #expect(state.reviewed == earlier && state.current.decision.action == .remove)
        let events = try await store.changeEvents(feed: "default", after: 0, limit: 10, retraining: false).compactMap(\.decision)
        #expect(events.map(\.cause.kind) == [.review, .appeal, .undo])
        #expect(events.last?.after.action == .remove && events.last?.before.action == .allow)
    }

    /// Outside testing: the earlier decision an appeal's decision keeps behind it came back on an undo even when its
    /// label had been withdrawn (or corrected) while the appeal's decision stood. Withdrawn: the decision standing is
    /// kept (a review stage says so, no event) and taken back, the policy decides. Corrected: the corrected decision
    /// comes back.
    @Test(arguments: StoreKind.all, [false, true])
    func anEarlierDecisionWhoseLabelChangedComesBackAsItsLabelNowSays(_ kind: StoreKind, corrected: Bool) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let first = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).first).ticket.id
        _ = try await store.decide(ticket: first, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"), action: .remove,
                                   now: t0.addingTimeInterval(60), workflow: Items.workflow)
        let annsLabel = try #require(try await store.labels(since: nil, after: nil, limit: 10).last?.id)
        let appeal = try #require(try await store.openTicket(feed: "default", id: "a") {
            Items.rules.opening(.appeal, state: $0, tier: .two, now: t0.addingTimeInterval(100), by: "feed")
        })
        _ = try await store.claim(ClaimRequest(reviewer: "lead", tiers: [.two]), now: t0.addingTimeInterval(110), workflow: Items.workflow, gold: false)
        _ = try await store.decide(ticket: appeal.id, reviewer: "lead", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                   action: .allow, now: t0.addingTimeInterval(120), workflow: Items.workflow)
        let rules = Items.workflow.rules, policy = self.policy, classes = self.classes
        let at = t0.addingTimeInterval(125)
        if corrected {
            // classes are clear and spam: ann's spam corrected to clear (her removal would now be an allow).
            _ = try await store.correctLabel(id: annsLabel, label: "clear", by: "sue", at: at) { item, withdrawn, new in
                rules.correction(of: item, withdrawn: withdrawn, corrected: new)
            }
        } else {
            _ = try await store.withdrawLabel(id: annsLabel, by: "sue", at: at) { item, withdrawn in
                rules.withdrawal(of: item, withdrawn: withdrawn, at: at, policy: policy, classes: classes)
            }
        }
        let kept = try #require(try await store.item(feed: "default", id: "a"))
        #expect(kept.current.decision.action == .allow && kept.reviewed?.by == "lead" && kept.current.stage == .review)
        #expect(kept.current.inputs.trigger == (corrected ? "correction" : "withdrawal"))
        #expect(kept.current.decision.reason.contains("the decision standing is kept (clear)"), "\(kept.current.decision.reason)")
        #expect(kept.reviewed?.prior?.person?.label == (corrected ? "clear" : nil))
        var events = try await store.changeEvents(feed: "default", after: 0, limit: 10, retraining: false).compactMap(\.decision)
        #expect(events.map(\.cause.kind) == [.review, .appeal], "the standing decision did not change: no event")

        let undone = try await undo(store, appeal.id, by: "lead", at: t0.addingTimeInterval(130))
        if corrected {
            #expect(undone.item.reviewed?.label == "clear" && undone.item.reviewed?.by == "sue" && undone.item.reviewed?.action == .allow)
            #expect(undone.item.current.decision.action == .allow)
            #expect(undone.item.current.decision.reason.hasPrefix("decision taken back by its reviewer; the earlier decision stands again: decided by a reviewer"),
                    "\(undone.item.current.decision.reason)")
        } else {
            // ann's removal does not come back: the policy decides (the standard cut-offs demote this item's scores).
            #expect(undone.item.reviewed == nil)
            #expect(undone.item.current.decision.action == .demote)
            #expect(undone.item.current.decision.reason.hasPrefix("decision taken back by its reviewer; the policy decides again: "),
                    "\(undone.item.current.decision.reason)")
        }
        events = try await store.changeEvents(feed: "default", after: 0, limit: 10, retraining: false).compactMap(\.decision)
        #expect(events.map(\.cause.kind) == (corrected ? [.review, .appeal] : [.review, .appeal, .undo]))
    }

    /// Outside testing: taking back a gold ticket's decision was refused with "it was a gold ticket", telling the
    /// reviewer which tickets probe them. It is taken back like any other: open again, leased to them, unscored until
    /// they decide anew; the item is untouched. An escalated gold ticket answers as an escalated real one does.
    @Test(arguments: StoreKind.all) func aGoldDecisionIsTakenBackLikeAnyOther(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("g", spam: 0.1, at: t0), Items.new("h", spam: 0.1, at: t0)])
        #expect(try await store.addGold(feed: "default", id: "g", label: "spam", by: "admin", at: t0))
        let gold = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: true).first)
        let id = gold.ticket.id
        // Held, it is counted as any claimed ticket is (the counts had left it out, one fewer than the reviewer held).
        let held = try await store.reviewStats(now: t0.addingTimeInterval(10))
        #expect(held.open == 1 && held.claimed == 1 && held.byTier == ["tier1": 1] && held.byLanguage == ["any": 1] && held.byReason.values.reduce(0, +) == 1,
                "\(held)")
        #expect(try await store.reviewStats(now: t0.addingTimeInterval(3_600)).open == 0)  // its lease lapsed: no one holds it
        _ = try await store.decide(ticket: id, reviewer: "ann", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                   action: .allow, now: t0.addingTimeInterval(30), workflow: Items.workflow)
        #expect(try await store.reviewStats(now: t0).reviewers.first { $0.name == "ann" }?.goldSeen == 1)
        await #expect(throws: TicketError.cannotUndo(ticket: id, reason: "it was decided by ann, not by you")) {
            _ = try await undo(store, id, by: "bob", at: t0.addingTimeInterval(60))
        }
        let undone = try await undo(store, id, by: "ann", at: t0.addingTimeInterval(60))
        #expect(undone.outcome == .undone && undone.labels.isEmpty && undone.decisionEvent == nil)
        #expect(undone.ticket.status == .open && undone.ticket.lease?.holder == "ann" && undone.ticket.goldLabel == "spam")
        #expect(try await store.reviewStats(now: t0).reviewers.first { $0.name == "ann" }?.goldSeen ?? 0 == 0)
        // Decided anew, it is scored once, on the new answer; the item never changed.
        _ = try await store.decide(ticket: id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"),
                                   action: .remove, now: t0.addingTimeInterval(90), workflow: Items.workflow)
        let ann = try #require(try await store.reviewStats(now: t0).reviewers.first { $0.name == "ann" })
        #expect(ann.goldSeen == 1 && ann.goldCorrect == 1)
        let item = try #require(try await store.item(feed: "default", id: "g"))
        #expect(item.reviewed == nil && item.current.stage == .creation)
        #expect(try await store.labelCount() == 0)
        // Escalated, a gold ticket is a miss recorded as decided; taking it back answers as for a real escalated one.
        #expect(try await store.addGold(feed: "default", id: "h", label: "clear", by: "admin", at: t0))
        let second = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0.addingTimeInterval(100), workflow: Items.workflow, gold: true).first)
        #expect(second.item.submission.id == "h")
        _ = try await store.changeTicket(id: second.ticket.id) {
            try Items.workflow.escalate($0, reviewer: "ann", version: nil, note: "unsure", now: t0.addingTimeInterval(110))
        }
        for asking in ["ann", "bob"] {
            await #expect(throws: TicketError.nothingToUndo(ticket: second.ticket.id, reason: "it is not decided")) {
                _ = try await undo(store, second.ticket.id, by: asking, at: t0.addingTimeInterval(120))
            }
        }
    }

    @Test(arguments: StoreKind.all) func aReviewerTakesBackTheirDecisionAndDecidesAgain(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let view = try #require(try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false).first)
        let id = view.ticket.id
        _ = try await store.decide(ticket: id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"), action: .remove,
                                   now: t0.addingTimeInterval(60), workflow: Items.workflow)
        // Only the decider, only within the window.
        await #expect(throws: TicketError.cannotUndo(ticket: id, reason: "it was decided by ann, not by you")) {
            _ = try await undo(store, id, by: "bob", at: t0.addingTimeInterval(120))
        }
        await #expect(throws: TicketError.self) { _ = try await undo(store, id, by: "ann", at: t0.addingTimeInterval(60 + 601)) }

        let undone = try await undo(store, id, by: "ann", at: t0.addingTimeInterval(120))
        #expect(undone.outcome == .undone)
        #expect(undone.ticket.status == .open && undone.ticket.lease?.holder == "ann")
        #expect(undone.labels.map(\.label) == ["spam"] && undone.labels.allSatisfy { $0.withdrawnAt == t0.addingTimeInterval(120) && $0.withdrawnBy == "ann" })
        #expect(undone.item.reviewed == nil)
        // What stood before the decision stands again: the item was in review (its ticket is open again), not what the
        // standard policy's cut-offs alone say (spam 0.6: demote at 0.5; outside testing saw a viral item published).
        #expect(undone.item.current.decision.action == .review)
        #expect(undone.item.current.decision.reason.hasPrefix("decision taken back by its reviewer; the decision before it stands again: "), "\(undone.item.current.decision.reason)")
        // Stored as such: nothing overwritten.
        let (state, history) = try #require(try await store.itemWithHistory(feed: "default", id: "a"))
        #expect(state.reviewed == nil && state.current.decision.action == .review && state.current.inputs.trigger == "undo")
        let stages = history.compactMap { if case let .stage(s) = $0 { s } else { nil } }
        #expect(stages.map(\.stage) == [.creation, .review, .review])
        #expect(stages.map(\.decision.action) == [.review, .remove, .review])
        let kinds = history.compactMap { entry -> TicketEvent.Kind? in if case let .ticket(e) = entry { e.kind } else { nil } }
        #expect(kinds == [.opened, .claimed, .decided, .undone])
        let stored = try await store.labels(since: nil, after: nil, limit: 10)
        #expect(stored.count == 1 && stored[0].withdrawnAt == t0.addingTimeInterval(120))
        // Once taken back, there is nothing left to take back; the reviewer decides again.
        await #expect(throws: TicketError.nothingToUndo(ticket: id, reason: "it is not decided")) {
            _ = try await undo(store, id, by: "ann", at: t0.addingTimeInterval(130))
        }
        let again = try await store.decide(ticket: id, reviewer: "ann", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                           action: .allow, now: t0.addingTimeInterval(150), workflow: Items.workflow)
        #expect(again.ticket.status == .decided && again.item.current.decision.action == .allow && again.item.reviewed?.label == "clear")
        let labels = try await store.labels(since: nil, after: nil, limit: 10)
        #expect(labels.map(\.label) == ["spam", "clear"] && labels[0].withdrawnAt != nil && labels[1].withdrawnAt == nil)
    }

    /// Outside testing: an undo after an appeal (or reports) had opened another ticket of the item answered 500 (two
    /// open tickets for one item broke the store's uniqueness); it is refused, naming that ticket. An engagement stage
    /// that kept the person's decision no longer stands in the way ("decided again since", when nobody had).
    @Test(arguments: StoreKind.all) func anUndoIsRefusedWhileAnotherTicketIsOpenAndAllowedAfterAStageThatKeptTheDecision(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0), Items.inReview("b", at: t0)])
        var ids: [String: Int64] = [:]
        for view in try await store.claim(ClaimRequest(reviewer: "ann", count: 2), now: t0, workflow: Items.workflow, gold: false) {
            ids[view.ticket.itemID] = view.ticket.id
            _ = try await store.decide(ticket: view.ticket.id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"),
                                       action: .remove, now: t0.addingTimeInterval(60), workflow: Items.workflow)
        }
        let a = try #require(ids["a"]), b = try #require(ids["b"])
        let appeal = try #require(try await store.openTicket(feed: "default", id: "a") { state in
            Items.rules.opening(.appeal, state: state, tier: .two, now: t0.addingTimeInterval(90), by: "feed", note: "a joke")
        })
        await #expect(throws: TicketError.cannotUndo(ticket: a, reason:
            "the item has another open ticket since (ticket \(appeal.id): an appeal, reports or a rescore); decide it there")) {
            _ = try await undo(store, a, by: "ann", at: t0.addingTimeInterval(120))
        }
        #expect(try await store.item(feed: "default", id: "a")?.reviewed?.by == "ann")
        // b: an engagement stage keeps ann's removal; she can still take it back.
        let snapshot = EngagementSnapshot(at: t0.addingTimeInterval(100), counters: Engagement(views: 500))
        _ = try await store.recordEngagement(feed: "default", id: "b", snapshot: snapshot) { context in
            var result = context.state.current
            result.stage = .engagement
            result.scoredAt = snapshot.at
            return Staged(result: Items.rules.keepingHumanDecision(result, context.state.reviewed, after: context.state.current))
        }
        #expect(try await store.item(feed: "default", id: "b")?.current.stage == .engagement)
        let undone = try await undo(store, b, by: "ann", at: t0.addingTimeInterval(120))
        #expect(undone.outcome == .undone && undone.item.reviewed == nil)
    }

    /// Outside testing: a second reviewer who agreed, took it back and decided otherwise settled the ticket alone (the
    /// first review stayed a live label, the pair counted as agreeing). Taken back, a second review is a second review
    /// again: the first is hidden (its label withdrawn), and the next decision that disagrees goes to tier 2.
    @Test(arguments: StoreKind.all) func aSecondReviewTakenBackIsASecondReviewAgain(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let id = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0].ticket.id
        func decide(_ reviewer: String, _ label: String, at seconds: Double) async throws -> DecidedTicket {
            try await store.decide(ticket: id, reviewer: reviewer, decision: TicketDecision(label: label, reasonCode: "other"),
                                   action: label == "clear" ? .allow : .remove, now: t0.addingTimeInterval(seconds), workflow: Items.doubleReviewing)
        }
        #expect(try await decide("ann", "spam", at: 60).outcome == .awaitingSecondReview)
        _ = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(70), workflow: Items.workflow, gold: false)
        #expect(try await decide("bob", "spam", at: 80).outcome == .decided)
        #expect(try await store.doubleReviews().count == 1)
        let undone = try await undo(store, id, by: "bob", at: t0.addingTimeInterval(90))
        #expect(undone.labels.map(\.by).sorted() == ["ann", "bob"], "\(undone.labels)")
        #expect(try await store.labels(since: nil, after: nil, limit: 10).allSatisfy(\.isWithdrawn))
        #expect(try await store.doubleReviews().isEmpty)
        let again = try await decide("bob", "clear", at: 100)
        #expect(again.outcome == .escalatedOnDisagreement && again.ticket.tier == .two, "\(again.outcome)")
        #expect(try await store.item(feed: "default", id: "a")?.reviewed == nil)
        #expect(try await store.doubleReviews() == [DoubleReview(firstBy: "ann", first: "spam", secondBy: "bob", second: "clear")])
    }
}
