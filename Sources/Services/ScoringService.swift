import Engine
import Foundation
import Learning
import Synchronization

/// The three stages end to end: scores with the active model, decides with the engine under the feed's policy,
/// and stores every step. The HTTP routes, the scheduler and `winnow rescore` all go through it.
public final class ScoringService: Sendable {
    public let store: any Store
    public let engine: ScoringEngine
    public let model: ActiveModel
    public let metrics: ServerMetrics
    public let clock: @Sendable () -> Date
    /// When items go to review, and how a person's decision stands over later stages.
    public var rules: ReviewRules { ReviewRules(configuration: engine.configuration.review, clearLabel: engine.configuration.clearLabel) }
    /// Every feed's current policy (loaded at start, written through on change).
    private let policyCache = Mutex<[String: Policy]>([:])
    private let engagementModelCache = Mutex<EngagementModel?>(nil)
    /// A candidate scoring live items beside the active model, never acting (shadow mode).
    fileprivate let shadowSlot = Mutex<Shadow?>(nil)
    /// Feeds with a model of their own, by feed; every other feed is scored by `model` (the shared model).
    private let feedModels = Mutex<[String: ActiveModel]>([:])
    /// The standard policy (version 0) of feeds without a stored one, built once per feed.
    private let standardPolicies = Mutex<[String: Policy]>([:])
    /// Rung after every committed decision event of this process: wakes long polls of the changes feed and the webhook
    /// deliverer at once (other nodes' events are found by their polling).
    public let bell = EventBell()
    /// The banks stage 1 matches items against (this node's index of them).
    public let banks: BankService

    public init(store: any Store, engine: ScoringEngine, model: ActiveModel, metrics: ServerMetrics = ServerMetrics(),
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.engine = engine
        self.model = model
        self.metrics = metrics
        self.clock = clock
        self.banks = BankService(store: store, metrics: metrics)
        metrics.activeModel(version: model.version)
    }

    /// The model that scores `feed`'s items: its own, or the shared one.
    public func model(for feed: String) -> ActiveModel {
        feedModels.withLock { $0[feed] } ?? model
    }

    /// The feeds with a model of their own, and its version.
    public var feedModelVersions: [String: String] { feedModels.withLock { $0.mapValues(\.version) } }

    /// Gives `feed` its own model (nil: the feed returns to the shared model). Requests already running finish with
    /// the model they started with.
    /// - Throws: `LearningError` or `PolicyError` for a model that cannot serve.
    public func setModel(_ model: TextClassifier?, for feed: String) throws {
        guard let model else {
            feedModels.withLock { _ = $0.removeValue(forKey: feed) }
            metrics.feedModel(feed: feed, version: nil)
            return
        }
        let active = try ActiveModel(model: model, source: "feed \(feed)")
        feedModels.withLock { $0[feed] = active }
        metrics.feedModel(feed: feed, version: active.version)
    }

    /// Loads stored policies and the engagement model; call once before serving.
    public func start() async throws {
        let stored = try await store.policies()
        policyCache.withLock { cache in for policy in stored { cache[policy.feed] = policy } }
        let engagementModel = try await store.latestEngagementModel()
        engagementModelCache.withLock { $0 = engagementModel }
        try await banks.sync()
    }

    /// Takes every feed's newest stored policy (saved through any node sharing the database).
    public func reloadPolicies() async throws {
        for policy in try await store.policies() { remember(policy) }
    }

    public var engagementModel: EngagementModel? { engagementModelCache.withLock { $0 } }

    public func reloadEngagementModel() async throws {
        let latest = try await store.latestEngagementModel()
        engagementModelCache.withLock { $0 = latest }
    }

    /// Counts committed decision events and rings the bell.
    public func eventsWritten(_ events: [DecisionEvent]) {
        guard !events.isEmpty else { return }
        metrics.eventsWritten(events)
        bell.ring()
    }

    // MARK: Policies

