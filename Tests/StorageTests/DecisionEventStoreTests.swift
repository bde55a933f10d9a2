import Engine
import Foundation
import Testing

@testable import Storage

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// Decision events on both stores: written with the change they record and never without it, numbered in order,
/// paged, pruned; each feed's webhook and its leased, fenced delivery state.
@Suite struct DecisionEventStoreTests {
    /// The item's current result with the decision moved to `action` (what a stage crossing a cut-off returns).
    static func crossing(_ state: ItemState, to action: Action, stage: Stage = .engagement, at: Date) -> StageResult {
        var result = state.current
        result.stage = stage
        result.scoredAt = at
        result.inputs.trigger = stage == .engagement ? "views≥100" : "scheduled 6h"
        result.decision = PolicyDecision(action: action, label: action == .allow ? nil : "spam", probability: 0.9, policyVersion: 3, reason: "test")
        result.probabilities = ["clear": 0.1, "spam": 0.9]
        result.label = "spam"
        return result
    }

    @Test(arguments: StoreKind.all) func anEngagementStageThatCrossesACutOffWritesOneEventAndOneThatDoesNotWritesNone(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0), Items.new("b", at: t0)])
        #expect(try await store.latestEventSeq() == 0)
        let snapshot = EngagementSnapshot(at: t0.addingTimeInterval(600), counters: Engagement(views: 500))
        // a: allowed → removed, one event; b: a stage that decides the same, no event.
        _ = try await store.recordEngagement(feed: "default", id: "a", snapshot: snapshot) { context in
            let result = Self.crossing(context.state, to: .remove, at: snapshot.at)
            return Staged(result: result, event: DecisionEvent.change(of: context.state, to: result, reviewed: nil, cause: DecisionEvent.automatic(result)))
        }
        _ = try await store.recordEngagement(feed: "default", id: "b", snapshot: snapshot) { context in
            var result = context.state.current
            result.stage = .engagement
            result.scoredAt = snapshot.at
            #expect(DecisionEvent.change(of: context.state, to: result, reviewed: nil, cause: DecisionEvent.automatic(result)) == nil)
            return Staged(result: result, event: nil)
        }
        let events = try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: false).compactMap(\.decision)
        #expect(events.count == 1)
        let event = try #require(events.first)
        #expect(event.seq == 1 && event.id == "evt_1")
        #expect(event.feed == "default" && event.itemID == "a")
        #expect(event.before == DecisionState(action: .allow, label: "clear", probability: 0.9))
        #expect(event.after == DecisionState(action: .remove, label: "spam", probability: 0.9))
        #expect(event.cause == DecisionCause(kind: .engagement, stage: .engagement, trigger: "views≥100"))
        #expect(event.policyVersion == 3 && event.modelVersion == "m1" && event.at == snapshot.at)
        #expect(try await store.latestEventSeq() == 1)
    }

    @Test(arguments: StoreKind.all) func aRolledBackChangeWritesNoEvent(_ kind: StoreKind) async throws {
        struct Refused: Error {}
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0), Items.inReview("r", at: t0)])
        // The stage's closure fails after deciding: the snapshot, the stage and the event roll back together.
        await #expect(throws: Refused.self) {
            _ = try await store.recordEngagement(feed: "default", id: "a", snapshot: EngagementSnapshot(at: t0.addingTimeInterval(60), counters: Engagement(views: 9))) { context in
                throw Refused()
            }
        }
        // A ticket step refused by the rules (a stale version): no decision, no event.
        let view = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        await #expect(throws: TicketError.self) {
            _ = try await store.decide(ticket: view.ticket.id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam", version: 0),
                                       action: .remove, now: t0, workflow: Items.workflow)
        }
        #expect(try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: false).compactMap(\.decision).isEmpty)
        #expect(try await store.latestEventSeq() == 0)
        #expect(try await store.item(feed: "default", id: "a")?.engagement == nil)
    }

    @Test(arguments: StoreKind.all) func aDecisionItsUndoAndACorrectionEachWriteTheirEventInOrder(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let view = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        let id = view.ticket.id
        let decided = try await store.decide(ticket: id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"), action: .remove,
                                             now: t0.addingTimeInterval(10), workflow: Items.workflow)
        #expect(decided.decisionEvent?.after == DecisionState(action: .remove, label: "spam", probability: decided.item.current.probabilities["spam"]!))
        let undone = try await store.changeTicket(id: id) { state in
            try Items.workflow.undo(state, reviewer: "ann", now: t0.addingTimeInterval(20), policy: Items.policy, classes: ["clear", "spam"])
        }
        #expect(undone.decisionEvent != nil)
        _ = try await store.decide(ticket: id, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"), action: .demote,
                                   now: t0.addingTimeInterval(30), workflow: Items.workflow)
        // A senior corrects the label the decision stands on: the item is allowed now.
        let label = try #require(try await store.labels(since: nil, after: nil, limit: 10).last { !$0.isWithdrawn })
        let rules = Items.workflow.rules
        _ = try await store.correctLabel(id: label.id!, label: "clear", by: "sue", at: t0.addingTimeInterval(40)) { item, withdrawn, corrected in
            rules.correction(of: item, withdrawn: withdrawn, corrected: corrected)
        }
        let events = try await store.changeEvents(feed: "default", after: 0, limit: 10, retraining: false).compactMap(\.decision)
        #expect(events.map(\.cause.kind) == [.review, .undo, .review, .correction])
        #expect(events.map(\.seq) == [1, 2, 3, 4])
        #expect(events.map(\.after.action) == [.remove, .review, .demote, .allow])
        #expect(events[1].before == events[0].after)
        #expect(events[3].before == DecisionState(action: .demote, label: "spam", probability: events[2].after.probability))
        #expect(events[3].after.label == "clear")
        #expect(events[3].cause.ticket == id && events[3].cause.labelID == label.id! + 1)
        #expect(events.allSatisfy { $0.cause.ticket == id })
        let item = try #require(try await store.item(feed: "default", id: "a"))
        #expect(item.current.decision.action == .allow && item.reviewed?.label == "clear" && item.reviewed?.by == "sue")
        // A correction of a label withdrawn already stores nothing and changes nothing.
        let labelsBefore = try await store.labels(since: nil, after: nil, limit: 100)
        let again = try await store.correctLabel(id: label.id!, label: "spam", by: "sue", at: t0.addingTimeInterval(50)) { item, withdrawn, corrected in
            rules.correction(of: item, withdrawn: withdrawn, corrected: corrected)
        }
        guard case let .alreadyWithdrawn(old)? = again else { Issue.record("expected alreadyWithdrawn, got \(String(describing: again))"); return }
        #expect(old.id == label.id && old.withdrawnBy == "sue")
        #expect(try await store.labels(since: nil, after: nil, limit: 100) == labelsBefore)
        #expect(try await store.latestEventSeq() == 4)
        // Paging: after 2, at most 1.
        #expect(try await store.changeEvents(feed: "default", after: 2, limit: 1, retraining: false).compactMap(\.decision).map(\.seq) == [3])
        #expect(try await store.changeEvents(feed: "other", after: 0, limit: 10, retraining: false).compactMap(\.decision).isEmpty)
    }

    /// Withdrawing the label a person's decision stands on brings back what stood before that decision (here review):
    /// a review stage with no person's decision, its event (cause withdrawal, naming the label), and a ticket when the policy asks for review.
    /// A withdrawal of any other label, or of the same label again, changes no decision.
    @Test(arguments: StoreKind.all) func withdrawingTheLabelADecisionStandsOnHandsTheItemBackToThePolicy(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", at: t0)])
        let first = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0].ticket.id
        _ = try await store.decide(ticket: first, reviewer: "ann", decision: TicketDecision(label: "spam", reasonCode: "spam"), action: .remove,
                                   now: t0.addingTimeInterval(10), workflow: Items.workflow)
        let label = try #require(try await store.labels(since: nil, after: nil, limit: 10).last)
        let rules = Items.workflow.rules
        func withdraw(_ id: Int64, at: Date) async throws -> (label: LabelRecord, changed: Bool)? {
            try await store.withdrawLabel(id: id, by: "lead", at: at) { item, withdrawn in
                rules.withdrawal(of: item, withdrawn: withdrawn, at: at, policy: Items.policy, classes: ["clear", "spam"])
            }
        }
        let withdrawn = try #require(try await withdraw(label.id!, at: t0.addingTimeInterval(60)))
        #expect(withdrawn.changed && withdrawn.label.withdrawnBy == "lead")
        let item = try #require(try await store.item(feed: "default", id: "a"))
        #expect(item.reviewed == nil)
        #expect(item.current.decision.action == .review && item.current.stage == .review && item.current.inputs.trigger == "withdrawal")
        #expect(item.current.decision.reason.hasPrefix("label \(label.id!) (spam) withdrawn; the decision before it stands again: "),
                "\(item.current.decision.reason)")
        let events = try await store.changeEvents(feed: "default", after: 0, limit: 10, retraining: false).compactMap(\.decision)
        #expect(events.map(\.cause.kind) == [.review, .withdrawal])
        #expect(events[1].before == events[0].after && events[1].after == DecisionState(item.current, reviewed: nil))
        #expect(events[1].cause.labelID == label.id && events[1].cause.ticket == first && events[1].cause.reasonCode == nil)
        // The item needs a person again: a new ticket in the queue.
        let queue = try await store.reviewQueue(tier: .one, after: nil, limit: 10)
        #expect(queue.map(\.ticket.itemID) == ["a"] && queue[0].ticket.id != first && queue[0].ticket.reasons == [.reviewBand])
        // The same label again: nothing happens.
        #expect(try await withdraw(label.id!, at: t0.addingTimeInterval(120))?.changed == false)
        #expect(try await store.latestEventSeq() == 2)
        #expect(try await store.reviewQueue(tier: .one, after: nil, limit: 10).count == 1)
        // Bob decides the new ticket; an imported label of the item withdrawn later leaves his decision standing.
        let second = try await store.claim(ClaimRequest(reviewer: "bob"), now: t0.addingTimeInterval(200), workflow: Items.workflow, gold: false)[0].ticket.id
        #expect(second == queue[0].ticket.id)
        _ = try await store.decide(ticket: second, reviewer: "bob", decision: TicketDecision(label: "clear", reasonCode: "not_violating"), action: .allow,
                                   now: t0.addingTimeInterval(210), workflow: Items.workflow)
        let imported = try await store.addLabels([LabelRecord(feed: "default", itemID: "a", label: "spam", source: "import", by: "lead",
                                                              at: t0.addingTimeInterval(220), tier: 1)])
        #expect(try await withdraw(imported[0].id!, at: t0.addingTimeInterval(230))?.changed == true)
        #expect(try await store.latestEventSeq() == 3)
        let after = try #require(try await store.item(feed: "default", id: "a"))
        #expect(after.reviewed?.by == "bob" && after.current.decision.action == .allow)
    }

    @Test(arguments: StoreKind.all) func aRescorePassWritesAnEventPerChangedItem(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0), Items.new("b", at: t0), Items.new("c", feed: "other", at: t0)])
        let ran = try await store.rescoreDue(now: t0.addingTimeInterval(30 * 86_400), limit: 10) { due in
            let id = due.state.submission.id
            let result = Self.crossing(due.state, to: id == "b" ? .allow : .demote, stage: .time, at: t0.addingTimeInterval(3600))
            return Rescored(result: result, next: nil,
                            event: DecisionEvent.change(of: due.state, to: result, reviewed: nil, cause: DecisionEvent.automatic(result)))
        }
        #expect(ran == 3)
        let events = try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: false).compactMap(\.decision)
        // b stays allowed by the model (only its most probable class moved): no change for the feed.
        #expect(events.map(\.itemID).sorted() == ["a", "c"])
        #expect(events.map(\.seq) == [1, 2])
        #expect(events.allSatisfy { $0.cause.kind == .rescore && $0.cause.trigger == "scheduled 6h" })
        #expect(try await store.changeEvents(feed: "other", after: 0, limit: 10, retraining: false).compactMap(\.decision).map(\.itemID) == ["c"])
    }

    @Test(arguments: StoreKind.all) func pruningKeepsWhatAWebhookHasNotDeliveredAndMovesTheHorizon(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0), Items.new("b", feed: "hooked", at: t0)])
        let endpoint = WebhookEndpoint(feed: "hooked", url: "http://127.0.0.1:9/x", secret: "whsec_" + Data(repeating: 7, count: 32).base64EncodedString(),
                                       topics: nil, endpointID: "e1", createdBy: "admin", createdAt: t0)
        let (record, replaced) = try await store.saveWebhook(endpoint)
        #expect(!replaced && record.delivery.deliveredSeq == 0 && record.endpoint == endpoint)
        _ = try await store.rescoreDue(now: t0.addingTimeInterval(30 * 86_400), limit: 10) { due in
            let result = Self.crossing(due.state, to: .remove, stage: .time, at: t0.addingTimeInterval(3600))
            return Rescored(result: result, next: nil, event: DecisionEvent.change(of: due.state, to: result, reviewed: nil, cause: DecisionEvent.automatic(result)))
        }
        #expect(try await store.undeliveredEvents(feed: "hooked").count == 1)
        #expect(try await store.undeliveredEvents(feed: "hooked").oldest == t0.addingTimeInterval(3600))
        // Everything is old; only the hooked feed's undelivered event stays.
        #expect(try await store.pruneEvents(before: t0.addingTimeInterval(7200)) == 1)
        #expect(try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: false).compactMap(\.decision).map(\.feed) == ["hooked"])
        let prunedSeq = try #require(try await store.prunedThrough(feed: "default", retraining: false))
        #expect(prunedSeq >= 1)
        #expect(try await store.prunedThrough(feed: "hooked", retraining: false) == 0)
        #expect(try await store.prunedThrough(feed: nil, retraining: false) == prunedSeq)
        // Numbers are never used again after a prune.
        #expect(try await store.latestEventSeq() == 2)
    }

    @Test(arguments: StoreKind.all) func oneHolderLeasesAWebhookAndOnlyItsOutcomeIsRecorded(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", feed: "f", at: t0)])
        let secret = "whsec_" + Data(repeating: 1, count: 24).base64EncodedString()
        _ = try await store.saveWebhook(WebhookEndpoint(feed: "f", url: "http://127.0.0.1:9/", secret: secret, topics: [.decision(.review)], endpointID: "e1",
                                                        createdBy: "admin", createdAt: t0))
        // Nothing to deliver: nothing leased.
        #expect(try await store.leaseDueWebhooks(now: t0, holder: "n1", until: t0.addingTimeInterval(30), limit: 10, batchSize: 100).isEmpty)
        _ = try await store.rescoreDue(now: t0.addingTimeInterval(30 * 86_400), limit: 10) { due in
            let result = Self.crossing(due.state, to: .remove, stage: .time, at: t0.addingTimeInterval(60))
            return Rescored(result: result, next: nil, event: DecisionEvent.change(of: due.state, to: result, reviewed: nil, cause: DecisionEvent.automatic(result)))
        }
        let now = t0.addingTimeInterval(100)
        let leased = try await store.leaseDueWebhooks(now: now, holder: "n1", until: now.addingTimeInterval(30), limit: 10, batchSize: 100)
        #expect(leased.map(\.endpoint.feed) == ["f"] && leased[0].delivery.leaseHolder == "n1" && leased[0].endpoint.topics == [.decision(.review)])
        #expect(leased[0].delivery.batchThrough == 1)  // the lease fixed the message: the events up to 1
        #expect(try await store.leaseDueWebhooks(now: now, holder: "n2", until: now.addingTimeInterval(30), limit: 10, batchSize: 100).isEmpty)
        // n1's lease runs out: n2 takes over the same message, and n1's late outcome is not recorded.
        let later = now.addingTimeInterval(31)
        let taken = try await store.leaseDueWebhooks(now: later, holder: "n2", until: later.addingTimeInterval(30), limit: 10, batchSize: 100)
        #expect(taken.first?.delivery.batchThrough == 1)
        #expect(try await !store.recordDelivery(feed: "f", holder: "n1", .delivered(through: 1, events: 1, at: later)))
        #expect(try await store.recordDelivery(feed: "f", holder: "n2", .failed(error: "the receiver answered 503", at: later, retryAt: later.addingTimeInterval(5))))
        var state = try #require(try await store.webhook(feed: "f")).delivery
        #expect(state.attempts == 1 && state.failed == 1 && state.lastError == "the receiver answered 503" && state.failingSince == later)
        #expect(state.leaseHolder == nil && state.batchThrough == 1 && state.deliveredSeq == 0)
        // Not due before its retry time.
        #expect(try await store.leaseDueWebhooks(now: later.addingTimeInterval(4), holder: "n2", until: later.addingTimeInterval(60), limit: 10, batchSize: 100).isEmpty)
        let retry = later.addingTimeInterval(5)
        #expect(try await store.leaseDueWebhooks(now: retry, holder: "n1", until: retry.addingTimeInterval(30), limit: 10, batchSize: 100).count == 1)
        #expect(try await store.recordDelivery(feed: "f", holder: "n1", .delivered(through: 1, events: 1, at: retry)))
        state = try #require(try await store.webhook(feed: "f")).delivery
        #expect(state.deliveredSeq == 1 && state.batchThrough == nil && state.attempts == 0 && state.failingSince == nil && state.delivered == 1)
        #expect(state.lastSuccessAt == retry && state.failed == 1)
        #expect(try await store.undeliveredEvents(feed: "f").count == 0)
        // Set again: a new endpoint id, the place and figures kept.
        let (again, replaced) = try await store.saveWebhook(WebhookEndpoint(feed: "f", url: "http://127.0.0.1:10/", secret: secret, topics: nil,
                                                                           endpointID: "e2", createdBy: "admin", createdAt: retry))
        #expect(replaced && again.delivery.deliveredSeq == 1 && again.delivery.delivered == 1 && again.endpoint.endpointID == "e2")
        #expect(try await store.webhooks().map(\.endpoint.url) == ["http://127.0.0.1:10/"])
        #expect(try await store.removeWebhook(feed: "f"))
        #expect(try await !store.removeWebhook(feed: "f"))
        #expect(try await store.webhook(feed: "f") == nil)
    }
}

