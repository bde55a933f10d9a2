import Engine
import Foundation
import Learning
import Server
import Storage
import Synchronization

/// A labelled post to replay: its true label is what simulated people see in it.
public struct LabelledPost: Sendable, Equatable {
    public var id: String
    public var text: String
    public var label: String

    public init(id: String, text: String, label: String) {
        self.id = id
        self.text = text
        self.label = label
    }
}

/// Replays labelled posts through the real scoring and review services on a real SQLite file, with a simulated
/// clock, audience and review team, and retrains the model between rounds behind the evaluation gate.
///
/// The posts are shuffled with the seed and split: `initialShare` trains the first model, `gateShare` is the gate's
/// fixed test split, the rest arrive as a stream, `itemsPerRound` per round. Each round is `roundHours` of
/// simulated time, advanced in steps of `stepMinutes`. In each step: posts arrive and are scored (stage 1); the
/// audience views them by their reach and current decision and reports harmful ones (reports go through the report
/// route, counters through the engagement route, which runs stage 2); due rescores run (stage 3); and the review
/// team claims tickets by priority and decides them up to its capacity, giving the true label except at the error
/// rate. After each round but the last, a candidate is trained on the first model's examples plus the store's
/// resolved labels, compared with the active model on the gate split and on the blind audits, and promoted through
/// the registry when it passes. After the last round the clock runs on until every post's life has ended.
///
/// Each round's figures are about the posts that arrived in it, followed to the end of their lives.
public struct LoopSimulator: Sendable {
    public var options: SimulationOptions
    /// Where the store and the registry live; nil: a fresh temporary directory, removed afterwards.
    public var directory: String?

    public init(options: SimulationOptions = SimulationOptions(), directory: String? = nil) {
        self.options = options
        self.directory = directory
    }

    /// One post on its way through the run.
    struct Post {
        let post: LabelledPost
        let round: Int
        let arrival: Date
        let reach: AudienceModel.Reach
        var rng: SplitMix64
        var created = false
        var action: Action = .allow
        var creationAction: Action = .allow
        var views: Double = 0
        var reports = 0
        var newReports = 0
        var nextEngagement = 0

        var harmful: Bool = false
    }

    final class Clock: Sendable {
        let time: Mutex<Date>
        init(_ start: Date) { time = Mutex(start) }
        var now: Date { time.withLock { $0 } }
        func set(_ date: Date) { time.withLock { $0 = date } }
    }

    /// The first simulated instant: 2026-01-01T00:00:00Z (a fixed date keeps runs identical).
    public static let start = Date(timeIntervalSince1970: 1_767_225_600)

