import Foundation
import Learning

// The review queue's domain: tickets, their events, the human decision, and the rules that open tickets. Pure.

/// Which queue a ticket waits in: tier 1, or tier 2 (escalations, and appeals of a person's decision).
public enum ReviewTier: Int, Codable, CaseIterable, Sendable {
    case one = 1, two = 2
}

/// Where a ticket stands. Open tickets are in the queue (claimed or not); the others are finished.
public enum TicketStatus: String, Codable, Sendable {
    /// `withdrawn`: a seeded gold ticket its reviewer released (it never returns to the queue).
    case open, decided, withdrawn
}

extension TicketReason {
    /// A bit per reason: a ticket's reasons are stored as one integer.
    public var bit: Int { 1 << (TicketReason.allCases.firstIndex(of: self)!) }

    public static func set(bits: Int) -> Set<TicketReason> { Set(allCases.filter { bits & $0.bit != 0 }) }

    public static func bits(_ reasons: Set<TicketReason>) -> Int { reasons.reduce(0) { $0 | $1.bit } }
}

/// Why and how urgently a ticket should open (or join the item's open ticket): what the engine asks the store to do.
public struct TicketOpening: Codable, Equatable, Sendable {
    public var reason: TicketReason
    /// When the ticket opens (or the reason joins): the server's time, never a time a client sent.
    public var at: Date
    public var tier: ReviewTier
    /// The inputs of the priority formula at opening.
    public var pHarm: Double
    public var expectedViews: Double
    public var severity: Double
    /// Minutes until the SLA due time for this reason.
    public var slaMinutes: Double
    /// The item's language (nil: any reviewer) and the skill it needs (nil: anyone).
    public var language: String?
    public var skill: String?
    /// For audits: the probability this decision had of being sampled (for inverse-probability estimates).
    public var auditProbability: Double?
    /// Who opened it (a reviewer escalating, a feed appealing) and their note.
    public var by: String?
    public var note: String?

    public init(reason: TicketReason, at: Date, tier: ReviewTier = .one, pHarm: Double, expectedViews: Double, severity: Double, slaMinutes: Double,
                language: String? = nil, skill: String? = nil, auditProbability: Double? = nil, by: String? = nil, note: String? = nil) {
        self.reason = reason
        self.at = at
        self.slaMinutes = slaMinutes
        self.tier = tier
        self.pHarm = pHarm
        self.expectedViews = expectedViews
        self.severity = severity
        self.language = language
        self.skill = skill
        self.auditProbability = auditProbability
        self.by = by
        self.note = note
    }

    /// The priority without urgency (uncertainty × reach × severity).
    public var basePriority: Double {
        TicketPriority.base(pHarm: pHarm, expectedViews: expectedViews, severity: severity)
    }
}

/// A ticket in the review queue.
public struct Ticket: Codable, Equatable, Sendable {
    public var id: Int64
    public var feed: String
    public var itemID: String
    public var tier: ReviewTier
    public var reasons: Set<TicketReason>
    public var status: TicketStatus
    public var language: String?
    public var skill: String?
    public var openedAt: Date
    public var dueAt: Date
    /// uncertainty × reach × severity; the priority now is this × urgency.
    public var basePriority: Double
    public var lease: Lease?
    /// Grows with every change: a decision may name the version it saw.
    public var version: Int
    public var auditProbability: Double?
    /// A seeded item whose answer is known: the decision scores the reviewer and changes nothing else.
    public var goldLabel: String?
    /// The escalating reviewer's note (tier 2).
    public var note: String?

    public init(id: Int64, feed: String, itemID: String, tier: ReviewTier, reasons: Set<TicketReason>, status: TicketStatus, language: String?,
                skill: String?, openedAt: Date, dueAt: Date, basePriority: Double, lease: Lease?, version: Int, auditProbability: Double? = nil,
                goldLabel: String? = nil, note: String? = nil) {
        self.id = id
        self.feed = feed
        self.itemID = itemID
        self.tier = tier
        self.reasons = reasons
        self.status = status
        self.language = language
        self.skill = skill
        self.openedAt = openedAt
        self.dueAt = dueAt
        self.basePriority = basePriority
        self.lease = lease
        self.version = version
        self.auditProbability = auditProbability
        self.goldLabel = goldLabel
        self.note = note
    }

