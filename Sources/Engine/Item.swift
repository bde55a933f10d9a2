import Foundation
import Learning

/// The author of an item, as the feed service knows them. Every fact is optional: missing facts count as unknown,
/// not as zero.
public struct Author: Codable, Equatable, Sendable {
    public var id: String
    /// Days since the account was created.
    public var accountAgeDays: Double?
    public var followers: Int?
    /// How many of the author's earlier items were removed.
    public var priorRemovals: Int?

    public init(id: String, accountAgeDays: Double? = nil, followers: Int? = nil, priorRemovals: Int? = nil) {
        self.id = id
        self.accountAgeDays = accountAgeDays
        self.followers = followers
        self.priorRemovals = priorRemovals
    }
}

/// An item as a feed service submits it: the feed's own id, the feed, the text and what is known about it.
public struct ItemSubmission: Codable, Equatable, Sendable {
    public var id: String
    public var feed: String
    public var text: String
    public var language: String?
    public var author: Author?
    /// When the item was created on the feed; defaults to when Winnow received it.
    public var createdAt: Date?
    /// The item's images and videos as their signatures (the bytes are hashed on arrival and dropped, never stored).
    public var media: [MediaSignature]

    /// When the item counts as created: `createdAt`, but not after its arrival here (a feed clock running ahead
    /// would otherwise make it younger than its engagement, and its first views a burst).
    public func creationTime(receivedAt: Date) -> Date { min(createdAt ?? receivedAt, receivedAt) }

    public init(id: String, feed: String = "default", text: String, language: String? = nil, author: Author? = nil, createdAt: Date? = nil,
                media: [MediaSignature] = []) {
        self.id = id
        self.feed = feed
        self.text = text
        self.language = language
        self.author = author
        self.createdAt = createdAt
        self.media = media
    }

    private enum CodingKeys: String, CodingKey { case id, feed, text, language, author, createdAt, media }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        feed = try c.decodeIfPresent(String.self, forKey: .feed) ?? "default"
        text = try c.decode(String.self, forKey: .text)
        language = try c.decodeIfPresent(String.self, forKey: .language)
        author = try c.decodeIfPresent(Author.self, forKey: .author)
        createdAt = try c.decodeIfPresent(Date.self, forKey: .createdAt)
        media = try c.decodeIfPresent([MediaSignature].self, forKey: .media) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(feed, forKey: .feed)
        try c.encode(text, forKey: .text)
        try c.encodeIfPresent(language, forKey: .language)
        try c.encodeIfPresent(author, forKey: .author)
        try c.encodeIfPresent(createdAt, forKey: .createdAt)
        if !media.isEmpty { try c.encode(media, forKey: .media) }
    }

    /// A digest of what makes the item this item (text, language, author id): the same id with a different digest
    /// is a conflict, not a retry. Metadata that a retry may restate differently (creation time, author counts) is
    /// left out: the stored item keeps what came first.
    public var contentDigest: String {
        var hasher = FNV1a64()
        hasher.add(text)
        hasher.add(language ?? "")
        hasher.add(author?.id ?? "")
        // Media joined the digest later: items without media keep the digests they were stored with.
        for medium in media {
            switch medium {
            case let .image(image): hasher.add("image:\(image.hash.hex)")
            case let .video(frames): hasher.add("video:\(BankSignature.video(frames).value)")
            }
        }
        return String(hasher.value, radix: 16)
    }
}

/// The three moments an item is scored.
public enum Stage: String, Codable, CaseIterable, Sendable {
    /// At creation, from the text (and author) alone.
    case creation
    /// On early engagement, when a trigger fires (views, age, reports).
    case engagement
    /// At scheduled ages (hours, days), with the active model and all engagement so far.
    case time
    /// A person's decision from the review queue: it becomes the item's decision, and later automatic stages keep
    /// it (they still record their scores).
    case review
}

/// How urgently a person should look at an item that goes to review.
public enum ReviewPriority: String, Codable, Sendable, Comparable {
    case normal, high

    public static func < (a: ReviewPriority, b: ReviewPriority) -> Bool { a == .normal && b == .high }
}

/// An engagement snapshot: cumulative counters at a time.
public struct EngagementSnapshot: Codable, Equatable, Sendable {
    public var at: Date
    public var counters: Engagement

    public init(at: Date, counters: Engagement) {
        self.at = at
        self.counters = counters
    }

