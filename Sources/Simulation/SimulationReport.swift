import Engine
import Foundation
import Learning

/// What happened to the posts that arrived in one round, followed to the end of their lives.
public struct RoundReport: Codable, Equatable, Sendable {
    public var round: Int
    public var items: Int
    /// The model that scored this round's posts at creation, and how many labelled examples it was trained on.
    public var model: String
    public var trainingExamples: Int
    /// Decisions made at creation without a person (allow, demote, remove) and how many were wrong: a harmful post
    /// allowed, or a clear post demoted or removed.
    public var automatic: Int
    /// Posts sent to a person at creation (the rest of the review tickets come from reports, bursts and rescoring).
    public var reviewAtCreation: Int
    public var automaticErrors: Int
    public var automaticErrorRate: Double
    /// Tickets a person had to decide (review band, thin evidence, viral, reports), and blind audits, for this
    /// round's posts; the load per 1,000 posts.
    public var reviewTickets: Int
    public var reviewLoad: Double
    public var auditTickets: Int
    /// Learning offers the review team decided for this round's posts (not in the review load: nobody had to).
    public var learningTickets: Int
    /// Audit tickets per 1,000 posts of the round.
    public var auditLoad: Double { Double(auditTickets) * 1000 / Double(max(items, 1)) }
    /// Decisions the review team made during the round, and tickets still open when it ended.
    public var decisions: Int
    public var backlog: Int
    /// Tickets of this round's posts settled after their SLA due time, or still open past it at the end.
    public var slaBreaches: Int
    /// Harmful posts, and the views they got before they were removed (or in their whole life, if never removed).
    public var harmfulItems: Int
    public var harmfulViews: Int
    public var viewsPerHarmfulItem: Double
    /// Of this round's automatic removals at creation: how many, the true share that was harmful, and what the
    /// blind audits estimate (inverse-probability weighted, 95% Wilson interval).
    public var removals: Int
    public var truePrecision: Double?
    public var precisionEstimate: Estimate?
    public var covered: Bool
    /// The reviewer error (from the run's double reviews) the estimate was corrected for.
    public var reviewerError: ReviewerError?
    /// The estimate as auditors labelled, before that correction, and whether its interval contains the true precision.
    public var uncorrectedEstimate: Estimate?
    public var uncorrectedCovered: Bool
    /// The evaluation gate after the round (none after the last).
    public var gate: GateOutcome?
    /// Waves: this round's near-copies, the posts a bank caught at creation (copies or not), those of them the
    /// classifier alone would have sent to review (tickets the banks saved), and tickets settled as a wave's copies
    /// by one decision.
    public var copies: Int = 0
    public var caughtByBanks: Int = 0
    public var ticketsSaved: Int = 0
    public var settledByWave: Int = 0
}

/// A retraining between rounds: the candidate, the gate's figures and whether it was promoted.
public struct GateOutcome: Codable, Equatable, Sendable {
    public var candidate: String
    public var trainingExamples: Int
    public var labelsFromStore: Int
    public var passed: Bool
    public var candidateMacroF1: Double
    public var activeMacroF1: Double
    public var audits: Int
    public var failures: [String]
    /// Drops beyond their margin the paired gate let pass as noise.
    public var noise: [String]
    /// How the candidate really compared with the active model on every later post (the simulator knows the truth).
    public var truth: GateTruth?

    /// The gate refused a candidate that was not worse by its own margins on the later posts.
    public var wrongRefusal: Bool { !passed && truth.map { !$0.candidateWorse } == true }
    /// The gate promoted a candidate that was worse by its own margins on the later posts.
    public var wrongPromotion: Bool { passed && truth?.candidateWorse == true }
    /// A wrong promotion that also raised the true automatic error at creation by more than 1 point.
    public var harmfulPromotion: Bool { wrongPromotion && (truth.map { $0.candidateAutomaticError - $0.activeAutomaticError > 0.01 } ?? false) }
}

/// The candidate against the active model on every post that arrived after the gate decided, by the true labels.
public struct GateTruth: Codable, Equatable, Sendable {
    public var posts: Int
    /// Whether the candidate fell beyond a margin of the gate on those posts (their figures, with no interval).
    public var candidateWorse: Bool
    public var failures: [String]
    /// Automatic error and share of posts sent to review at creation under the feed's policy, for each model.
    public var candidateAutomaticError: Double
    public var activeAutomaticError: Double
    public var candidateReviewShare: Double
    public var activeReviewShare: Double
}

/// With several feeds: one feed's posts of one round at creation, under the model that served the feed (its own, once
/// it has one) and under the shared model, by the true labels.
public struct FeedRound: Codable, Equatable, Sendable {
    public var feed: String
    public var round: Int
    public var posts: Int
    /// The feed's own model in the round; nil while it used the shared one.
    public var ownModel: String?
    public var sharedModel: String
    public var ownAutomaticError: Double?
    public var sharedAutomaticError: Double
    public var ownReviewShare: Double?
    public var sharedReviewShare: Double
    public var ownMacroF1: Double?
    public var sharedMacroF1: Double

