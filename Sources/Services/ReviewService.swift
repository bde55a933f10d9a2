import Engine
import Learning
import Foundation

/// The review desk: reports and appeals open tickets, moderators claim, decide, release and escalate them. The
/// HTTP routes go through it; the rules are the Engine's (`ReviewRules`), the state the store's.
public struct ReviewService: Sendable {
    public let scoring: ScoringService
    /// Draws a number in [0, 1) for seeding gold tickets (tests inject a fixed draw).
    let draw: @Sendable () -> Double
    /// Where decisions' labels go to be learnt online (when that is on).
    public let labels: LabelService?

    public init(scoring: ScoringService, labels: LabelService? = nil, draw: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.scoring = scoring
        self.labels = labels
        self.draw = draw
    }

    var store: any Store { scoring.store }
    var rules: ReviewRules { scoring.rules }
    var workflow: ReviewWorkflow { ReviewWorkflow(rules: scoring.rules) }
    var configuration: ReviewConfiguration { scoring.engine.configuration.review }
    var now: Date { scoring.clock() }

    /// Records a report; weighted reports past the bar open (or join) a ticket. Nil for an unknown item.
    public func report(feed: String, id: String, reporter: String, at: Date?) async throws -> ReportOutcome? {
        guard ValidationError.isIdentifier(reporter) else {
            throw ValidationError(field: "reporter", "give the reporting user's id: 1-256 UTF-8 bytes, not only blanks, no control characters and no invisible ones (as item ids)")
        }
        let now = self.now
        // The times engagement may carry (outside testing: a report could be a day ahead, or before the item existed,
        // where engagement is refused 5 minutes ahead and before creation).
        if let at {
            try ScoringEngine.checkFeedTime(at, now: now, what: "the time of the report")
            guard let item = try await store.item(feed: feed, id: id) else { return nil }
            try item.checkReportTime(at)
        }
        let rules = self.rules
        let configuration = self.configuration
        return try await store.recordReport(feed: feed, id: id, reporter: reporter, at: at ?? now) { context in
            let weighted = context.reporters.reduce(0) { $0 + ReporterWeight.weight(upheld: $1.upheld, rejected: $1.rejected) }
            let cleared = context.state.reviewed.map { $0.action == .allow } ?? false
            guard ReporterWeight.opensTicket(weightedReports: weighted, threshold: configuration.reportThreshold, clearedByPerson: cleared,
                                             reopenFactor: configuration.reopenFactor,
                                             removed: context.state.current.decision.action == .remove) else { return (weighted, nil) }
            return (weighted, rules.opening(.reports, state: context.state, now: now))
        }
    }

    /// A feed appeals the item's decision: a ticket in tier 1, or tier 2 when a person made the decision.
    public func appeal(feed: String, id: String, by: String, note: String?) async throws -> Ticket? {
        if let note, note.utf8.count > 4_000 { throw ValidationError(field: "note", "the note is longer than 4,000 bytes") }
        if let note { try ValidationError.checkNoNUL(note, field: "note") }
        let now = self.now
        let rules = self.rules
        return try await store.openTicket(feed: feed, id: id) { state in
            rules.opening(.appeal, state: state, tier: state.reviewed == nil ? .one : .two, now: now, by: by, note: note)
        }
    }

