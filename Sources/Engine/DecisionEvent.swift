import Foundation

/// An item's effective decision at one moment: the action the feed must apply, the class it stands on (a person's
/// label when a person decided, else the class whose policy rule decided, else the model's most probable class) and the
/// model's probability of that class.
public struct DecisionState: Codable, Equatable, Sendable {
    public var action: Action
    public var label: String
    public var probability: Double

    public init(action: Action, label: String, probability: Double) {
        self.action = action
        self.label = label
        self.probability = probability
    }

    /// The decision a stage result gives the item, under the person's decision that stands over it (if any): the
    /// person's label, else the class whose rule decided, else (allowed) the most probable class.
    public init(_ result: StageResult, reviewed: HumanDecision?) {
        let label = reviewed?.label ?? result.decision.label ?? result.label
        self.init(action: result.decision.action, label: label, probability: result.probabilities[label] ?? 0)
    }
}

/// What changed an item's decision.
public struct DecisionCause: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        /// Stage 2: the feed's engagement update fired a trigger.
        case engagement
        /// Stage 3: a scheduled rescore.
        case rescore
        /// A reviewer's decision (tier 1, or tier 2 settling an escalation).
        case review
        /// The decision on the feed's appeal.
        case appeal
        /// A reviewer took their decision back within the undo window: the policy decides again.
        case undo
        /// A person corrected the label the item's reviewed decision stands on.
        case correction
        /// A person withdrew the label the item's reviewed decision stands on: the policy decides again.
        case withdrawal
    }

    public var kind: Kind
    public var stage: Stage
    /// Why the stage ran ("views≥100", "scheduled 6h", ...); for people's decisions, nil.
    public var trigger: String?
    /// The review ticket behind a person's decision, an appeal or an undo.
    public var ticket: Int64?
    /// The reviewer's reason code.
    public var reasonCode: String?
    public var tier: Int?
    /// The label row a correction stored, or the one a withdrawal withdrew.
    public var labelID: Int64?

    public init(kind: Kind, stage: Stage, trigger: String? = nil, ticket: Int64? = nil, reasonCode: String? = nil, tier: Int? = nil,
                labelID: Int64? = nil) {
        self.kind = kind
        self.stage = stage
        self.trigger = trigger
        self.ticket = ticket
        self.reasonCode = reasonCode
        self.tier = tier
        self.labelID = labelID
    }

    private enum CodingKeys: String, CodingKey { case kind, stage, trigger, ticket, reasonCode, tier, labelID = "labelId" }
}

/// One change of an item's effective decision, as the feed learns it (the changes feed, webhooks). Written by the
/// store in the same transaction as the change (a transactional outbox): a committed change always has its event and a
/// rolled-back one never does. `seq` orders every event of one database; it is nil until stored.
public struct DecisionEvent: Codable, Equatable, Sendable {
    public var seq: Int64?
    public var feed: String
    public var itemID: String
    public var before: DecisionState
    public var after: DecisionState
    public var cause: DecisionCause
    public var modelVersion: String
    public var policyVersion: Int
    public var at: Date

    public init(seq: Int64? = nil, feed: String, itemID: String, before: DecisionState, after: DecisionState, cause: DecisionCause,
                modelVersion: String, policyVersion: Int, at: Date) {
        self.seq = seq
        self.feed = feed
        self.itemID = itemID
        self.before = before
        self.after = after
        self.cause = cause
        self.modelVersion = modelVersion
        self.policyVersion = policyVersion
        self.at = at
    }

    /// The event's id, stable across deliveries (receivers drop repeats by it).
    public var id: String { "evt_\(seq ?? 0)" }