    /// Whether the feed's own model did better than the shared one: a lower automatic error without sending more
    /// posts to review (nil while it had none).
    public var ownBeatsShared: Bool? {
        guard let ownAutomaticError, let ownReviewShare else { return nil }
        return ownAutomaticError < sharedAutomaticError && ownReviewShare <= sharedReviewShare + 1e-12
    }
}

/// A whole run: its inputs, each round, and the changes the issue's goals speak of.
public struct SimulationReport: Codable, Equatable, Sendable {
    public var data: [String]
    public var options: SimulationOptions
    public var classes: [String]
    public var posts: Int
    public var initialExamples: Int
    public var gateExamples: Int
    public var rounds: [RoundReport]
    /// With several feeds, each feed's rounds (own model against shared); empty otherwise.
    public var feeds: [FeedRound]

    /// Relative change from the first round to the last (−0.4 is a 40% fall); nil when the first is zero.
    public var automaticErrorChange: Double? { Self.change(rounds.first?.automaticErrorRate, rounds.last?.automaticErrorRate) }
    public var reviewLoadChange: Double? { Self.change(rounds.first?.reviewLoad, rounds.last?.reviewLoad) }
    public var harmfulViewsChange: Double? { Self.change(rounds.first?.viewsPerHarmfulItem, rounds.last?.viewsPerHarmfulItem) }
    /// Rounds whose audit interval contains the true precision of automatic removals (and before the correction for
    /// reviewer error).
    public var covered: Int { rounds.filter(\.covered).count }
    public var uncorrectedCovered: Int { rounds.filter(\.uncorrectedCovered).count }
    /// The gate's decisions, and how many were wrong by the truth of the later posts.
    public var gateDecisions: Int { rounds.filter { $0.gate != nil }.count }
    public var wrongRefusals: Int { rounds.filter { $0.gate?.wrongRefusal == true }.count }
    public var wrongPromotions: Int { rounds.filter { $0.gate?.wrongPromotion == true }.count }
    public var harmfulPromotions: Int { rounds.filter { $0.gate?.harmfulPromotion == true }.count }

    /// A relative change as a signed whole percentage ("−42%"), "–" for none.
    public static func percent(_ change: Double?) -> String { change.map { String(format: "%+.0f%%", $0 * 100) } ?? "–" }

    static func change(_ first: Double?, _ last: Double?) -> Double? {
        guard let first, let last, first > 0 else { return nil }
        return (last - first) / first
    }

    private enum CodingKeys: String, CodingKey {
        case data, options, classes, posts, initialExamples, gateExamples, rounds, automaticErrorChange, reviewLoadChange, harmfulViewsChange, covered,
             uncorrectedCovered, gateDecisions, wrongRefusals, wrongPromotions, harmfulPromotions, feeds
    }

    public init(data: [String], options: SimulationOptions, classes: [String], posts: Int, initialExamples: Int, gateExamples: Int, rounds: [RoundReport],
                feeds: [FeedRound] = []) {
        self.feeds = feeds
        self.data = data
        self.options = options
        self.classes = classes
        self.posts = posts
        self.initialExamples = initialExamples
        self.gateExamples = gateExamples
        self.rounds = rounds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(data: try c.decode([String].self, forKey: .data), options: try c.decode(SimulationOptions.self, forKey: .options),
                  classes: try c.decode([String].self, forKey: .classes), posts: try c.decode(Int.self, forKey: .posts),
                  initialExamples: try c.decode(Int.self, forKey: .initialExamples), gateExamples: try c.decode(Int.self, forKey: .gateExamples),
                  rounds: try c.decode([RoundReport].self, forKey: .rounds), feeds: try c.decodeIfPresent([FeedRound].self, forKey: .feeds) ?? [])
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(data, forKey: .data)
        try c.encode(options, forKey: .options)
        try c.encode(classes, forKey: .classes)
        try c.encode(posts, forKey: .posts)
        try c.encode(initialExamples, forKey: .initialExamples)
        try c.encode(gateExamples, forKey: .gateExamples)
        try c.encode(rounds, forKey: .rounds)
        try c.encodeIfPresent(automaticErrorChange, forKey: .automaticErrorChange)
        try c.encodeIfPresent(reviewLoadChange, forKey: .reviewLoadChange)
        try c.encodeIfPresent(harmfulViewsChange, forKey: .harmfulViewsChange)
        try c.encode(covered, forKey: .covered)
        try c.encode(uncorrectedCovered, forKey: .uncorrectedCovered)
        try c.encode(gateDecisions, forKey: .gateDecisions)
        try c.encode(wrongRefusals, forKey: .wrongRefusals)
        try c.encode(wrongPromotions, forKey: .wrongPromotions)
        try c.encode(harmfulPromotions, forKey: .harmfulPromotions)
        if !feeds.isEmpty { try c.encode(feeds, forKey: .feeds) }
    }