    /// Hands out the best open tickets the request's routes reach. `allowedTiers`: the tiers the reviewer's key may
    /// work (`APIKeyRecord.workableTiers`); asking for another is refused.
    public func claim(_ request: ClaimRequest, allowedTiers: Set<ReviewTier> = Set(ReviewTier.allCases)) async throws -> [TicketView] {
        if let refused = request.tiers.first(where: { !allowedTiers.contains($0) }) {
            throw ReviewAccessError(reviewer: request.reviewer, tier: refused, allowed: allowedTiers, field: "tiers")
        }
        guard (1...configuration.maxClaim).contains(request.count) else {
            throw ValidationError(field: "count", "claim between 1 and \(configuration.maxClaim) tickets at a time")
        }
        guard !request.tiers.isEmpty else { throw ValidationError(field: "tiers", "name at least one tier: 1 or 2") }
        try request.checkLimits()
        let gold = configuration.goldRate > 0 && draw() < configuration.goldRate
        var views = try await store.claim(request, now: now, workflow: workflow, gold: gold)
        // The queue ran dry for this reviewer: offer what the model would learn most from, within the day's budget.
        if views.count < request.count, configuration.learningOffersPerDay > 0, request.tiers.contains(.one),
           try await offerLearning(count: request.count - views.count, for: request) > 0 {
            var rest = request
            rest.count = request.count - views.count
            // A claim hands back what the reviewer already holds too, with its lease renewed: keep each ticket once,
            // as the later claim left it.
            let more = try await store.claim(rest, now: now, workflow: workflow, gold: false)
            let renewed = Dictionary(more.map { ($0.ticket.id, $0) }, uniquingKeysWith: { _, last in last })
            let held = Set(views.map(\.ticket.id))
            views = views.map { renewed[$0.ticket.id] ?? $0 } + more.filter { !held.contains($0.ticket.id) }
        }
        return views
    }

    /// Opens up to `count` learning offers (tier 1) within what is left of the rolling day's
    /// `learningOffersPerDay`; returns how many it opened. Nodes share the budget through the database (two nodes
    /// offering at the same instant can pass it by a claim's worth).
    @discardableResult
    public func offerLearning(count: Int, for request: ClaimRequest? = nil) async throws -> Int {
        let now = self.now
        let used = try await store.ticketsOpened(reason: .learning, since: now.addingTimeInterval(-86_400))
        let budget = min(count, configuration.learningOffersPerDay - used)
        guard budget > 0 else { return 0 }
        let candidates = try await store.learningCandidates(since: now.addingTimeInterval(-configuration.learningWindowHours * 3600), limit: 500)
        let rules = self.rules
        var opened = 0
        // Only items the reviewer asking may take: their languages (an item without one: anyone) and their skills.
        let languages = Set((request?.languages ?? []).map { $0.lowercased() }), skills = Set(request?.skills ?? [])
        let takeable = candidates.filter { state in
            if !languages.isEmpty, let language = state.submission.language?.lowercased(), !languages.contains(language) { return false }
            if request != nil, let skill = rules.skill(state.current), !skills.contains(skill) { return false }
            return true
        }
        for state in rules.learningOffers(takeable, count: budget) {
            if try await store.openTicket(feed: state.submission.feed, id: state.submission.id, { state in rules.opening(.learning, state: state, now: now) }) != nil {
                opened += 1
            }
        }
        return opened
    }

    public func renew(ticket: Int64, reviewer: String) async throws -> Ticket {
        try await store.renew(ticket: ticket, reviewer: reviewer, now: now, workflow: workflow)
    }

    public func release(ticket: Int64, reviewer: String, version: Int?) async throws -> Ticket {
        try await store.release(ticket: ticket, reviewer: reviewer, version: version, now: now, workflow: workflow)
    }

    public func escalate(ticket: Int64, reviewer: String, version: Int?, note: String) async throws -> Ticket {
        guard !note.isBlank else {
            throw ValidationError(field: "note", "say why you escalate: tier 2 reads your note with the item's history")
        }
        guard note.utf8.count <= 4_000 else { throw ValidationError(field: "note", "the note is longer than 4,000 bytes") }
        try ValidationError.checkNoNUL(note, field: "note")
        return try await store.escalate(ticket: ticket, reviewer: reviewer, version: version, note: note, now: now, workflow: workflow)
    }

    public func decide(ticket: Int64, reviewer: String, decision: TicketDecision) async throws -> DecidedTicket {
        let action = try rules.validate(decision, classes: scoring.model.classes)
        var decided = try await store.decide(ticket: ticket, reviewer: reviewer, decision: decision, action: action, now: now, workflow: workflow)
        decided.action = action
        await afterDecision(decided, by: reviewer)
        return decided
    }

