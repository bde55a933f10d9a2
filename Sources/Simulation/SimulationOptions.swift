import Engine
import Foundation
import Learning

/// A problem with the simulation's input, saying what to change.
public enum SimulationError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidOption(name: String, value: String, expected: String)
    case notEnoughData(String)

    public var description: String {
        switch self {
        case let .invalidOption(name, value, expected): return "\(name) is \(value); give \(expected)."
        case let .notEnoughData(message): return message
        }
    }
}

/// Everything a simulation run depends on; with the same options and posts, a run gives the same numbers.
public struct SimulationOptions: Codable, Equatable, Sendable {
    public var rounds: Int = 10
    /// Posts arriving per round; nil: the stream divided evenly over the rounds.
    public var itemsPerRound: Int?
    public var seed: UInt64 = 42
    /// The chance that a simulated reviewer gives a wrong label (uniformly one of the other classes).
    public var reviewerError: Double = 0.05
    /// Decisions the review team makes per round, spread evenly over it; time with an empty queue is not banked.
    public var reviewCapacity: Int = 1_200
    /// Audit rate of automatic decisions far from a cut-off; near one (within the engine's audit margin) it is
    /// `nearAuditFactor` times higher, capped at 1.
    public var auditRate: Double = 0.02
    public var nearAuditFactor: Double = 5
    /// Share of the posts the first model is trained on (they never arrive in the stream).
    public var initialShare: Double = 0.05
    /// Share of the posts held out as the evaluation gate's fixed test split.
    public var gateShare: Double = 0.10
    /// Simulated hours per round, and per step of the clock.
    public var roundHours: Double = 24
    public var stepMinutes: Double = 15
    /// Item ages (hours) at which the feed sends its engagement counters; also sent in any step with new reports.
    public var engagementAgesHours: [Double] = [0.25, 1, 3, 8, 24, 72]
    public var reviewers: Int = 8
    /// Learning offers a round (`engine.review.learningOffersPerDay` scaled to the round): what the review team may
    /// decide beyond the queue when it has capacity left. Default 0.
    public var learningOffersPerRound: Int = 0
    /// Waves: the share of harmful posts posted again as near-copies (`NearCopies`), `copiesPerWave` copies each,
    /// arriving after the original (exponential delays of mean `waveHours`, within its round). Default 0: no waves.
    public var waveShare: Double = 0
    public var copiesPerWave: Int = 4
    public var waveHours: Double = 4
    /// Whether reviewers' removals fill the banks (`engine.banks.automatic`) and reviewers settle a ticket's waiting
    /// copies with one decision. Default true, as `winnow serve`; false measures the loop without banks.
    public var banks = true
    public var audience = AudienceModel()
    public var training: TrainingOptions = {
        var options = TrainingOptions()
        options.algorithm = .logistic
        return options
    }()
    public var gate = EvaluationGate()
    /// The engine's settings for the run; its audit rates and gold rate are set from the options above.
    public var engine = EngineConfiguration()
    public var feed: String = "sim"
    /// The feed's policy; nil: `Policy.harm` with the standard cut-offs (demote at 0.5, review at 0.7, remove at
    /// 0.97 of P(harm)).
    public var policy: Policy?

    /// With posts of several feeds: whether every feed, the main one included, trains a model of its own (on its
    /// labels plus the first model's posts) beside the shared model, which keeps training on every label (the round
    /// table's model and gate columns are the shared model's). Default true.
    public var feedModels = true

    /// The policy the run stores for its feed.
    public var feedPolicy: Policy { policy(for: feed) }

    /// The policy the run stores for `name` (every feed gets the same rules).
    public func policy(for name: String) -> Policy {
        var chosen = policy ?? Policy(feed: name, rules: [Policy.harm: ClassRule(demote: 0.5, review: 0.7, remove: 0.97)])
        chosen.feed = name
        return chosen
    }

    public init() {}

    /// The engine configuration the simulation runs with: the given one, audit rates from `auditRate`, no gold
    /// tickets (the simulated reviewers are scored against the truth instead).
    public var engineConfiguration: EngineConfiguration {
        var configuration = engine
        let near = min(1, auditRate * nearAuditFactor)
        configuration.review.auditRates = ["allow": auditRate, "allow.near": near, "demote": auditRate, "demote.near": near,
                                           "remove": auditRate, "remove.near": near]
        configuration.review.goldRate = 0
        configuration.review.learningOffersPerDay = Int((Double(learningOffersPerRound) * 24 / roundHours).rounded())
        configuration.review.learningWindowHours = max(roundHours, 1)
        configuration.banks.automatic = configuration.banks.automatic && banks
        return configuration
    }

    /// - Throws: `SimulationError.invalidOption` naming the first bad option.
    public func validate() throws {
        func fail(_ name: String, _ value: Any, _ expected: String) -> SimulationError { .invalidOption(name: name, value: "\(value)", expected: expected) }
        guard (1...1_000).contains(rounds) else { throw fail("--rounds", rounds, "a number of rounds from 1 to 1,000") }
        if let itemsPerRound, itemsPerRound < 1 { throw fail("--items-per-round", itemsPerRound, "at least 1") }
        guard reviewerError.isFinite, (0...1).contains(reviewerError) else { throw fail("--reviewer-error", reviewerError, "a probability in 0...1") }
        guard reviewCapacity >= 0 else { throw fail("--review-capacity", reviewCapacity, "a number of decisions per round >= 0") }
        guard auditRate.isFinite, (0...1).contains(auditRate) else { throw fail("--audit-rate", auditRate, "a probability in 0...1") }
        guard nearAuditFactor.isFinite, nearAuditFactor >= 1 else { throw fail("nearAuditFactor", nearAuditFactor, "a factor >= 1") }
        guard initialShare.isFinite, initialShare > 0, initialShare < 1 else { throw fail("--initial-share", initialShare, "a share between 0 and 1") }
        guard gateShare.isFinite, gateShare >= 0, initialShare + gateShare < 1 else {
            throw fail("--gate-share", gateShare, "a share >= 0 that leaves posts to stream after --initial-share")
        }
        guard roundHours.isFinite, roundHours > 0 else { throw fail("roundHours", roundHours, "hours > 0") }
        let steps = roundHours * 60 / stepMinutes
        guard stepMinutes.isFinite, stepMinutes > 0, steps >= 1, steps == steps.rounded() else {
            throw fail("stepMinutes", stepMinutes, "minutes > 0 that divide a round (\(roundHours) hours) evenly")
        }
        guard learningOffersPerRound >= 0 else { throw fail("--learning-offers", learningOffersPerRound, "a number of offers per round >= 0") }
        guard waveShare.isFinite, (0...1).contains(waveShare) else { throw fail("--waves", waveShare, "a share of harmful posts in 0...1") }
        guard (1...100).contains(copiesPerWave) else { throw fail("--copies", copiesPerWave, "1 to 100 copies a wave") }
        guard waveHours.isFinite, waveHours > 0 else { throw fail("waveHours", waveHours, "hours > 0") }
        guard reviewers >= 2 else { throw fail("--reviewers", reviewers, "at least 2 (a double review needs two people)") }
        guard Policy.isValidFeed(feed) else { throw fail("feed", feed, "1-64 characters from a-z, 0-9, '-' and '_'") }
        try audience.validate()
        do { try feedPolicy.validate() } catch { throw fail("--policy", "invalid", "a valid policy: \(error)") }
        do { try training.validate() } catch { throw fail("training", "invalid", "valid training options: \(error)") }
    }
}