    /// Audit tickets are blind: the reviewer sees the item, not the model's answer, at tier 1 and after an escalation
    /// to tier 2 (whose judgement settles the audit: it showed the scores, outside testing, and so anchored the
    /// estimates on the model's answer). Gold tickets look like any other.
    public var isBlind: Bool { reasons.subtracting([.escalation]) == [.audit] }
    /// A gold ticket its reviewer released (`ReviewWorkflow.release` withdraws it): gone from the queue for good, but
    /// shown and answered as a released real ticket is, open and no one's.
    public var isReleasedGold: Bool { goldLabel != nil && status == .withdrawn }

    /// The priority at `now`: base × urgency.
    public func priority(at now: Date) -> Double {
        TicketPriority.current(base: basePriority, openedAt: openedAt, dueAt: dueAt, now: now)
    }
}

/// One step in a ticket's life, appended to the item's history; nothing is overwritten.
public struct TicketEvent: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// `undone`: the reviewer took back their decision (the ticket is theirs again to decide).
        case opened, joined, claimed, renewed, released, expired, escalated, decided, undone
    }

    public var ticket: Int64
    public var kind: Kind
    public var at: Date
    /// The key name of the reviewer (or feed) who acted; nil for the engine.
    public var by: String?
    public var reason: TicketReason?
    public var tier: ReviewTier?
    public var label: String?
    public var action: Action?
    public var reasonCode: String?
    public var note: String?

    public init(ticket: Int64, kind: Kind, at: Date, by: String? = nil, reason: TicketReason? = nil, tier: ReviewTier? = nil, label: String? = nil,
                action: Action? = nil, reasonCode: String? = nil, note: String? = nil) {
        self.ticket = ticket
        self.kind = kind
        self.at = at
        self.by = by
        self.reason = reason
        self.tier = tier
        self.label = label
        self.action = action
        self.reasonCode = reasonCode
        self.note = note
    }
}

/// A person's decision on an item. It becomes the item's decision and a label; automatic stages after it keep it.
public struct HumanDecision: Codable, Equatable, Sendable {
    public var label: String
    public var action: Action
    public var reasonCode: String
    public var by: String
    public var at: Date
    public var ticket: Int64
    public var tier: ReviewTier

    /// What stood on the item when this decision was made: it stands again when this one is taken back or its label
    /// withdrawn. Nil on decisions stored before it was kept (the policy then decides again).
    public var prior: PriorDecision?

    public init(label: String, action: Action, reasonCode: String, by: String, at: Date, ticket: Int64, tier: ReviewTier, prior: PriorDecision? = nil) {
        self.label = label
        self.action = action
        self.reasonCode = reasonCode
        self.by = by
        self.at = at
        self.ticket = ticket
        self.tier = tier
        self.prior = prior
    }
}

/// The decision an item had when a person decided it: the automatic decision (the policy's at its stage, a bank's,
/// a viral rule's) or an earlier person's (an appeal's decision replaces the reviewer's). Taking the person's decision
/// back restores it: an item in review is in review again, not what the cut-offs alone say (a viral item was
/// published while its ticket was open again), and an appeal's decision taken back leaves the earlier one standing.
public struct PriorDecision: Codable, Equatable, Sendable {
    /// The item's decision just before, and the review priority it had (a viral item's high).
    public var decision: PolicyDecision
    public var priority: ReviewPriority?
    /// The person's decision that stood then, if one did, kept one level deep (its own `prior` dropped); an array of
    /// at most one because a struct cannot hold its own type.
    public var reviewed: [HumanDecision]

    public var person: HumanDecision? { reviewed.first }

    /// What stands on `state` now.
    public init(_ state: ItemState) {
        decision = state.current.decision
        priority = state.current.priority
        reviewed = state.reviewed.map { human in
            var earlier = human
            earlier.prior = nil
            return [earlier]
        } ?? []
    }
}

/// What a reviewer sends to decide a ticket.
public struct TicketDecision: Sendable, Equatable {
    public var label: String
    /// allow, demote or remove; nil: allow for the clear class, remove otherwise.
    public var action: Action?
    public var reasonCode: String
    public var note: String?
    /// The version the reviewer saw; nil skips the check (the live lease is still required).
    public var version: Int?

    public init(label: String, action: Action? = nil, reasonCode: String, note: String? = nil, version: Int? = nil) {
        self.label = label
        self.action = action
        self.reasonCode = reasonCode
        self.note = note
        self.version = version
    }
}

