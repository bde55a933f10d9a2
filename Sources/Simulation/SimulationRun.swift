import Engine
import Foundation
import Learning
import Services
import Storage
import Synchronization

/// One run of `LoopSimulator`: the services on their store, the posts on their way, and what the report counts.
/// `step` advances the clock one step; `report` follows every round's posts to the end and sums them up.
final class SimulationRun {
    /// One post on its way through the run.
    struct Post {
        let post: LabelledPost
        /// The feed it is posted to.
        let feed: String
        let round: Int
        let arrival: Date
        let reach: AudienceModel.Reach
        let harmful: Bool
        /// The original's id when this post is a near-copy of it (a wave).
        var copyOf: String?
        var rng: SplitMix64
        /// The reviewers' errors on this post, drawn apart from everything else: a run with banks or offers makes
        /// other decisions in another order, and a shared generator then gave every later post other errors (on a
        /// small run the difference between two configurations was mostly that).
        var reviews: SplitMix64
        var action: Action = .allow
        var creationAction: Action = .allow
        var views: Double = 0
        var reports = 0
        var newReports = 0
        var nextEngagement = 0
        /// Matched a bank at creation, and whether the classifier alone would have sent it to review.
        var caught = false
        var caughtWouldReview = false
        /// Decided as a copy of another ticket's item (one decision for the wave).
        var settledByWave = false
    }

    /// The simulated time every service reads.
    final class Clock: Sendable {
        let time: Mutex<Date>
        init(_ start: Date) { time = Mutex(start) }
        var now: Date { time.withLock { $0 } }
        func set(_ date: Date) { time.withLock { $0 = date } }
    }

    let o: SimulationOptions
    let split: LoopSimulator.Split
    let sources: [String]
    let clearLabel: String
    let store: SQLiteStore
    let clock: Clock
    let engine: ScoringEngine
    let scoring: ScoringService
    let review: ReviewService
    let registry: ModelRegistry

    // The clock's shape.
    let step: TimeInterval
    let roundSeconds: TimeInterval
    let stepsPerRound: Int
    let lifetime: TimeInterval
    let totalSteps: Int
    let capacityPerStep: Double
    let scheduleAges: [TimeInterval]
    let engagementAges: [TimeInterval]

    // The posts, in arrival order: those before `firstLive` have ended, those from `nextArrival` not yet arrived.
    var items: [Post] = []
    var index: [String: Int] = [:]
    var firstLive = 0
    var nextArrival = 0

    // The review team.
    static let reviewSalt: UInt64 = 0x5EED_0F_4E71E3
    var budget = 0.0
    var turn = 0

    // What the report counts, per round.
    var decisions: [Int]
    var backlog: [Int]
    var breaches: [Int]
    var breached = Set<Int64>()
    var models: [(version: String, examples: Int)]
    var gates: [GateOutcome?]
    /// Every feed posted to, the main one first; with more than one, each trains a model of its own.
    let feeds: [String]
    var feedRounds: [FeedRound] = []

    init(split: LoopSimulator.Split, options o: SimulationOptions, directory: String, sources: [String]) async throws {
        self.o = o
        self.split = split
        self.sources = sources
        clearLabel = o.engine.clearLabel
        let named = Set(split.stream.compactMap(\.feed) + split.gatePosts.compactMap(\.feed)).subtracting([o.feed]).sorted()
        feeds = [o.feed] + named
        store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("winnow.sqlite"))
        let first: TextClassifier
        do {
            first = try TextClassifier.train(split.initial, options: o.training, modelVersion: "sim-r00", sources: sources, created: LoopSimulator.start).0
            try first.checkTrained()
        } catch {
            throw SimulationError.notEnoughData("The first model, trained on \(split.initial.count) posts (--initial-share \(o.initialShare)), cannot score: \(LoopSimulator.sentence(error)) Give a larger --initial-share or more data.")
        }
        guard first.classes == split.classes else {
            throw SimulationError.notEnoughData("The initial share (\(split.initial.count) posts) has the classes \(first.classes.joined(separator: ", ")), the data \(split.classes.joined(separator: ", ")); give a larger --initial-share.")
        }
        engine = ScoringEngine(configuration: o.engineConfiguration)
        let clock = Clock(LoopSimulator.start)
        self.clock = clock
        scoring = ScoringService(store: store, engine: engine, model: try ActiveModel(model: first, source: "simulation"), clock: { clock.now })
        review = ReviewService(scoring: scoring, draw: { 1 })
        registry = ModelRegistry(scoring: scoring, directory: (directory as NSString).appendingPathComponent("registry"))