    /// What an item's engagement is after `next` arrives: the later time, and each counter's highest value. Counters
    /// only grow, so a lower one is a snapshot that arrived out of order (a retry, a slower worker): it lowers
    /// nothing. The snapshot itself is kept in the item's history as sent. Both stores apply this rule.
    public static func merging(_ current: EngagementSnapshot?, _ next: EngagementSnapshot) -> EngagementSnapshot {
        guard let current else { return next }
        let x = current.counters, y = next.counters
        return EngagementSnapshot(
            at: max(current.at, next.at),
            counters: Engagement(views: max(x.views, y.views), likes: max(x.likes, y.likes), shares: max(x.shares, y.shares),
                                 comments: max(x.comments, y.comments), reports: max(x.reports, y.reports), hides: max(x.hides, y.hides)))
    }
}

/// What a stage saw besides the text: the engagement it used and the measures derived from it.
public struct StageInputs: Codable, Equatable, Sendable {
    /// Why the stage ran: "created", "views≥100", "age≥15m", "reports", "scheduled 6h", "rescore".
    public var trigger: String
    public var ageHours: Double
    public var engagement: Engagement?
    /// Views per hour since creation.
    public var velocity: Double?
    /// The feed's typical views per hour (geometric mean over its items), when known.
    public var baselineVelocity: Double?
    public var viral: Bool
    /// The feed's report rate (reports per view) used as the prior's centre.
    public var baselineReportRate: Double?
    /// How much the engagement moved the odds of harm (1 = not at all), from the rule or model named by
    /// `engagementModel`.
    public var engagementOddsRatio: Double?
    public var engagementModel: String?
    public var author: Author?

    public init(trigger: String, ageHours: Double, engagement: Engagement? = nil, velocity: Double? = nil, baselineVelocity: Double? = nil,
                viral: Bool = false, baselineReportRate: Double? = nil, engagementOddsRatio: Double? = nil, engagementModel: String? = nil,
                author: Author? = nil) {
        self.trigger = trigger
        self.ageHours = ageHours
        self.engagement = engagement
        self.velocity = velocity
        self.baselineVelocity = baselineVelocity
        self.viral = viral
        self.baselineReportRate = baselineReportRate
        self.engagementOddsRatio = engagementOddsRatio
        self.engagementModel = engagementModel
        self.author = author
    }
}

/// One stage's verdict on an item: stored as its own row, never overwritten.
public struct StageResult: Codable, Equatable, Sendable {
    public var stage: Stage
    public var scoredAt: Date
    public var modelVersion: String
    /// Class probabilities after this stage (the text model's, moved by engagement in later stages).
    public var probabilities: [String: Double]
    /// The most probable class.
    public var label: String
    /// The text model's evidence (0…1): below 1 the model knew too few of the words.
    public var evidence: Double
    public var decision: PolicyDecision
    /// Set when the decision is review.
    public var priority: ReviewPriority?
    /// The text features that pushed hardest toward the predicted class.
    public var reasons: [Reason]
    public var relevance: RelevanceScore
    public var inputs: StageInputs
    /// What changed since the previous stage, nil for the first.
    public var changed: String?
    /// The bank entry the item matched at creation, when it did: its decision stands on the bank's label and action
    /// (`ScoringEngine.applying(_:to:)`), at this stage and the later automatic ones.
    public var match: BankMatch?

    public init(stage: Stage, scoredAt: Date, modelVersion: String, probabilities: [String: Double], label: String, evidence: Double,
                decision: PolicyDecision, priority: ReviewPriority?, reasons: [Reason], relevance: RelevanceScore, inputs: StageInputs,
                changed: String? = nil, match: BankMatch? = nil) {
        self.stage = stage
        self.scoredAt = scoredAt
        self.modelVersion = modelVersion
        self.probabilities = probabilities
        self.label = label
        self.evidence = evidence
        self.decision = decision
        self.priority = priority
        self.reasons = reasons
        self.relevance = relevance
        self.inputs = inputs
        self.changed = changed
        self.match = match
    }

    /// A sentence saying how `self` differs from `previous`, or "no change".
    public func describeChange(from previous: StageResult) -> String {
        var parts: [String] = []
        if previous.decision.action != decision.action {
            parts.append("decision \(previous.decision.action.rawValue) → \(decision.action.rawValue)")
        }
        if previous.label != label { parts.append("label \(previous.label) → \(label)") }
        for (name, p) in probabilities.sorted(by: { $0.key < $1.key }) {
            let before = previous.probabilities[name] ?? 0
            if abs(p - before) >= 0.05 { parts.append("\(name) \(FixedText.format(before, places: 2)) → \(FixedText.format(p, places: 2))") }
        }
        if previous.modelVersion != modelVersion { parts.append("model \(previous.modelVersion) → \(modelVersion)") }
        if previous.decision.policyVersion != decision.policyVersion {
            parts.append("policy v\(previous.decision.policyVersion) → v\(decision.policyVersion)")
        }
        if decision.reason != previous.decision.reason && previous.decision.action == decision.action && parts.isEmpty {
            parts.append("reason: \(decision.reason)")
        }
        return parts.isEmpty ? "no change" : parts.joined(separator: "; ")
    }
}

