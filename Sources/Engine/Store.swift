import Foundation

/// Roles of API keys. `admin` may do everything; `feed` submits and ranks items; `moderator` reviews.
public enum Role: String, Codable, CaseIterable, Sendable {
    case feed, moderator, admin
}

/// A stored API key: only the SHA-256 of the secret is kept.
public struct APIKeyRecord: Codable, Equatable, Sendable {
    public var name: String
    public var role: Role
    public var hash: String
    public var createdAt: Date
    public var revokedAt: Date?
    /// The review tiers a moderator's key may claim (`winnow keys create --tiers 1,2`). Admins work every tier; keys
    /// made before keys carried tiers keep both.
    public var tiers: Set<ReviewTier>
    /// The feeds a feed key may act on (`winnow keys create --role feed --feeds news,photos`); nil: every feed (keys
    /// made before keys carried feeds, and keys made without the option).
    public var feeds: Set<String>?

    public init(name: String, role: Role, hash: String, createdAt: Date, revokedAt: Date? = nil, tiers: Set<ReviewTier> = [.one],
                feeds: Set<String>? = nil) {
        self.name = name
        self.role = role
        self.hash = hash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.tiers = tiers
        self.feeds = feeds
    }

    /// Whether this key may act on `feed`: an admin's and an unscoped key's every feed.
    public func allows(feed: String) -> Bool { role == .admin || feeds.map { $0.contains(feed) } ?? true }

    /// The feed a request that names none is about: a key of one feed's that feed, else "default".
    public var defaultFeed: String {
        if role != .admin, let feeds, feeds.count == 1, let only = feeds.first { return only }
        return "default"
    }

    /// Feeds as stored: "news,photos"; nil for every feed.
    public static func storedFeeds(_ feeds: Set<String>?) -> String? { feeds.map { $0.sorted().joined(separator: ",") } }

    /// Feeds from their stored text; NULL is every feed.
    public static func feeds(stored text: String?) -> Set<String>? {
        text.map { Set($0.split(separator: ",").map(String.init)) }
    }

    /// The tiers this key may work: an admin's every tier.
    public var workableTiers: Set<ReviewTier> { role == .admin ? Set(ReviewTier.allCases) : tiers }

    /// Tiers as stored: "1", "1,2".
    public static func storedTiers(_ tiers: Set<ReviewTier>) -> String { tiers.map(\.rawValue).sorted().map(String.init).joined(separator: ",") }

    /// Tiers from their stored text; NULL (a key made before keys carried tiers) is both.
    public static func tiers(stored text: String?) -> Set<ReviewTier> {
        guard let text else { return Set(ReviewTier.allCases) }
        return Set(text.split(separator: ",").compactMap { Int($0).flatMap(ReviewTier.init(rawValue:)) })
    }
}

/// An item ready to store: the submission and its stage-1 result, with its first stage-3 rescore.
public struct NewItem: Sendable {
    public var submission: ItemSubmission
    public var receivedAt: Date
    public var createdAt: Date
    public var result: StageResult
    public var nextRescore: ScheduledRescore?
    /// Tickets to open with the item (its review band, a sampled audit).
    public var tickets: [TicketOpening]

    public init(submission: ItemSubmission, receivedAt: Date, createdAt: Date, result: StageResult, nextRescore: ScheduledRescore?,
                tickets: [TicketOpening] = []) {
        self.submission = submission
        self.receivedAt = receivedAt
        self.createdAt = createdAt
        self.result = result
        self.nextRescore = nextRescore
        self.tickets = tickets
    }
}

/// What storing a `NewItem` did.
public enum CreateOutcome: Sendable, Equatable {
    /// Stored now.
    case created(ItemState)
    /// The same item was stored before: its stored answer.
    case existing(ItemState)
    /// An item with this (feed, id) but different content exists.
    case conflict(ItemState)
}

/// What the engine sees when an engagement update arrives for a stored item.
public struct EngagementContext: Sendable {
    /// The item before this update.
    public var state: ItemState
    /// Counters before this update (nil if none) and after merging it.
    public var previous: Engagement?
    public var merged: EngagementSnapshot
    public var baseline: FeedBaseline
    /// The item's age when stage 2 last ran, nil if it never did.
    public var lastEngagementStageAgeHours: Double?

    public init(state: ItemState, previous: Engagement?, merged: EngagementSnapshot, baseline: FeedBaseline, lastEngagementStageAgeHours: Double?) {
        self.state = state
        self.previous = previous
        self.merged = merged
        self.baseline = baseline
        self.lastEngagementStageAgeHours = lastEngagementStageAgeHours
    }
}