        step = o.stepMinutes * 60
        roundSeconds = o.roundHours * 3600
        stepsPerRound = Int((roundSeconds / step).rounded(.up))
        lifetime = o.audience.lifetimeHours * 3600
        totalSteps = stepsPerRound * o.rounds + Int((lifetime / step).rounded(.up)) + 1
        capacityPerStep = Double(o.reviewCapacity) * step / roundSeconds
        scheduleAges = engine.configuration.schedule.agesHours.map { $0 * 3600 }
        engagementAges = o.engagementAgesHours.sorted().map { $0 * 3600 }
        decisions = [Int](repeating: 0, count: o.rounds + 1)
        backlog = [Int](repeating: 0, count: o.rounds)
        breaches = [Int](repeating: 0, count: o.rounds)
        models = [(version: String, examples: Int)](repeating: ("", 0), count: o.rounds)
        models[0] = (first.header.modelVersion, first.header.training.examples)
        gates = [GateOutcome?](repeating: nil, count: o.rounds)

        try await scoring.start()
        for feed in feeds { _ = try await scoring.savePolicy(o.policy(for: feed), by: "simulation") }
        _ = try await registry.register(try first.serialized(), by: "simulation")
        scheduleArrivals()
    }

    /// Each round's posts at seeded random times within it, each with its audience and its own generator; with
    /// waves, a share of the harmful ones followed by near-copies (`NearCopies`) later in the round.
    func scheduleArrivals() {
        items.reserveCapacity(split.perRound * o.rounds)
        let nearCopies = NearCopies(vocabulary: o.waveShare > 0 ? NearCopies.vocabulary(of: split.stream.map(\.text)) : [])
        for round in 0..<o.rounds {
            var arrivals = SplitMix64(seed: o.seed &+ 0x9E37_79B9 &* UInt64(round + 1))
            let offsets = (0..<split.perRound).map { _ in arrivals.uniform() * roundSeconds }.sorted()
            let roundStart = LoopSimulator.start.addingTimeInterval(Double(round) * roundSeconds)
            var posts: [Post] = []
            for (j, offset) in offsets.enumerated() {
                let post = split.stream[round * split.perRound + j]
                var hasher = FNV1a64()
                hasher.add(post.id)
                var rng = SplitMix64(seed: o.seed ^ hasher.value)
                let reach = o.audience.reach(label: post.label, clearLabel: clearLabel, using: &rng)
                let harmful = post.label != clearLabel
                posts.append(Post(post: post, feed: post.feed ?? o.feed, round: round, arrival: roundStart.addingTimeInterval(offset),
                                  reach: reach, harmful: harmful, rng: rng, reviews: SplitMix64(seed: o.seed ^ hasher.value ^ Self.reviewSalt)))
                guard harmful, o.waveShare > 0 else { continue }
                var waves = SplitMix64(seed: rng.next() ^ 0x3A7E_5C0D)
                guard waves.uniform() < o.waveShare else { continue }
                for k in 1...o.copiesPerWave {
                    let delay = min(-log(1 - waves.uniform()) * o.waveHours * 3600, roundSeconds - offset - 1)
                    // Half the copies reworded by a word, the rest obfuscated only.
                    let text = nearCopies.copy(of: post.text, edits: waves.uniform() < 0.5 ? 1 : 0, using: &waves)
                    let copy = LabelledPost(id: "\(post.id)~\(k)", text: text, label: post.label, feed: post.feed)
                    let copySeed = waves.next()
                    var copyRNG = SplitMix64(seed: copySeed)
                    let copyReach = o.audience.reach(label: copy.label, clearLabel: clearLabel, using: &copyRNG)
                    posts.append(Post(post: copy, feed: copy.feed ?? o.feed, round: round, arrival: roundStart.addingTimeInterval(offset + max(0, delay)),
                                      reach: copyReach, harmful: true, copyOf: post.id, rng: copyRNG, reviews: SplitMix64(seed: copySeed ^ Self.reviewSalt)))
                }
            }
            posts.sort { $0.arrival < $1.arrival }
            for post in posts {
                index[Self.key(post.feed, post.post.id)] = items.count
                items.append(post)
            }
        }
    }

    /// A post's key in `index`: ids are unique within a feed.
    static func key(_ feed: String, _ id: String) -> String { feed + "\u{0}" + id }

    /// The live posts: arrived and not yet past their lifetime (plus a step).
    var live: Range<Int> { firstLive..<nextArrival }

    /// Step `s` (1-based): the clock moves to the end of the step and everything due in it happens.
    func step(_ s: Int, progress: (@Sendable (String, Double) -> Void)?) async throws {
        let now = LoopSimulator.start.addingTimeInterval(Double(s) * step)
        let before = now.addingTimeInterval(-step)
        clock.set(now)
        while firstLive < nextArrival && now.timeIntervalSince(items[firstLive].arrival) > lifetime + step { firstLive += 1 }
        watch(from: before, to: now)
        try await arrive(now: now)
        try await engage(now: now)
        try await rescore(from: before, to: now)
        decisions[min(Int(before.timeIntervalSince(LoopSimulator.start) / roundSeconds), o.rounds)] += try await clearQueue(now: now)
        if s % stepsPerRound == 0, s / stepsPerRound <= o.rounds {
            try await endRound(s / stepsPerRound - 1, now: now, progress: progress)
        }
    }

    /// The audience of every live post over the step that just passed: views by reach and current decision, and the
    /// reports they bring.
    func watch(from before: Date, to now: Date) {
        for i in live {
            let age0 = before.timeIntervalSince(items[i].arrival) / 3600
            let age1 = min(now.timeIntervalSince(items[i].arrival), lifetime) / 3600
            guard age1 > age0 else { continue }
            let views = items[i].reach.views(from: age0, to: age1) * o.audience.visibility(items[i].action)
            guard views > 0 else { continue }
            items[i].views += views
            let reports = items[i].rng.poisson(views * items[i].reach.reportRate)
            items[i].reports += reports
            items[i].newReports += reports
        }
    }

    /// Posts arriving by `now`, scored in one batch (stage 1).
    func arrive(now: Date) async throws {
        var arriving: [ItemSubmission] = []
        let first = nextArrival
        while nextArrival < items.count && items[nextArrival].arrival <= now {
            let item = items[nextArrival]
            arriving.append(ItemSubmission(id: item.post.id, feed: item.feed, text: item.post.text, createdAt: item.arrival))
            nextArrival += 1
        }
        guard !arriving.isEmpty else { return }
        for (k, outcome) in try await scoring.submit(arriving).enumerated() {
            let i = first + k
            switch outcome {
            case let .created(state), let .existing(state), let .conflict(state):
                items[i].action = state.current.decision.action
                items[i].creationAction = state.current.decision.action
                if state.current.match != nil {
                    // What the classifier alone would have done: a ticket the bank saved, when it says review.
                    items[i].caught = true
                    let text = scoring.model(for: items[i].feed).score(items[i].post.text, reasons: 0)
                    let alone = engine.creation(arriving[k], text: text, policy: scoring.policy(feed: items[i].feed), receivedAt: now)
                    items[i].caughtWouldReview = scoring.rules.opening(after: alone, state: state, now: now) != nil
                }
            case let .invalid(error):
                throw SimulationError.notEnoughData("Post \(items[i].post.id) was refused: \(error). Remove it from the data.")
            }
        }
    }

    /// New reports through the report route, and the counters through the engagement route at the feed's ages or
    /// with new reports (stage 2).
    func engage(now: Date) async throws {
        for i in live {
            let age = now.timeIntervalSince(items[i].arrival)
            var due = false
            while items[i].nextEngagement < engagementAges.count && engagementAges[items[i].nextEngagement] <= age {
                items[i].nextEngagement += 1
                due = true
            }
            let newReports = items[i].newReports
            guard due || newReports > 0 else { continue }
            items[i].newReports = 0
            for _ in 0..<newReports {
                let reporter = "user-\(items[i].rng.next() % UInt64(o.audience.reporters))"
                _ = try await review.report(feed: items[i].feed, id: items[i].post.id, reporter: reporter, at: now)
            }
            let counters = o.audience.counters(views: items[i].views, reports: items[i].reports, reach: items[i].reach)
            if let outcome = try await scoring.engagement(feed: items[i].feed, id: items[i].post.id, snapshot: EngagementSnapshot(at: now, counters: counters)),
               let result = outcome.result {
                items[i].action = result.decision.action
            }
        }
    }

    /// Due rescores (stage 3), then the new decisions of the posts that were due.
    func rescore(from before: Date, to now: Date) async throws {
        guard try await scoring.rescoreDue() > 0 else { return }
        var ids: [String: [String]] = [:]
        for i in live {
            let age0 = before.timeIntervalSince(items[i].arrival), age1 = now.timeIntervalSince(items[i].arrival)
            if scheduleAges.contains(where: { $0 > age0 && $0 <= age1 }) { ids[items[i].feed, default: []].append(items[i].post.id) }
        }
        for (feed, due) in ids.sorted(by: { $0.key < $1.key }) {
            for state in try await store.items(feed: feed, ids: due) {
                if let i = index[Self.key(feed, state.submission.id)] { items[i].action = state.current.decision.action }
            }
        }
    }

    /// The review team's work in this step: claims by priority and decisions up to the step's share of the capacity
    /// (time with an empty queue is not banked). Returns the decisions made.
    func clearQueue(now: Date) async throws -> Int {
        budget += capacityPerStep
        var decided = 0
        work: while budget >= 1 {
            let wanted = min(engine.configuration.review.maxClaim, Int(budget))
            let reviewer = "reviewer-\(turn % o.reviewers + 1)"
            turn += 1
            let claimed = try await review.claim(ClaimRequest(reviewer: reviewer, count: wanted, tiers: [.one, .two]))
            var settled = Set<Int64>()
            for view in claimed {
                // A copy this claim held that an earlier wave decision settled.
                guard !settled.contains(view.ticket.id), let i = index[Self.key(view.ticket.feed, view.ticket.itemID)] else { continue }
                let label = reviewerLabel(item: i)
                let decision = TicketDecision(label: label, reasonCode: engine.configuration.review.suggestedReasonCode(label: label, clearLabel: clearLabel),
                                              version: view.ticket.version)
                // With banks, the reviewer settles the item's waiting copies with the same decision (one decision).
                let (outcome, copies) = try await review.decide(ticket: view.ticket.id, reviewer: reviewer, decision: decision, wave: o.banks)
                budget -= 1
                decided += 1
                if outcome.outcome == .decided {
                    items[i].action = outcome.item.current.decision.action
                    if now > outcome.ticket.dueAt { breach(view.ticket.id, item: i) }
                }
                for copy in copies {
                    settled.insert(copy.ticket.id)
                    guard let j = index[Self.key(copy.ticket.feed, copy.ticket.itemID)] else { continue }
                    items[j].settledByWave = true
                    if copy.outcome == .decided {
                        items[j].action = copy.item.current.decision.action
                        if now > copy.ticket.dueAt { breach(copy.ticket.id, item: j) }
                    }
                }
            }
            if claimed.count < wanted { break work }
        }
        budget = min(budget, capacityPerStep)
        return decided
    }

    /// What a simulated reviewer says: the truth, except at the error rate one of the other classes.
    func reviewerLabel(item i: Int) -> String {
        let truth = items[i].post.label
        guard items[i].reviews.uniform() < o.reviewerError else { return truth }
        let others = split.classes.filter { $0 != truth }
        return others[Int(items[i].reviews.next() % UInt64(others.count))]
    }

    func breach(_ ticket: Int64, item i: Int) {
        if breached.insert(ticket).inserted { breaches[items[i].round] += 1 }
    }

    /// The end of round `finished` (0-based): the backlog, then retraining behind the gate (not after the last).
    func endRound(_ finished: Int, now: Date, progress: (@Sendable (String, Double) -> Void)?) async throws {
        backlog[finished] = try await store.reviewStats(now: now).open
        progress?("round \(finished + 1) of \(o.rounds)", Double(finished + 1) / Double(o.rounds))
        if feeds.count > 1 { try compareFeedModels(round: finished) }
        guard finished + 1 < o.rounds else { return }
        gates[finished] = try await retrain(round: finished + 1, now: now)
        models[finished + 1] = (scoring.model.version, scoring.model.textModel.header.training.examples)
    }

    /// One pass of the retraining loop (`Retrainer`, as `winnow serve` runs it): a candidate trained on the first
    /// model's examples plus the store's resolved labels (audited items held out), the gate on the gate split and the
    /// blind audits weighted by 1/π, promotion when it passes (no shadow). The gate's decision is then judged on
    /// every later post.
    func retrain(round: Int, now: Date) async throws -> GateOutcome {
        var configuration = RetrainConfiguration()
        configuration.training = o.training
        configuration.gate = o.gate
        configuration.shadowHours = 0
        configuration.threads = 2
        configuration.niceness = 0
        let initial = split.initial, gateRows = split.gate
        // With several feeds, each trains its own on its labels plus the first model's posts, judged on its share of
        // the gate split; the shared model trains on everything.
        var feedData: [String: RetrainData] = [:]
        if feeds.count > 1 && o.feedModels {
            for feed in feeds {
                let own = split.gatePosts.filter { ($0.feed ?? o.feed) == feed }.map { LabelledText(text: $0.text, label: $0.label) }
                feedData[feed] = RetrainData(sources: sources, base: { initial }, test: { own })
            }
        }
        var retrainer = Retrainer(registry: registry, configuration: configuration,
                                  data: RetrainData(sources: sources, base: { initial }, test: { gateRows }), feedData: feedData, node: "simulation")
        let seen = Mutex<(candidate: TextClassifier, active: TextClassifier)?>(nil)
        retrainer.inspect = { candidate, active in seen.withLock { $0 = (candidate, active) } }
        // Version names take no "_" (a feed name may): "sim-r03@my-feed" for feed my_feed.
        retrainer.versionName = { pass, _ in String(format: "sim-r%02d", round) + (pass.feed.map { "@" + $0.replacingOccurrences(of: "_", with: "-") } ?? "") }
        for feed in feedData.keys.sorted() {
            guard let pass = try await retrainer.tick(feed: feed, force: true) else {
                throw SimulationError.notEnoughData("The retraining pass of feed \(feed) after round \(round) did not run.")
            }
            if pass.state == .failed { throw SimulationError.notEnoughData("The retraining pass of feed \(feed) after round \(round) failed: \(pass.message)") }
        }
        seen.withLock { $0 = nil }
        guard let pass = try await retrainer.tick(force: true) else {
            throw SimulationError.notEnoughData("The retraining pass after round \(round) did not run.")
        }
        guard let models = seen.withLock({ $0 }) else {
            throw SimulationError.notEnoughData("The retraining pass after round \(round) failed before it trained: \(pass.message)")
        }
        let results = pass.gate
        let onSplit = results.first { $0.rows == "test data" }?.checks.first { $0.name == "macro-F1" }
        let audits = results.first { $0.rows == "audits" }?.count ?? 0
        let failures = results.flatMap(\.verdict.failures)
        let noise = results.flatMap { $0.checks.filter(\.withinNoise).map { String(format: "%@ fell from %.4f to %.4f, within noise", $0.name, $0.active, $0.candidate ?? 0) } }
        if pass.state == .failed { throw SimulationError.notEnoughData("The retraining pass after round \(round) failed: \(pass.message)") }
        let truth = try gateTruth(candidate: models.candidate, active: models.active, from: round)
        return GateOutcome(candidate: pass.candidate ?? "", trainingExamples: pass.baseExamples + pass.storeExamples, labelsFromStore: pass.storeExamples,
                           passed: pass.state == .promoted, candidateMacroF1: onSplit?.candidate ?? 0, activeMacroF1: onSplit?.active ?? 0, audits: audits,
                           failures: failures, noise: noise, truth: truth)
    }

    /// What the gate could not see: the candidate and the active model on every post still to arrive (rounds from
    /// `round` on, 0-based), against the true labels: the gate's own figures judged by its margins alone, and the
    /// automatic error and review share each model's answers at creation would give under the feed's policy.
    func gateTruth(candidate: TextClassifier, active: TextClassifier, from round: Int) throws -> GateTruth {
        let later = items.filter { $0.round >= round }
        let texts = later.map(\.post.text)
        var threshold = o.gate
        threshold.method = .threshold
        let verdict = threshold.check(EvaluationGate.PairedRows(truth: later.map(\.post.label), candidate: try candidate.predictions(texts),
                                                                active: try active.predictions(texts)))
        let c = try creation(candidate, on: later), a = try creation(active, on: later)
        return GateTruth(posts: later.count, candidateWorse: !verdict.passed, failures: verdict.failures,
                         candidateAutomaticError: c.error, activeAutomaticError: a.error, candidateReviewShare: c.review, activeReviewShare: a.review)
    }

    /// What `model` would have decided at creation for `posts` under their feeds' policies: the automatic error, the
    /// share sent to review, and macro-F1 of its most probable class.
    func creation(_ model: TextClassifier, on posts: [Post]) throws -> (error: Double, review: Double, macroF1: Double) {
        let scoring = try ActiveModel(model: model, source: "counterfactual")
        var policies: [String: Policy] = [:]
        for feed in feeds { policies[feed] = o.policy(for: feed) }
        var errors = 0, automatic = 0
        var predicted: [String] = []
        predicted.reserveCapacity(posts.count)
        scoring.withScorer { scorer in
            for post in posts {
                let submission = ItemSubmission(id: post.post.id, feed: post.feed, text: post.post.text, createdAt: post.arrival)
                let result = engine.creation(submission, text: scorer.score(post.post.text, reasons: 0), policy: policies[post.feed]!, receivedAt: post.arrival)
                predicted.append(result.label)
                guard result.decision.action != .review else { continue }
                automatic += 1
                if LoopSimulator.isError(action: result.decision.action, harmful: post.harmful) { errors += 1 }
            }
        }
        let figures = EvaluationGate.Figures.weighted(predicted: predicted, truth: posts.map(\.post.label), weights: [Double](repeating: 1, count: posts.count))
        return (automatic == 0 ? 0 : Double(errors) / Double(automatic), posts.isEmpty ? 0 : Double(posts.count - automatic) / Double(posts.count),
                figures.macroF1)
    }

    /// With several feeds, at the end of round `round` (0-based): each feed's posts of the round under the model that
    /// served the feed (its own, once it has one) and under the shared model.
    func compareFeedModels(round: Int) throws {
        let shared = scoring.model.textModel
        for feed in feeds {
            let posts = items.filter { $0.round == round && $0.feed == feed }
            guard !posts.isEmpty else { continue }
            let serving = scoring.model(for: feed)
            let own = serving === scoring.model ? nil : serving.textModel
            let mine = try own.map { try creation($0, on: posts) }, theirs = try creation(shared, on: posts)
            feedRounds.append(FeedRound(feed: feed, round: round + 1, posts: posts.count, ownModel: own?.header.modelVersion, sharedModel: shared.header.modelVersion,
                                        ownAutomaticError: mine?.error, sharedAutomaticError: theirs.error, ownReviewShare: mine?.review,
                                        sharedReviewShare: theirs.review, ownMacroF1: mine?.macroF1, sharedMacroF1: theirs.macroF1))
        }
    }

    /// After the last step: tickets still open past their due time count as breaches, tickets are counted from each
    /// post's history, and each round's figures are summed up.
    func report(posts: Int) async throws -> SimulationReport {
        let end = LoopSimulator.start.addingTimeInterval(Double(totalSteps) * step)
        for tier in [ReviewTier.one, .two] {
            var cursor: (priority: Double, id: Int64)?
            while true {
                let page = try await store.reviewQueue(tier: tier, after: cursor, limit: 500)
                for (ticket, _) in page where ticket.dueAt < end {
                    if let i = index[Self.key(ticket.feed, ticket.itemID)] { breach(ticket.id, item: i) }
                }
                guard page.count == 500, let last = page.last else { break }
                cursor = (last.priority, last.ticket.id)
            }
        }
        var reviewTickets = [Int](repeating: 0, count: o.rounds), auditTickets = reviewTickets, learningTickets = reviewTickets
        for item in items {
            for entry in try await store.history(feed: item.feed, id: item.post.id) ?? [] {
                guard case let .ticket(event) = entry, event.kind == .opened else { continue }
                switch event.reason {
                case .audit: auditTickets[item.round] += 1
                case .learning: learningTickets[item.round] += 1
                default: reviewTickets[item.round] += 1
                }
            }
        }
        var rounds: [RoundReport] = []
        for r in 0..<o.rounds {
            let cohort = items.filter { $0.round == r }
            let automatic = cohort.filter { $0.creationAction != .review }
            let errors = automatic.filter { LoopSimulator.isError(action: $0.creationAction, harmful: $0.harmful) }.count
            let harmful = cohort.filter(\.harmful)
            let harmfulViews = harmful.reduce(0.0) { $0 + $1.views }
            let removals = cohort.filter { $0.creationAction == .remove }
            let truePrecision = removals.isEmpty ? nil : Double(removals.filter(\.harmful).count) / Double(removals.count)
            // The audits of the automatic decisions made in the round, as `GET /v1/stats?since=&until=` gives them.
            let from = LoopSimulator.start.addingTimeInterval(Double(r) * roundSeconds), to = from.addingTimeInterval(roundSeconds)
            let audits = try await review.auditEstimates(since: from, until: to)
            let estimate = audits.removalPrecision
            let uncorrected = try await review.auditEstimates(since: from, until: to, correctingForReviewerError: false).removalPrecision
            rounds.append(RoundReport(
                round: r + 1, items: cohort.count, model: models[r].version, trainingExamples: models[r].examples,
                automatic: automatic.count, reviewAtCreation: cohort.count - automatic.count, automaticErrors: errors,
                automaticErrorRate: automatic.isEmpty ? 0 : Double(errors) / Double(automatic.count),
                reviewTickets: reviewTickets[r], reviewLoad: Double(reviewTickets[r]) * 1000 / Double(max(cohort.count, 1)), auditTickets: auditTickets[r], learningTickets: learningTickets[r],
                decisions: decisions[r], backlog: backlog[r], slaBreaches: breaches[r],
                harmfulItems: harmful.count, harmfulViews: Int(harmfulViews), viewsPerHarmfulItem: harmful.isEmpty ? 0 : harmfulViews / Double(harmful.count),
                removals: removals.count, truePrecision: truePrecision, precisionEstimate: estimate,
                covered: truePrecision.flatMap { truth in estimate.map { $0.covers(truth) } } ?? false, reviewerError: audits.reviewerError,
                uncorrectedEstimate: uncorrected, uncorrectedCovered: truePrecision.flatMap { truth in uncorrected.map { $0.covers(truth) } } ?? false,
                gate: gates[r], copies: cohort.filter { $0.copyOf != nil }.count, caughtByBanks: cohort.filter(\.caught).count,
                ticketsSaved: cohort.filter(\.caughtWouldReview).count, settledByWave: cohort.filter(\.settledByWave).count))
        }
        return SimulationReport(data: sources, options: o, classes: split.classes, posts: posts, initialExamples: split.initial.count,
                                gateExamples: split.gate.count, rounds: rounds, feeds: feedRounds)
    }
}
