import Foundation
import Testing

@testable import Engine

@Suite struct TicketPriorityTests {
    @Test(arguments: [(0.5, 1.0), (0.9, 0.2), (0.1, 0.2), (0.0, 0.0), (1.0, 0.0), (0.75, 0.5)])
    func uncertaintyPeaksAtHalf(_ p: Double, _ expected: Double) {
        #expect(abs(TicketPriority.uncertainty(p) - expected) < 1e-12)
    }

    @Test func reachGrowsWithTheLogOfViews() {
        #expect(TicketPriority.reach(expectedViews: 0) == 1)
        #expect(abs(TicketPriority.reach(expectedViews: 90) - 2) < 1e-12)
        #expect(abs(TicketPriority.reach(expectedViews: 990) - 3) < 1e-12)
    }

    @Test(arguments: [(0.0, 1.0), (30.0, 1.75), (60.0, 4.0), (61.0, 5.0), (130.0, 6.0)])
    func urgencyClimbsToFourAtTheDueTimeThenOnePerOverduePeriod(_ waited: Double, _ expected: Double) {
        #expect(abs(TicketPriority.urgency(waitedMinutes: waited, slaMinutes: 60) - expected) < 1e-12)
    }

    @Test func priorityMultipliesTheFactors() {
        // 1 × 2 × 2 × 1.75
        #expect(abs(TicketPriority.score(pHarm: 0.5, expectedViews: 90, severity: 2, waitedMinutes: 30, slaMinutes: 60) - 7) < 1e-12)
        // A certain, unseen, fresh item keeps the uncertainty floor: 0.05 × 1 × 1 × 1.
        #expect(abs(TicketPriority.score(pHarm: 1, expectedViews: 0, severity: 1, waitedMinutes: 0, slaMinutes: 60) - 0.05) < 1e-12)
        // Near its due time a ticket passes a fresh one of three times its base priority.
        let old = TicketPriority.score(pHarm: 0.5, expectedViews: 0, severity: 1, waitedMinutes: 59, slaMinutes: 60)
        let fresh = TicketPriority.score(pHarm: 0.5, expectedViews: 0, severity: 3, waitedMinutes: 0, slaMinutes: 60)
        #expect(old > fresh)
    }

    @Test func theShortestSLAAmongTheReasonsApplies() {
        let configuration = ReviewConfiguration()
        #expect(configuration.sla(for: [.viral, .reviewBand]) == 15)
        #expect(configuration.sla(for: [.reviewBand]) == 240)
        #expect(configuration.sla(for: [.audit]) == 1_440)
        #expect(configuration.sla(for: []) == 240)
    }
}

@Suite struct ReporterWeightTests {
    @Test(arguments: [(0, 0, 1.0), (3, 0, 1.6), (0, 3, 0.4), (9, 1, 2.0 * 10 / 12)])
    func trackRecordWeighsReports(upheld: Int, rejected: Int, expected: Double) {
        #expect(abs(ReporterWeight.weight(upheld: upheld, rejected: rejected) - expected) < 1e-12)
    }

    @Test func aClearedItemNeedsAHigherBarToReopen() {
        #expect(ReporterWeight.opensTicket(weightedReports: 3, clearedByPerson: false))
        #expect(!ReporterWeight.opensTicket(weightedReports: 2.9, clearedByPerson: false))
        #expect(!ReporterWeight.opensTicket(weightedReports: 5, clearedByPerson: true))
        #expect(ReporterWeight.opensTicket(weightedReports: 9, clearedByPerson: true))
    }
}

@Suite struct LeaseTests {
    @Test func anExpiredLeaseNoLongerHoldsTheTicket() {
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let lease = Lease(holder: "ana", until: t0.addingTimeInterval(300))
        #expect(lease.isLive(at: t0.addingTimeInterval(299)))
        #expect(!lease.isLive(at: t0.addingTimeInterval(300)))
        #expect(lease.allows("ana", at: t0))
        #expect(!lease.allows("ben", at: t0))
        #expect(!lease.allows("ana", at: t0.addingTimeInterval(301)))
    }
}

