import Foundation
import Learning

// The review workflow's rules: what each step of a ticket's life changes. Pure: a store loads a `TicketState` under
// its lock (SQLite's single writer, PostgreSQL's `SELECT … FOR UPDATE`), runs one of these functions on it, and writes
// the `TicketChange` it returns without deciding anything itself. Both stores therefore share one set of rules.

/// The first of two independent reviews of a ticket, kept on it (and out of every view) until the second.
public struct FirstReview: Codable, Equatable, Sendable {
    public var by: String
    public var at: Date
    public var label: String
    public var action: Action?
    public var reasonCode: String?
    public var note: String?

    public init(by: String, at: Date, label: String, action: Action?, reasonCode: String?, note: String?) {
        self.by = by
        self.at = at
        self.label = label
        self.action = action
        self.reasonCode = reasonCode
        self.note = note
    }
}

/// Who settled a ticket, when, and with which label (empty for a gold ticket its reviewer escalated: a miss).
public struct TicketVerdict: Equatable, Sendable {
    public var by: String
    public var at: Date
    public var label: String

    public init(by: String, at: Date, label: String) {
        self.by = by
        self.at = at
        self.label = label
    }
}

/// A ticket as the workflow sees it: the ticket, its hidden reviews, and its item.
public struct TicketState: Sendable {
    public var ticket: Ticket
    public var firstReview: FirstReview?
    /// Who gave the second of two reviews, once given.
    public var secondReviewBy: String?
    public var item: ItemState
    /// The decision that closed the ticket, once decided.
    public var verdict: TicketVerdict?
    /// Of a decided ticket: another open ticket of the item (an appeal, reports, a rescore opened it since), if there
    /// is one (an item has at most one open ticket). Stores may leave it nil for an open ticket, which is the one.
    public var otherOpenTicket: Int64?

    public init(ticket: Ticket, firstReview: FirstReview? = nil, secondReviewBy: String? = nil, item: ItemState, verdict: TicketVerdict? = nil,
                otherOpenTicket: Int64? = nil) {
        self.ticket = ticket
        self.firstReview = firstReview
        self.secondReviewBy = secondReviewBy
        self.item = item
        self.verdict = verdict
        self.otherOpenTicket = otherOpenTicket
    }
}

/// What taking back a decision undoes besides the ticket: the reviewer's labels of that decision are withdrawn (kept,
/// marked withdrawn), and the item gets `stage`, the decision that stood before the person's (`PriorDecision`), with
/// `reviewed` the person's decision standing again, if one stood before (an appeal's decision taken back).
public struct TicketUndo: Sendable {
    /// The labels to withdraw: the item's labels by `by` made at `at`.
    public var by: String
    public var at: Date
    public var stage: StageResult
    public var reviewed: HumanDecision?
    /// When the decision taken back was a second review that agreed with `reopened`: that first review is hidden
    /// again (its label withdrawn too) and the ticket waits for its second review again (the stores clear it), so the
    /// next decision is compared with the first as any second review is.
    public var reopened: FirstReview?

    public init(by: String, at: Date, stage: StageResult, reviewed: HumanDecision? = nil, reopened: FirstReview? = nil) {
        self.by = by
        self.at = at
        self.stage = stage
        self.reviewed = reviewed
        self.reopened = reopened
    }
}

/// The stored order of an open ticket: its priority as of now and when urgency will have grown enough to refresh it.
public struct StoredPriority: Equatable, Sendable {
    public var value: Double
    public var refreshAt: Date

    public init(value: Double, refreshAt: Date) {
        self.value = value
        self.refreshAt = refreshAt
    }

    public init(_ ticket: Ticket, now: Date) {
        self.init(value: ticket.priority(at: now),
                  refreshAt: TicketPriority.nextRefresh(openedAt: ticket.openedAt, dueAt: ticket.dueAt, after: now))
    }
}