    /// The event of moving `state` to `result` (with `reviewed` standing after it), or nil when the effective decision
    /// stays what it was: the same action on the same class. A new score alone is not a change the feed must act on, and
    /// neither is the most probable class of an item the model allows before and after (no rule decided it, so no
    /// class stands behind the decision; a person's label always does).
    public static func change(of state: ItemState, to result: StageResult, reviewed: HumanDecision?, cause: DecisionCause) -> DecisionEvent? {
        let before = DecisionState(state.current, reviewed: state.reviewed)
        let after = DecisionState(result, reviewed: reviewed)
        let stillAllowedByTheModel = before.action == .allow && after.action == .allow && state.reviewed == nil && reviewed == nil
        guard before.action != after.action || (before.label != after.label && !stillAllowedByTheModel) else { return nil }
        return DecisionEvent(feed: state.submission.feed, itemID: state.submission.id, before: before, after: after, cause: cause,
                             modelVersion: result.modelVersion, policyVersion: result.decision.policyVersion, at: result.scoredAt)
    }

    /// The cause of an automatic stage (2 or 3).
    public static func automatic(_ result: StageResult) -> DecisionCause {
        DecisionCause(kind: result.stage == .engagement ? .engagement : .rescore, stage: result.stage, trigger: result.inputs.trigger)
    }

    private enum CodingKeys: String, CodingKey { case id, seq, feed, itemID = "itemId", before, after, cause, modelVersion, policyVersion, at }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(seq: try c.decodeIfPresent(Int64.self, forKey: .seq), feed: try c.decode(String.self, forKey: .feed),
                  itemID: try c.decode(String.self, forKey: .itemID), before: try c.decode(DecisionState.self, forKey: .before),
                  after: try c.decode(DecisionState.self, forKey: .after), cause: try c.decode(DecisionCause.self, forKey: .cause),
                  modelVersion: try c.decode(String.self, forKey: .modelVersion), policyVersion: try c.decode(Int.self, forKey: .policyVersion),
                  at: try c.decode(Date.self, forKey: .at))
    }

    /// Stored events carry their id and sequence number; an event not yet stored has neither.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if seq != nil { try c.encode(id, forKey: .id) }
        try c.encodeIfPresent(seq, forKey: .seq)
        try c.encode(feed, forKey: .feed)
        try c.encode(itemID, forKey: .itemID)
        try c.encode(before, forKey: .before)
        try c.encode(after, forKey: .after)
        try c.encode(cause, forKey: .cause)
        try c.encode(modelVersion, forKey: .modelVersion)
        try c.encode(policyVersion, forKey: .policyVersion)
        try c.encode(at, forKey: .at)
    }
}

/// One entry of the changes feed and of a webhook message, told apart by `type`: an item's decision changed
/// (`decision.changed`, a `DecisionEvent`) or the retraining loop took a step (`retraining.step`, a `RetrainingEvent`).
/// Both share one sequence, so a reader sees them in the order they committed.
public enum ChangeEvent: Codable, Equatable, Sendable {
    case decision(DecisionEvent)
    case retraining(RetrainingEvent)

    public static let decisionType = "decision.changed"
    public static let retrainingType = "retraining.step"

    public var type: String {
        switch self {
        case .decision: Self.decisionType
        case .retraining: Self.retrainingType
        }
    }

    public var seq: Int64? {
        get {
            switch self {
            case .decision(let e): e.seq
            case .retraining(let e): e.seq
            }
        }
        set {
            switch self {
            case .decision(var e): e.seq = newValue; self = .decision(e)
            case .retraining(var e): e.seq = newValue; self = .retraining(e)
            }
        }
    }

    public var at: Date {
        switch self {
        case .decision(let e): e.at
        case .retraining(let e): e.at
        }
    }

    /// The feed the event belongs to; nil for a step of the shared model's retraining, which belongs to every feed.
    public var feed: String? {
        switch self {
        case .decision(let e): e.feed
        case .retraining(let e): e.feed
        }
    }

    public var decision: DecisionEvent? {
        if case .decision(let e) = self { return e }
        return nil
    }

    public var retraining: RetrainingEvent? {
        if case .retraining(let e) = self { return e }
        return nil
    }

    /// What a webhook filters it by.
    public var topic: EventTopic {
        switch self {
        case .decision(let e): .decision(e.cause.kind)
        case .retraining: .retraining
        }
    }

    private enum TypeKey: String, CodingKey { case type }