    /// The feed's policy: the stored one, or the standard policy for the model's classes (version 0).
    public func policy(feed: String) -> Policy {
        if let stored = policyCache.withLock({ $0[feed] }) { return stored }
        if let standard = standardPolicies.withLock({ $0[feed] }) { return standard }
        let standard = Policy.standard(feed: feed, classes: model.classes, clearLabel: engine.configuration.clearLabel).with(version: 0)
        standardPolicies.withLock { if $0.count < 10_000 { $0[feed] = standard } }
        return standard
    }

    public func isDefaultPolicy(feed: String) -> Bool { policyCache.withLock { $0[feed] == nil } }

    /// Validates and stores a new version of a feed's policy.
    /// - Throws: `ValidationError` naming the bad field.
    public func savePolicy(_ policy: Policy, by: String) async throws -> Policy {
        try check(policy)
        let saved = try await store.savePolicy(policy, by: by, at: clock())
        remember(saved)
        return saved
    }

    /// Makes the feed's next policy from its newest stored one (read from the store, not this node's cache, which may
    /// lag another node's save) with `change`, validates it and stores it only if that is still the newest: when
    /// another save came between, `change` runs again on that one. Two changes at once (two admins' PATCHes, on one
    /// node or two) both apply, one after the other, and each answer names the version it really replaced.
    /// - Parameter change: the next policy, or nil when it would change nothing (nothing is stored then).
    /// - Returns: the saved policy and the one it replaced (version 0: the standard policy), or nil for no change.
    /// - Throws: `ValidationError` naming the bad field; `PolicyContention` when saves kept coming between.
    public func updatePolicy(feed: String, by: String, _ change: (Policy) throws -> Policy?) async throws -> (saved: Policy, replaced: Policy)? {
        for _ in 0..<32 {
            let newest = try await store.policy(feed: feed)
            if let newest { remember(newest) }
            let current = newest ?? policy(feed: feed).with(version: 0)
            guard var next = try change(current) else { return nil }
            next.feed = feed
            try check(next)
            if let saved = try await store.savePolicy(next, by: by, at: clock(), replacing: current.version) {
                remember(saved)
                return (saved, current)
            }
        }
        throw PolicyContention(feed: feed)
    }

    /// Checks a policy as a whole before it is stored.
    /// - Throws: `ValidationError` naming the bad field.
    func check(_ policy: Policy) throws {
        do {
            try policy.validate()
        } catch let error as PolicyError {
            throw ValidationError(field: Self.field(of: error), error.description)
        }
        let classes = model.classes
        let clearLabel = engine.configuration.clearLabel
        for label in policy.rules.keys.sorted() {
            if let problem = Policy.unusableRule(label, classes: classes, clearLabel: clearLabel) { throw ValidationError(field: "rules.\(label)", problem) }
        }
    }

    /// Caches a saved policy unless a newer version of the feed's is there: two saves of one feed may resume in
    /// either order, and the store's latest is the higher version.
    func remember(_ saved: Policy) {
        policyCache.withLock { cache in
            if (cache[saved.feed]?.version ?? -1) < saved.version { cache[saved.feed] = saved }
        }
    }

    static func field(of error: PolicyError) -> String {
        switch error {
        case let .thresholdOutOfRange(label, cutOff, _): return "rules.\(label).\(cutOff)"
        case let .thresholdsOutOfOrder(label): return "rules.\(label)"
        case .invalidFeed: return "feed"
        case let .invalidRelevance(field, _): return "relevance.\(field)"
        case .reservedClass: return "body"
        }
    }

    // MARK: Stage 1

    /// What happened to one submitted item.
    public enum Submitted: Sendable {
        case created(ItemState)
        case existing(ItemState)
        case conflict(ItemState)
        case invalid(ValidationError)
    }