    /// Runs the simulation on `posts` (`sources` names them in the report); `progress` hears the phase and the
    /// share done.
    public func run(_ posts: [LabelledPost], sources: [String], progress: (@Sendable (String, Double) -> Void)? = nil) async throws -> SimulationReport {
        try options.validate()
        let o = options
        let clearLabel = o.engine.clearLabel
        let classes = Array(Set(posts.map(\.label))).sorted()
        guard classes.count >= 2 else {
            throw SimulationError.notEnoughData("The data has \(classes.count) class\(classes.count == 1 ? "" : "es"); the simulation needs labelled posts of at least two.")
        }
        var ids = Set<String>()
        for post in posts where !ids.insert(post.id).inserted {
            throw SimulationError.notEnoughData("The id '\(post.id)' appears twice; every post needs its own id.")
        }
        guard classes.contains(clearLabel) else {
            throw SimulationError.notEnoughData("No post has the label '\(clearLabel)'; the simulation needs clear posts beside harmful ones (map labels with --label-map).")
        }

        // The split.
        var splitter = SplitMix64(seed: o.seed)
        var order = Array(posts.indices)
        order.shuffle(using: &splitter)
        let initialCount = max(1, Int((Double(posts.count) * o.initialShare).rounded()))
        let gateCount = Int((Double(posts.count) * o.gateShare).rounded())
        let initial = order.prefix(initialCount).map { posts[$0] }
        let gateRows = order.dropFirst(initialCount).prefix(gateCount).map { LabelledText(text: posts[$0].text, label: posts[$0].label) }
        let stream = order.dropFirst(initialCount + gateCount).map { posts[$0] }
        let perRound = o.itemsPerRound ?? stream.count / o.rounds
        guard perRound >= 1, perRound * o.rounds <= stream.count else {
            throw SimulationError.notEnoughData(
                "\(posts.count) posts leave \(stream.count) to stream after the initial (\(initialCount)) and gate (\(gateCount)) shares: not enough for \(o.rounds) rounds of \(perRound == 0 ? 1 : perRound). Give fewer --rounds or a smaller --items-per-round, or more data.")
        }

        // A real store and registry in their own directory.
        let base = directory ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("winnow-simulate-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: base) } }
        let store = try SQLiteStore(path: (base as NSString).appendingPathComponent("winnow.sqlite"))
        let clock = Clock(Self.start)

        progress?("training the first model", 0)
        let initialRows = initial.map { LabelledText(text: $0.text, label: $0.label) }
        let first: TextClassifier
        do {
            first = try TextClassifier.train(initialRows, options: o.training, modelVersion: "sim-r00", sources: sources, created: Self.start).0
            try first.checkTrained()
        } catch {
            throw SimulationError.notEnoughData("The first model, trained on \(initialRows.count) posts (--initial-share \(o.initialShare)), cannot score: \(Self.sentence(error)) Give a larger --initial-share or more data.")
        }
        guard first.classes == classes else {
            throw SimulationError.notEnoughData("The initial share (\(initialRows.count) posts) has the classes \(first.classes.joined(separator: ", ")), the data \(classes.joined(separator: ", ")); give a larger --initial-share.")
        }
        let engine = ScoringEngine(configuration: o.engineConfiguration)
        let scoring = ScoringService(store: store, engine: engine, model: try ActiveModel(model: first, source: "simulation"), clock: { clock.now })
        try await scoring.start()
        _ = try await scoring.savePolicy(o.feedPolicy, by: "simulation")
        let review = ReviewService(scoring: scoring, draw: { 1 })
        let registry = ModelRegistry(scoring: scoring, directory: (base as NSString).appendingPathComponent("registry"))
        _ = try await registry.register(try first.serialized(), by: "simulation")

        // The stream, with arrival times and audiences.
        let roundSeconds = o.roundHours * 3600
        var items: [Post] = []
        items.reserveCapacity(perRound * o.rounds)
        var index: [String: Int] = [:]
        for round in 0..<o.rounds {
            var arrivals = SplitMix64(seed: o.seed &+ 0x9E37_79B9 &* UInt64(round + 1))
            let offsets = (0..<perRound).map { _ in arrivals.uniform() * roundSeconds }.sorted()
            for (j, offset) in offsets.enumerated() {
                let post = stream[round * perRound + j]
                var hasher = FNV1a64()
                hasher.add(post.id)
                var rng = SplitMix64(seed: o.seed ^ hasher.value)
                let reach = o.audience.reach(label: post.label, clearLabel: clearLabel, using: &rng)
                var item = Post(post: post, round: round, arrival: Self.start.addingTimeInterval(Double(round) * roundSeconds + offset), reach: reach, rng: rng)
                item.harmful = post.label != clearLabel
                index[post.id] = items.count
                items.append(item)
            }
        }

        // The clock.
        let step = o.stepMinutes * 60
        let stepsPerRound = Int((roundSeconds / step).rounded(.up))
        let lifetime = o.audience.lifetimeHours * 3600
        let totalSteps = stepsPerRound * o.rounds + Int((lifetime / step).rounded(.up)) + 1
        let capacityPerStep = Double(o.reviewCapacity) * step / roundSeconds
        let scheduleAges = engine.configuration.schedule.agesHours.map { $0 * 3600 }
        let engagementAges = o.engagementAgesHours.sorted().map { $0 * 3600 }
        var reviewerRNG = SplitMix64(seed: o.seed ^ 0x5EED_0F_4E71E3)
        var budget = 0.0
        var turn = 0
        var nextArrival = 0
        var firstLive = 0
        var decisionsPerRound = [Int](repeating: 0, count: o.rounds + 1)
        var backlog = [Int](repeating: 0, count: o.rounds)
        var breached = Set<Int64>()
        var breaches = [Int](repeating: 0, count: o.rounds)
        var models = [(version: String, examples: Int)](repeating: ("", 0), count: o.rounds)
        var gates = [GateOutcome?](repeating: nil, count: o.rounds)
        models[0] = (first.header.modelVersion, first.header.training.examples)
        let end = Self.start.addingTimeInterval(Double(totalSteps) * step)

        for s in 1...totalSteps {
            let now = Self.start.addingTimeInterval(Double(s) * step)
            let before = now.addingTimeInterval(-step)
            clock.set(now)
            let round = min(Int(before.timeIntervalSince(Self.start) / roundSeconds), o.rounds)

            // The audience of every live post, over the step that just passed.
            while firstLive < nextArrival && now.timeIntervalSince(items[firstLive].arrival) > lifetime + step { firstLive += 1 }
            for i in firstLive..<nextArrival {
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

            // Arrivals: stage 1.
            var arriving: [ItemSubmission] = []
            let firstArriving = nextArrival
            while nextArrival < items.count && items[nextArrival].arrival <= now {
                let item = items[nextArrival]
                arriving.append(ItemSubmission(id: item.post.id, feed: o.feed, text: item.post.text, createdAt: item.arrival))
                nextArrival += 1
            }
            if !arriving.isEmpty {
                for (k, outcome) in try await scoring.submit(arriving).enumerated() {
                    let i = firstArriving + k
                    switch outcome {
                    case let .created(state), let .existing(state), let .conflict(state):
                        items[i].created = true
                        items[i].action = state.current.decision.action
                        items[i].creationAction = state.current.decision.action
                    case let .invalid(error):
                        throw SimulationError.notEnoughData("Post \(items[i].post.id) was refused: \(error). Remove it from the data.")
                    }
                }
            }

            // Reports and engagement counters: stage 2.
            for i in firstLive..<nextArrival where items[i].created {
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
                    _ = try await review.report(feed: o.feed, id: items[i].post.id, reporter: reporter, at: now)
                }
                let counters = o.audience.counters(views: items[i].views, reports: items[i].reports, reach: items[i].reach)
                if let outcome = try await scoring.engagement(feed: o.feed, id: items[i].post.id, snapshot: EngagementSnapshot(at: now, counters: counters)),
                   let result = outcome.result {
                    items[i].action = result.decision.action
                }
            }

            // Due rescores: stage 3; then the new decisions of the posts that were due.
            if try await scoring.rescoreDue() > 0 {
                var ids: [String] = []
                for i in firstLive..<nextArrival {
                    let age0 = before.timeIntervalSince(items[i].arrival), age1 = now.timeIntervalSince(items[i].arrival)
                    if scheduleAges.contains(where: { $0 > age0 && $0 <= age1 }) { ids.append(items[i].post.id) }
                }
                for state in try await store.items(feed: o.feed, ids: ids) {
                    if let i = index[state.submission.id] { items[i].action = state.current.decision.action }
                }
            }

            // The review team.
            budget += capacityPerStep
            var decided = 0
            work: while budget >= 1 {
                let wanted = min(engine.configuration.review.maxClaim, Int(budget))
                let reviewer = "reviewer-\(turn % o.reviewers + 1)"
                turn += 1
                let claimed = try await review.claim(ClaimRequest(reviewer: reviewer, count: wanted, tiers: [.one, .two]))
                for view in claimed {
                    guard let i = index[view.ticket.itemID] else { continue }
                    var label = items[i].post.label
                    if reviewerRNG.uniform() < o.reviewerError {
                        let others = classes.filter { $0 != label }
                        label = others[Int(reviewerRNG.next() % UInt64(others.count))]
                    }
                    let decision = TicketDecision(label: label, reasonCode: engine.configuration.review.suggestedReasonCode(label: label, clearLabel: clearLabel),
                                                  version: view.ticket.version)
                    let outcome = try await review.decide(ticket: view.ticket.id, reviewer: reviewer, decision: decision)
                    budget -= 1
                    decided += 1
                    if outcome.outcome == .decided {
                        items[i].action = outcome.item.current.decision.action
                        if now > outcome.ticket.dueAt, breached.insert(view.ticket.id).inserted { breaches[items[i].round] += 1 }
                    }
                }
                if claimed.count < wanted { break work }
            }
            budget = min(budget, capacityPerStep)
            decisionsPerRound[round] += decided

            // The end of a round: retraining behind the gate.
            if s % stepsPerRound == 0, s / stepsPerRound <= o.rounds {
                let finished = s / stepsPerRound - 1
                backlog[finished] = try await store.reviewStats(now: now).open
                progress?("round \(finished + 1) of \(o.rounds)", Double(finished + 1) / Double(o.rounds))
                if finished + 1 < o.rounds {
                    let outcome = try await retrain(round: finished + 1, initial: initialRows, gateRows: gateRows, store: store, scoring: scoring,
                                                    registry: registry, sources: sources, now: now)
                    gates[finished] = outcome
                    models[finished + 1] = (scoring.model.version, scoring.model.textModel.header.training.examples)
                }
            }
        }

        // Tickets still open past their due time.
        for tier in [ReviewTier.one, .two] {
            var cursor: (priority: Double, id: Int64)?
            while true {
                let page = try await store.reviewQueue(tier: tier, after: cursor, limit: 500)
                for (ticket, _) in page where ticket.dueAt < end {
                    if let i = index[ticket.itemID], breached.insert(ticket.id).inserted { breaches[items[i].round] += 1 }
                }
                guard page.count == 500, let last = page.last else { break }
                cursor = (last.priority, last.ticket.id)
            }
        }

        // Tickets per post, from each post's history.
        var reviewTickets = [Int](repeating: 0, count: o.rounds), auditTickets = [Int](repeating: 0, count: o.rounds)
        for item in items {
            for entry in try await store.history(feed: o.feed, id: item.post.id) ?? [] {
                guard case let .ticket(event) = entry, event.kind == .opened else { continue }
                if event.reason == .audit { auditTickets[item.round] += 1 } else { reviewTickets[item.round] += 1 }
            }
        }

        let samples = try await store.auditSamples()
        let reviewerError = ReviewerError.estimate(try await store.doubleReviews().map { ($0.first, $0.second) }, classes: classes.count)
        var rounds: [RoundReport] = []
        for r in 0..<o.rounds {
            let cohort = items.filter { $0.round == r }
            let automatic = cohort.filter { $0.creationAction != .review }
            let errors = automatic.filter { Self.isError(action: $0.creationAction, harmful: $0.harmful) }.count
            let harmful = cohort.filter(\.harmful)
            let harmfulViews = harmful.reduce(0.0) { $0 + $1.views }
            let removals = cohort.filter { $0.creationAction == .remove }
            let truePrecision = removals.isEmpty ? nil : Double(removals.filter(\.harmful).count) / Double(removals.count)
            let from = Self.start.addingTimeInterval(Double(r) * roundSeconds), to = from.addingTimeInterval(roundSeconds)
            let inRound = samples.filter { ($0.decidedAt.map { $0 >= from && $0 < to }) ?? false }
            let estimate = AuditEstimates.estimate(inRound, clearLabel: clearLabel, reviewerError: reviewerError, classes: classes.count).removalPrecision
            let uncorrected = AuditEstimates.estimate(inRound, clearLabel: clearLabel).removalPrecision
            rounds.append(RoundReport(
                round: r + 1, items: cohort.count, model: models[r].version, trainingExamples: models[r].examples,
                automatic: automatic.count, reviewAtCreation: cohort.count - automatic.count, automaticErrors: errors, automaticErrorRate: automatic.isEmpty ? 0 : Double(errors) / Double(automatic.count),
                reviewTickets: reviewTickets[r], reviewLoad: Double(reviewTickets[r]) * 1000 / Double(max(cohort.count, 1)), auditTickets: auditTickets[r],
                decisions: decisionsPerRound[r], backlog: backlog[r], slaBreaches: breaches[r],
                harmfulItems: harmful.count, harmfulViews: Int(harmfulViews), viewsPerHarmfulItem: harmful.isEmpty ? 0 : harmfulViews / Double(harmful.count),
                removals: removals.count, truePrecision: truePrecision, precisionEstimate: estimate,
                covered: truePrecision.flatMap { truth in estimate.map { $0.covers(truth) } } ?? false, reviewerError: reviewerError,
                uncorrectedEstimate: uncorrected, uncorrectedCovered: truePrecision.flatMap { truth in uncorrected.map { $0.covers(truth) } } ?? false,
                gate: gates[r]))
        }
        return SimulationReport(data: sources, options: o, classes: classes, posts: posts.count, initialExamples: initialRows.count,
                                gateExamples: gateRows.count, rounds: rounds)
    }

    /// An error's description ending in one full stop.
    static func sentence(_ error: any Error) -> String {
        let text = "\(error)".trimmingCharacters(in: .whitespacesAndNewlines)
        return text.hasSuffix(".") ? text : text + "."
    }

    /// Whether an automatic decision was wrong: a harmful post allowed, or a clear post demoted or removed.
    public static func isError(action: Action, harmful: Bool) -> Bool {
        switch action {
        case .allow: return harmful
        case .demote, .remove: return !harmful
        case .review: return false
        }
    }

    /// Trains a candidate on the first model's examples plus the store's resolved labels, puts it through the gate
    /// (the gate split, and the blind audits weighted by 1/π) and promotes it when it passes.
    func retrain(round: Int, initial: [LabelledText], gateRows: [LabelledText], store: SQLiteStore, scoring: ScoringService,
                 registry: ModelRegistry, sources: [String], now: Date) async throws -> GateOutcome {
        let labels = try await store.resolvedLabels(since: nil).compactMap { resolved in resolved.text.map { LabelledText(text: $0, label: resolved.label.label) } }
        let active = scoring.model.textModel
        let version = String(format: "sim-r%02d", round)
        let (candidate, _) = try TextClassifier.train(initial + labels, options: options.training, modelVersion: version, parentVersion: active.header.modelVersion,
                                                      sources: sources + ["store (\(labels.count) labels)"], created: now)
        var verdicts: [EvaluationGate.Verdict] = []
        var macroF1 = (candidate: 0.0, active: 0.0)
        if !gateRows.isEmpty {
            let reports = try [candidate, active].map { try $0.evaluate(gateRows) }
            macroF1 = (reports[0].macroF1, reports[1].macroF1)
            verdicts.append(options.gate.check(candidate: reports[0], active: reports[1]))
        }
        let audited = try await store.auditedTexts().map { (text: $0.text, label: $0.label, weight: 1 / max($0.inclusionProbability, 1e-9)) }
        if !audited.isEmpty {
            verdicts.append(options.gate.check(candidate: try candidate.weightedFigures(audited), active: try active.weightedFigures(audited)))
        }
        let passed = verdicts.allSatisfy(\.passed)
        if passed {
            _ = try await registry.register(try candidate.serialized(), by: "simulation")
            try await registry.promote(version, by: "simulation")
        }
        return GateOutcome(candidate: version, trainingExamples: initial.count + labels.count, labelsFromStore: labels.count, passed: passed,
                           candidateMacroF1: macroF1.candidate, activeMacroF1: macroF1.active, audits: audited.count,
                           failures: verdicts.flatMap(\.failures))
    }
}