@Suite struct TicketRulesTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func state(spam: Double, followers: Int? = nil, engagement: EngagementSnapshot? = nil, action: Action = .review) -> ItemState {
        let item = ItemSubmission(id: "a", text: "t", author: followers.map { Author(id: "u", followers: $0) }, createdAt: t0)
        let decision = PolicyDecision(action: action, label: "spam", probability: spam, policyVersion: 1, reason: "band")
        let result = StageResult(stage: .creation, scoredAt: t0, modelVersion: "m", probabilities: ["clear": 1 - spam, "spam": spam], label: "spam",
                                 evidence: 1, decision: decision, priority: action == .review ? .normal : nil, reasons: [],
                                 relevance: RelevanceScore(quality: 1 - spam, engagement: 0, freshness: 1, relevance: 0),
                                 inputs: StageInputs(trigger: "created", ageHours: 0))
        return ItemState(submission: item, receivedAt: t0, createdAt: t0, current: result, engagement: engagement)
    }

    static let refreshTable: [(Double, Double)] = [(0, 657.26807), (3240, 3461.12221), (3564, 3600.001), (5400, 7200.001), (7200, 10800.001)]

    @Test(arguments: refreshTable)
    func storedPrioritiesAreRefreshedWhenUrgencyGrowsByATenth(_ waited: Double, _ expected: Double) {
        let next = TicketPriority.nextRefresh(openedAt: t0, dueAt: t0.addingTimeInterval(3600), after: t0.addingTimeInterval(waited))
        #expect(abs(next.timeIntervalSince(t0) - expected) < 1e-3)
        // Before the due time the urgency at the refresh is 1.1× the urgency now (or the jump past the due time).
        if waited < 3240 {
            let now = TicketPriority.urgency(waitedMinutes: waited / 60, slaMinutes: 60)
            let then = TicketPriority.urgency(waitedMinutes: (next.timeIntervalSince(t0) - 0.001) / 60, slaMinutes: 60)
            #expect(abs(then / now - 1.1) < 1e-9)
        }
    }

    @Test func aTicketsPriorityIsTheFormulaAtTheTimeAsked() {
        let opening = TicketOpening(reason: .reviewBand, at: t0, pHarm: 0.6, expectedViews: 90, severity: 2, slaMinutes: 60)
        #expect(abs(opening.basePriority - 0.8 * 2 * 2) < 1e-12)
        let ticket = Ticket(id: 1, feed: "default", itemID: "a", tier: .one, reasons: [.reviewBand], status: .open, language: nil, skill: nil,
                            openedAt: t0, dueAt: t0.addingTimeInterval(3600), basePriority: opening.basePriority, lease: nil, version: 1)
        let at = t0.addingTimeInterval(1800)
        #expect(abs(ticket.priority(at: at) - TicketPriority.score(pHarm: 0.6, expectedViews: 90, severity: 2, waitedMinutes: 30, slaMinutes: 60)) < 1e-12)
        #expect(!ticket.isBlind)
        var audit = ticket
        audit.reasons = [.audit]
        #expect(audit.isBlind)
        audit.reasons = [.audit, .reports]
        #expect(!audit.isBlind)  // reported items show their scores
    }

    @Test func reasonsRoundTripThroughTheirBits() {
        for n in 0..<(1 << TicketReason.allCases.count) {
            #expect(TicketReason.bits(TicketReason.set(bits: n)) == n)
        }
        #expect(TicketReason.reviewBand.bit == 1 && TicketReason.escalation.bit == 32)
    }

    @Test func expectedReachComesFromPaceOrFollowers() {
        let rules = ReviewRules()
        #expect(rules.expectedViews(state(spam: 0.6, followers: 1_000), now: t0) == 100)
        #expect(rules.expectedViews(state(spam: 0.6), now: t0) == 0)
        let engaged = state(spam: 0.6, engagement: EngagementSnapshot(at: t0.addingTimeInterval(7200), counters: Engagement(views: 100)))
        #expect(rules.expectedViews(engaged, now: t0.addingTimeInterval(7200)) == 100 + 50 * 24)
    }

    @Test func reviewBandAndViralResultsOpenTicketsWithTheirSLA() throws {
        let rules = ReviewRules()
        let s = state(spam: 0.6)
        let opening = try #require(rules.opening(after: s.current, state: s, now: t0))
        #expect(opening.reason == .reviewBand && opening.slaMinutes == 240 && opening.severity == 1 && opening.pHarm == 0.6)
        var viral = s.current
        viral.inputs.viral = true
        viral.priority = .high
        #expect(rules.opening(after: viral, state: s, now: t0)?.reason == .viral)
        #expect(rules.opening(after: viral, state: s, now: t0)?.slaMinutes == 15)
        #expect(rules.opening(after: state(spam: 0.1, action: .allow).current, state: s, now: t0) == nil)
    }

    /// A blind audit's priority tells nothing of the model's answer or the decision (outside testing: uncertainty ×
    /// severity read back P(harm) and the class; audits of removals, with no reach left, sank to the bottom).
    @Test func anAuditWeighsTheSameWhateverTheModelSaid() {
        var rules = ReviewRules()
        rules.configuration.severity = ["spam": 3]
        let engaged = EngagementSnapshot(at: t0.addingTimeInterval(7200), counters: Engagement(views: 5_000))
        let openings = [state(spam: 0.999, action: .remove), state(spam: 0.02, engagement: engaged, action: .allow), state(spam: 0.55, followers: 90_000, action: .demote)]
            .map { rules.opening(.audit, state: $0, now: t0, auditProbability: 0.02) }
        for opening in openings {
            #expect(opening.pHarm == 0.5 && opening.severity == 1 && opening.expectedViews == 0 && opening.auditProbability == 0.02)
        }
        // Another reason reads the model.
        #expect(rules.opening(.reports, state: state(spam: 0.999, action: .remove), now: t0).severity == 3)
    }

    static let policy = Policy(feed: "default", rules: ["spam": ClassRule(demote: 0.5, review: 0.7, remove: 0.9)])

    @Test func auditsAreADeterministicSampleAtTheActionsRate() {
        var configuration = ReviewConfiguration()
        configuration.auditRates = ["allow": 0.1, "remove": 1]
        let rules = ReviewRules(configuration: configuration)
        let policy = Self.policy
        var sampled = 0
        for i in 0..<10_000 {
            var s = state(spam: 0.1, action: .allow)
            s.submission.id = "item-\(i)"
            if let audit = rules.audit(s.current, state: s, policy: policy, now: t0) {
                sampled += 1
                #expect(audit.auditProbability == 0.1 && audit.reason == .audit)
            }
            // The same item always draws the same way.
            #expect((rules.audit(s.current, state: s, policy: policy, now: t0) != nil) == (rules.audit(s.current, state: s, policy: policy, now: t0) != nil))
        }
        #expect((900...1_100).contains(sampled))
        let removed = state(spam: 0.95, action: .remove)
        #expect(rules.audit(removed.current, state: removed, policy: policy, now: t0)?.auditProbability == 1)
        let review = state(spam: 0.6)
        #expect(rules.audit(review.current, state: review, policy: policy, now: t0) == nil)  // people see review items anyway
    }

    @Test func nearMissesFallInTheirOwnAuditBucket() {
        let rules = ReviewRules()  // allow 0.2%, allow.near 2%, remove 1%, remove.near 5%; margin 0.15
        // Allowed with P(spam) 0.4: 0.1 under the lowest cut-off (demote 0.5): near. At 0.1: far.
        #expect(rules.auditBucket(state(spam: 0.4, action: .allow).current, policy: Self.policy) == "allow.near")
        #expect(rules.auditBucket(state(spam: 0.1, action: .allow).current, policy: Self.policy) == "allow")
        // With remove at 0.7: removed at 0.75 is near, at 0.95 far. Demote has no near rate: plain demote.
        let strict = Policy(feed: "default", rules: ["spam": ClassRule(demote: 0.3, remove: 0.7)])
        #expect(rules.auditBucket(state(spam: 0.75, action: .remove).current, policy: strict) == "remove.near")
        #expect(rules.auditBucket(state(spam: 0.95, action: .remove).current, policy: strict) == "remove")
        #expect(rules.auditBucket(state(spam: 0.55, action: .demote).current, policy: Self.policy) == "demote")
        // A harm rule reads 1 − P(clear) the same way.
        let harm = Policy(feed: "default", rules: [Policy.harm: ClassRule(demote: 0.3, remove: 0.7)])
        #expect(rules.auditBucket(state(spam: 0.75, action: .remove).current, policy: harm) == "remove.near")
        #expect(rules.auditBucket(state(spam: 0.95, action: .remove).current, policy: harm) == "remove")
        #expect(rules.auditBucket(state(spam: 0.2, action: .allow).current, policy: harm) == "allow.near")
        var count = 0
        for i in 0..<20_000 {
            var s = state(spam: 0.4, action: .allow)
            s.submission.id = "near-\(i)"
            if let audit = rules.audit(s.current, state: s, policy: Self.policy, now: t0) {
                count += 1
                #expect(audit.auditProbability == 0.02)
            }
        }
        #expect((320...480).contains(count))  // 2% of 20,000
    }

    @Test func decisionsAreCheckedAgainstClassesAndReasonCodes() throws {
        let rules = ReviewRules()
        let classes = ["clear", "spam"]
        #expect(try rules.validate(TicketDecision(label: "clear", reasonCode: "not_violating"), classes: classes) == .allow)
        #expect(try rules.validate(TicketDecision(label: "spam", reasonCode: "spam"), classes: classes) == .remove)
        #expect(try rules.validate(TicketDecision(label: "spam", action: .demote, reasonCode: "spam"), classes: classes) == .demote)
        for (decision, field) in [(TicketDecision(label: "ham", reasonCode: "spam"), "label"),
                                  (TicketDecision(label: "spam", reasonCode: "because"), "reasonCode"),
                                  (TicketDecision(label: "spam", action: .review, reasonCode: "spam"), "action"),
                                  // A removal labelled harmless would teach the model the opposite of what was done.
                                  (TicketDecision(label: "clear", action: .remove, reasonCode: "not_violating"), "action"),
                                  // The code reaches the feed: not_violating with the clear class only, and with it only
                                  // (outside testing: spam removed as not_violating, a clear item allowed as spam).
                                  (TicketDecision(label: "spam", reasonCode: "not_violating"), "reasonCode"),
                                  (TicketDecision(label: "clear", reasonCode: "spam"), "reasonCode"),
                                  (TicketDecision(label: "clear", action: .demote, reasonCode: "other"), "reasonCode")] {
            #expect(throws: ValidationError.self) { try rules.validate(decision, classes: classes) }
            do { _ = try rules.validate(decision, classes: classes) } catch let error as ValidationError { #expect(error.field == field) }
        }
        // Without not_violating among the codes, any code goes with any class.
        let free = ReviewRules(configuration: ReviewConfiguration(reasonCodes: ["spam", "other"]))
        #expect(try free.validate(TicketDecision(label: "clear", reasonCode: "other"), classes: classes) == .allow)
        #expect(ReviewConfiguration().suggestedReasonCode(label: "clear", clearLabel: "clear") == "not_violating")
        #expect(ReviewConfiguration().suggestedReasonCode(label: "spam", clearLabel: "clear") == "spam")
        #expect(ReviewConfiguration().suggestedReasonCode(label: "offensive", clearLabel: "clear") == "other")
    }

    /// Outside testing: the ticket a creation stage opened was listed before the stage in some items (ticket steps come
    /// back from JSON to the millisecond, stages finer) and an engagement update stamped with the item's creation time,
    /// as the API shows it, was refused as before the creation; so was one stamped to the second.
    @Test func timesAreComparedToTheMillisecondTheAPIShows() throws {
        var s = state(spam: 0.6)
        let created = Date(timeIntervalSince1970: 1_800_000_000.1237)
        s.current.scoredAt = created
        s.createdAt = created
        s.receivedAt = created
        let opened = TicketEvent(ticket: 1, kind: .opened, at: Date(timeIntervalSince1970: 1_800_000_000.123), by: "winnow", tier: .one)
        let snapshot = EngagementSnapshot(at: Date(timeIntervalSince1970: 1_800_000_000.1233), counters: Engagement(views: 1))
        let ordered = HistoryEntry.inOrder([.stage(s.current), .engagement(snapshot), .ticket(opened)])
        #expect(ordered.map { if case .stage = $0 { "stage" } else if case .engagement = $0 { "engagement" } else { "ticket" } } == ["stage", "engagement", "ticket"])
        // A later millisecond still comes later, whatever the kind.
        let claimed = TicketEvent(ticket: 1, kind: .claimed, at: Date(timeIntervalSince1970: 1_800_000_000.124), by: "ann", tier: .one)
        var review = s.current
        review.scoredAt = Date(timeIntervalSince1970: 1_800_000_000.125)
        #expect(HistoryEntry.inOrder([.stage(review), .ticket(claimed)]) == [.ticket(claimed), .stage(review)])
        try s.checkEngagementTime(Date(timeIntervalSince1970: 1_800_000_000.123))
        // A time in the creation's own second is not before it: feeds stamp to the second as well as to the millisecond
        // (outside testing: "…:49Z" was refused for an item created at …:49.258). The second before is.
        try s.checkEngagementTime(Date(timeIntervalSince1970: 1_800_000_000.122))
        try s.checkEngagementTime(Date(timeIntervalSince1970: 1_800_000_000))
        #expect(throws: ValidationError.self) { try s.checkEngagementTime(Date(timeIntervalSince1970: 1_799_999_999.999)) }
        #expect(throws: ValidationError.self) { try s.checkReportTime(Date(timeIntervalSince1970: 1_799_999_999.5)) }
    }

    @Test func aPersonsDecisionBecomesTheItemsAndLaterStagesKeepIt() {
        let rules = ReviewRules()
        let s = state(spam: 0.6)
        let human = HumanDecision(label: "clear", action: .allow, reasonCode: "not_violating", by: "ann", at: t0.addingTimeInterval(3600), ticket: 7, tier: .one)
        let stage = rules.humanStage(human, state: s, note: nil)
        #expect(stage.stage == .review)
        #expect(stage.decision.action == .allow && stage.decision.label == nil)
        // Feeds read stages: no reviewer's name (ann decided, the ticket's history says so).
        #expect(stage.decision.reason == "decided by a reviewer (tier 1, not_violating)")
        #expect(stage.changed == "decision review → allow; label spam → clear")
        #expect(stage.inputs.trigger == "review" && stage.inputs.ageHours == 1)
        // A later automatic stage (the model still says review) keeps ann's allow, and says what changed against the
        // stage it follows with that allow: the model's label, not a decision (outside testing: "decision allow → review").
        var automatic = s.current
        automatic.stage = .time
        let later = rules.keepingHumanDecision(automatic, human, after: stage)
        #expect(later.decision.action == .allow && later.priority == nil)
        #expect(later.probabilities == s.current.probabilities)
        #expect(later.changed == "label clear → spam")
        #expect(rules.keepingHumanDecision(s.current, nil, after: stage) == s.current)
    }

    /// A decision taken back (or its label withdrawn) restores what stood before it: the automatic decision with its
    /// review priority (a viral item is in review again, outside testing saw it published), or the earlier person's
    /// decision (an appeal's taken back). A decision stored before it kept that falls back to the policy.
    @Test func aDecisionTakenBackRestoresWhatStoodBeforeIt() {
        let rules = ReviewRules()
        let policy = Policy.standard(feed: "default", classes: ["clear", "spam"])
        var inReview = state(spam: 0.3)
        inReview.current.priority = .high
        inReview.current.decision.reason = "viral and uncertain"
        let human = HumanDecision(label: "spam", action: .demote, reasonCode: "spam", by: "ann", at: t0.addingTimeInterval(60), ticket: 7, tier: .one,
                                  prior: PriorDecision(inReview))
        var decided = inReview
        decided.current = rules.humanStage(human, state: inReview, note: nil)
        decided.reviewed = human
        let (back, restored) = rules.undoneStage(state: decided, at: t0.addingTimeInterval(90), policy: policy, classes: ["clear", "spam"])
        #expect(restored == nil)
        #expect(back.decision.action == .review && back.priority == .high && back.stage == .review)
        #expect(back.decision.reason == "decision taken back by its reviewer; the decision before it stands again: viral and uncertain")
        // The policy alone would allow it (spam 0.3 is under every standard cut-off).
        var stored = decided
        stored.reviewed?.prior = nil
        let (policyOnly, none) = rules.undoneStage(state: stored, at: t0.addingTimeInterval(90), policy: policy, classes: ["clear", "spam"])
        #expect(none == nil && policyOnly.decision.action == .allow && policyOnly.decision.reason.contains("the policy decides again"))
        // An appeal's decision over ann's: taken back, ann's stands again (without what stood before hers).
        let appeal = HumanDecision(label: "clear", action: .allow, reasonCode: "not_violating", by: "lead", at: t0.addingTimeInterval(120), ticket: 8,
                                   tier: .two, prior: PriorDecision(decided))
        #expect(appeal.prior?.person?.prior == nil && appeal.prior?.person?.by == "ann")
        var appealed = decided
        appealed.current = rules.humanStage(appeal, state: decided, note: nil)
        appealed.reviewed = appeal
        let (again, earlier) = rules.undoneStage(state: appealed, at: t0.addingTimeInterval(150), policy: policy, classes: ["clear", "spam"])
        #expect(earlier?.by == "ann" && earlier?.action == .demote)
        #expect(again.decision.action == .demote && again.decision.label == "spam")
        #expect(again.decision.reason == "decision taken back by its reviewer; the earlier decision stands again: decided by a reviewer (tier 1, spam)")
    }

    @Test func aConfiguredShareOfTicketsIsReviewedTwiceDrawnFromTheirIds() {
        var configuration = ReviewConfiguration()
        configuration.doubleReviewRate = 0.05
        let rules = ReviewRules(configuration: configuration)
        let chosen = (1...10_000).filter { rules.needsSecondReview(Int64($0)) }
        #expect((430...570).contains(chosen.count))
        // Spread out, not in runs of neighbouring ids.
        let neighbours = zip(chosen, chosen.dropFirst()).filter { $1 == $0 + 1 }.count
        #expect(neighbours < chosen.count / 5)
        #expect(chosen.allSatisfy { rules.needsSecondReview(Int64($0)) })
        configuration.doubleReviewRate = 0
        #expect(!(1...1_000).contains { ReviewRules(configuration: configuration).needsSecondReview(Int64($0)) })
    }
}