    /// Runs stage 1 on each item and stores the results; items that fail validation are reported, the others
    /// stored. A large batch is cut into parts that are scored in parallel (one scorer each, all of one model
    /// version) and stored as each is ready, so the database writes one part while the next ones are scored; the
    /// answer waits for every part's commit. Should storing fail, parts already committed stay stored: a retry of
    /// the batch gets their stored answers (submission is idempotent per item).
    public func submit(_ items: [ItemSubmission]) async throws -> [Submitted] {
        let now = clock()
        var outcomes = [Submitted?](repeating: nil, count: items.count)
        var valid: [Int] = []
        valid.reserveCapacity(items.count)
        var policies: [String: Policy] = [:]
        for (i, item) in items.enumerated() {
            do {
                try engine.validate(item, receivedAt: now)
            } catch let error as ValidationError {
                outcomes[i] = .invalid(error)
                continue
            }
            valid.append(i)
            if policies[item.feed] == nil { policies[item.feed] = policy(feed: item.feed) }
        }
        let stage = CreationStage(service: self, items: items, policies: policies, now: now)
        var created = 0
        for (positions, stored) in try await stage.run(valid, parts: Self.parts(valid, of: items)) {
            for (position, outcome) in zip(positions, stored) {
                switch outcome {
                case let .created(state):
                    created += 1
                    metrics.decision(stage: .creation, action: state.current.decision.action)
                    outcomes[position] = .created(state)
                case let .existing(state): outcomes[position] = .existing(state)
                case let .conflict(state): outcomes[position] = .conflict(state)
                }
            }
        }
        if !valid.isEmpty { metrics.items(created: created) }
        return outcomes.map { $0! }
    }

    /// Items per part of a large batch.
    static let partSize = 128

    /// How many parts to cut `positions` into: one for small batches, and one when an item id repeats within the
    /// batch (its occurrences must be stored in order: the first is created, the next ones find it).
    static func parts(_ positions: [Int], of items: [ItemSubmission]) -> Int {
        guard positions.count >= 2 * partSize else { return 1 }
        var seen = Set<ItemKey>(minimumCapacity: positions.count)
        for i in positions where !seen.insert(ItemKey(feed: items[i].feed, id: items[i].id)).inserted { return 1 }
        return (positions.count + partSize - 1) / partSize
    }

    struct ItemKey: Hashable {
        let feed: String
        let id: String
    }

    /// Stage 1 for a batch's valid items: scored, decided, and stored part by part.
    private struct CreationStage: Sendable {
        let service: ScoringService
        let items: [ItemSubmission]
        let policies: [String: Policy]
        let now: Date

        /// Each part's positions with what the store did with them.
        func run(_ positions: [Int], parts: Int) async throws -> [(ArraySlice<Int>, [CreateOutcome])] {
            guard !positions.isEmpty else { return [] }
            let loaded = Scorers(shared: service.model.snapshot, own: service.feedModels.withLock { $0 }.mapValues(\.snapshot))
            let shadow = service.shadowSlot.withLock { $0 }
            guard parts > 1 else { return [(positions[...], try await store(positions[...], loaded: loaded, shadow: shadow))] }
            let size = (positions.count + parts - 1) / parts
            return try await withThrowingTaskGroup(of: (Int, [CreateOutcome]).self) { group in
                for p in 0..<parts {
                    let part = positions[(p * size)..<min(positions.count, (p + 1) * size)]
                    group.addTask { (p, try await store(part, loaded: loaded, shadow: shadow)) }
                }
                var done = [[CreateOutcome]](repeating: [], count: parts)
                for try await (p, stored) in group { done[p] = stored }
                return (0..<parts).map { p in (positions[(p * size)..<min(positions.count, (p + 1) * size)], done[p]) }
            }
        }

        /// The models a run scores with, fixed at its start: the shared one and the feeds' own.
        struct Scorers: Sendable {
            let shared: ActiveModel.Loaded
            let own: [String: ActiveModel.Loaded]
        }

        func store(_ part: ArraySlice<Int>, loaded: Scorers, shadow: Shadow?) async throws -> [CreateOutcome] {
            try await service.store.createItems(score(part, loaded: loaded, shadow: shadow))
        }