/// The writes one step of a ticket's life asks for. A store applies all of them in one transaction, or none.
public struct TicketChange: Sendable {
    /// The ticket after the step: status, tier, reasons, due time, note, lease and version as they must be stored.
    public var ticket: Ticket
    /// The stored priority, when the step changes it.
    public var priority: StoredPriority?
    /// A first review to keep on the ticket.
    public var firstReview: FirstReview?
    /// Set when the step takes back a first review still hidden: the ticket has no first review any more.
    public var clearsFirstReview = false
    /// The second review's reviewer and label.
    public var secondReview: (by: String, label: String)?
    public var verdict: TicketVerdict?
    /// Steps appended to the item's history, in order.
    public var events: [TicketEvent]
    /// Human judgements to store as labels.
    public var labels: [LabelRecord]
    /// A person's decision, appended as the item's new stage and kept as the item's reviewed decision.
    public var decision: (result: StageResult, human: HumanDecision)?
    /// The verdict on the item's pending reports: upheld (true) or rejected (false); nil leaves them pending.
    public var reportsUpheld: Bool?
    public var outcome: DecidedTicket.Outcome
    /// Set when the step takes back a decision.
    public var undo: TicketUndo?
    /// The change of the item's effective decision this step makes (`appendedStage`), for the feed; nil when the
    /// action and label stay what they were.
    public var decisionEvent: DecisionEvent?

    /// Who sent the ticket to tier 2 in this step, if someone did: stored on the ticket, so that tier 2's claims pass
    /// over everyone who judged the item before (`ReviewRules.recusingTier`).
    public var escalatedBy: String? { events.last { $0.kind == .escalated && $0.by != nil }?.by }

    /// The stage the step appends to the item, with the item's reviewed decision after it: a person's decision, or a
    /// decision taken back (the earlier person's decision then, if one stood). The stores write either the same way.
    public var appendedStage: (result: StageResult, reviewed: HumanDecision?)? {
        if let (result, human) = decision { return (result, human) }
        return undo.map { ($0.stage, $0.reviewed) }
    }

    public init(ticket: Ticket, priority: StoredPriority? = nil, firstReview: FirstReview? = nil, secondReview: (by: String, label: String)? = nil,
                verdict: TicketVerdict? = nil, events: [TicketEvent] = [], labels: [LabelRecord] = [],
                decision: (result: StageResult, human: HumanDecision)? = nil, reportsUpheld: Bool? = nil, outcome: DecidedTicket.Outcome = .decided) {
        self.ticket = ticket
        self.priority = priority
        self.firstReview = firstReview
        self.secondReview = secondReview
        self.verdict = verdict
        self.events = events
        self.labels = labels
        self.decision = decision
        self.reportsUpheld = reportsUpheld
        self.outcome = outcome
    }
}

extension Ticket {
    /// Checks that `reviewer` may act on the ticket now: it is open, they hold its live lease, and (when given) the
    /// version they saw is current.
    /// - Throws: `TicketError` saying which of these failed.
    public func checkHeld(by reviewer: String, version: Int?, now: Date) throws {
        // A released gold ticket answers as a released real one: no one holds it (outside testing: `already decided`
        // after a release told the reviewer it was gold).
        if isReleasedGold { throw TicketError.leaseLost(ticket: id, holder: nil, expired: false, inTierTwo: false) }
        guard status == .open else { throw TicketError.alreadyDecided(id) }
        guard let lease, lease.allows(reviewer, at: now) else {
            let holder = lease.flatMap { $0.isLive(at: now) ? $0.holder : nil }
            let expired = holder == nil && lease?.holder == reviewer
            throw TicketError.leaseLost(ticket: id, holder: holder, expired: expired, inTierTwo: holder == nil && !expired && tier == .two)
        }
        if let version, version != self.version { throw TicketError.versionMismatch(ticket: id, expected: version, current: self.version) }
    }

    /// A new ticket for `opening` (its id is the store's to give; 0 until then).
    public static func opened(_ opening: TicketOpening, feed: String, itemID: String) -> Ticket {
        Ticket(id: 0, feed: feed, itemID: itemID, tier: opening.tier, reasons: [opening.reason], status: .open, language: opening.language,
               skill: opening.skill, openedAt: opening.at, dueAt: opening.at.addingTimeInterval(opening.slaMinutes * 60),
               basePriority: opening.basePriority, lease: nil, version: 1, auditProbability: opening.auditProbability, note: opening.note)
    }

