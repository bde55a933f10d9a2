import Engine
import Foundation
import Learning
import Simulation
import Storage
import Testing

@testable import WinnowCLI

/// Small generated posts: three classes with their own words over shared filler, and some posts that borrow words
/// from another class (so that the model has something to learn from reviewers).
enum Posts {
    static let filler = ["the", "a", "today", "we", "you", "this", "that", "really", "just", "so", "our", "game", "weekend", "team", "time"]
    static let words = [
        "clear": ["lovely", "sunny", "thanks", "great", "coffee", "garden", "music", "friends", "happy", "recipe"],
        "offensive": ["damn", "crap", "freaking", "sucks", "idiotic", "screw", "bloody", "dumb", "jerk", "lousy"],
        "abusive": ["vermin", "subhuman", "exterminate", "filth", "parasites", "inferior", "scum", "purge", "degenerate", "expel"],
    ]

    static func generate(_ count: Int, seed: UInt64) -> [LabelledPost] {
        var rng = SplitMix64(seed: seed)
        let labels = ["clear", "offensive", "offensive", "abusive", "clear"]
        return (0..<count).map { i in
            let label = labels[Int(rng.next() % UInt64(labels.count))]
            var tokens: [String] = []
            for _ in 0..<(4 + Int(rng.next() % 4)) { tokens.append(filler[Int(rng.next() % UInt64(filler.count))]) }
            let own = words[label]!
            for _ in 0..<(1 + Int(rng.next() % 2)) { tokens.insert(own[Int(rng.next() % UInt64(own.count))], at: Int(rng.next() % UInt64(tokens.count + 1))) }
            if rng.next() % 5 == 0 {
                let other = words[labels[Int(rng.next() % UInt64(labels.count))]]!
                tokens.append(other[Int(rng.next() % UInt64(other.count))])
            }
            return LabelledPost(id: "post-\(i)", text: tokens.joined(separator: " "), label: label)
        }
    }

    /// A short run: hourly steps, one-day lives, naive Bayes on 2^14 buckets.
    static func options(seed: UInt64 = 7) -> SimulationOptions {
        var o = SimulationOptions()
        o.rounds = 3
        o.itemsPerRound = 100
        o.seed = seed
        o.reviewCapacity = 40
        o.auditRate = 0.1
        o.initialShare = 0.15
        o.gateShare = 0.15
        o.stepMinutes = 60
        o.engagementAgesHours = [0.25, 1, 6, 24]
        o.audience.lifetimeHours = 24
        o.audience.medianViews = 300
        o.training.algorithm = .naiveBayes
        o.training.featurizer = FeaturizerConfig(bucketBits: 14, charNgramMin: 0, charNgramMax: 0)
        return o
    }
}

@Suite struct LoopSimulatorTests {
    let posts = Posts.generate(430, seed: 11)

    @Test func theSameSeedGivesTheSameNumbersAndAnotherSeedOthers() async throws {
        let first = try await LoopSimulator(options: Posts.options()).run(posts, sources: ["generated"])
        let again = try await LoopSimulator(options: Posts.options()).run(posts, sources: ["generated"])
        #expect(first == again)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(first) == encoder.encode(again))
        let other = try await LoopSimulator(options: Posts.options(seed: 8)).run(posts, sources: ["generated"])
        #expect(other.rounds != first.rounds)
    }