        func score(_ part: ArraySlice<Int>, loaded: Scorers, shadow: Shadow?) -> [NewItem] {
            let engine = service.engine
            let rules = service.rules
            let reasons = engine.configuration.reasons
            let matchText = engine.configuration.banks.matchText
            let banks = service.banks.isEmpty ? nil : service.banks
            var tokenizer = Tokenizer()
            return service.model.withScorer(of: loaded.shared) { scorer in
                part.map { i in
                    let item = items[i]
                    let own = loaded.own.isEmpty ? nil : loaded.own[item.feed]
                    let text = own.map { model in service.model.withScorer(of: model) { $0.score(item.text, reasons: reasons) } }
                        ?? scorer.score(item.text, reasons: reasons)
                    let feedPolicy = policies[item.feed]!
                    var result = engine.creation(item, text: text, policy: feedPolicy, receivedAt: now)
                    let match = banks?.match(item, matchText: matchText, tokenizer: &tokenizer)
                    if let match { result = engine.applying(match, to: result) }
                    if let shadow, shadow.feed == nil ? own == nil : shadow.feed == item.feed {
                        shadow.compare(item, active: result, match: match, engine: engine, policy: feedPolicy, at: now)
                    }
                    let createdAt = item.creationTime(receivedAt: now)
                    let state = ItemState(submission: item, receivedAt: now, createdAt: createdAt, current: result, engagement: nil)
                    let tickets = [rules.opening(after: result, state: state, now: now), rules.audit(result, state: state, policy: feedPolicy, now: now)]
                        .compactMap { $0 }
                    return NewItem(submission: item, receivedAt: now, createdAt: createdAt, result: result,
                                   nextRescore: engine.configuration.schedule.next(createdAt: createdAt, after: now), tickets: tickets)
                }
            }
        }
    }

    // MARK: Stage 2

    /// Records an engagement snapshot and runs stage 2 when a trigger fires. Nil for an unknown item.
    /// Throws when the database cannot take a write now (full disk, read-only, unreachable): what `/ready` reports.
    public func checkWritable() async throws {
        try await store.checkWritable()
    }

    /// Item `id` of `feed` where it stands now, with every stage it went through; nil when it was never submitted.
    public func item(feed: String, id: String) async throws -> (state: ItemState, history: [HistoryEntry])? {
        try await store.itemWithHistory(feed: feed, id: id)
    }

    public func engagement(feed: String, id: String, snapshot: EngagementSnapshot) async throws -> EngagementOutcome? {
        try engine.validate(snapshot.counters, at: snapshot.at, now: clock())
        let engine = self.engine
        let model = self.model(for: feed)
        let policy = self.policy(feed: feed)
        let engagementModel = self.engagementModel
        let rules = self.rules
        let banks = self.banks
        let now = clock()
        let event = Mutex<DecisionEvent?>(nil)
        let outcome = try await store.recordEngagement(feed: feed, id: id, snapshot: snapshot,
                                                       keepingAtMost: engine.configuration.maxSnapshotsPerItem) { context in
            let ageHours = max(0, context.merged.at.timeIntervalSince(context.state.createdAt) / 3600)
            guard let trigger = engine.configuration.triggers.fired(previous: context.previous, current: context.merged.counters, ageHours: ageHours,
                                                                    lastEngagementStageAgeHours: context.lastEngagementStageAgeHours) else {
                return nil
            }
            let text = model.score(context.state.submission.text, reasons: engine.configuration.reasons)
            let scored = engine.rescore(stage: .engagement, trigger: trigger, state: context.state, engagement: context.merged, text: text, policy: policy,
                                        baseline: context.baseline, engagementModel: engagementModel, asOf: context.merged.at,
                                        now: max(now, context.state.current.scoredAt),
                                        keepingMatch: context.state.current.match.map(banks.isLive) ?? false)
            let result = rules.keepingHumanDecision(scored, context.state.reviewed, after: context.state.current)
            var state = context.state
            state.engagement = context.merged
            let change = DecisionEvent.change(of: context.state, to: result, reviewed: context.state.reviewed, cause: DecisionEvent.automatic(result))
            event.withLock { $0 = change }
            return Staged(result: result, ticket: rules.opening(after: result, state: state, now: now), event: change)
        }
        if let result = outcome?.result {
            metrics.decision(stage: .engagement, action: result.decision.action)
            eventsWritten(event.withLock { $0 }.map { [$0] } ?? [])
        }
        return outcome
    }

    // MARK: Stage 3