    /// A body without `type` is a decision event (events stored before retraining steps were events have none).
    public init(from decoder: any Decoder) throws {
        let type = try decoder.container(keyedBy: TypeKey.self).decodeIfPresent(String.self, forKey: .type) ?? Self.decisionType
        switch type {
        case Self.decisionType: self = .decision(try DecisionEvent(from: decoder))
        case Self.retrainingType: self = .retraining(try RetrainingEvent(from: decoder))
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(type)' is not an event type"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TypeKey.self)
        try c.encode(type, forKey: .type)
        switch self {
        case .decision(let e): try e.encode(to: encoder)
        case .retraining(let e): try e.encode(to: encoder)
        }
    }
}

/// What a webhook may ask for (its `events`): decision events of one cause, or the retraining loop's steps.
public enum EventTopic: Hashable, Codable, Sendable, CaseIterable, RawRepresentable {
    case decision(DecisionCause.Kind)
    case retraining

    public static var allCases: [EventTopic] { DecisionCause.Kind.allCases.map(EventTopic.decision) + [.retraining] }

    public init?(rawValue: String) {
        if rawValue == "retraining" {
            self = .retraining
        } else if let kind = DecisionCause.Kind(rawValue: rawValue) {
            self = .decision(kind)
        } else {
            return nil
        }
    }

    public var rawValue: String {
        switch self {
        case .decision(let kind): kind.rawValue
        case .retraining: "retraining"
        }
    }
}

/// A change of the label a person's decision stands on (a correction or a withdrawal): the stage that records the
/// item's new decision, the reviewed decision after it (nil: no person's decision stands any more), the ticket it asks
/// for (the policy deciding again may send the item to review) and the event (`ReviewRules.correction`,
/// `ReviewRules.withdrawal`).
public struct DecisionRevision: Sendable {
    public var result: StageResult
    public var reviewed: HumanDecision?
    public var ticket: TicketOpening?
    public var event: DecisionEvent?

    public init(result: StageResult, reviewed: HumanDecision?, ticket: TicketOpening? = nil, event: DecisionEvent?) {
        self.result = result
        self.reviewed = reviewed
        self.ticket = ticket
        self.event = event
    }
}

extension HumanDecision {
    /// Whether this decision stands on `label`: the label its reviewer stored with it (same class, same person, same
    /// moment), not an import, an older decision's or a first review's.
    public func standsOn(_ label: LabelRecord) -> Bool {
        self.label == label.label && by == label.by && abs(at.timeIntervalSince(label.at)) < 0.001
    }
}

extension ReviewRules {
    /// What correcting `withdrawn` to `corrected` does to the item's decision: when `withdrawn` is the label of the
    /// person's decision that stands on the item, that decision now stands on the corrected class (allowed for the
    /// clear class; a harmful class keeps the reviewer's demote or remove, and an allowed item is removed), recorded as
    /// a new review stage. Nil when the corrected label is not what the item's decision stands on (an import, an older
    /// decision, a first review) or names the same class.
    public func correction(of state: ItemState, withdrawn: LabelRecord, corrected: LabelRecord) -> DecisionRevision? {
        guard let human = state.reviewed else { return nil }
        if !human.standsOn(withdrawn) {
            // The earlier decision kept behind this one (an appeal's decision replaced it) follows its label, so that
            // taking this one back restores the corrected decision.
            guard var prior = human.prior, let earlier = prior.person, earlier.standsOn(withdrawn), corrected.label != earlier.label else { return nil }
            let action: Action = corrected.label == clearLabel ? .allow : (earlier.action == .allow ? .remove : earlier.action)
            prior.reviewed = [HumanDecision(label: corrected.label, action: action, reasonCode: Self.correctedReasonCode, by: corrected.by,
                                            at: corrected.at, ticket: earlier.ticket, tier: ReviewTier(rawValue: corrected.tier) ?? earlier.tier)]
            return keptRevision(of: state, human: human, prior: prior, at: corrected.at, trigger: "correction",
                                why: "label \(withdrawn.id ?? 0) of the earlier decision corrected from \(withdrawn.label) to \(corrected.label)")
        }
        guard corrected.label != human.label else { return nil }
        let action: Action = corrected.label == clearLabel ? .allow : (human.action == .allow ? .remove : human.action)
        // The reviewer's reason code explained their label, not the corrected one ("not_violating" on a removal): the
        // decision says it was corrected, and the event carries no reason code.
        let revised = HumanDecision(label: corrected.label, action: action, reasonCode: Self.correctedReasonCode, by: corrected.by, at: corrected.at,
                                    ticket: human.ticket, tier: ReviewTier(rawValue: corrected.tier) ?? human.tier, prior: human.prior)
        var result = humanStage(revised, state: state, note: "label \(withdrawn.id ?? 0) corrected from \(withdrawn.label) to \(corrected.label)")
        result.inputs.trigger = "correction"
        let event = DecisionEvent.change(of: state, to: result, reviewed: revised, cause: DecisionCause(
            kind: .correction, stage: .review, ticket: human.ticket, reasonCode: nil, tier: revised.tier.rawValue, labelID: corrected.id))
        return DecisionRevision(result: result, reviewed: revised, event: event)
    }