/// A stage result and the ticket it asks for.
public struct Staged: Sendable {
    public var result: StageResult
    public var ticket: TicketOpening?
    /// The change of the item's effective decision the result makes, written with it.
    public var event: DecisionEvent?

    public init(result: StageResult, ticket: TicketOpening? = nil, event: DecisionEvent? = nil) {
        self.result = result
        self.ticket = ticket
        self.event = event
    }
}

/// The outcome of an engagement update.
public struct EngagementOutcome: Sendable, Equatable {
    /// The item after the update.
    public var state: ItemState
    /// The stage-2 result when a trigger fired.
    public var result: StageResult?
    /// False when this exact snapshot had been recorded before (a retry).
    public var recorded: Bool

    public init(state: ItemState, result: StageResult?, recorded: Bool) {
        self.state = state
        self.result = result
        self.recorded = recorded
    }
}

/// A stage-3 rescore that is due.
public struct DueRescore: Sendable {
    public var state: ItemState
    public var scheduled: ScheduledRescore
    public var baseline: FeedBaseline

    public init(state: ItemState, scheduled: ScheduledRescore, baseline: FeedBaseline) {
        self.state = state
        self.scheduled = scheduled
        self.baseline = baseline
    }
}

/// What a due rescore produced: the stage result and the rescore after it (nil: the schedule is done).
public struct Rescored: Sendable {
    public var result: StageResult
    public var next: ScheduledRescore?
    public var ticket: TicketOpening?
    /// The change of the item's effective decision the result makes, written with it.
    public var event: DecisionEvent?

    public init(result: StageResult, next: ScheduledRescore?, ticket: TicketOpening? = nil, event: DecisionEvent? = nil) {
        self.result = result
        self.next = next
        self.ticket = ticket
        self.event = event
    }
}

/// What the engine sees when a report arrives: the item, and the track records of everyone whose report on it is
/// still pending (not yet judged by a person), this report included.
public struct ReportContext: Sendable {
    public var state: ItemState
    public var reporters: [(upheld: Int, rejected: Int)]
    /// Whether the item has an open ticket already (a report then joins nothing new).
    public var hasOpenTicket: Bool

    public init(state: ItemState, reporters: [(upheld: Int, rejected: Int)], hasOpenTicket: Bool) {
        self.state = state
        self.reporters = reporters
        self.hasOpenTicket = hasOpenTicket
    }
}

/// The outcome of a report.
public struct ReportOutcome: Sendable, Equatable {
    /// False when this reporter had reported the item before (counted once).
    public var recorded: Bool
    public var weightedReports: Double
    /// The ticket the report opened or joined, if any.
    public var ticket: Ticket?

    public init(recorded: Bool, weightedReports: Double, ticket: Ticket?) {
        self.recorded = recorded
        self.weightedReports = weightedReports
        self.ticket = ticket
    }
}

/// A decided ticket and the item after the decision.
public struct DecidedTicket: Sendable {
    public enum Outcome: String, Codable, Sendable {
        /// The decision stands: the item's decision and a label.
        case decided
        /// The first of two independent reviews: kept hidden on the ticket, which returns to the queue for someone else.
        case awaitingSecondReview = "awaiting_second_review"
        /// The second review disagreed with the first: both are labels, and the ticket went to tier 2.
        case escalatedOnDisagreement = "escalated_on_disagreement"
        /// The reviewer took the decision back: the ticket is open and theirs again, the labels of the decision are
        /// withdrawn (`labels`).
        case undone
    }

    public var ticket: Ticket
    public var item: ItemState
    public var outcome: Outcome
    /// The labels this step wrote (none for a gold ticket or a first review), or withdrew (an undo).
    public var labels: [LabelRecord]
    /// The action the decision applies to the item (the reviewer's, or the rules' default for the label), or will
    /// apply if a first review is confirmed: set by `ReviewService.decide`, nil as a store returns it.
    public var action: Action?
    /// The decision event the step wrote, if it changed the item's effective decision.
    public var decisionEvent: DecisionEvent?

    public init(ticket: Ticket, item: ItemState, outcome: Outcome = .decided, labels: [LabelRecord] = [], action: Action? = nil,
                decisionEvent: DecisionEvent? = nil) {
        self.ticket = ticket
        self.item = item
        self.outcome = outcome
        self.labels = labels
        self.action = action
        self.decisionEvent = decisionEvent
    }
}

/// A human judgement of an item's class: one row per judgement, never overwritten (a withdrawal or a correction is
/// recorded on it, a correction adds a new row that `replaces` it).
/// What a correction of a label did.
public enum LabelCorrection: Equatable, Sendable {
    /// The label was withdrawn and `new` stored in its place (`new.replaces` is its id).
    case corrected(withdrawn: LabelRecord, new: LabelRecord)
    /// The label had been withdrawn before (by a correction, a withdrawal or an undo): nothing was stored.
    case alreadyWithdrawn(LabelRecord)
    /// The live label already says what the correction says: nothing was stored (`LabelService.correct`; stores
    /// never answer it).
    case unchanged(LabelRecord)
}