/// What a reviewer asks for when claiming: how many tickets, which queues, and what they can take.
public struct ClaimRequest: Sendable, Equatable {
    public var reviewer: String
    public var count: Int
    public var tiers: [ReviewTier]
    /// Languages the reviewer reads (empty: any).
    public var languages: [String]
    public var skills: [String]
    /// Tickets not to hand out (the ones this reviewer just skipped).
    public var excluding: [Int64]

    public init(reviewer: String, count: Int = 1, tiers: [ReviewTier] = [.one], languages: [String] = [], skills: [String] = [],
                excluding: [Int64] = []) {
        self.reviewer = reviewer
        self.count = count
        self.tiers = tiers
        self.languages = languages
        self.skills = skills
        self.excluding = excluding
    }
}

/// One range of the queue a claim walks: a tier, a language and a skill. Each is an index range in both stores, so
/// a claim costs one indexed read per route, whatever the queue's size.
public struct ClaimRoute: Hashable, Sendable {
    public enum Language: Hashable, Sendable {
        /// The reviewer named no language: tickets in any language, or none.
        case any
        /// Tickets without a language (anyone's).
        case unspecified
        case code(String)
    }

    public var tier: ReviewTier
    public var language: Language
    /// Nil: tickets that need no skill (anyone's).
    public var skill: String?

    public init(tier: ReviewTier, language: Language, skill: String?) {
        self.tier = tier
        self.language = language
        self.skill = skill
    }
}

extension ClaimRequest {
    /// The most languages and skills a claim may name: a claim queries one index range per tier × language × skill,
    /// so these bound its cost (at most 2 × 9 × 9 ranges) whatever a client sends.
    public static let maxLanguages = 8, maxSkills = 8
    /// The most tickets a claim may exclude, and the longest skill name in bytes (a language is a tag: `ValidationError.checkLanguageTag`).
    public static let maxExcluded = 100, maxSkillBytes = 64

    /// Checks the request's lists against the limits above.
    /// - Throws: `ValidationError` naming the list or the entry that is too long.
    public func checkLimits() throws {
        guard tiers.count <= 2, Set(tiers).count == tiers.count else {
            throw ValidationError(field: "tiers", "name each tier at most once: [1], [2] or [1, 2]")
        }
        guard languages.count <= Self.maxLanguages else {
            throw ValidationError(field: "languages", "name at most \(Self.maxLanguages) languages (each a code such as en or pt-BR)")
        }
        for (i, language) in languages.enumerated() { try ValidationError.checkLanguageTag(language, field: "languages[\(i)]") }
        guard skills.count <= Self.maxSkills else { throw ValidationError(field: "skills", "name at most \(Self.maxSkills) skills") }
        for (i, skill) in skills.enumerated() where skill.isEmpty || skill.utf8.count > Self.maxSkillBytes || ScoringEngine.hasControlCharacters(skill) {
            throw ValidationError(field: "skills[\(i)]", "a skill is a name of 1 to \(Self.maxSkillBytes) bytes, without control characters")
        }
        guard excluding.count <= Self.maxExcluded else {
            throw ValidationError(field: "excluding", "exclude at most \(Self.maxExcluded) tickets")
        }
        for (i, ticket) in excluding.enumerated() where ticket < 1 {
            throw ValidationError(field: "excluding[\(i)]", "a ticket id is a positive whole number")
        }
    }

    /// The routes a claim walks, in a fixed order: each tier asked for × (tickets without a language, then each
    /// language the reviewer reads, lower-cased; or any language when they named none) × (tickets needing no skill,
    /// then each skill they have). A ticket without a language or skill is anyone's. Repeats count once.
    public var routes: [ClaimRoute] {
        let tiers = Set(tiers).sorted { $0.rawValue < $1.rawValue }
        let skills: [String?] = [nil] + Set(skills).sorted().map(Optional.some)
        let languages: [ClaimRoute.Language] = languages.isEmpty
            ? [.any] : [.unspecified] + Set(languages.map { $0.lowercased() }).sorted().map(ClaimRoute.Language.code)
        return tiers.flatMap { tier in skills.flatMap { skill in languages.map { ClaimRoute(tier: tier, language: $0, skill: skill) } } }
    }
}

/// Two independent decisions of one ticket.
public struct DoubleReview: Codable, Equatable, Sendable {
    public var firstBy: String
    public var first: String
    public var secondBy: String
    public var second: String

    public init(firstBy: String, first: String, secondBy: String, second: String) {
        self.firstBy = firstBy
        self.first = first
        self.secondBy = secondBy
        self.second = second
    }
}