    /// The event that records `opening`.
    public static func openingEvent(_ opening: TicketOpening, ticket: Int64 = 0) -> TicketEvent {
        TicketEvent(ticket: ticket, kind: .opened, at: opening.at, by: opening.by, reason: opening.reason, tier: opening.tier, note: opening.note)
    }

    /// Joins `opening`'s reason to this open ticket: the earlier due time, the higher tier and base priority win, and
    /// the opening's language and note replace the ticket's. Nil when that changes nothing (the review band at each
    /// stage, say).
    ///
    /// A new reason, tier or note changes what the reviewer must judge: a step in the history (`joined`, or
    /// `escalated` when the tier rises) and a new version, so a decision naming the old one is refused. A higher reach
    /// or an earlier due time only moves the ticket. Moving to tier 2 takes the ticket from a tier-1 holder.
    public func joining(_ opening: TicketOpening) -> TicketChange? {
        let now = opening.at
        var ticket = self
        ticket.reasons.insert(opening.reason)
        if opening.tier == .two { ticket.tier = .two }
        ticket.dueAt = max(ticket.openedAt, min(ticket.dueAt, now.addingTimeInterval(opening.slaMinutes * 60)))
        ticket.basePriority = max(ticket.basePriority, opening.basePriority)
        if let language = opening.language { ticket.language = language }
        if opening.note != nil { ticket.note = opening.note }
        if opening.auditProbability != nil, ticket.auditProbability == nil { ticket.auditProbability = opening.auditProbability }
        guard ticket != self else { return nil }
        let changed = ticket.reasons != reasons || ticket.tier != tier || opening.note != nil
        let raised = ticket.tier != tier
        if changed { ticket.version += 1 }
        if raised { ticket.lease = nil }
        var events: [TicketEvent] = []
        if changed {
            var event = Ticket.openingEvent(opening, ticket: id)
            event.kind = raised ? .escalated : .joined
            events.append(event)
        }
        return TicketChange(ticket: ticket, priority: StoredPriority(ticket, now: now), events: events)
    }
}

extension ItemState {
    /// A person's judgement of the item as a label, with the model's answer at the time.
    public func judgement(label: String, source: String, by: String, at: Date, tier: Int) -> LabelRecord {
        LabelRecord(feed: submission.feed, itemID: submission.id, label: label, source: source, by: by, at: at, tier: tier,
                    modelLabel: current.label, modelProbability: current.probabilities[current.label], modelVersion: current.modelVersion)
    }
}

/// The steps of a ticket's life after it opens: renew, release, escalate and decide.
public struct ReviewWorkflow: Sendable {
    public var rules: ReviewRules

    public init(rules: ReviewRules) {
        self.rules = rules
    }

    var configuration: ReviewConfiguration { rules.configuration }

    /// Extends the holder's live lease. Same holder, same content: the version stays, so a decision naming it passes.
    public func renew(_ state: TicketState, reviewer: String, now: Date) throws -> TicketChange {
        var ticket = state.ticket
        try ticket.checkHeld(by: reviewer, version: nil, now: now)
        ticket.lease = Lease(holder: reviewer, until: now.addingTimeInterval(configuration.leaseSeconds))
        return TicketChange(ticket: ticket, events: [TicketEvent(ticket: ticket.id, kind: .renewed, at: now, by: reviewer)])
    }

    /// Returns the ticket to the queue. A released gold ticket leaves for good; its holder stays recorded, so it is
    /// never handed to them again.
    public func release(_ state: TicketState, reviewer: String, version: Int?, now: Date) throws -> TicketChange {
        var ticket = state.ticket
        try ticket.checkHeld(by: reviewer, version: version, now: now)
        if ticket.goldLabel == nil { ticket.lease = nil } else { ticket.status = .withdrawn }
        ticket.version += 1
        return TicketChange(ticket: ticket, events: [TicketEvent(ticket: ticket.id, kind: .released, at: now, by: reviewer)])
    }

    /// Moves the ticket to tier 2 with the reviewer's note. A gold ticket escalated counts as a miss for its reviewer
    /// and leaves the queue.
    public func escalate(_ state: TicketState, reviewer: String, version: Int?, note: String, now: Date) throws -> TicketChange {
        var ticket = state.ticket
        try ticket.checkHeld(by: reviewer, version: version, now: now)
        guard ticket.goldLabel == nil else {
            ticket.status = .decided
            ticket.lease = nil
            ticket.version += 1
            return TicketChange(ticket: ticket, verdict: TicketVerdict(by: reviewer, at: now, label: ""))
        }
        return toTierTwo(ticket, note: note, by: reviewer, now: now)
    }