    /// What follows a stored decision, the lead's or a wave copy's: it is counted (gold answers are not the item's
    /// decision), its event rings the deliverer, its labels are learnt online, and a removal is banked. The decision
    /// stands whatever happens here: a bank that cannot be written now misses this copy only.
    private func afterDecision(_ decided: DecidedTicket, by reviewer: String) async {
        if decided.ticket.goldLabel == nil, decided.outcome == .decided, let action = decided.action {
            scoring.metrics.decision(stage: .review, action: action)
        }
        scoring.eventsWritten(decided.decisionEvent.map { [$0] } ?? [])
        await labels?.learnOnline(learn: decided.labels, by: reviewer)
        _ = try? await scoring.banks.bankRemoval(decided, configuration: scoring.engine.configuration.banks,
                                                 clearLabel: scoring.engine.configuration.clearLabel)
        if let action = decided.action { _ = try? await scoring.banks.unbankOverruled(decided, action: action) }
    }

    // MARK: Waves

    /// How far down the queue copies of a ticket's item are looked for.
    public static let waveSearch = 500

    /// The open tickets of the same feed and tier whose items are copies of `view`'s (the banks' matching rules:
    /// near-duplicate text, images within PDQ's distance, videos by their frames), among the first `waveSearch` of
    /// the queue, that `viewer` may decide: free ones and those `viewer` holds (a claim of several tickets often
    /// holds copies of each other), not those someone else holds. Gold tickets and blind audits are never part of a
    /// wave.
    public func wave(of view: TicketView, for viewer: String) async throws -> [Ticket] {
        try await waves(of: [view], for: viewer)[0]
    }

    /// `wave(of:for:)` for each of `views` (a claim's tickets), reading each tier's queue and each feed's items once.
    public func waves(of views: [TicketView], for viewer: String) async throws -> [[Ticket]] {
        var tokenizer = Tokenizer()
        let matchText = scoring.engine.configuration.banks.matchText
        func signatures(_ item: ItemSubmission) -> ItemSignatures {
            ItemSignatures(text: matchText ? TextSignature(text: item.text, tokenizer: &tokenizer) : nil, media: item.media)
        }
        let leads = views.map { view -> ItemSignatures? in
            guard view.ticket.goldLabel == nil, !view.ticket.isBlind else { return nil }
            let lead = signatures(view.item.submission)
            return lead.isEmpty ? nil : lead
        }
        var queues: [ReviewTier: [Ticket]] = [:]
        var items: [String: [String: ItemSignatures]] = [:]  // feed → item id → signatures
        var out: [[Ticket]] = []
        for (view, lead) in zip(views, leads) {
            guard let lead else { out.append([]); continue }
            let tier = view.ticket.tier, feed = view.ticket.feed
            if queues[tier] == nil { queues[tier] = try await store.reviewQueue(tier: tier, after: nil, limit: Self.waveSearch).map(\.ticket) }
            let candidates = queues[tier]!.filter {
                $0.id != view.ticket.id && $0.feed == feed && $0.goldLabel == nil && !$0.isBlind
                    && ($0.lease.map { $0.until <= now || $0.holder == viewer } ?? true)
            }
            let missing = candidates.map(\.itemID).filter { items[feed]?[$0] == nil }
            if !missing.isEmpty {
                for item in try await store.items(feed: feed, ids: Array(Set(missing))) {
                    items[feed, default: [:]][item.submission.id] = signatures(item.submission)
                }
            }
            var copies = candidates.filter { items[feed]?[$0.itemID]?.matches(lead) == true }
            if tier == .two {
                // Four eyes: at tier 2 nobody decides an item they judged before, a wave's copies included (they were
                // offered, and settled, though the claim would never hand them to this reviewer).
                var kept: [Ticket] = []
                for copy in copies where try await !judged(feed: feed, item: copy.itemID, by: viewer) { kept.append(copy) }
                copies = kept
            }
            out.append(copies)
        }
        return out
    }

    /// Whether `reviewer` decided or escalated a ticket of the item (its history says so).
    func judged(feed: String, item: String, by reviewer: String) async throws -> Bool {
        try await store.history(feed: feed, id: item)?.contains { entry in
            if case let .ticket(event) = entry { (event.kind == .decided || event.kind == .escalated) && event.by == reviewer } else { false }
        } ?? false
    }