    /// The per-round table and the summary lines, as plain text (Markdown table syntax, so it pastes into a README).
    public func table() -> String {
        func f(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
        var lines = [
            "| round | posts | model | auto decisions | auto error | review load /1k | audits /1k | decisions | backlog | SLA breaches | views per harmful post | removals | audit precision [95% CI] | true precision | gate |",
            "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
        ]
        for r in rounds {
            let estimate = r.precisionEstimate.map { "\(f($0.value, 3)) [\(f($0.low, 3)), \(f($0.high, 3))] n=\($0.audits)\(r.covered ? "" : " ✗")" } ?? "–"
            let gate = r.gate.map { g -> String in
                let verdict = g.passed ? "promoted \(g.candidate)" : "kept (\(g.failures.first ?? "failed"))"
                return verdict + (g.wrongRefusal ? " ✗ wrong refusal" : g.wrongPromotion ? " ✗ wrong promotion" : "")
            } ?? "–"
            lines.append("| \(r.round) | \(r.items) | \(r.model) | \(r.automatic) | \(f(r.automaticErrorRate, 4)) | \(f(r.reviewLoad, 1)) | \(f(r.auditLoad, 1)) | \(r.decisions) | \(r.backlog) | \(r.slaBreaches) | \(f(r.viewsPerHarmfulItem, 1)) | \(r.removals) | \(estimate) | \(r.truePrecision.map { f($0, 3) } ?? "–") | \(gate) |")
        }
        if let copies = copiesTable { lines += [""] + copies.markdown }
        lines.append("")
        lines.append("Round 1 → \(rounds.count): automatic error \(Self.percent(automaticErrorChange)), review load \(Self.percent(reviewLoadChange)), views per harmful post \(Self.percent(harmfulViewsChange)); the audit interval covered the true precision in \(covered) of \(rounds.count) rounds (\(uncorrectedCovered) before the correction for reviewer error); \(gateSummary).")
        if let feedsTable { lines += [""] + feedsTable.markdown + [""] + feedSummaries() }
        return lines.joined(separator: "\n")
    }

    /// A table the text and the HTML report both show: its columns (right-aligned or not) and its cells as text.
    public struct Table: Sendable {
        public var columns: [(name: String, right: Bool)]
        public var rows: [[String]]

        /// As Markdown table lines.
        public var markdown: [String] {
            ["| " + columns.map(\.name).joined(separator: " | ") + " |", "|" + columns.map { $0.right ? "---:|" : "---|" }.joined()]
                + rows.map { "| " + $0.joined(separator: " | ") + " |" }
        }
    }

    /// Near-copies and what the banks did with them, per round; nil when no round saw a copy or a bank match.
    public var copiesTable: Table? {
        guard rounds.contains(where: { $0.copies > 0 || $0.caughtByBanks > 0 }) else { return nil }
        return Table(columns: ["round", "near-copies", "caught by banks", "tickets saved", "settled by a wave decision"].map { ($0, true) },
                     rows: rounds.map { r in [r.round, r.copies, r.caughtByBanks, r.ticketsSaved, r.settledByWave].map(String.init) })
    }

    /// Each feed's rounds: automatic error, review share and macro-F1 at creation under its own model and under the
    /// shared one; nil with one feed.
    public var feedsTable: Table? {
        guard !feeds.isEmpty else { return nil }
        func f(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
        return Table(columns: [("feed", false), ("round", true), ("posts", true), ("own model", false), ("auto error own / shared", false),
                               ("review share own / shared", false), ("macro-F1 own / shared", false)],
                     rows: feeds.map { r in
                         [r.feed, "\(r.round)", "\(r.posts)", r.ownModel ?? "(shared \(r.sharedModel))",
                          "\(f(r.ownAutomaticError, 4)) / \(f(r.sharedAutomaticError, 4))", "\(f(r.ownReviewShare, 3)) / \(f(r.sharedReviewShare, 3))",
                          "\(f(r.ownMacroF1, 3)) / \(f(r.sharedMacroF1, 3))"]
                     })
    }

    /// Per feed, one sentence: in how many rounds its own model did better than the shared one, and both mean errors.
    public func feedSummaries() -> [String] {
        func f(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
        var lines: [String] = []
        var seen = Set<String>()
        for feed in feeds.map(\.feed) where seen.insert(feed).inserted {
            let mine = feeds.filter { $0.feed == feed && $0.ownModel != nil }
            let better = mine.filter { $0.ownBeatsShared == true }.count
            let own = mine.compactMap(\.ownAutomaticError), shared = mine.map(\.sharedAutomaticError)
            let mean = { (v: [Double]) in v.isEmpty ? nil : v.reduce(0, +) / Double(v.count) }
            lines.append("Feed \(feed): its own model did better than the shared one (lower automatic error, no more review) in \(better) of \(mine.count) rounds with one; mean automatic error \(f(mean(own), 4)) own, \(f(mean(shared), 4)) shared.")
        }
        return lines
    }

    /// The gate's own error over the run, as a sentence.
    public var gateSummary: String {
        "of \(gateDecisions) gate decisions, \(wrongRefusals) wrong refusals and \(wrongPromotions) wrong promotions (\(harmfulPromotions) raising the true automatic error by more than 1 point), judged on every later post"
    }
}