    /// Sends a ticket to tier 2 with `note` (a reviewer's escalation, or the engine's after a disagreement): the
    /// escalation reason, due within the escalation SLA (or sooner if it was), the lease dropped, and a step in the
    /// history.
    func toTierTwo(_ ticket: Ticket, note: String, by: String?, now: Date, change: TicketChange? = nil) -> TicketChange {
        var moved = ticket
        moved.tier = .two
        moved.reasons.insert(.escalation)
        moved.dueAt = max(ticket.openedAt, min(ticket.dueAt, now.addingTimeInterval(configuration.sla(for: [.escalation]) * 60)))
        // The note the ticket had (an appeal's words, an earlier escalation's) stays with it: tier 2 reads both
        // (outside testing: the escalation's note replaced the appellant's, which the senior reviewer never saw).
        moved.note = ticket.note.map { earlier in
            "\(note) — \(ticket.reasons.contains(.appeal) && !ticket.reasons.contains(.escalation) ? "the appeal said" : "earlier note"): \(earlier)"
        } ?? note
        moved.lease = nil
        moved.version += 1
        var result = change ?? TicketChange(ticket: moved)
        result.ticket = moved
        result.priority = StoredPriority(moved, now: now)
        result.events.append(TicketEvent(ticket: ticket.id, kind: .escalated, at: now, by: by, reason: .escalation, tier: .two, note: note))
        return result
    }

    /// Decides a ticket the reviewer holds: the decision becomes the item's (a `review` stage), a label, and the
    /// verdict on the item's pending reports. A gold ticket only scores the reviewer.
    ///
    /// A tier-1 ticket drawn for a second review (`ReviewRules.needsSecondReview`) is decided twice by different
    /// reviewers: the first decision is kept hidden and the ticket returns to the queue; the second settles it when they
    /// agree (both are labels), and sends it to tier 2 with both in the history when they do not.
    /// Decides a copy of ticket `lead`'s item as the reviewer decided `lead` (a wave settled by one decision): the
    /// copy must be open and free (no one else's live lease), not gold, not a blind audit (its judgement must stay
    /// independent) and not half-way through two reviews. It then goes exactly as `decide` (its own stage, label and
    /// event; sampled for a second review like any other ticket), its note naming the wave.
    /// - Throws: `TicketError.alreadyDecided` or `.leaseLost` when the copy is no longer the wave's to settle.
    public func decideCopy(_ state: TicketState, of lead: Int64, reviewer: String, decision: TicketDecision, action: Action,
                           now: Date) throws -> TicketChange {
        var copy = state
        guard copy.ticket.status == .open, copy.ticket.goldLabel == nil, !copy.ticket.isBlind, copy.firstReview == nil else {
            throw TicketError.alreadyDecided(copy.ticket.id)
        }
        if let lease = copy.ticket.lease, lease.until > now, lease.holder != reviewer {
            throw TicketError.leaseLost(ticket: copy.ticket.id, holder: lease.holder, expired: false)
        }
        copy.ticket.lease = Lease(holder: reviewer, until: now.addingTimeInterval(60))
        var wave = decision
        wave.version = nil
        wave.note = "wave of ticket \(lead)" + (decision.note.map { ": \($0)" } ?? "")
        return try decide(copy, reviewer: reviewer, decision: wave, action: action, now: now)
    }