    /// Decides ticket `id`, and with `wave` every open copy of its item the same way (`ReviewWorkflow.decideCopy`):
    /// each copy gets its own stage, label and event, its note naming the wave. Copies someone else took meanwhile
    /// are left to them. Returns the lead's outcome and the copies decided.
    public func decide(ticket id: Int64, reviewer: String, decision: TicketDecision, wave: Bool) async throws -> (lead: DecidedTicket, copies: [DecidedTicket]) {
        let copies = wave ? try await self.wave(of: try await self.ticket(id: id, viewer: reviewer), for: reviewer) : []
        let lead = try await decide(ticket: id, reviewer: reviewer, decision: decision)
        // Only a decision that stands settles the copies. A first review drawn for a second is hidden, and so must
        // its judgement be: applied to the copies it removed and banked them on one person's word (outside testing),
        // and an overturned first review left them so. The copies wait, as after a disagreement, for the decision
        // that stands (its reviewer's wave settles them).
        guard lead.outcome == .decided, !copies.isEmpty else { return (lead, []) }
        let action = try rules.validate(decision, classes: scoring.model.classes)
        let workflow = self.workflow, now = self.now
        var decided: [DecidedTicket] = []
        for copy in copies {
            do {
                var outcome = try await store.changeTicket(id: copy.id) { state in
                    try workflow.decideCopy(state, of: id, reviewer: reviewer, decision: decision, action: action, now: now)
                }
                outcome.action = action
                await afterDecision(outcome, by: reviewer)
                decided.append(outcome)
            } catch is TicketError {
                continue
            }
        }
        return (lead, decided)
    }

    /// Takes back `reviewer`'s own decision of ticket `id` within the configured minutes (`ReviewWorkflow.undo`): the
    /// ticket is theirs again to decide, the labels of the decision are withdrawn (and unlearnt, with online learning
    /// on), the item's decision is the policy's again.
    /// `allowedTiers`: the tiers the reviewer's key may work; a ticket lifted out of them since (an appeal lifts a
    /// hidden first review's ticket to tier 2) is not given back to them (it was, leased, and they could decide it).
    public func undo(ticket id: Int64, reviewer: String, allowedTiers: Set<ReviewTier> = Set(ReviewTier.allCases)) async throws -> DecidedTicket {
        let workflow = self.workflow, now = self.now, scoring = self.scoring
        let undone = try await store.changeTicket(id: id) { state in
            guard allowedTiers.contains(state.ticket.tier) else {
                throw ReviewAccessError(reviewer: reviewer, tier: state.ticket.tier, allowed: allowedTiers, ticket: id)
            }
            return try workflow.undo(state, reviewer: reviewer, now: now, policy: scoring.policy(feed: state.item.submission.feed), classes: scoring.model.classes)
        }
        scoring.eventsWritten(undone.decisionEvent.map { [$0] } ?? [])
        await labels?.learnOnline(unlearn: undone.labels, by: reviewer)
        _ = try? await scoring.banks.unbank(labels: undone.labels)
        return undone
    }

    /// Ticket `id` as `viewer` may see it: a gold ticket (a known answer seeded into the queue) only while they hold
    /// it, so nobody can look its answer up; a ticket of a tier their key does not work (`allowedTiers`), not at all.
    /// - Throws: `TicketError.notFound` for an unknown ticket, or a gold ticket someone else (or nobody) holds;
    ///   `ReviewAccessError` for another tier's ticket.
    public func ticket(id: Int64, viewer: String, allowedTiers: Set<ReviewTier> = Set(ReviewTier.allCases)) async throws -> TicketView {
        guard let view = try await store.ticket(id: id), view.ticket.goldLabel == nil || view.ticket.lease?.holder == viewer else {
            throw TicketError.notFound(id)
        }
        guard allowedTiers.contains(view.ticket.tier) else {
            throw ReviewAccessError(reviewer: viewer, tier: view.ticket.tier, allowed: allowedTiers, ticket: id)
        }
        return view
    }

