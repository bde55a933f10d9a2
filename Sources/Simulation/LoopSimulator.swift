import Engine
import Foundation
import Learning

/// A labelled post to replay: its true label is what simulated people see in it.
public struct LabelledPost: Sendable, Equatable {
    public var id: String
    public var text: String
    public var label: String
    /// The feed it is posted to; nil: the simulation's main feed (`SimulationOptions.feed`).
    public var feed: String?

    public init(id: String, text: String, label: String, feed: String? = nil) {
        self.id = id
        self.text = text
        self.label = label
        self.feed = feed
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

    /// The first simulated instant: 2026-01-01T00:00:00Z (a fixed date keeps runs identical).
    public static let start = Date(timeIntervalSince1970: 1_767_225_600)

    /// Runs the simulation on `posts` (`sources` names them in the report); `progress` hears the phase and the
    /// share done.
    public func run(_ posts: [LabelledPost], sources: [String], progress: (@Sendable (String, Double) -> Void)? = nil) async throws -> SimulationReport {
        try options.validate()
        let split = try Split(posts, options: options)
        let base = directory ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("winnow-simulate-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: base) } }
        progress?("training the first model", 0)
        let run = try await SimulationRun(split: split, options: options, directory: base, sources: sources)
        for step in 1...run.totalSteps {
            try await run.step(step, progress: progress)
        }
        return try await run.report(posts: posts.count)
    }

    /// The posts shuffled with the seed and split into the first model's, the gate's and the stream.
    struct Split {
        let classes: [String]
        let initial: [LabelledText]
        let gate: [LabelledText]
        /// The gate split's posts, with their feeds.
        let gatePosts: [LabelledPost]
        let stream: [LabelledPost]
        let perRound: Int

        init(_ posts: [LabelledPost], options o: SimulationOptions) throws {
            let clearLabel = o.engine.clearLabel
            classes = Array(Set(posts.map(\.label))).sorted()
            guard classes.count >= 2 else {
                throw SimulationError.notEnoughData("The data has \(classes.count) class\(classes.count == 1 ? "" : "es"); the simulation needs labelled posts of at least two.")
            }
            var ids = Set<String>()
            for post in posts where !ids.insert(SimulationRun.key(post.feed ?? o.feed, post.id)).inserted {
                throw SimulationError.notEnoughData("The id '\(post.id)' appears twice in feed \(post.feed ?? o.feed); every post of a feed needs its own id.")
            }
            guard classes.contains(clearLabel) else {
                throw SimulationError.notEnoughData("No post has the label '\(clearLabel)'; the simulation needs clear posts beside harmful ones (map labels with --label-map).")
            }
            var splitter = SplitMix64(seed: o.seed)
            var order = Array(posts.indices)
            order.shuffle(using: &splitter)
            let initialCount = max(1, Int((Double(posts.count) * o.initialShare).rounded()))
            let gateCount = Int((Double(posts.count) * o.gateShare).rounded())
            initial = order.prefix(initialCount).map { LabelledText(text: posts[$0].text, label: posts[$0].label) }
            gatePosts = order.dropFirst(initialCount).prefix(gateCount).map { posts[$0] }
            gate = gatePosts.map { LabelledText(text: $0.text, label: $0.label) }
            stream = order.dropFirst(initialCount + gateCount).map { posts[$0] }
            perRound = o.itemsPerRound ?? stream.count / o.rounds
            guard perRound >= 1, perRound * o.rounds <= stream.count else {
                throw SimulationError.notEnoughData(
                    "\(posts.count) posts leave \(stream.count) to stream after the initial (\(initialCount)) and gate (\(gateCount)) shares: not enough for \(o.rounds) rounds of \(perRound == 0 ? 1 : perRound). Give fewer --rounds or a smaller --items-per-round, or more data.")
            }
        }
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
}