    public func decide(_ state: TicketState, reviewer: String, decision: TicketDecision, action: Action, now: Date) throws -> TicketChange {
        var ticket = state.ticket
        try ticket.checkHeld(by: reviewer, version: decision.version, now: now)
        let id = ticket.id
        if ticket.goldLabel == nil, ticket.tier == .one, state.firstReview == nil, rules.needsSecondReview(id) {
            ticket.lease = nil
            ticket.version += 1
            return TicketChange(ticket: ticket, firstReview: FirstReview(by: reviewer, at: now, label: decision.label, action: action,
                                                                         reasonCode: decision.reasonCode, note: decision.note),
                                outcome: .awaitingSecondReview)
        }
        let decided = TicketEvent(ticket: id, kind: .decided, at: now, by: reviewer, tier: ticket.tier, label: decision.label, action: action,
                                  reasonCode: decision.reasonCode, note: decision.note)
        var change = TicketChange(ticket: ticket)
        if let first = state.firstReview, state.secondReviewBy == nil {
            // The second review: now the first becomes part of the history and a label, at its own time.
            change.events.append(TicketEvent(ticket: id, kind: .decided, at: first.at, by: first.by, tier: .one, label: first.label,
                                             action: first.action, reasonCode: first.reasonCode, note: first.note))
            change.labels.append(state.item.judgement(label: first.label, source: "review", by: first.by, at: first.at, tier: 1))
            change.secondReview = (reviewer, decision.label)
            if first.label != decision.label {
                // They disagree: both judgements are labels, and tier 2 settles it with both in the history.
                change.events.append(decided)
                change.labels.append(state.item.judgement(label: decision.label, source: "review", by: reviewer, at: now, tier: 1))
                change.outcome = .escalatedOnDisagreement
                return toTierTwo(ticket, note: "two reviewers disagreed: \(first.by) said \(first.label), \(reviewer) said \(decision.label)",
                                 by: nil, now: now, change: change)
            }
        }
        ticket.status = .decided
        ticket.lease = nil
        ticket.version += 1
        change.ticket = ticket
        change.verdict = TicketVerdict(by: reviewer, at: now, label: decision.label)
        change.events.append(decided)
        // A gold ticket probes the reviewer: the item, its labels and its reports are untouched.
        guard ticket.goldLabel == nil else { return change }
        let human = HumanDecision(label: decision.label, action: action, reasonCode: decision.reasonCode, by: reviewer, at: now, ticket: id, tier: ticket.tier,
                                  prior: PriorDecision(state.item))
        // The reviewer's note stays with the ticket's history (stages are what feeds read).
        let stage = rules.humanStage(human, state: state.item, note: nil)
        change.decision = (stage, human)
        change.decisionEvent = DecisionEvent.change(of: state.item, to: stage, reviewed: human, cause: DecisionCause(
            kind: ticket.reasons.contains(.appeal) ? .appeal : .review, stage: .review, ticket: id, reasonCode: decision.reasonCode,
            tier: ticket.tier.rawValue))
        change.labels.append(state.item.judgement(label: decision.label, source: Self.labelSource(ticket), by: reviewer, at: now,
                                                  tier: ticket.tier.rawValue))
        // Pending reports are judged with the item: upheld when it was harmful, rejected when it was cleared.
        change.reportsUpheld = action != .allow
        return change
    }