public struct LabelRecord: Codable, Equatable, Sendable {
    /// The row's id once stored.
    public var id: Int64?
    public var feed: String
    public var itemID: String
    public var label: String
    /// review, audit, appeal, import.
    public var source: String
    public var by: String
    public var at: Date
    /// 2 for a tier-2 (senior) judgement; imports are 1 unless imported as 2.
    public var tier: Int
    /// The model's answer when the person judged: its label, that label's probability, and the model version.
    public var modelLabel: String?
    public var modelProbability: Double?
    public var modelVersion: String?
    public var withdrawnAt: Date?
    public var withdrawnBy: String?
    /// The label this one corrects.
    public var replaces: Int64?
    /// The model version an online update learnt this label into, if any.
    public var learntInto: String?

    public init(id: Int64? = nil, feed: String, itemID: String, label: String, source: String, by: String, at: Date, tier: Int = 1,
                modelLabel: String? = nil, modelProbability: Double? = nil, modelVersion: String? = nil, withdrawnAt: Date? = nil,
                withdrawnBy: String? = nil, replaces: Int64? = nil, learntInto: String? = nil) {
        self.id = id
        self.feed = feed
        self.itemID = itemID
        self.label = label
        self.source = source
        self.by = by
        self.at = at
        self.tier = tier
        self.modelLabel = modelLabel
        self.modelProbability = modelProbability
        self.modelVersion = modelVersion
        self.withdrawnAt = withdrawnAt
        self.withdrawnBy = withdrawnBy
        self.replaces = replaces
        self.learntInto = learntInto
    }

    public var isWithdrawn: Bool { withdrawnAt != nil }

    private enum CodingKeys: String, CodingKey {
        case id, feed, itemID = "itemId", label, source, by, at, tier, modelLabel, modelProbability, modelVersion, withdrawnAt, withdrawnBy, replaces, learntInto
    }
}

/// Which of an item's labels counts. A withdrawn label never does; a higher tier beats a lower one (a tier-2
/// decision over tier 1, whatever came later); within a tier the latest judgement wins (by time, then by row).
public enum LabelResolution {
    public static func resolve(_ labels: [LabelRecord]) -> LabelRecord? {
        labels.filter { !$0.isWithdrawn }.max { a, b in
            if a.tier != b.tier { return a.tier < b.tier }
            if a.at != b.at { return a.at < b.at }
            return (a.id ?? 0) < (b.id ?? 0)
        }
    }

    /// The labels `by` imported that stand as they were imported: of each item (its feed, and its id by its bytes, as
    /// the stores compare ids) and tier, the latest live label, when it is an import of `by`'s. An import repeating one
    /// of these adds nothing; one a later label replaced (clear, spam, clear) is a new judgement. The API's and the
    /// command line's imports both read it.
    public static func standingImports(_ labels: [LabelRecord], by: String) -> [LabelRecord] {
        struct Key: Hashable {
            var feed: String, id: [UInt8], tier: Int
        }
        var latest: [Key: LabelRecord] = [:]
        for label in labels where !label.isWithdrawn {
            let key = Key(feed: label.feed, id: Array(label.itemID.utf8), tier: label.tier)
            if (latest[key]?.id ?? .min) < (label.id ?? .min) { latest[key] = label }
        }
        return latest.values.filter { $0.source == "import" && $0.by == by }
    }
}

/// An item's label as it counts, with the item's text when Winnow has the item.
/// A decided blind audit as the evaluation gate reads it: the item's feed and text, the auditor's label, and the
/// probability that the audit sampled the item (it stands for 1/π automatic decisions).
public struct AuditedText: Sendable, Equatable {
    public var feed: String
    public var itemID: String
    public var text: String
    public var label: String
    public var inclusionProbability: Double

    public init(feed: String, itemID: String, text: String, label: String, inclusionProbability: Double) {
        self.feed = feed
        self.itemID = itemID
        self.text = text
        self.label = label
        self.inclusionProbability = inclusionProbability
    }
}

public struct ResolvedLabel: Sendable, Equatable {
    public var label: LabelRecord
    public var text: String?

    public init(label: LabelRecord, text: String?) {
        self.label = label
        self.text = text
    }

    /// The item's text when a model can learn from it: nil for an item the store does not hold and for one that is
    /// only media (no words).
    public var trainingText: String? { text.flatMap { $0.isBlank ? nil : $0 } }
}