    /// What withdrawing `withdrawn` at `now` does to the item's decision: when it is the label of the person's decision
    /// that stands on the item, what stood before that decision stands again, as after an undo (`restoredStage`); when
    /// that is review, a ticket opens (the item needs a person again). Nil when the decision does not stand on that
    /// label (an import, an older decision's label). The stage names nobody (feeds read it); the label says who.
    public func withdrawal(of state: ItemState, withdrawn: LabelRecord, at now: Date, policy: Policy, classes: [String]) -> DecisionRevision? {
        guard let human = state.reviewed else { return nil }
        if !human.standsOn(withdrawn) {
            // The label of the earlier decision kept behind this one (an appeal's decision replaced it): that decision
            // will not come back. What stood before it was not kept (one level deep), so the policy would decide.
            guard let earlier = human.prior?.person, earlier.standsOn(withdrawn) else { return nil }
            return keptRevision(of: state, human: human, prior: nil, at: now, trigger: "withdrawal",
                                why: "label \(withdrawn.id ?? 0) (\(withdrawn.label)) of the earlier decision withdrawn")
        }
        let (result, restored) = restoredStage(state: state, at: now, policy: policy, classes: classes, trigger: "withdrawal",
                                               why: "label \(withdrawn.id ?? 0) (\(withdrawn.label)) withdrawn")
        let event = DecisionEvent.change(of: state, to: result, reviewed: restored, cause: DecisionCause(
            kind: .withdrawal, stage: .review, ticket: human.ticket, reasonCode: nil, tier: withdrawn.tier, labelID: withdrawn.id))
        return DecisionRevision(result: result, reviewed: restored, ticket: opening(after: result, state: state, now: now), event: event)
    }

    /// A label change that touches only the earlier decision kept behind the one standing: the decision stands as it
    /// is (no event), and a review stage records what would now come back if it were taken back (`prior`; nil: the
    /// policy would decide).
    func keptRevision(of state: ItemState, human: HumanDecision, prior: PriorDecision?, at now: Date, trigger: String, why: String) -> DecisionRevision {
        var revised = human
        revised.prior = prior
        var result = state.current
        result.stage = .review
        result.scoredAt = now
        result.priority = nil
        result.match = nil
        result.inputs.trigger = trigger
        result.inputs.ageHours = max(0, now.timeIntervalSince(state.createdAt) / 3600)
        let comesBack = prior?.person.map { "\($0.label), as corrected" } ?? "no earlier decision (the policy would decide)"
        result.decision.reason = "\(why); the decision standing is kept (\(human.label)); taken back, it would leave \(comesBack)"
        result.changed = nil
        return DecisionRevision(result: result, reviewed: revised, event: nil)
    }

    /// The reason code a decision carries once its label was corrected.
    public static let correctedReasonCode = "label_corrected"

}