    /// Takes back `reviewer`'s decision of the ticket within `undoMinutes`: the ticket opens again, leased to them to
    /// decide anew; their labels of it are withdrawn and the item's decision is the policy's again (`undoneStage`),
    /// each recorded in the history, nothing overwritten. A second review taken back is a second review again (the
    /// first is hidden again, its label withdrawn until the next decision). Only while nothing was decided on the item
    /// since and no other ticket of it is open.
    /// A gold ticket is taken back the same way (it opens again for its reviewer, unscored), its item untouched.
    /// - Throws: `TicketError.nothingToUndo` (not decided) or `cannotUndo` naming why (someone else's, too late,
    ///   decided again since, another ticket of the item open, a second reviewer judging a first review).
    public func undo(_ state: TicketState, reviewer: String, now: Date, policy: Policy, classes: [String]) throws -> TicketChange {
        var ticket = state.ticket
        let id = ticket.id
        // A first review still hidden (no second yet) changed nothing but the ticket: taken back, the ticket is as
        // before it, leased to the reviewer to judge again (a wave's copies included: their desk's u takes them back).
        if ticket.status == .open, let first = state.firstReview, first.by == reviewer, state.secondReviewBy == nil {
            guard now.timeIntervalSince(first.at) <= configuration.undoMinutes * 60 else {
                throw TicketError.cannotUndo(ticket: id, reason: "decisions can be taken back for \(FixedText.format(configuration.undoMinutes, places: 0)) minutes, and this first review is older")
            }
            if let lease = ticket.lease, lease.isLive(at: now), lease.holder != reviewer {
                throw TicketError.cannotUndo(ticket: id, reason: "\(lease.holder) is judging it as its second reviewer")
            }
            ticket.lease = Lease(holder: reviewer, until: now.addingTimeInterval(configuration.leaseSeconds))
            ticket.version += 1
            var change = TicketChange(ticket: ticket, priority: StoredPriority(ticket, now: now))
            change.clearsFirstReview = true
            change.outcome = .undone
            return change
        }
        guard ticket.status == .decided, let verdict = state.verdict else {
            throw TicketError.nothingToUndo(ticket: id, reason: "it is not decided")
        }
        // A gold ticket escalated is a miss recorded as decided; a real escalated ticket is open at tier 2, with
        // nothing to take back, whoever asks: the same answer.
        if ticket.goldLabel != nil, verdict.label.isEmpty { throw TicketError.nothingToUndo(ticket: id, reason: "it is not decided") }
        guard verdict.by == reviewer else { throw TicketError.cannotUndo(ticket: id, reason: "it was decided by \(verdict.by), not by you") }
        let limit = configuration.undoMinutes * 60
        guard now.timeIntervalSince(verdict.at) <= limit else {
            throw TicketError.cannotUndo(ticket: id, reason: "decisions can be taken back for \(FixedText.format(configuration.undoMinutes, places: 0)) minutes, and this one is older")
        }
        // A gold ticket is taken back like any other (a refusal naming gold told the reviewer which tickets probe
        // them), its decision no longer scored until they decide anew; its item was never touched, so nothing of the
        // item is checked or restored.
        var human: HumanDecision?
        if ticket.goldLabel == nil {
            // The item's reviewed decision is this one (its time is stored apart from the ticket's: compared to the
            // millisecond). (A later automatic stage keeps the person's decision: it does not stand in the way.)
            guard let reviewed = state.item.reviewed, reviewed.ticket == id, abs(reviewed.at.timeIntervalSince(verdict.at)) < 0.001 else {
                throw TicketError.cannotUndo(ticket: id, reason: "the item was decided again since")
            }
            if let other = state.otherOpenTicket {
                throw TicketError.cannotUndo(ticket: id, reason: "the item has another open ticket since (ticket \(other): an appeal, reports or a rescore); decide it there")
            }
            human = reviewed
        }
        ticket.status = .open
        ticket.lease = Lease(holder: reviewer, until: now.addingTimeInterval(configuration.leaseSeconds))
        ticket.version += 1
        var change = TicketChange(ticket: ticket, priority: StoredPriority(ticket, now: now))
        change.events.append(TicketEvent(ticket: id, kind: .undone, at: now, by: reviewer, tier: ticket.tier, label: verdict.label,
                                         action: human?.action, reasonCode: human?.reasonCode, note: "decision taken back"))
        change.outcome = .undone
        guard let human else { return change }
        let (stage, restored) = rules.undoneStage(state: state.item, at: now, policy: policy, classes: classes)
        // A second review that agreed, taken back: the ticket waits for its second review again (four eyes: the
        // reviewer's next decision is compared with the first, which is hidden again).
        let reopened = ticket.tier == .one && state.secondReviewBy == reviewer ? state.firstReview : nil
        change.undo = TicketUndo(by: reviewer, at: verdict.at, stage: stage, reviewed: restored, reopened: reopened)
        change.decisionEvent = DecisionEvent.change(of: state.item, to: stage, reviewed: restored, cause: DecisionCause(
            kind: .undo, stage: .review, ticket: id, reasonCode: human.reasonCode, tier: ticket.tier.rawValue))
        return change
    }

    /// Where a ticket's judgement comes from, for the label: an appeal, a blind audit, or review.
    public static func labelSource(_ ticket: Ticket) -> String {
        ticket.reasons.contains(.appeal) ? "appeal" : ticket.isBlind ? "audit" : "review"
    }