    @Test func eachRoundAccountsForItsPostsTicketsAndModels() async throws {
        let report = try await LoopSimulator(options: Posts.options()).run(posts, sources: ["generated"])
        #expect(report.posts == 430)
        #expect(report.initialExamples == 65)   // 15% of 430, rounded
        #expect(report.gateExamples == 65)
        #expect(report.rounds.map(\.round) == [1, 2, 3])
        #expect(report.rounds.allSatisfy { $0.items == 100 })
        #expect(report.rounds[0].model == "sim-r00")
        #expect(report.rounds[0].trainingExamples == 65)
        for (i, round) in report.rounds.enumerated() {
            #expect(round.automatic <= round.items)
            #expect(round.automaticErrors <= round.automatic)
            #expect(abs(round.automaticErrorRate - Double(round.automaticErrors) / Double(max(round.automatic, 1))) < 1e-12)
            // Every post the model did not decide alone went to a person.
            #expect(round.reviewTickets >= round.items - round.automatic)
            #expect(abs(round.reviewLoad - Double(round.reviewTickets) * 10) < 1e-9)
            #expect(round.decisions <= 40)
            #expect(round.harmfulItems > 0)
            if let estimate = round.precisionEstimate, let truth = round.truePrecision {
                #expect(round.covered == (estimate.low <= truth && truth <= estimate.high))
            } else {
                #expect(!round.covered)
            }
            if let raw = round.uncorrectedEstimate, let truth = round.truePrecision {
                #expect(round.uncorrectedCovered == raw.covers(truth))
                #expect(raw.audits == round.precisionEstimate?.audits)
            }
            // A candidate after every round but the last; a promoted one scores the next round.
            if i + 1 < report.rounds.count {
                let gate = try #require(round.gate)
                #expect(gate.candidate == String(format: "sim-r%02d", i + 1))
                #expect(gate.trainingExamples == 65 + gate.labelsFromStore)
                #expect(gate.passed == gate.failures.isEmpty)
                let next = report.rounds[i + 1]
                #expect(next.model == (gate.passed ? gate.candidate : round.model))
            } else {
                #expect(round.gate == nil)
            }
        }
        // Labels accumulate: each candidate learns from at least as many stored labels as the one before.
        let stored = report.rounds.compactMap { $0.gate?.labelsFromStore }
        #expect(stored == stored.sorted())
        #expect(stored.first! > 0)
        let table = report.table()
        #expect(table.contains("| 1 | 100 | sim-r00 |"))
        #expect(table.contains("of 3 rounds (\(report.uncorrectedCovered) before the correction for reviewer error); of 2 gate decisions, \(report.wrongRefusals) wrong refusals and \(report.wrongPromotions) wrong promotions"))
        // Every gate decision is judged on the posts that came after it.
        #expect(report.rounds.compactMap { $0.gate?.truth?.posts } == [200, 100])
    }