/// Why a ticket operation was refused.
public enum TicketError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(Int64)
    /// The caller holds no live lease: never claimed, claimed by someone else, or expired (and nobody took it since).
    /// `inTierTwo`: the ticket is in tier 2 and nobody holds it (an escalation or a disagreement took it there).
    case leaseLost(ticket: Int64, holder: String?, expired: Bool, inTierTwo: Bool = false)
    case versionMismatch(ticket: Int64, expected: Int, current: Int)
    case alreadyDecided(Int64)
    /// A decision that cannot be taken back, and why.
    case cannotUndo(ticket: Int64, reason: String)
    /// An undo of a ticket on which nothing stands decided by the caller, and why.
    case nothingToUndo(ticket: Int64, reason: String)

    public var description: String {
        switch self {
        case let .notFound(id): return "No ticket \(id). GET /v1/review/queue lists open tickets."
        case let .leaseLost(id, holder, expired, inTierTwo):
            if let holder { return "Ticket \(id) is claimed by \(holder), not by you. Claim the next ticket." }
            if expired { return "Your lease on ticket \(id) expired and nobody holds it now; claim tickets again (POST /v1/review/claim) to take it back." }
            if inTierTwo {
                return "Ticket \(id) is in tier 2 now (an appeal of a person's decision, an escalation or two reviewers' disagreement sends a ticket there) and not claimed by you; claim it with tiers [2] if your key works tier 2 and you have not judged the item before, else another tier-2 reviewer decides it."
            }
            return "Ticket \(id) is not claimed by you. Claim it first with POST /v1/review/claim."
        case let .versionMismatch(id, expected, current):
            return "Ticket \(id) changed since you saw it (version \(expected), now \(current)). Reload it before deciding."
        case let .alreadyDecided(id):
            return "Ticket \(id) is already decided: it cannot be decided, released, renewed or escalated any more. Claim the next ticket (a decision of yours can be taken back with undo)."
        case let .nothingToUndo(id, reason):
            // Nothing stands decided: no label to correct either.
            return "Ticket \(id) has no decision to take back: \(reason)."
        case let .cannotUndo(id, reason):
            return "The decision on ticket \(id) cannot be taken back: \(reason). An admin can correct its label (POST /v1/labels/{id}/correct)."
        }
    }
}

/// A ticket with what a reviewer needs to decide it.
public struct TicketView: Sendable {
    public var ticket: Ticket
    public var item: ItemState
    public var history: [HistoryEntry]
    /// Users' reports of the item not yet judged (0 on a gold ticket, which must look like any other).
    public var pendingReports: Int

    public init(ticket: Ticket, item: ItemState, history: [HistoryEntry], pendingReports: Int = 0) {
        self.ticket = ticket
        self.item = item
        self.history = history
        self.pendingReports = pendingReports
    }
}

/// Queue depth and reviewer figures for `GET /v1/review/stats`.
public struct ReviewStats: Codable, Equatable, Sendable {
    public struct Reviewer: Codable, Equatable, Sendable {
        public var name: String
        public var decisionsLastHour: Int
        public var decisionsLast24Hours: Int
        /// Decisions per hour over the hours of the last 24 in which the reviewer decided anything.
        public var perActiveHour: Double
        public var goldSeen: Int
        public var goldCorrect: Int
        public var goldAccuracy: Double?

        /// The reviewers of `judged` (judgements in the last hour and 24 hours, and the hours with one) and of `gold`
        /// (gold tickets seen and judged right), by name; a store counts them, this puts them together.
        public static func merge(judged: [String: (hour: Int, day: Int, hours: Int)], gold: [String: (seen: Int, correct: Int)]) -> [Reviewer] {
            Set(judged.keys).union(gold.keys).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.map { name in
                let j = judged[name] ?? (0, 0, 0), g = gold[name] ?? (0, 0)
                return Reviewer(name: name, decisionsLastHour: j.hour, decisionsLast24Hours: j.day, perActiveHour: j.hours > 0 ? Double(j.day) / Double(j.hours) : 0,
                                goldSeen: g.seen, goldCorrect: g.correct)
            }
        }