    /// What a gold ticket shows: it must look like any other, so a person's verdict on the item, and the later stages
    /// that kept it, would give the answer away. It shows the item as it was up to its first review (its decision then
    /// current, no reviewed decision), its engagement, and the gold ticket's own steps (`ownEvents`) instead of the
    /// item's other tickets. Under a review-band or viral ticket the stages read as sent to review (a gold item the
    /// policy allowed or removed showed "Policy: allow at creation" under one, which gave the probe away); under a
    /// reports ticket they read as they were, as a reported item's do (a blind one shows no stage at all).
    public static func goldView(ticket: Ticket, item: ItemState, history: [HistoryEntry], ownEvents: [TicketEvent]) -> (item: ItemState, history: [HistoryEntry]) {
        var state = item
        let firstReview = history.firstIndex { if case let .stage(result) = $0 { result.stage == .review } else { false } }
        var shown = history.enumerated().filter { index, entry in
            switch entry {
            case .ticket: return false
            case .stage: return firstReview.map { index < $0 } ?? true
            case .engagement: return true
            }
        }.map(\.element)
        if !ticket.reasons.isDisjoint(with: [.reviewBand, .viral]) {
            shown = shown.map { entry in
                guard case var .stage(result) = entry else { return entry }
                result.decision = Self.inReview(result.decision)
                return .stage(result)
            }
        }
        for case let .stage(result) in shown { state.current = result }
        state.reviewed = nil
        shown += ownEvents.map(HistoryEntry.ticket)
        return (state, shown)
    }

    /// `decision` as the review band's: action review, with a reason that reads like one.
    static func inReview(_ decision: PolicyDecision) -> PolicyDecision {
        guard decision.action != .review else { return decision }
        var shown = decision
        shown.action = .review
        shown.reason = "in the review band: a person decides"
        return shown
    }

    /// The reasons a gold ticket may open for, in the order one is chosen from the item's last ticket: those that bring
    /// an item to tier 1 by themselves.
    static let goldReasons: [TicketReason] = [.reviewBand, .viral, .reports, .audit]

    /// A gold ticket for `reviewer`, made to look like the ticket that brought its item to a person: opened for the
    /// first of the item's last ticket's reasons among review band, viral, reports and audit, with that ticket's
    /// priority, or as a blind audit when it had none (an item nobody was asked about reaches a person only as an
    /// audit, which shows no score), due by that reason's SLA. It opened some time before this claim, as a queued
    /// ticket did: as long as the item's own ticket took to be decided, at most half the SLA (when it had none, a share
    /// of a quarter of the SLA, at most an hour, drawn from the reviewer and the item), never before the item arrived.
    public func goldTicket(_ candidate: GoldCandidate, reviewer: String, now: Date) -> (ticket: Ticket, priority: StoredPriority, events: [TicketEvent]) {
        let reason = Self.goldReasons.first { candidate.earlier?.reasons.contains($0) == true } ?? .audit
        let blind = reason == .audit
        let sla = configuration.sla(for: [reason]) * 60
        let base = blind ? TicketPriority.base(pHarm: 0.5, expectedViews: 0, severity: 1) : candidate.earlier?.basePriority ?? 1
        let waited: Double
        if let took = candidate.earlier?.secondsToDecision, took >= 0 {
            waited = min(took, sla / 2)
        } else {
            var hash = FNV1a64()
            hash.add(reviewer)
            hash.add(candidate.feed)
            hash.add(candidate.itemID)
            waited = Double(hash.value >> 11) / Double(1 << 53) * min(sla / 4, 3_600)
        }
        let opened = max(now.addingTimeInterval(-waited.rounded()), min(candidate.receivedAt, now))
        let due = opened.addingTimeInterval(sla)
        let ticket = Ticket(id: 0, feed: candidate.feed, itemID: candidate.itemID, tier: .one, reasons: [reason], status: .open, language: candidate.language,
                            skill: nil, openedAt: opened, dueAt: due, basePriority: base,
                            lease: Lease(holder: reviewer, until: now.addingTimeInterval(configuration.leaseSeconds)), version: 2, goldLabel: candidate.label)
        // Its stored priority stays as opened until its due time: it is claimed already and leaves when released.
        return (ticket, StoredPriority(value: base, refreshAt: due), [TicketEvent(ticket: 0, kind: .opened, at: opened, reason: reason, tier: .one),
                                                                     TicketEvent(ticket: 0, kind: .claimed, at: now, by: reviewer)])
    }
}