/// A model version in the registry: its file, its card and its header (metrics, parent, training data).
public struct ModelVersionRecord: Codable, Equatable, Sendable {
    public var version: String
    /// The registry's copy of the model file.
    public var file: String
    public var kind: String
    public var classes: [String]
    public var parent: String?
    public var card: String
    public var registeredBy: String
    public var registeredAt: Date

    public init(version: String, file: String, kind: String, classes: [String], parent: String?, card: String, registeredBy: String, registeredAt: Date) {
        self.version = version
        self.file = file
        self.kind = kind
        self.classes = classes
        self.parent = parent
        self.card = card
        self.registeredBy = registeredBy
        self.registeredAt = registeredAt
    }
}

/// A change of the active model: a promotion, or a rollback to the model active before the last change.
public struct ModelPromotion: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable { case promote, rollback }
    /// The feed whose own model changed; nil for the model every feed without its own uses.
    public var feed: String?
    public var version: String
    /// The version active before this change (what a rollback returns to).
    public var previous: String
    public var kind: Kind
    public var by: String
    public var at: Date
    /// True when a feed went back to the shared model (its first own model rolled back); `version` is then the shared
    /// model's at that moment. Nil otherwise.
    public var toShared: Bool?

    public init(feed: String? = nil, version: String, previous: String, kind: Kind, by: String, at: Date, toShared: Bool? = nil) {
        self.feed = feed
        self.toShared = toShared == true ? true : nil
        self.version = version
        self.previous = previous
        self.kind = kind
        self.by = by
        self.at = at
    }
}

// Where Winnow keeps its state: one repository per aggregate, each with the same contract in every store (SQLite,
// PostgreSQL). Each method is one transaction: a method that returns has committed. A repository persists, reads and
// enforces what a database is for (uniqueness, versions, locks); it decides nothing. Where a write depends on what
// is stored, the rule comes in as a closure or a value from the Engine (`decide`, `ReviewWorkflow`) and runs under
// the store's lock on the row (SQLite's single writer, PostgreSQL's `SELECT … FOR UPDATE`; claims with `SKIP LOCKED`).

/// Items, their stage results, engagement and the stage-3 schedule.
public protocol ItemRepository: Sendable {
    /// Stores new items with their stage-1 results, one outcome per item in order.
    func createItems(_ items: [NewItem]) async throws -> [CreateOutcome]
    func item(feed: String, id: String) async throws -> ItemState?
    /// Items by id in one feed; unknown ids are left out.
    func items(feed: String, ids: [String]) async throws -> [ItemState]
    /// The item's history, oldest first; nil for an unknown item.
    func history(feed: String, id: String) async throws -> [HistoryEntry]?
    /// The item and its history from one read (a stage committed in between cannot show in one and not the other);
    /// nil for an unknown item.
    func itemWithHistory(feed: String, id: String) async throws -> (state: ItemState, history: [HistoryEntry])?
    /// Records an engagement snapshot (repeats and out-of-order snapshots are safe: counters merge by maximum) and,
    /// when `decide` returns a result, appends it as the item's new stage. Nil for an unknown item. The item keeps at
    /// most `keepingAtMost` snapshots: with that many stored, the newest is replaced by this one.
    /// - Throws: `ValidationError` (field `at`), storing nothing, for a snapshot dated before the item was created.
    func recordEngagement(feed: String, id: String, snapshot: EngagementSnapshot, keepingAtMost: Int,
                          decide: @escaping @Sendable (EngagementContext) throws -> Staged?) async throws -> EngagementOutcome?
    /// Runs `decide` on up to `limit` rescores due at or before `now`, oldest first, appends the results and
    /// schedules the next ones; returns how many ran. Each due rescore runs once, however many callers run this at
    /// the same time (several nodes on one database).
    func rescoreDue(now: Date, limit: Int, decide: @escaping @Sendable (DueRescore) throws -> Rescored) async throws -> Int
    /// The earliest due time of a pending rescore.
    func oldestDueRescore() async throws -> Date?
    /// Items with a rescore scheduled.
    func pendingRescores() async throws -> Int
    /// The feed's engagement baseline as stage 2 would see it now.
    func baseline(feed: String) async throws -> FeedBaseline
}

/// Per-feed policies, stored as versioned data.
public protocol PolicyRepository: Sendable {
    /// The feed's newest policy, nil when it has none.
    func policy(feed: String) async throws -> Policy?
    /// Every feed's newest policy.
    func policies() async throws -> [Policy]
    /// Stores `policy` as the feed's next version and returns it with that version.
    func savePolicy(_ policy: Policy, by: String, at: Date) async throws -> Policy
    /// Stores `policy` as the feed's next version only while its newest version is `replacing` (0: it has none): a
    /// compare-and-set; nil, with nothing stored, when another save came first.
    func savePolicy(_ policy: Policy, by: String, at: Date, replacing: Int) async throws -> Policy?
}