    @Test func wavesArePostedAsNearCopiesAndBanksCatchThem() async throws {
        var o = Posts.options()
        o.waveShare = 0.3
        o.copiesPerWave = 3
        // Reviewers who make no mistakes: with 5% reviewer error, this small run (three rounds of 100 posts) opened
        // more tickets with banks than without, in round 1 too, where both score with the same model (seen: 81
        // against 78), though the banks saved 3 there; the likely cause, not traced: a wrong decision on a wave's
        // original settles its copies wrongly as well, and their reports open tickets of their own. With reviewers
        // who never err the banks open fewer tickets in every round (72/80, 79/89, 78/111); that is tested here.
        o.reviewerError = 0
        let with = try await LoopSimulator(options: o).run(posts, sources: ["generated"])
        o.banks = false
        let without = try await LoopSimulator(options: o).run(posts, sources: ["generated"])
        // The same posts and copies either way; each round holds its 100 posts and their copies.
        #expect(with.rounds.map(\.copies) == without.rounds.map(\.copies))
        for round in with.rounds {
            #expect(round.copies > 0 && round.copies % 3 == 0)
            #expect(round.items == 100 + round.copies)
        }
        // Without banks nothing is caught or settled as a wave; with them, copies are caught at creation (tickets
        // saved) or settled by one decision, and fewer tickets are opened in all.
        #expect(without.rounds.allSatisfy { $0.caughtByBanks == 0 && $0.settledByWave == 0 && $0.ticketsSaved == 0 })
        #expect(with.rounds.map(\.caughtByBanks).reduce(0, +) > 0)
        #expect(with.rounds.allSatisfy { $0.ticketsSaved <= $0.caughtByBanks })
        #expect(with.rounds.map(\.reviewTickets).reduce(0, +) < without.rounds.map(\.reviewTickets).reduce(0, +))
        #expect(with.rounds[0].model == without.rounds[0].model)
        #expect(with.rounds[0].reviewTickets < without.rounds[0].reviewTickets)
        #expect(with.table().contains("| round | near-copies | caught by banks | tickets saved | settled by a wave decision |"))
        // The HTML report has the table too (outside testing: only the text had it), with each round's figures.
        let html = SimulationHTML.render(with)
        #expect(html.contains("<h2>Near-copies and banks</h2>"))
        for r in with.rounds { #expect(html.contains("<tr><td>\(r.round)</td><td>\(r.copies)</td><td>\(r.caughtByBanks)</td><td>\(r.ticketsSaved)</td>")) }
    }

    @Test func aPostsReviewersErrTheSameWayWhateverElseTheRunDecides() async throws {
        // Runs that decide different posts in a different order (another review capacity) give a post that both
        // decide the same reviewer's answer: each post's reviewer errors come from its own generator. With one
        // generator for the whole run, the first decision that differed changed every later reviewer's error.
        var o = Posts.options()
        o.reviewerError = 0.3
        let folders = (0..<2).map { (NSTemporaryDirectory() as NSString).appendingPathComponent("winnow-reviewers-\($0)-\(UUID().uuidString)") }
        defer { for folder in folders { try? FileManager.default.removeItem(atPath: folder) } }
        var firstLabels: [[String: String]] = []
        for (folder, capacity) in zip(folders, [40, 25]) {
            o.reviewCapacity = capacity
            _ = try await LoopSimulator(options: o, directory: folder).run(posts, sources: ["generated"])
            let store = try SQLiteStore(path: (folder as NSString).appendingPathComponent("winnow.sqlite"))
            var first: [String: String] = [:]
            for label in try await store.labels(since: nil, after: nil, limit: 100_000) where first[label.itemID] == nil {
                first[label.itemID] = label.label
            }
            firstLabels.append(first)
        }
        let both = Set(firstLabels[0].keys).intersection(firstLabels[1].keys)
        let truth = Dictionary(uniqueKeysWithValues: posts.map { ($0.id, $0.label) })
        // The runs differ in what they decide, share enough posts to compare, and those carry reviewer errors.
        #expect(firstLabels[0].count != firstLabels[1].count)
        #expect(both.count >= 50)
        #expect(both.filter { firstLabels[0][$0] != truth[$0] }.count >= 10)
        #expect(both.filter { firstLabels[0][$0] != firstLabels[1][$0] }.sorted() == [])
    }

    @Test func nearCopiesKeepTheirSignature() throws {
        var rng = SplitMix64(seed: 3)
        var tokenizer = Tokenizer()
        let texts = ["claim your free money now at the link below for winners only", "you are all idiots and i hate every one of you so much",
                     "great coffee with friends in the garden this sunny morning"]
        var matched = 0, total = 0
        let copies = NearCopies(vocabulary: NearCopies.vocabulary(of: texts))
        for text in texts {
            let original = try #require(TextSignature(text: text, tokenizer: &tokenizer))
            for n in 0..<50 {
                let copy = copies.copy(of: text, edits: n % 2, using: &rng)
                #expect(copy != text)
                total += 1
                if let signature = TextSignature(text: copy, tokenizer: &tokenizer), signature.matches(original) { matched += 1 }
            }
        }
        #expect(Double(matched) / Double(total) >= 0.8, "\(matched) of \(total)")
    }

    @Test func aStreamTooShortForTheRoundsIsRefusedWithWhatToChange() async throws {
        var options = Posts.options()
        options.itemsPerRound = 200
        await #expect(throws: SimulationError.self) { try await LoopSimulator(options: options).run(posts, sources: ["generated"]) }
        do {
            _ = try await LoopSimulator(options: options).run(posts, sources: ["generated"])
        } catch let error as SimulationError {
            #expect(error.description.contains("300 to stream"))
            #expect(error.description.contains("--items-per-round"))
        }
        let twice = posts + [posts[0]]
        await #expect(throws: SimulationError.notEnoughData("The id 'post-0' appears twice in feed sim; every post of a feed needs its own id.")) {
            try await LoopSimulator(options: Posts.options()).run(twice, sources: ["x"])
        }
        let oneClass = posts.map { LabelledPost(id: $0.id, text: $0.text, label: "clear") }
        await #expect(throws: SimulationError.self) { try await LoopSimulator(options: Posts.options()).run(oneClass, sources: ["x"]) }
    }