@Suite struct ClaimRouteTests {
    @Test func aClaimWalksEachTierLanguageAndSkillOnceWithUnroutedTicketsForAnyone() {
        let request = ClaimRequest(reviewer: "ann", tiers: [.two, .one, .two], languages: ["PT", "en", "pt"], skills: ["spam-expert", "spam-expert"])
        let routes = request.routes.map { route -> String in
            let language: String
            switch route.language {
            case .any: language = "any"
            case .unspecified: language = "none"
            case let .code(code): language = code
            }
            return "\(route.tier.rawValue)/\(language)/\(route.skill ?? "none")"
        }
        #expect(routes == [
            "1/none/none", "1/en/none", "1/pt/none", "1/none/spam-expert", "1/en/spam-expert", "1/pt/spam-expert",
            "2/none/none", "2/en/none", "2/pt/none", "2/none/spam-expert", "2/en/spam-expert", "2/pt/spam-expert",
        ])
        // A reviewer who names no language takes tickets in any language: one range per tier and skill.
        #expect(ClaimRequest(reviewer: "bob").routes == [ClaimRoute(tier: .one, language: .any, skill: nil)])
    }
}

/// Learning offers: which automatic decisions a reviewer with time left is offered.
@Suite struct LearningOfferTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func state(_ id: String, spam: Double, evidence: Double = 1, action: Action = .allow) -> ItemState {
        let decision = PolicyDecision(action: action, label: "spam", probability: spam, policyVersion: 1, reason: "rule")
        let result = StageResult(stage: .creation, scoredAt: t0, modelVersion: "m", probabilities: ["clear": 1 - spam, "spam": spam], label: "spam",
                                 evidence: evidence, decision: decision, priority: nil, reasons: [],
                                 relevance: RelevanceScore(quality: 1 - spam, engagement: 0, freshness: 1, relevance: 0),
                                 inputs: StageInputs(trigger: "created", ageHours: 0))
        return ItemState(submission: ItemSubmission(id: id, text: "t", createdAt: t0), receivedAt: t0, createdAt: t0, current: result, engagement: nil)
    }

    @Test func theValueWeighsUncertaintyAndUnfamiliarWords() {
        let rules = ReviewRules()
        // P(harm) 0.5, every word known: 0.7 × 1 + 0.3 × 0.
        #expect(abs(rules.learningValue(state("a", spam: 0.5).current) - 0.7) < 1e-12)
        // P(harm) 0.9 (uncertainty 0.2) with half the evidence: 0.7 × 0.2 + 0.3 × 0.5 = 0.29.
        #expect(abs(rules.learningValue(state("b", spam: 0.9, evidence: 0.5).current) - 0.29) < 1e-12)
        #expect(rules.learningValue(state("c", spam: 1).current) == 0)
    }

    @Test func offersTheMostInformativeAutomaticDecisionsOnly() {
        let rules = ReviewRules()
        var reviewed = state("reviewed", spam: 0.5)
        reviewed.reviewed = HumanDecision(label: "clear", action: .allow, reasonCode: "not_violating", by: "ana", at: t0, ticket: 1, tier: .one)
        let candidates = [state("sure", spam: 0.01), state("unsure", spam: 0.45), reviewed, state("in-review", spam: 0.5, action: .review),
                          state("unknown-words", spam: 0.2, evidence: 0), state("also-unsure", spam: 0.55)]
        // unsure 0.63, also-unsure 0.63 (the earlier one first), unknown-words 0.7 × 0.4 + 0.3 = 0.58, sure 0.014.
        #expect(rules.learningOffers(candidates, count: 3).map(\.submission.id) == ["unsure", "also-unsure", "unknown-words"])
        #expect(rules.learningOffers(candidates, count: 0).isEmpty)
        #expect(rules.learningOffers(candidates, count: 10).count == 4)
    }
}