/// API keys (only their hashes).
public protocol KeyRepository: Sendable {
    /// - Throws: `StoreError.duplicateKeyName` when a key of that name exists.
    func createKey(_ key: APIKeyRecord) async throws
    func key(hash: String) async throws -> APIKeyRecord?
    func keys() async throws -> [APIKeyRecord]
    /// Revokes the key called `name`; false if there is no such live key.
    func revokeKey(name: String, at: Date) async throws -> Bool
}

/// Human judgements (labels) and what blind audits found.
public protocol LabelRepository: Sendable {
    /// Stores labels, returning them with their ids.
    func addLabels(_ labels: [LabelRecord]) async throws -> [LabelRecord]
    /// Label rows (withdrawn ones included) after row `after`, judged at or after `since`, oldest first.
    func labels(since: Date?, after: Int64?, limit: Int) async throws -> [LabelRecord]
    /// Every label (withdrawn ones included) of the items of `feed` named in `itemIDs`, oldest first.
    func labels(feed: String, itemIDs: [String]) async throws -> [LabelRecord]
    /// How many labels of stored items (the others have no text to train on) have an id above `after` (of `feed` only,
    /// when given), counting at most `atMost`.
    func labelCount(after: Int64, feed: String?, atMost: Int) async throws -> Int
    /// Marks a label withdrawn; `changed` is false when it was withdrawn before (nothing else happens then). Nil for an
    /// unknown label. When this withdrew it and the item is stored, `revise` sees the item (under its lock) and may change
    /// its decision and open a ticket (`ReviewRules.withdrawal`), written in the same transaction with its event.
    func withdrawLabel(id: Int64, by: String, at: Date,
                       revise: @escaping @Sendable (_ item: ItemState, _ withdrawn: LabelRecord) -> DecisionRevision?) async throws
        -> (label: LabelRecord, changed: Bool)?
    /// Records that an online update learnt these labels into `version`.
    func markLearnt(_ ids: [Int64], into version: String) async throws
    /// Withdraws a label and stores `label` in its place (same item, source and tier), when it is not withdrawn yet
    /// (a compare-and-set: of two corrections of one label, the second finds it withdrawn and stores nothing); nil for
    /// an unknown label. When the item is stored, `revise` sees it with both labels (under the item's lock) and may
    /// change its decision (`ReviewRules.correction`), written in the same transaction with its event.
    func correctLabel(id: Int64, label: String, by: String, at: Date,
                      revise: @escaping @Sendable (_ item: ItemState, _ withdrawn: LabelRecord, _ corrected: LabelRecord) -> DecisionRevision?) async throws
        -> LabelCorrection?
    /// Each labelled item's label as `LabelResolution` picks it, among items labelled at or after `since`.
    func resolvedLabels(since: Date?) async throws -> [ResolvedLabel]
    /// Labelled items that have engagement, with their label as `LabelResolution` picks it.
    func labelledItemsWithEngagement() async throws -> [(state: ItemState, label: String, baseline: FeedBaseline)]
    /// Every decided audit: the automatic decision it sampled (the item's creation stage), the auditor's label and the
    /// inclusion probability; with `since` / `until`, only those whose automatic decision was made at or after `since`
    /// and before `until`.
    func auditSamples(since: Date?, until: Date?) async throws -> [AuditSample]
    /// Every decided audit's item (feed and text), the auditor's label and the inclusion probability (for weighted
    /// evaluation), oldest first.
    func auditedTexts() async throws -> [AuditedText]
    /// Every ticket decided twice, oldest first.
    func doubleReviews() async throws -> [DoubleReview]
}

/// A stored gold item a reviewer may be handed: its known label, language and the priority it had in the queue.
public struct GoldCandidate: Sendable {
    public var feed: String
    public var itemID: String
    public var label: String
    public var language: String?
    /// When the item arrived.
    public var receivedAt: Date
    /// The item's last ticket before it became gold (nil: it never had one): why it opened, its priority without
    /// urgency, and how long it took from opening to its decision (nil: never decided).
    public var earlier: (reasons: Set<TicketReason>, basePriority: Double, secondsToDecision: Double?)?

    public init(feed: String, itemID: String, label: String, language: String?, receivedAt: Date,
                earlier: (reasons: Set<TicketReason>, basePriority: Double, secondsToDecision: Double?)?) {
        self.feed = feed
        self.itemID = itemID
        self.label = label
        self.language = language
        self.receivedAt = receivedAt
        self.earlier = earlier
    }
}