    @Test func badOptionsNameTheFlag() throws {
        var options = SimulationOptions()
        options.reviewerError = 1.5
        #expect(throws: SimulationError.invalidOption(name: "--reviewer-error", value: "1.5", expected: "a probability in 0...1")) { try options.validate() }
        options = SimulationOptions()
        options.initialShare = 0.6
        options.gateShare = 0.5
        #expect(throws: SimulationError.self) { try options.validate() }
        options = SimulationOptions()
        options.reviewers = 1
        #expect((try? options.validate()) == nil)
        options = SimulationOptions()
        options.stepMinutes = 7  // 1,440 minutes are not a whole number of 7-minute steps
        #expect((try? options.validate()) == nil)
        #expect((try? SimulationOptions().validate()) != nil)
    }

    @Test func auditRatesFollowTheOption() {
        var options = SimulationOptions()
        options.auditRate = 0.03
        let rates = options.engineConfiguration.review.auditRates
        #expect(rates["allow"] == 0.03)
        #expect(abs(rates["allow.near"]! - 0.15) < 1e-12)
        #expect(abs(rates["remove.near"]! - 0.15) < 1e-12)
        #expect(options.engineConfiguration.review.goldRate == 0)
        options.auditRate = 0.5
        #expect(options.engineConfiguration.review.auditRates["remove.near"] == 1)
    }

    @Test func anAutomaticDecisionIsWrongWhenItAllowsHarmOrActsOnAClearPost() {
        #expect(LoopSimulator.isError(action: .allow, harmful: true))
        #expect(!LoopSimulator.isError(action: .allow, harmful: false))
        #expect(LoopSimulator.isError(action: .demote, harmful: false))
        #expect(!LoopSimulator.isError(action: .demote, harmful: true))
        #expect(LoopSimulator.isError(action: .remove, harmful: false))
        #expect(!LoopSimulator.isError(action: .remove, harmful: true))
        #expect(!LoopSimulator.isError(action: .review, harmful: true))
    }
}

@Suite struct AudienceModelTests {
    let reach = AudienceModel.Reach(lifetimeViews: 100, timeConstantHours: 2, burst: false, reportRate: 0.01, shareRate: 0.005, hideRate: 0.01)

    @Test func viewsFollowTheSaturatingCurve() {
        // V·(e^(−a/τ) − e^(−b/τ)) with V = 100, τ = 2.
        #expect(abs(reach.views(from: 0, to: 2) - 100 * (1 - exp(-1))) < 1e-9)
        #expect(abs(reach.views(from: 2, to: 4) - 100 * (exp(-1) - exp(-2))) < 1e-9)
        #expect(abs(reach.views(from: 0, to: 1) + reach.views(from: 1, to: 3) - reach.views(from: 0, to: 3)) < 1e-9)
        #expect(reach.views(from: 3, to: 3) == 0)
        #expect(reach.views(from: 3, to: 1) == 0)
    }

    @Test func decisionsCutReach() {
        let model = AudienceModel()
        #expect(model.visibility(.allow) == 1)
        #expect(model.visibility(.demote) == 0.3)
        #expect(model.visibility(.review) == 0.5)
        #expect(model.visibility(.remove) == 0)
    }

    @Test func countersAreTheFeedsCumulativeTotals() {
        let counters = AudienceModel().counters(views: 1234.9, reports: 3, reach: reach)
        #expect(counters == Engagement(views: 1234, likes: 49, shares: 6, comments: 12, reports: 3, hides: 12))
    }