        public init(name: String, decisionsLastHour: Int, decisionsLast24Hours: Int, perActiveHour: Double, goldSeen: Int, goldCorrect: Int) {
            self.name = name
            self.decisionsLastHour = decisionsLastHour
            self.decisionsLast24Hours = decisionsLast24Hours
            self.perActiveHour = perActiveHour
            self.goldSeen = goldSeen
            self.goldCorrect = goldCorrect
            self.goldAccuracy = goldSeen > 0 ? Double(goldCorrect) / Double(goldSeen) : nil
        }
    }

    public var open: Int
    public var claimed: Int
    public var byTier: [String: Int]
    public var byReason: [String: Int]
    public var byLanguage: [String: Int]
    public var oldestAgeSeconds: Double?
    /// Open tickets past their due time, and tickets decided after it in the last 24 hours.
    public var overdue: Int
    public var breachedLast24Hours: Int
    public var reviewers: [Reviewer]
    /// Agreement of double reviews (filled by the review service).
    public var agreement: Agreement?

    /// Cohen's kappa over the double-reviewed tickets, overall and per reviewer (the pairs they took part in).
    public struct Agreement: Codable, Equatable, Sendable {
        public var kappa: Double?
        public var pairs: Int
        public var byReviewer: [String: Double?]
        public var pairsByReviewer: [String: Int]

        public init(pairs: [DoubleReview]) {
            self.kappa = CohenKappa.kappa(pairs.map { ($0.first, $0.second) })
            self.pairs = pairs.count
            var names = Set<String>()
            for pair in pairs { names.insert(pair.firstBy); names.insert(pair.secondBy) }
            var byReviewer: [String: Double?] = [:], counts: [String: Int] = [:]
            for name in names {
                let theirs = pairs.filter { $0.firstBy == name || $0.secondBy == name }
                byReviewer[name] = CohenKappa.kappa(theirs.map { ($0.first, $0.second) })
                counts[name] = theirs.count
            }
            self.byReviewer = byReviewer
            self.pairsByReviewer = counts
        }
    }

    public init(open: Int, claimed: Int, byTier: [String: Int], byReason: [String: Int], byLanguage: [String: Int], oldestAgeSeconds: Double?,
                overdue: Int, breachedLast24Hours: Int, reviewers: [Reviewer]) {
        self.open = open
        self.claimed = claimed
        self.byTier = byTier
        self.byReason = byReason
        self.byLanguage = byLanguage
        self.oldestAgeSeconds = oldestAgeSeconds
        self.overdue = overdue
        self.breachedLast24Hours = breachedLast24Hours
        self.reviewers = reviewers
    }
}

/// The rules that turn stage results, reports, appeals and escalations into tickets, and human decisions into
/// item decisions. Pure.
public struct ReviewRules: Sendable {
    public var configuration: ReviewConfiguration
    public var clearLabel: String

    /// Four eyes: at this tier (escalations and appeals), nobody who judged the item before — decided, reviewed first
    /// or second, or escalated any of its tickets — may claim its ticket; claims pass over it for them (the stores'
    /// claim queries apply it). So no one confirms their own judgement, nor decides the appeal of their own decision.
    public static let recusingTier = ReviewTier.two

    public init(configuration: ReviewConfiguration = ReviewConfiguration(), clearLabel: String = "clear") {
        self.configuration = configuration
        self.clearLabel = clearLabel
    }

    /// Expected reach: the views an item will have had a day after now at its current pace, at least the views it
    /// has; an item with no engagement yet is expected to reach a tenth of its author's followers.
    public func expectedViews(_ state: ItemState, now: Date) -> Double {
        guard let engagement = state.engagement else {
            return Double(state.submission.author?.followers ?? 0) / 10
        }
        let ageHours = max(now.timeIntervalSince(state.createdAt) / 3600, 1.0 / 60)
        let views = Double(engagement.counters.views)
        return views + views / ageHours * 24
    }

    public func pHarm(_ result: StageResult) -> Double {
        min(1, max(0, 1 - (result.probabilities[clearLabel] ?? 0)))
    }

    /// The most probable class other than the clear one (the policy's rule: ties go to the first by name).
    func mostProbableHarmful(_ result: StageResult) -> String? {
        let classes = result.probabilities.keys.sorted()
        return Policy.mostProbableHarmful(classes: classes, probabilities: classes.map { result.probabilities[$0] ?? 0 }, clearLabel: clearLabel)
            .map { classes[$0] }
    }

    /// The severity of the most probable harmful class.
    public func severity(_ result: StageResult) -> Double {
        mostProbableHarmful(result).flatMap { configuration.severity[$0] } ?? 1
    }