/// The review queue: reports, tickets and their steps, gold items.
public protocol ReviewRepository: Sendable {
    /// Records `reporter`'s report on the item (once per reporter) and opens or joins a ticket when `decide` asks.
    /// Nil for an unknown item.
    func recordReport(feed: String, id: String, reporter: String, at: Date,
                      decide: @escaping @Sendable (ReportContext) -> (weighted: Double, ticket: TicketOpening?)) async throws -> ReportOutcome?
    /// Opens a ticket for the item (or joins its open one, by `Ticket.joining`) and returns it; nil for an unknown item.
    func openTicket(feed: String, id: String, _ opening: @escaping @Sendable (ItemState) -> TicketOpening) async throws -> Ticket?
    /// Leases up to `request.count` open tickets the reviewer may take (those they already hold included, a gold one
    /// too, as a real one comes back: with a fresh lease of `workflow`'s length), highest priority first, without
    /// waiting on other claims; with `gold`, the first is a gold ticket (`ReviewWorkflow.goldTicket`) when a gold item
    /// is left that the reviewer has not been handed.
    func claim(_ request: ClaimRequest, now: Date, workflow: ReviewWorkflow, gold: Bool) async throws -> [TicketView]
    func ticket(id: Int64) async throws -> TicketView?
    /// One step of a ticket's life: loads the ticket, its hidden reviews and its item under a lock on the ticket,
    /// runs `step` (a `ReviewWorkflow` function) and writes the `TicketChange` it returns, all in one transaction.
    /// - Throws: `TicketError.notFound` for an unknown ticket; whatever `step` throws, writing nothing.
    func changeTicket(id: Int64, _ step: @escaping @Sendable (TicketState) throws -> TicketChange) async throws -> DecidedTicket
    /// Open tickets of a tier, highest stored priority first, after `cursor` (priority, id): the real ones, and the gold
    /// ones `goldHeldBy`'s reviewer holds at its time (a queue that left out the gold tickets its reader held told them
    /// apart, outside testing).
    func reviewQueue(tier: ReviewTier, after cursor: (priority: Double, id: Int64)?, limit: Int, goldHeldBy: (reviewer: String, at: Date)?) async throws
        -> [(ticket: Ticket, priority: Double)]
    func reviewStats(now: Date) async throws -> ReviewStats
    /// Recomputes stored priorities that are due for it (and withdraws gold tickets whose lease ran out); returns how many.
    func refreshTicketPriorities(now: Date, limit: Int) async throws -> Int
    /// Marks a stored item as gold with its known label; false for an unknown item.
    func addGold(feed: String, id: String, label: String, by: String, at: Date) async throws -> Bool
    /// Up to `limit` of the newest items received since `since` that never had a ticket and have no label, newest first.
    func learningCandidates(since: Date, limit: Int) async throws -> [ItemState]
    /// Tickets opened since `since` with `reason` among their reasons.
    func ticketsOpened(reason: TicketReason, since: Date) async throws -> Int
}

/// The model registry and the learned engagement model.
public protocol ModelRepository: Sendable {
    /// Records a model version with its file's bytes (so every node sharing the database can load every version);
    /// false, storing nothing, if the version is registered already.
    func registerModel(_ record: ModelVersionRecord, file: [UInt8]) async throws -> Bool
    /// The file of a registered version; nil for an unknown version, or one registered before files were kept in
    /// the database (its copy in the registry directory, `record.file`, serves then).
    func modelFile(version: String) async throws -> [UInt8]?
    func modelVersions() async throws -> [ModelVersionRecord]
    func recordPromotion(_ promotion: ModelPromotion) async throws
    /// Every change of the active model, oldest first.
    func promotions() async throws -> [ModelPromotion]
    func saveEngagementModel(_ model: EngagementModel, at: Date) async throws
    func latestEngagementModel() async throws -> EngagementModel?
}

/// The retraining loop's log: one row per pass, taken by one node.
public protocol RetrainRepository: Sendable {
    /// Writes a new pass, and `event` with it; false (writing neither) when a pass with its id exists (another node took
    /// that pass first).
    func startRetrainPass(_ pass: RetrainPass, event: RetrainingEvent?) async throws -> Bool
    /// Saves `pass`, and `event` with it, when the stored pass is still in `expected` (a compare-and-set); false (writing
    /// neither) when it was not.
    func updateRetrainPass(_ pass: RetrainPass, expected: RetrainPass.State, event: RetrainingEvent?) async throws -> Bool
    /// The newest passes first: of every model, or of one (`.model(feed: nil)` is the shared model's).
    func retrainPasses(_ selection: RetrainPass.Selection, limit: Int) async throws -> [RetrainPass]
    /// The highest label id, 0 without labels.
    func latestLabelID() async throws -> Int64
}