    /// Runs every due rescore (in transactions of `batch`), returning how many ran.
    @discardableResult
    public func rescoreDue(batch: Int = 500) async throws -> Int {
        let engine = self.engine
        let engagementModel = self.engagementModel
        let metrics = self.metrics
        let rules = self.rules
        var total = 0
        while true {
            let now = clock()
            // Counted once the transaction has committed (a failed pass is retried and must not count twice).
            let decided = Mutex<[Action]>([])
            let events = Mutex<[DecisionEvent]>([])
            let ran = try await store.rescoreDue(now: now, limit: batch) { due in
                let text = self.model(for: due.state.submission.feed).score(due.state.submission.text, reasons: engine.configuration.reasons)
                let policy = self.policy(feed: due.state.submission.feed)
                let step = engine.configuration.schedule.step(scheduled: due.scheduled, createdAt: due.state.createdAt, now: now)
                let scored = engine.rescore(stage: .time, trigger: "scheduled \(RescoreSchedule.label(ageHours: step.ageHours))", state: due.state,
                                            engagement: due.state.engagement, text: text, policy: policy, baseline: due.baseline,
                                            engagementModel: engagementModel, now: max(now, due.state.current.scoredAt),
                                            keepingMatch: due.state.current.match.map(self.banks.isLive) ?? false)
                let result = rules.keepingHumanDecision(scored, due.state.reviewed, after: due.state.current)
                decided.withLock { $0.append(result.decision.action) }
                let event = DecisionEvent.change(of: due.state, to: result, reviewed: due.state.reviewed, cause: DecisionEvent.automatic(result))
                if let event { events.withLock { $0.append(event) } }
                return Rescored(result: result, next: step.next, ticket: rules.opening(after: result, state: due.state, now: now), event: event)
            }
            for action in decided.withLock({ $0 }) { metrics.decision(stage: .time, action: action) }
            eventsWritten(events.withLock { $0 })
            total += ran
            if ran < batch { break }
        }
        metrics.rescored(total)
        try await updateSchedulerGauges()
        return total
    }

    public func updateSchedulerGauges() async throws {
        let oldest = try await store.oldestDueRescore()
        let pending = try await store.pendingRescores()
        let lag = oldest.map { max(0, clock().timeIntervalSince($0)) } ?? 0
        metrics.scheduler(lagSeconds: lag, pending: pending)
    }

    // MARK: Relevance

    public struct Ranked: Codable, Equatable, Sendable {
        public var id: String
        public var relevance: Double
        public var quality: Double
        public var engagement: Double
        public var freshness: Double
        public var action: Action
    }

    public struct Excluded: Codable, Equatable, Sendable {
        public var id: String
        public var reason: String
    }

    /// Orders candidates by relevance under the feed's profile; removed and unknown items are left out, with why.
    public func rank(feed: String, ids: [String]) async throws -> (ranked: [Ranked], excluded: [Excluded]) {
        let profile = policy(feed: feed).relevance
        let now = clock()
        // Ids compare as bytes, as the store compares them (Swift's String equality would take "é" and "e\u{301}",
        // two items, for one).
        var seen = Set<[UInt8]>()
        let unique = ids.filter { seen.insert(Array($0.utf8)).inserted }
        let states = try await store.items(feed: feed, ids: unique)
        var byID: [[UInt8]: ItemState] = [:]
        for state in states { byID[Array(state.submission.id.utf8)] = state }
        var ranked: [Ranked] = []
        var excluded: [Excluded] = []
        for id in unique {
            guard let state = byID[Array(id.utf8)] else {
                excluded.append(Excluded(id: id, reason: "unknown item in feed '\(feed)'; submit it with POST /v1/items first"))
                continue
            }
            let decision = state.current.decision
            if decision.action == .remove {
                excluded.append(Excluded(id: id, reason: "removed at stage \(state.current.stage.rawValue): \(decision.reason)"))
                continue
            }
            let score = engine.relevance(of: state, profile: profile, now: now)
            ranked.append(Ranked(id: id, relevance: score.relevance, quality: score.quality, engagement: score.engagement,
                                 freshness: score.freshness, action: decision.action))
        }
        ranked.sort { $0.relevance != $1.relevance ? $0.relevance > $1.relevance : $0.id < $1.id }
        return (ranked, excluded)
    }
}