    /// The skill needed for an item whose most probable harmful class is the result's.
    public func skill(_ result: StageResult) -> String? {
        mostProbableHarmful(result).flatMap { configuration.skills[$0] }
    }

    public func opening(_ reason: TicketReason, state: ItemState, result: StageResult? = nil, tier: ReviewTier = .one, now: Date,
                        auditProbability: Double? = nil, by: String? = nil, note: String? = nil) -> TicketOpening {
        let result = result ?? state.current
        // A blind audit's priority must not tell the model's answer (outside testing: uncertainty × severity read
        // back the class and P(harm) exactly), nor sink the audits of removals, which have no reach left: each audit
        // weighs as much as any other, and waiting raises it.
        let blind = reason == .audit
        return TicketOpening(reason: reason, at: now, tier: tier, pHarm: blind ? 0.5 : pHarm(result), expectedViews: blind ? 0 : expectedViews(state, now: now),
                             severity: blind ? 1 : severity(result),
                             slaMinutes: configuration.sla(for: [reason]), language: state.submission.language?.lowercased(), skill: skill(result), auditProbability: auditProbability,
                             by: by, note: note)
    }

    /// The ticket a stage result asks for: viral and uncertain items, then the policy's review band. After a person's
    /// decision the stage keeps it (`keepingHumanDecision`) and asks for none: only reports past the higher bar reopen.
    public func opening(after result: StageResult, state: ItemState, now: Date) -> TicketOpening? {
        guard result.decision.action == .review else { return nil }
        let reason: TicketReason = result.inputs.viral && result.priority == .high ? .viral : .reviewBand
        return opening(reason, state: state, result: result, now: now)
    }

    /// The audit bucket of an automatic decision: its action, with ".near" when a rule that took the action read a
    /// probability within `auditNearMargin` of its cut-off (for an allow: when some rule came that close to acting).
    public func auditBucket(_ result: StageResult, policy: Policy) -> String {
        let action = result.decision.action
        guard action != .review else { return action.rawValue }
        let near = "\(action.rawValue).near"
        guard configuration.auditRates[near] != nil else { return action.rawValue }
        // Readings and the distance do not depend on the classes' order: the dictionary's own order serves.
        let classes = Array(result.probabilities.keys)
        let probabilities = Array(result.probabilities.values)
        var distance = Double.infinity
        for (key, rule) in policy.rules {
            guard let reading = Policy.reading(rule: key, classes: classes, probabilities: probabilities, clearLabel: clearLabel) else { continue }
            if action == .allow {
                let cut = min(rule.demote ?? .infinity, rule.review ?? .infinity, rule.remove ?? .infinity)
                if cut.isFinite { distance = min(distance, cut - reading.p) }
            } else if rule.action(at: reading.p) == action, let cut = action == .demote ? rule.demote : rule.remove {
                distance = min(distance, reading.p - cut)
            }
        }
        return distance >= 0 && distance <= configuration.auditNearMargin ? near : action.rawValue
    }

    /// Whether an automatic decision is sampled for a blind audit: a deterministic draw from the item's identity
    /// (the same item always draws the same number, so a retry cannot change the sample) against its bucket's rate.
    public func audit(_ result: StageResult, state: ItemState, policy: Policy, now: Date) -> TicketOpening? {
        guard result.decision.action != .review, let rate = configuration.auditRates[auditBucket(result, policy: policy)], rate > 0 else { return nil }
        var hasher = FNV1a64()
        hasher.add("audit")
        hasher.add(state.submission.feed)
        hasher.add(state.submission.id)
        guard hasher.uniform < rate else { return nil }
        return opening(.audit, state: state, result: result, now: now, auditProbability: min(1, rate))
    }

    /// How much the model would learn from a person's label of an automatic decision, 0…1: 0.7 × its uncertainty
    /// about harm (1 at P(harm) 0.5, 0 at 0 or 1) + 0.3 × how unlike what it learnt the text is (1 − evidence: the
    /// share of too few known words). Learning offers go to the highest values.
    public func learningValue(_ result: StageResult) -> Double {
        let uncertainty = 1 - abs(2 * pHarm(result) - 1)
        let novelty = 1 - min(1, max(0, result.evidence))
        return 0.7 * uncertainty + 0.3 * novelty
    }