/// Decision events and retraining steps (written by the other repositories with the changes they record) and each
/// feed's webhook. A step of the shared model's retraining (feed nil) belongs to every feed: it is read, delivered,
/// counted and pruned with each feed's own events.
public protocol DecisionEventRepository: Sendable {
    /// Events after `after` in order, of one feed or (nil) of every feed; with `retraining`, the retraining steps too
    /// (a feed's own model's, and the shared model's with every feed's).
    func changeEvents(feed: String?, after: Int64, limit: Int, retraining: Bool) async throws -> [ChangeEvent]
    /// The newest event's number, 0 when there is none.
    func latestEventSeq() async throws -> Int64
    /// The highest event number pruned among the events a reader of the feed (nil: every feed) gets, with or without
    /// the shared model's retraining steps: a reader whose cursor is below it has missed events. 0 when nothing was
    /// pruned.
    func prunedThrough(feed: String?, retraining: Bool) async throws -> Int64
    /// Deletes events written before `before`, except those a feed's webhook has not delivered yet; returns how many.
    func pruneEvents(before: Date) async throws -> Int
    /// How many of the feed's events its webhook has not delivered, and the time of the oldest (nil when none waits).
    func undeliveredEvents(feed: String) async throws -> (count: Int, oldest: Date?)

    /// Sets the feed's webhook. A new one starts after the newest event now (`deliveredSeq`); a replaced one keeps its
    /// deliveries' place and figures, and its backoff starts again. An attempt in flight keeps its lease: when the
    /// receiver took it, it is recorded as delivered (it was: resending it under the new endpoint's message id made a
    /// receiver that drops repeats by id apply the events twice); the next message goes to the new endpoint.
    func saveWebhook(_ endpoint: WebhookEndpoint) async throws -> (record: WebhookRecord, replaced: Bool)
    func webhook(feed: String) async throws -> WebhookRecord?
    func webhooks() async throws -> [WebhookRecord]
    /// False when the feed had none.
    func removeWebhook(feed: String) async throws -> Bool
    /// Leases up to `limit` webhooks to `holder` until `until`: those due (`nextAttemptAt` passed) with events to
    /// deliver, whose lease is free or ran out. One holder at a time, however many nodes ask. A webhook without a
    /// message in flight gets one in the same write: its next `batchSize` events (`batchThrough`, the last of them),
    /// which every attempt then sends, whichever node makes it.
    func leaseDueWebhooks(now: Date, holder: String, until: Date, limit: Int, batchSize: Int) async throws -> [WebhookRecord]
    /// Records what an attempt did and ends `holder`'s lease; false (recording nothing) when the lease is not theirs.
    func recordDelivery(feed: String, holder: String, _ result: DeliveryResult) async throws -> Bool
}

extension RetrainRepository {
    /// The newest pass of the shared model (nil) or of one feed's own.
    public func latestRetrainPass(feed: String?) async throws -> RetrainPass? {
        try await retrainPasses(.model(feed: feed), limit: 1).first
    }
}

extension BankRepository {
    /// Creates or changes a bank (`saveBank(_:replacing:)` with `replacing` true).
    public func saveBank(_ bank: Bank) async throws -> (bank: Bank, created: Bool) { try await saveBank(bank, replacing: true) }
}

/// Banks of signatures (issue 21) and their entries. Every write raises the bank's version and gives the entries it
/// touches the next revision, so that every node's index follows the banks by reading what changed after the
/// revision it has (`bankChanges`).
public protocol BankRepository: Sendable {
    /// Creates a bank (version 1), or changes an existing one's label, action, feeds and description (version + 1;
    /// its entries, creator and creation time stay). `created` tells which. With `replacing` false an existing bank
    /// is returned as it is, in the same transaction as the check (what two nodes creating one bank at once need).
    func saveBank(_ bank: Bank, replacing: Bool) async throws -> (bank: Bank, created: Bool)
    func banks() async throws -> [Bank]
    func bank(named name: String) async throws -> Bank?
    /// Removes a bank and every entry of it; false when there was none.
    func removeBank(named name: String, at: Date) async throws -> Bool
    /// Adds entries to a bank; nil when there is no such bank. An entry whose signature is already live in the bank
    /// on the same footing (the same label, or no label for both) is not added again: the live one is returned in its
    /// place. On another label it is a second entry, so that each leaves only with its own label (a wave's copies
    /// stay banked when the lead's decision is taken back; an admin's entry stays when a label is withdrawn).
    /// `added`: how many were new (counted in the transaction: concurrent imports each get their own).
    func addBankEntries(bank: String, _ entries: [NewBankEntry], by: String, at: Date) async throws -> (bank: Bank, entries: [BankEntry], added: Int)?
    /// Removes entries of a bank by id: the bank after it and how many were live; nil for an unknown bank.
    func removeBankEntries(bank: String, ids: [Int64], at: Date) async throws -> (bank: Bank, removed: Int)?
    /// Removes every live entry added on the strength of one of these labels (withdrawn or corrected): those removed.
    func removeBankEntries(labelIDs: [Int64], at: Date) async throws -> [BankEntry]
    /// A bank's live entries with ids above `after`, by id.
    func bankEntries(bank: String, after: Int64, limit: Int) async throws -> [BankEntry]
    /// Entries added or removed after (`revision`, `entryID`), in that order: what a node's index has not seen. One
    /// write gives all its entries one revision, so the entry id continues a page cut inside a revision.
    func bankChanges(after revision: Int64, entryID: Int64, limit: Int) async throws -> [BankChange]
}