extension DecisionEventStoreTests {
    /// Outside testing: setting a webhook again while an attempt was in flight ended that attempt's lease, so a message
    /// the receiver had taken was sent again under the new endpoint's message id (a receiver that drops repeats by id
    /// applied it twice). The attempt keeps its lease: its success is recorded, and the next message goes to the new
    /// endpoint; a failure is recorded too, and the retry goes to the new endpoint.
    @Test(arguments: StoreKind.all) func replacingAWebhookKeepsTheAttemptInFlight(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", feed: "f", at: t0), Items.new("b", feed: "f", at: t0), Items.new("c", feed: "f", at: t0)])
        let secret = "whsec_" + Data(repeating: 2, count: 24).base64EncodedString()
        _ = try await store.saveWebhook(WebhookEndpoint(feed: "f", url: "http://127.0.0.1:9/old", secret: secret, topics: nil, endpointID: "e1",
                                                        createdBy: "admin", createdAt: t0))
        _ = try await store.rescoreDue(now: t0.addingTimeInterval(30 * 86_400), limit: 10) { due in
            let result = DecisionEventStoreTests.crossing(due.state, to: .remove, stage: .time, at: t0.addingTimeInterval(60))
            return Rescored(result: result, next: nil, event: DecisionEvent.change(of: due.state, to: result, reviewed: nil, cause: DecisionEvent.automatic(result)))
        }
        let now = t0.addingTimeInterval(100)
        // Messages of two events: the lease fixes the first one (events 1 and 2).
        let leased = try await store.leaseDueWebhooks(now: now, holder: "n1#1", until: now.addingTimeInterval(30), limit: 10, batchSize: 2)
        #expect(leased.first?.delivery.batchThrough == 2)
        _ = try await store.saveWebhook(WebhookEndpoint(feed: "f", url: "http://127.0.0.1:9/new", secret: secret, topics: nil, endpointID: "e2",
                                                        createdBy: "admin", createdAt: now))
        // Nobody else takes the webhook while the attempt runs; its success is recorded.
        #expect(try await store.leaseDueWebhooks(now: now, holder: "n2#1", until: now.addingTimeInterval(30), limit: 10, batchSize: 2).isEmpty)
        #expect(try await store.recordDelivery(feed: "f", holder: "n1#1", .delivered(through: 2, events: 2, at: now)))
        let next = try await store.leaseDueWebhooks(now: now, holder: "n1#2", until: now.addingTimeInterval(30), limit: 10, batchSize: 2)
        #expect(next.first?.endpoint.url == "http://127.0.0.1:9/new" && next.first?.endpoint.endpointID == "e2")
        #expect(next.first?.delivery.deliveredSeq == 2 && next.first?.delivery.batchThrough == 3)
    }
}

