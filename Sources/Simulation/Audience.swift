import Engine
import Foundation
import Learning

/// How simulated people react to an item, given its true label: how many see it, how fast it spreads, how many
/// report it. Pure: every draw comes from the generator it is given.
///
/// An item's lifetime views follow a log-normal law around `medianViews`; views arrive as V·(1 − e^(−t/τ)) over
/// its age t. Some items get a burst of shares (more often harmful ones): their reach is `burstReach` times larger
/// and they spread faster. Each view reports the item with the class's report rate. While Winnow demotes an item, or
/// holds it for a person, it keeps only a share of its reach (`visibility`); a removed item gets no more views.
public struct AudienceModel: Codable, Equatable, Sendable {
    public var medianViews: Double = 200
    /// σ of the natural log of lifetime views.
    public var viewSpread: Double = 1.2
    /// τ in hours: an item has 63% of its views at age τ.
    public var timeConstantHours: Double = 6
    /// Views stop at this age (hours); the simulator follows each item this long.
    public var lifetimeHours: Double = 72
    /// Chance of a share burst for a clear item and for a harmful one.
    public var burstProbabilityClear: Double = 0.02
    public var burstProbabilityHarmful: Double = 0.10
    public var burstReach: Double = 20
    public var burstTimeConstantHours: Double = 2
    /// Reports per view by true class; classes not listed use `defaultReportRate`.
    public var reportRates: [String: Double] = ["clear": 0.0003, "spam": 0.006, "offensive": 0.004, "abusive": 0.012]
    public var defaultReportRate: Double = 0.005
    public var likeRate: Double = 0.04
    public var commentRate: Double = 0.01
    public var shareRate: Double = 0.005
    public var burstShareRate: Double = 0.05
    public var hideRateClear: Double = 0.001
    public var hideRateHarmful: Double = 0.01
    /// Share of its reach an item keeps while demoted, and while it waits for a person.
    public var demotedVisibility: Double = 0.3
    public var heldVisibility: Double = 0.5
    /// Distinct simulated users who send reports.
    public var reporters: Int = 500

    public init() {}

    /// One item's audience.
    public struct Reach: Codable, Equatable, Sendable {
        public var lifetimeViews: Double
        public var timeConstantHours: Double
        public var burst: Bool
        public var reportRate: Double
        public var shareRate: Double
        public var hideRate: Double

        public init(lifetimeViews: Double, timeConstantHours: Double, burst: Bool, reportRate: Double, shareRate: Double, hideRate: Double) {
            self.lifetimeViews = lifetimeViews
            self.timeConstantHours = timeConstantHours
            self.burst = burst
            self.reportRate = reportRate
            self.shareRate = shareRate
            self.hideRate = hideRate
        }

        /// Views the item gets between ages `from` and `to` (hours) at full visibility.
        public func views(from: Double, to: Double) -> Double {
            guard to > from else { return 0 }
            return lifetimeViews * (exp(-max(0, from) / timeConstantHours) - exp(-to / timeConstantHours))
        }
    }

    /// Draws the audience of an item whose true class is `label`.
    public func reach(label: String, clearLabel: String, using rng: inout SplitMix64) -> Reach {
        let harmful = label != clearLabel
        let burst = rng.uniform() < (harmful ? burstProbabilityHarmful : burstProbabilityClear)
        let views = medianViews * exp(viewSpread * rng.normal()) * (burst ? burstReach : 1)
        return Reach(lifetimeViews: views, timeConstantHours: burst ? burstTimeConstantHours : timeConstantHours, burst: burst,
                     reportRate: reportRates[label] ?? (harmful ? defaultReportRate : 0), shareRate: burst ? burstShareRate : shareRate,
                     hideRate: harmful ? hideRateHarmful : hideRateClear)
    }

    /// The share of its reach an item keeps under `action`.
    public func visibility(_ action: Action) -> Double {
        switch action {
        case .allow: return 1
        case .demote: return demotedVisibility
        case .review: return heldVisibility
        case .remove: return 0
        }
    }

    /// The counters a feed would send for an item seen `views` times with `reports` reports.
    public func counters(views: Double, reports: Int, reach: Reach) -> Engagement {
        Engagement(views: Int(views), likes: Int(views * likeRate), shares: Int(views * reach.shareRate), comments: Int(views * commentRate),
                   reports: reports, hides: Int(views * reach.hideRate))
    }

    /// - Throws: `SimulationError.invalidOption` naming the first value out of range.
    public func validate() throws {
        let positive: [(String, Double)] = [("medianViews", medianViews), ("timeConstantHours", timeConstantHours), ("lifetimeHours", lifetimeHours),
                                            ("burstReach", burstReach), ("burstTimeConstantHours", burstTimeConstantHours)]
        for (name, value) in positive where !(value.isFinite && value > 0) {
            throw SimulationError.invalidOption(name: "audience.\(name)", value: "\(value)", expected: "a number > 0")
        }
        let shares: [(String, Double)] = [("burstProbabilityClear", burstProbabilityClear), ("burstProbabilityHarmful", burstProbabilityHarmful),
                                          ("defaultReportRate", defaultReportRate), ("likeRate", likeRate), ("commentRate", commentRate),
                                          ("shareRate", shareRate), ("burstShareRate", burstShareRate), ("hideRateClear", hideRateClear),
                                          ("hideRateHarmful", hideRateHarmful), ("demotedVisibility", demotedVisibility),
                                          ("heldVisibility", heldVisibility)] + reportRates.sorted { $0.key < $1.key }.map { ("reportRates.\($0.key)", $0.value) }
        for (name, value) in shares where !(value.isFinite && (0...1).contains(value)) {
            throw SimulationError.invalidOption(name: "audience.\(name)", value: "\(value)", expected: "a share in 0...1")
        }
        guard viewSpread.isFinite, viewSpread >= 0 else {
            throw SimulationError.invalidOption(name: "audience.viewSpread", value: "\(viewSpread)", expected: "a number >= 0")
        }
        guard reporters >= 1 else { throw SimulationError.invalidOption(name: "audience.reporters", value: "\(reporters)", expected: "an integer >= 1") }
    }
}

extension SplitMix64 {
    /// A uniform draw in [0, 1) from the top 53 bits.
    public mutating func uniform() -> Double { Double(next() >> 11) / 9_007_199_254_740_992 }

    /// A standard normal draw (Box–Muller).
    public mutating func normal() -> Double {
        let u = max(uniform(), 1e-300)
        let v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// A Poisson draw with mean `lambda`: Knuth's product of uniforms below 30, a rounded normal above.
    public mutating func poisson(_ lambda: Double) -> Int {
        guard lambda > 0 else { return 0 }
        if lambda > 30 { return max(0, Int((lambda + lambda.squareRoot() * normal()).rounded())) }
        let limit = exp(-lambda)
        var k = 0
        var product = uniform()
        while product > limit {
            k += 1
            product *= uniform()
        }
        return k
    }
}