    /// The learning offers to open among `candidates` (recent items): automatic decisions nobody reviewed, the
    /// `count` with the highest learning value (ties: the newest first, as given).
    public func learningOffers(_ candidates: [ItemState], count: Int) -> [ItemState] {
        guard count > 0 else { return [] }
        let eligible = candidates.filter { $0.reviewed == nil && $0.current.decision.action != .review }
        let ranked = eligible.enumerated().sorted { a, b in
            let va = learningValue(a.element.current), vb = learningValue(b.element.current)
            return va != vb ? va > vb : a.offset < b.offset
        }
        return ranked.prefix(count).map(\.element)
    }

    /// Checks a decision against the model's classes and the configured reason codes, returning the action it takes.
    /// - Throws: `ValidationError` naming the bad field.
    public func validate(_ decision: TicketDecision, classes: [String]) throws -> Action {
        guard classes.contains(decision.label) else {
            throw ValidationError(field: "label", "'\(decision.label)' is not a class of the model; use one of \(classes.joined(separator: ", "))")
        }
        guard configuration.reasonCodes.contains(decision.reasonCode) else {
            throw ValidationError(field: "reasonCode", "'\(decision.reasonCode)' is not a configured reason code; use one of \(configuration.reasonCodes.joined(separator: ", "))")
        }
        if let note = decision.note, note.utf8.count > 4_000 { throw ValidationError(field: "note", "the note is longer than 4,000 bytes") }
        if let note = decision.note { try ValidationError.checkNoNUL(note, field: "note") }
        let action = decision.action ?? (decision.label == clearLabel ? .allow : .remove)
        guard action != .review else { throw ValidationError(field: "action", "a person's decision is allow, demote or remove; to pass it on, escalate") }
        // The label is what the item is and trains the model: a removal labelled harmless teaches it the opposite of
        // what was done (outside testing: `--label clear --action remove` was taken).
        guard !(decision.label == clearLabel && action == .remove) else {
            throw ValidationError(field: "action", "a removal needs the harmful class the item belongs to, not '\(clearLabel)'; give that label, or allow or demote the item")
        }
        // The reason code reaches the feed with the decision: "not_violating" says the item is the clear class, and a
        // violation's code says it is not (outside testing: spam removed as not_violating, and a clear item allowed as
        // spam, were taken).
        let notViolating = "not_violating"
        if configuration.reasonCodes.contains(notViolating), (decision.label == clearLabel) != (decision.reasonCode == notViolating) {
            throw ValidationError(field: "reasonCode", decision.label == clearLabel
                ? "'\(decision.reasonCode)' names a violation, but the label is '\(clearLabel)'; give \(notViolating), or the harmful class the item belongs to"
                : "\(notViolating) says the item is '\(clearLabel)', but the label is '\(decision.label)'; give the reason it violates (such as \(configuration.suggestedReasonCode(label: decision.label, clearLabel: clearLabel))), or the label '\(clearLabel)'")
        }
        return action
    }

    /// The stage result that records a person's decision: the model's scores as they were, the person's verdict.
    /// Stages are what feeds read (items, ranking, decision events), so they name no person and carry no reviewer's
    /// note (outside testing: "decided by mod1 (tier 1, spam): checked her other posts" reached every feed); who
    /// decided, and their note, are in the ticket's history and the labels. `note`: the system's own explanation.
    public func humanStage(_ decision: HumanDecision, state: ItemState, note: String?) -> StageResult {
        let previous = state.current
        let verdict = PolicyDecision(action: decision.action, label: decision.label == clearLabel ? nil : decision.label,
                                     probability: previous.probabilities[decision.label], policyVersion: previous.decision.policyVersion,
                                     reason: "decided by a reviewer (tier \(decision.tier.rawValue), \(decision.reasonCode))" + (note.map { ": \($0)" } ?? ""))
        var inputs = previous.inputs
        inputs.trigger = "review"
        inputs.ageHours = max(0, decision.at.timeIntervalSince(state.createdAt) / 3600)
        var result = StageResult(stage: .review, scoredAt: decision.at, modelVersion: previous.modelVersion, probabilities: previous.probabilities,
                                 label: decision.label, evidence: previous.evidence, decision: verdict, priority: nil, reasons: previous.reasons,
                                 relevance: previous.relevance, inputs: inputs)
        result.changed = result.describeChange(from: previous)
        return result
    }