extension DecisionEventStoreTests {
    static func pass(_ id: Int64, feed: String?, at: Date) -> RetrainPass {
        RetrainPass(id: id, feed: feed, trigger: "manual", by: "node-1", at: at, leaseUntil: at.addingTimeInterval(600), labelsThrough: 0)
    }

    /// A retraining step is written with the pass it moves and never without it; a step of the shared model's loop
    /// belongs to every feed (read, leased, counted and pruned with each feed's events), a feed's own to that feed.
    @Test(arguments: StoreKind.all) func retrainingStepsAreEventsOfEveryFeedOrOfTheirOwn(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", feed: "f", at: t0), Items.new("b", feed: "g", at: t0)])
        let secret = "whsec_" + Data(repeating: 3, count: 24).base64EncodedString()
        _ = try await store.saveWebhook(WebhookEndpoint(feed: "f", url: "http://127.0.0.1:9/", secret: secret, topics: nil, endpointID: "e1",
                                                        createdBy: "admin", createdAt: t0))
        // 1: the shared model's pass starts.
        var shared = Self.pass(1, feed: nil, at: t0)
        #expect(try await store.startRetrainPass(shared, event: RetrainingEvent(pass: shared)))
        // Taken already: neither the pass nor its event is written again.
        #expect(try await !store.startRetrainPass(shared, event: RetrainingEvent(pass: shared)))
        // 2: a decision of feed g.
        _ = try await store.rescoreDue(now: t0.addingTimeInterval(30 * 86_400), limit: 10) { due in
            let result = Self.crossing(due.state, to: .remove, stage: .time, at: t0.addingTimeInterval(60))
            let event = due.state.submission.feed == "g" ? DecisionEvent.change(of: due.state, to: result, reviewed: nil, cause: DecisionEvent.automatic(result)) : nil
            return Rescored(result: result, next: nil, event: event)
        }
        // 3: the shared pass is refused; a compare-and-set that misses writes no event.
        shared.state = .refused
        shared.updatedAt = t0.addingTimeInterval(120)
        shared.message = "refused: macro-F1 fell"
        #expect(try await !store.updateRetrainPass(shared, expected: .shadow, event: RetrainingEvent(pass: shared)))
        #expect(try await store.updateRetrainPass(shared, expected: .training, event: RetrainingEvent(pass: shared)))
        // 4: feed g's own pass.
        let own = Self.pass(2, feed: "g", at: t0.addingTimeInterval(180))
        #expect(try await store.startRetrainPass(own, event: RetrainingEvent(pass: own)))
        // A lease renewed: the pass saved without an event.
        #expect(try await store.updateRetrainPass(own, expected: .training, event: nil))

        let every = try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: true)
        #expect(every.map(\.seq) == [1, 2, 3, 4])
        #expect(every.map(\.type) == ["retraining.step", "decision.changed", "retraining.step", "retraining.step"])
        #expect(every.map(\.feed) == [nil, "g", nil, "g"])
        #expect(every[2].retraining?.pass == shared && every[2].at == shared.updatedAt && every[0].retraining?.pass.state == .training)
        #expect(try await store.changeEvents(feed: "f", after: 0, limit: 10, retraining: true).map(\.seq) == [1, 3])
        #expect(try await store.changeEvents(feed: "g", after: 0, limit: 10, retraining: true).map(\.seq) == [1, 2, 3, 4])
        #expect(try await store.changeEvents(feed: "g", after: 1, limit: 2, retraining: true).map(\.seq) == [2, 3])
        // Without asking for them, a reader gets the decisions alone.
        #expect(try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: false).map(\.seq) == [2])
        #expect(try await store.changeEvents(feed: "g", after: 0, limit: 10, retraining: false).map(\.seq) == [2])
        #expect(try await store.changeEvents(feed: "f", after: 0, limit: 10, retraining: false).isEmpty)
        // Feed f's webhook (set before every event) waits for the shared steps, and a message of two takes them.
        #expect(try await store.undeliveredEvents(feed: "f").count == 2)
        let leased = try await store.leaseDueWebhooks(now: t0.addingTimeInterval(300), holder: "n1", until: t0.addingTimeInterval(330), limit: 10, batchSize: 2)
        #expect(leased.first?.delivery.batchThrough == 3)
        // Pruning keeps the shared steps until every webhook has delivered them; feed g's own go (it has no webhook).
        #expect(try await store.pruneEvents(before: t0.addingTimeInterval(86_400)) == 2)
        #expect(try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: true).map(\.seq) == [1, 3])
        #expect(try await store.prunedThrough(feed: "g", retraining: true) == 4)
        #expect(try await store.prunedThrough(feed: "f", retraining: true) == 0)
        #expect(try await store.recordDelivery(feed: "f", holder: "n1", .delivered(through: 3, events: 2, at: t0.addingTimeInterval(301))))
        #expect(try await store.pruneEvents(before: t0.addingTimeInterval(86_400)) == 2)
        #expect(try await store.changeEvents(feed: nil, after: 0, limit: 10, retraining: true).isEmpty)
        // A reader of feed f whose cursor is below the shared steps pruned has missed them, unless it reads decisions
        // alone (feed f had none); a reader of every feed has missed decisions up to 2 and steps up to 4.
        #expect(try await store.prunedThrough(feed: "f", retraining: true) == 3)
        #expect(try await store.prunedThrough(feed: "f", retraining: false) == 0)
        #expect(try await store.prunedThrough(feed: nil, retraining: true) == 4)
        #expect(try await store.prunedThrough(feed: "g", retraining: false) == 4)
    }
}