    /// One tier's queue, by priority. `allowedTiers`: the tiers the reader's key works; another tier's queue (its
    /// escalation notes, holders and items) is refused.
    public func queue(tier: ReviewTier, cursor: String?, limit: Int, reader: String = "", allowedTiers: Set<ReviewTier> = Set(ReviewTier.allCases))
        async throws -> (tickets: [(ticket: Ticket, priority: Double)], next: String?) {
        guard allowedTiers.contains(tier) else { throw ReviewAccessError(reviewer: reader, tier: tier, allowed: allowedTiers, field: "tier") }
        guard (1...500).contains(limit) else { throw ValidationError(field: "limit", "ask for 1 to 500 tickets per page") }
        var after: (Double, Int64)?
        if let cursor {
            let parts = cursor.split(separator: "_")
            guard cursor.utf8.count <= 64, parts.count == 2, let p = Double(parts[0]), p.isFinite, let id = Int64(parts[1]) else {
                throw ValidationError(field: "cursor", "pass the nextCursor of the previous page unchanged")
            }
            after = (p, id)
        }
        let page = try await store.reviewQueue(tier: tier, after: after, limit: limit, goldHeldBy: reader.isEmpty ? nil : (reader, now))
        let next = page.count == limit ? page.last.map { "\($0.priority)_\($0.ticket.id)" } : nil
        return (page, next)
    }

    /// What blind audits say about the automatic path (inverse-probability weighted, 95% intervals).
    /// The harm shares are corrected for the reviewer error that double reviews show (`ReviewerError`), once there
    /// are enough of them.
    /// With `since` / `until`, only the automatic decisions made in that period count (the reviewer error still comes
    /// from every double review); with `correctingForReviewerError` false, the harm shares are as auditors labelled.
    public func auditEstimates(since: Date? = nil, until: Date? = nil, correctingForReviewerError: Bool = true) async throws -> AuditEstimates {
        let classes = scoring.model.classes.count
        let error = correctingForReviewerError
            ? ReviewerError.estimate(try await store.doubleReviews().map { ($0.first, $0.second) }, classes: classes) : nil
        let samples = try await store.auditSamples(since: since, until: until)
        return AuditEstimates.estimate(samples, clearLabel: scoring.engine.configuration.clearLabel, reviewerError: error, classes: classes)
    }

    public func stats() async throws -> ReviewStats {
        var stats = try await store.reviewStats(now: now)
        stats.agreement = ReviewStats.Agreement(pairs: try await store.doubleReviews())
        return stats
    }

    /// Keeps stored priorities within `TicketPriority.refreshStep` of the formula; the scheduler calls it each pass.
    /// Small batches (each its own transaction) keep claims from waiting long behind a refresh.
    @discardableResult
    public func refreshPriorities(batch: Int = 500) async throws -> Int {
        var total = 0
        while true {
            let n = try await store.refreshTicketPriorities(now: now, limit: batch)
            total += n
            if n < batch { return total }
        }
    }

    public func addGold(feed: String, id: String, label: String, by: String) async throws -> Bool {
        guard scoring.model.classes.contains(label) else {
            throw ValidationError(field: "label", "'\(label)' is not a class of the model; use one of \(scoring.model.classes.joined(separator: ", "))")
        }
        return try await store.addGold(feed: feed, id: id, label: label, by: by, at: now)
    }
}

/// A claim of a tier the reviewer's key may not work.
public struct ReviewAccessError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reviewer: String
    public var tier: ReviewTier
    public var allowed: Set<ReviewTier>
    /// The ticket asked for, when the request named one.
    public var ticket: Int64?
    /// The request's field that named the tier (a claim's `tiers`, a queue's `tier`); nil when it was the ticket's own.
    public var field: String?

    public init(reviewer: String, tier: ReviewTier, allowed: Set<ReviewTier>, ticket: Int64? = nil, field: String? = nil) {
        self.reviewer = reviewer
        self.tier = tier
        self.allowed = allowed
        self.ticket = ticket
        self.field = field
    }

    public var description: String {
        let tiers = allowed.map(\.rawValue).sorted().map(String.init).joined(separator: " and ")
        let what = ticket.map { "Ticket \($0) is a tier \(tier.rawValue) ticket, and the key '\(reviewer)' may work tier \(tiers) only." }
            ?? "The key '\(reviewer)' may work tier \(tiers), not tier \(tier.rawValue)."
        return what + " Tier 2 is for senior reviewers: an admin creates such a key with 'winnow keys create --role moderator --tiers 1,2 --name NAME'."
    }
}