extension Policy {
    func with(version: Int) -> Policy {
        var copy = self
        copy.version = version
        return copy
    }
}

// MARK: Shadow mode

/// What a shadow candidate would have done differently from the active model, at stage 1, since it started.
public struct ShadowReport: Codable, Equatable, Sendable {
    public var candidate: String
    /// The feed whose own model the candidate would replace; nil: the shared model.
    public var feed: String?
    public var since: Date
    public var items: Int
    /// Items where the candidate's most probable class differs from the active model's.
    public var labelDisagreements: Int
    /// Items where the candidate's decision under the feed's policy would have differed.
    public var actionDisagreements: Int
    /// Mean |P(harm) candidate − P(harm) active|.
    public var meanHarmDifference: Double
    /// Decisions by (active action → candidate action), e.g. "allow→review".
    public var transitions: [String: Int]
}

/// A candidate model scoring live items beside the active one; it never acts.
final class Shadow: Sendable {
    let model: ActiveModel
    /// The feed whose own model the candidate would replace; nil: the shared model (items of feeds with their own
    /// model are not compared).
    let feed: String?
    /// Started by the retraining loop for a pass (not by an admin).
    let byLoop: Bool
    private let state: Mutex<ShadowReport>

    init(model: ActiveModel, feed: String?, since: Date, byLoop: Bool = false) {
        self.model = model
        self.feed = feed
        self.byLoop = byLoop
        self.state = Mutex(ShadowReport(candidate: model.version, feed: feed, since: since, items: 0, labelDisagreements: 0, actionDisagreements: 0,
                                        meanHarmDifference: 0, transitions: [:]))
    }

    /// `match`: the bank entry that decided the item, which decides it whatever the model (outside testing: items a
    /// bank removed counted as the candidate allowing them, 72% "would change", and held back every promotion).
    func compare(_ item: ItemSubmission, active: StageResult, match: BankMatch? = nil, engine: ScoringEngine, policy: Policy, at: Date) {
        let text = model.score(item.text, reasons: 0)
        var mine = engine.creation(item, text: text, policy: policy, receivedAt: at)
        if let match { mine = engine.applying(match, to: mine) }
        let clear = engine.configuration.clearLabel
        let difference = abs((mine.probabilities[clear] ?? 0) - (active.probabilities[clear] ?? 0))
        state.withLock { r in
            r.meanHarmDifference = (r.meanHarmDifference * Double(r.items) + difference) / Double(r.items + 1)
            r.items += 1
            if mine.label != active.label { r.labelDisagreements += 1 }
            if mine.decision.action != active.decision.action {
                r.actionDisagreements += 1
                r.transitions["\(active.decision.action.rawValue)→\(mine.decision.action.rawValue)", default: 0] += 1
            }
        }
    }

    var report: ShadowReport { state.withLock { $0 } }
}

extension ScoringService {
    /// Starts scoring items with `model` beside the active one (replacing any shadow running): beside the shared
    /// model, or with `feed`, beside that feed's model on that feed's items only.
    public func startShadow(_ model: TextClassifier, feed: String? = nil, byLoop: Bool = false) throws {
        let shadow = Shadow(model: try ActiveModel(model: model, source: "shadow"), feed: feed, since: clock(), byLoop: byLoop)
        shadowSlot.withLock { $0 = shadow }
    }

    /// Whether the running shadow is a retraining pass's (it ends with the pass; an admin's is the admin's to end).
    public var shadowIsTheLoops: Bool { shadowSlot.withLock { $0?.byLoop ?? false } }

    /// Stops the shadow and returns what it found.
    @discardableResult
    public func stopShadow() -> ShadowReport? {
        shadowSlot.withLock { slot in
            defer { slot = nil }
            return slot?.report
        }
    }

    public var shadowReport: ShadowReport? { shadowSlot.withLock { $0?.report } }
}

/// A feed's policy kept changing under an update (other saves came between its read and its write, again and again).
public struct PolicyContention: Error, Equatable, Sendable, CustomStringConvertible {
    public var feed: String

    public var description: String {
        "Feed \(feed)'s policy kept changing while this change was applied (others are saving it at the same moment); nothing was stored. Try again."
    }
}