/// An entry added (or removed, `removed`) at `revision`.
public struct BankChange: Equatable, Sendable {
    public var revision: Int64
    public var entry: BankEntry
    public var removed: Bool

    public init(revision: Int64, entry: BankEntry, removed: Bool) {
        self.revision = revision
        self.entry = entry
        self.removed = removed
    }
}

/// Every repository of one database.
public protocol Store: ItemRepository, PolicyRepository, KeyRepository, LabelRepository, ReviewRepository, ModelRepository,
                       DecisionEventRepository, RetrainRepository, BankRepository {
    /// Throws unless the store can write now.
    func checkWritable() async throws
}

extension ReviewRepository {
    /// Extends the caller's live lease.
    public func renew(ticket: Int64, reviewer: String, now: Date, workflow: ReviewWorkflow) async throws -> Ticket {
        try await changeTicket(id: ticket) { try workflow.renew($0, reviewer: reviewer, now: now) }.ticket
    }

    /// Returns the ticket to the queue (a gold ticket is withdrawn).
    public func release(ticket: Int64, reviewer: String, version: Int?, now: Date, workflow: ReviewWorkflow) async throws -> Ticket {
        try await changeTicket(id: ticket) { try workflow.release($0, reviewer: reviewer, version: version, now: now) }.ticket
    }

    /// Moves the ticket to tier 2 with the reviewer's note.
    public func escalate(ticket: Int64, reviewer: String, version: Int?, note: String, now: Date, workflow: ReviewWorkflow) async throws -> Ticket {
        try await changeTicket(id: ticket) { try workflow.escalate($0, reviewer: reviewer, version: version, note: note, now: now) }.ticket
    }

    /// Decides a ticket the reviewer holds (`ReviewWorkflow.decide`).
    public func decide(ticket: Int64, reviewer: String, decision: TicketDecision, action: Action, now: Date,
                       workflow: ReviewWorkflow) async throws -> DecidedTicket {
        try await changeTicket(id: ticket) { try workflow.decide($0, reviewer: reviewer, decision: decision, action: action, now: now) }
    }
}

extension ItemRepository {
    /// `recordEngagement` keeping the default number of snapshots per item (`EngineConfiguration.maxSnapshotsPerItem`).
    public func recordEngagement(feed: String, id: String, snapshot: EngagementSnapshot,
                                 decide: @escaping @Sendable (EngagementContext) throws -> Staged?) async throws -> EngagementOutcome? {
        try await recordEngagement(feed: feed, id: id, snapshot: snapshot, keepingAtMost: EngineConfiguration().maxSnapshotsPerItem, decide: decide)
    }
}

extension ReviewRepository {
    /// Open real tickets of a tier, highest stored priority first, after `cursor` (priority, id).
    public func reviewQueue(tier: ReviewTier, after cursor: (priority: Double, id: Int64)?, limit: Int) async throws -> [(ticket: Ticket, priority: Double)] {
        try await reviewQueue(tier: tier, after: cursor, limit: limit, goldHeldBy: nil)
    }
}

extension LabelRepository {
    /// Every label of one item (withdrawn ones included), oldest first.
    public func labels(feed: String, itemID: String) async throws -> [LabelRecord] {
        try await labels(feed: feed, itemIDs: [itemID])
    }

    /// Withdraws a label without touching the item's decision.
    public func withdrawLabel(id: Int64, by: String, at: Date) async throws -> (label: LabelRecord, changed: Bool)? {
        try await withdrawLabel(id: id, by: by, at: at) { _, _ in nil }
    }

    /// Corrects a label without touching the item's decision.
    public func correctLabel(id: Int64, label: String, by: String, at: Date) async throws -> LabelCorrection? {
        try await correctLabel(id: id, label: label, by: by, at: at) { _, _, _ in nil }
    }

    /// Every decided audit (no period).
    public func auditSamples() async throws -> [AuditSample] { try await auditSamples(since: nil, until: nil) }
}