/// A stored item and where it stands.
public struct ItemState: Codable, Equatable, Sendable {
    public var submission: ItemSubmission
    public var receivedAt: Date
    public var createdAt: Date
    /// The latest stage's result: the item's current decision.
    public var current: StageResult
    /// Element-wise maximum of every engagement snapshot (counters are cumulative) and the latest time.
    public var engagement: EngagementSnapshot?
    /// The latest decision a person made on the item, if any: it stands over later automatic stages.
    public var reviewed: HumanDecision?

    public init(submission: ItemSubmission, receivedAt: Date, createdAt: Date, current: StageResult, engagement: EngagementSnapshot?,
                reviewed: HumanDecision? = nil) {
        self.submission = submission
        self.receivedAt = receivedAt
        self.createdAt = createdAt
        self.current = current
        self.engagement = engagement
        self.reviewed = reviewed
    }

    /// Refuses engagement read before the item was created. Items stored before creation times were capped at
    /// their arrival (`ItemSubmission.creationTime`) may hold a time ahead of it: they count from their arrival.
    /// - Throws: `ValidationError` naming `at`.
    public func checkEngagementTime(_ at: Date) throws {
        guard !isBeforeCreation(at) else {
            throw ValidationError(field: "at", "the counters were read at \(ISOTime.format(at)), before the item was created (\(ISOTime.format(firstSeen))); send the time they were read")
        }
    }

    /// Refuses a report made before the item was created (as engagement read before it).
    /// - Throws: `ValidationError` naming `at`.
    public func checkReportTime(_ at: Date) throws {
        guard !isBeforeCreation(at) else {
            throw ValidationError(field: "at", "the report was made at \(ISOTime.format(at)), before the item was created (\(ISOTime.format(firstSeen))); send the time it was made, or leave it out")
        }
    }

    /// The item's creation time, or its arrival when that came first.
    var firstSeen: Date { min(createdAt, receivedAt) }

    /// Whether `at` is before the second the item was created in. Feeds stamp times to the second, or to the
    /// millisecond as the API shows them, and the server keeps them finer: a time in the creation's own second is not
    /// before it (outside testing: 1-6% of updates sent right after creation, stamped with that time to the
    /// millisecond, were refused; then one stamped to the second in that second, with a message showing two equal
    /// times).
    func isBeforeCreation(_ at: Date) -> Bool {
        at.timeIntervalSince1970 < firstSeen.timeIntervalSince1970.rounded(.down) - 0.0005
    }
}

/// One entry of an item's history, oldest first.
public enum HistoryEntry: Codable, Equatable, Sendable {
    case stage(StageResult)
    case engagement(EngagementSnapshot)
    /// A step of a review ticket: opened, claimed, escalated, decided…
    case ticket(TicketEvent)

    public var at: Date {
        switch self {
        case let .stage(result): return result.scoredAt
        case let .engagement(snapshot): return snapshot.at
        case let .ticket(event): return event.at
        }
    }

    /// Stages, then snapshots, then ticket steps (each kind in its own order), merged oldest first, compared to the
    /// millisecond: ticket steps come back from JSON at that precision and a stage at a finer one, so at one instant
    /// the ticket a creation stage opened was listed before it in some items and after it in others (outside testing).
    /// At the same millisecond, a stage comes first, then a snapshot, then a ticket step.
    public static func inOrder(_ entries: [HistoryEntry]) -> [HistoryEntry] {
        func millisecond(_ entry: HistoryEntry) -> Double { (entry.at.timeIntervalSince1970 * 1000).rounded(.down) }
        return entries.enumerated().map { (key: millisecond($0.element), offset: $0.offset, entry: $0.element) }
            .sorted { $0.key != $1.key ? $0.key < $1.key : $0.offset < $1.offset }
            .map(\.entry)
    }

    private enum CodingKeys: String, CodingKey { case kind, stage, engagement, ticket }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        switch try container.decode(String.self, forKey: .kind) {
        case "stage": self = .stage(try container.decode(StageResult.self, forKey: .stage))
        case "ticket": self = .ticket(try container.decode(TicketEvent.self, forKey: .ticket))
        default: self = .engagement(try container.decode(EngagementSnapshot.self, forKey: .engagement))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case let .stage(result):
            try container.encode("stage", forKey: .kind)
            try container.encode(result, forKey: .stage)
        case let .engagement(snapshot):
            try container.encode("engagement", forKey: .kind)
            try container.encode(snapshot, forKey: .engagement)
        case let .ticket(event):
            try container.encode("ticket", forKey: .kind)
            try container.encode(event, forKey: .ticket)
        }
    }
}