    @Test func harmfulPostsDrawMoreReportsAndMoreBursts() {
        let model = AudienceModel()
        var rng = SplitMix64(seed: 3)
        let clear = (0..<4000).map { _ in model.reach(label: "clear", clearLabel: "clear", using: &rng) }
        let abusive = (0..<4000).map { _ in model.reach(label: "abusive", clearLabel: "clear", using: &rng) }
        #expect(clear.allSatisfy { $0.reportRate == 0.0003 })
        #expect(abusive.allSatisfy { $0.reportRate == 0.012 })
        let clearBursts = Double(clear.filter(\.burst).count) / 4000, abusiveBursts = Double(abusive.filter(\.burst).count) / 4000
        #expect(abs(clearBursts - 0.02) < 0.01)
        #expect(abs(abusiveBursts - 0.10) < 0.02)
        // The median of a log-normal is its scale: half the ordinary posts reach fewer than 200 views.
        let ordinary = clear.filter { !$0.burst }.map(\.lifetimeViews).sorted()
        #expect(abs(ordinary[ordinary.count / 2] - 200) < 20)
    }

    @Test func poissonDrawsHaveTheirMean() {
        var rng = SplitMix64(seed: 5)
        for lambda in [0.3, 4.0, 80.0] {
            let n = 20_000
            let mean = Double((0..<n).reduce(0) { total, _ in total + rng.poisson(lambda) }) / Double(n)
            #expect(abs(mean - lambda) < 4 * (lambda / Double(n)).squareRoot(), "mean \(mean) for λ \(lambda)")
        }
        #expect(rng.poisson(0) == 0)
    }
}

/// Two feeds: each trains a model of its own beside the shared one, and the report compares them round by round.
@Suite struct TwoFeedSimulationTests {
    @Test func eachFeedGetsItsOwnModelAndTheReportComparesItWithTheShared() async throws {
        let main = Posts.generate(430, seed: 11)
        let other = Posts.generate(300, seed: 12).map { LabelledPost(id: "b-" + $0.id, text: $0.text + " tonight", label: $0.label, feed: "b") }
        var o = Posts.options()
        o.itemsPerRound = 150
        let report = try await LoopSimulator(options: o).run(main + other, sources: ["generated"])
        // Every round has a row per feed, counting that feed's posts of the round.
        #expect(report.feeds.count == 6)
        for round in 1...3 {
            let rows = report.feeds.filter { $0.round == round }
            #expect(Set(rows.map(\.feed)) == ["sim", "b"])
            #expect(rows.map(\.posts).reduce(0, +) == 150)
        }
        // Round 1 runs on the shared model everywhere; after it each feed has its own (named for it) once promoted.
        #expect(report.feeds.filter { $0.round == 1 }.allSatisfy { $0.ownModel == nil && $0.ownBeatsShared == nil })
        let later = report.feeds.filter { $0.round > 1 }
        #expect(later.contains { $0.ownModel != nil })
        for row in later { if let own = row.ownModel { #expect(own.hasPrefix("sim-r") && own.hasSuffix("@\(row.feed)")) } }
        #expect(report.table().components(separatedBy: "Feed b: its own model").count == 2, "one summary line per feed")
        let table = report.table()
        #expect(table.contains("| feed | round | posts | own model |"))
        #expect(table.contains("Feed b: its own model did better than the shared one"))
        // The HTML report has the feeds' table and sentences too (outside testing: only the text had them).
        let html = SimulationHTML.render(report)
        #expect(html.contains("<h2>Feeds: own model against the shared one</h2>"))
        #expect(html.components(separatedBy: "<tr><td>b</td>").count == 4, "a row per round of feed b")
        for line in report.feedSummaries() { #expect(html.contains("<p>\(HTMLReport.escape(line))</p>")) }
        #expect(html.contains(report.gateSummary))
    }
}