    /// The item's stage when a reviewer takes back their decision, with the person's decision that stands after it:
    /// what stood before the decision (`restoredStage`).
    public func undoneStage(state: ItemState, at now: Date, policy: Policy, classes: [String]) -> (result: StageResult, reviewed: HumanDecision?) {
        restoredStage(state: state, at: now, policy: policy, classes: classes, trigger: "undo", why: "decision taken back by its reviewer")
    }

    /// A review stage in which the person's decision on the item no longer stands (an undo, its label withdrawn):
    /// what stood before it comes back, the earlier person's decision (an appeal's decision taken back) or the
    /// automatic decision (in review again when it was in review), on the scores the item has now. A decision stored
    /// without what stood before it gives the feed's policy's decision. `why` opens the decision's reason.
    public func restoredStage(state: ItemState, at now: Date, policy: Policy, classes: [String], trigger: String, why: String) -> (result: StageResult, reviewed: HumanDecision?) {
        guard let prior = state.reviewed?.prior else {
            return (policyStage(state: state, at: now, policy: policy, classes: classes, trigger: trigger, why: why), nil)
        }
        var decision: PolicyDecision
        if let person = prior.person {
            decision = humanStage(person, state: state, note: nil).decision
            decision.reason = "\(why); the earlier decision stands again: \(decision.reason)"
        } else {
            decision = prior.decision
            decision.reason = "\(why); the decision before it stands again: \(prior.decision.reason)"
        }
        var result = reviewStage(state: state, at: now, decision: decision, classes: classes, trigger: trigger)
        if prior.person == nil, decision.action == .review { result.priority = prior.priority }
        return (result, prior.person)
    }

    /// A review stage in which no person's decision stands any more (an undo, a withdrawn label): the scores the item
    /// has, decided by the feed's policy as it reads them now; `why` opens the decision's reason.
    public func policyStage(state: ItemState, at now: Date, policy: Policy, classes: [String], trigger: String, why: String) -> StageResult {
        let probabilities = classes.map { state.current.probabilities[$0] ?? 0 }
        var decision = policy.decide(classes: classes, probabilities: probabilities, evidence: state.current.evidence,
                                     engagementRaisedHarm: (state.current.inputs.engagementOddsRatio ?? 1) > 1, clearLabel: clearLabel)
        decision.reason = "\(why); the policy decides again: \(decision.reason)"
        return reviewStage(state: state, at: now, decision: decision, classes: classes, trigger: trigger)
    }

    /// A review stage with `decision` on the scores the item has now.
    func reviewStage(state: ItemState, at now: Date, decision: PolicyDecision, classes: [String], trigger: String) -> StageResult {
        let previous = state.current
        let probabilities = classes.map { previous.probabilities[$0] ?? 0 }
        var inputs = previous.inputs
        inputs.trigger = trigger
        inputs.ageHours = max(0, now.timeIntervalSince(state.createdAt) / 3600)
        let label = classes.indices.max { probabilities[$0] < probabilities[$1] }.map { classes[$0] } ?? previous.label
        var result = StageResult(stage: .review, scoredAt: now, modelVersion: previous.modelVersion, probabilities: previous.probabilities,
                                 label: label, evidence: previous.evidence, decision: decision, priority: nil, reasons: previous.reasons,
                                 relevance: previous.relevance, inputs: inputs)
        result.changed = result.describeChange(from: previous)
        return result
    }

    /// Whether a ticket is one of the `doubleReviewRate` share decided twice: a deterministic draw from its id.
    public func needsSecondReview(_ ticket: Int64) -> Bool {
        guard configuration.doubleReviewRate > 0 else { return false }
        var hasher = FNV1a64()
        hasher.add("double-review")
        hasher.add(String(ticket))
        return hasher.uniform < configuration.doubleReviewRate
    }

    /// An automatic stage after a person's decision records its scores but keeps the person's verdict; what it says
    /// changed is measured against `previous` with the kept verdict (outside testing: it read "decision allow →
    /// remove" where the allow stood).
    public func keepingHumanDecision(_ result: StageResult, _ human: HumanDecision?, after previous: StageResult) -> StageResult {
        guard let human else { return result }
        var kept = result
        kept.decision = PolicyDecision(action: human.action, label: human.label == clearLabel ? nil : human.label,
                                       probability: result.probabilities[human.label], policyVersion: result.decision.policyVersion,
                                       reason: "kept: decided by a reviewer (\(human.reasonCode)); the model now says \(result.decision.action.rawValue)")
        kept.priority = nil
        kept.label = result.label
        kept.changed = kept.describeChange(from: previous)
        return kept
    }
}
