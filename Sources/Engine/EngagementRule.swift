import Foundation

/// What a feed's items typically do: the centre against which one item's reports and spread are judged.
public struct FeedBaseline: Codable, Equatable, Sendable {
    /// Items with engagement counted.
    public var items: Int
    public var views: Int
    public var reports: Int
    /// Mean of log(1 + views per hour) over the items.
    public var meanLogVelocity: Double

    public init(items: Int = 0, views: Int = 0, reports: Int = 0, meanLogVelocity: Double = 0) {
        self.items = items
        self.views = views
        self.reports = reports
        self.meanLogVelocity = meanLogVelocity
    }

    /// Typical views per hour (geometric mean), nil until `minimumItems` items are counted.
    public func velocity(minimumItems: Int) -> Double? {
        items >= minimumItems ? exp(meanLogVelocity) - 1 : nil
    }

    /// Reports per view, shrunk toward `prior` with the weight of `priorViews` views (so a young feed does not
    /// judge by its first report).
    public func reportRate(prior: Double, priorViews: Double) -> Double {
        (Double(reports) + prior * priorViews) / (Double(views) + priorViews)
    }

    /// What one item adds to its feed's baseline, bounded so that no single item (a feed's bug, a counter sent in
    /// the wrong unit) can move every other item's judgement: at most `maxItemViews` views, reports at most
    /// `maxItemReportRate` of those (the highest baseline rate the rule takes: a much-reported item is evidence about
    /// itself, not about the feed's clear items), and log(1 + views per hour) of at most `maxItemVelocity` views per
    /// hour. Outside testing: one item with 8,000 reports in 1,000 views made every quiet item of its feed look
    /// reported (odds ×1000), and one of 10^15 views set the feed's typical speed 2.6 times higher.
    public struct Share: Equatable, Sendable {
        public var views: Int
        public var reports: Int
        public var logVelocity: Double
    }

    public static let maxItemViews = 1_000_000
    public static let maxItemReportRate = EngagementRule.maxBaselineRate
    public static let maxItemVelocity = 100_000.0

    public static func share(of counters: Engagement, ageHours: Double) -> Share {
        let views = min(max(0, counters.views), maxItemViews)
        let reports = min(max(0, counters.reports), Int((Double(views) * maxItemReportRate).rounded(.up)))
        let velocity = min(EngagementRule.velocity(views: counters.views, ageHours: ageHours), maxItemVelocity)
        return Share(views: views, reports: reports, logVelocity: log1p(velocity))
    }
}

/// The documented Bayesian rule stages 2 and 3 use until a learned engagement model exists.
///
/// Reports on an item are a binomial draw from its views, at an unknown report rate. Under "clear" that rate
/// follows a Beta prior centred on the feed's baseline rate r₀ with the weight of `priorViews` views (κ꜀):
/// Beta(κ꜀r₀, κ꜀(1−r₀)). Under "harmful" the prior is centred on rₕ = `harmfulRateMultiple`·r₀ (at most 0.5) with
/// the smaller weight `harmfulPriorViews` (κₕ: harmful items vary more; plenty of spam is never reported). The Bayes
/// factor of k reports in n views is the ratio of the two Beta-binomial likelihoods
///
///     BF = [B(k+αₕ, n−k+βₕ) / B(αₕ, βₕ)] / [B(k+α꜀, n−k+β꜀) / B(α꜀, β꜀)]
///
/// and the posterior odds of harm are the text model's odds times BF, clamped to [`minOddsRatio`,
/// `maxOddsRatio`]: reports can make harm near-certain, but silence can only divide the odds by 5 by default,
/// because the absence of reports is weak evidence. No views and no reports give BF = 1: the text model's
/// answer stands. Velocity does not move the odds; it
/// decides reach: an item spreading `viralFactor` times faster than the feed's typical item, with at least
/// `viralMinViews` views, is viral, and a viral item whose harm is uncertain goes to review with high priority.
public struct EngagementRule: Codable, Equatable, Sendable {
    public var priorViews: Double
    public var harmfulPriorViews: Double
    public var harmfulRateMultiple: Double
    /// The report rate assumed for a feed with no history.
    public var defaultReportRate: Double
    public var maxOddsRatio: Double
    public var minOddsRatio: Double
    public var viralFactor: Double
    public var viralMinViews: Int
    /// Items needed before a feed's velocity baseline is trusted; before that, `defaultVelocity` stands in.
    public var baselineMinimumItems: Int
    /// Views per hour assumed for a feed with too little history.
    public var defaultVelocity: Double
    /// P(harm) in this range counts as uncertain.
    public var uncertainLow: Double
    public var uncertainHigh: Double

    public init(priorViews: Double = 200, harmfulPriorViews: Double = 50, harmfulRateMultiple: Double = 10, defaultReportRate: Double = 0.002,
                maxOddsRatio: Double = 1000, minOddsRatio: Double = 0.2, viralFactor: Double = 10, viralMinViews: Int = 100, baselineMinimumItems: Int = 20, defaultVelocity: Double = 50,
                uncertainLow: Double = 0.1, uncertainHigh: Double = 0.9) {
        self.priorViews = priorViews
        self.harmfulPriorViews = harmfulPriorViews
        self.harmfulRateMultiple = harmfulRateMultiple
        self.defaultReportRate = defaultReportRate
        self.maxOddsRatio = maxOddsRatio
        self.minOddsRatio = minOddsRatio
        self.viralFactor = viralFactor
        self.viralMinViews = viralMinViews
        self.baselineMinimumItems = baselineMinimumItems
        self.defaultVelocity = defaultVelocity
        self.uncertainLow = uncertainLow
        self.uncertainHigh = uncertainHigh
    }

    public static let name = "bayes-report-rate-1"

    /// log B(a, b).
    static func logBeta(_ a: Double, _ b: Double) -> Double { lgamma(a) + lgamma(b) - lgamma(a + b) }

    /// log Γ(x + a) − log Γ(x + b). For large x the two log-gammas are huge (about 3.4e16 at x = 1e15, where a
    /// double's spacing is 4) and their difference would be noise, so it comes from Stirling's series, rearranged
    /// so that nothing large is subtracted: (x + b − ½) log1p((a − b)/(x + b)) + (a − b) log(x + a) − (a − b)
    /// + (1/(x + a) − 1/(x + b))/12; the next term is below 1e-20 from x = 1e6 on.
    static func logGammaRatio(_ x: Double, _ a: Double, _ b: Double) -> Double {
        guard x >= 1e6 else { return lgamma(x + a) - lgamma(x + b) }
        let za = x + a, zb = x + b
        return (zb - 0.5) * log1p((a - b) / zb) + (a - b) * log(za) - (a - b) + (1 / za - 1 / zb) / 12
    }

    /// The highest baseline report rate the rule takes (5% of views; 0.2% is typical): above it, the harmful rate
    /// (`harmfulRateMultiple` × r₀, at most 0.5) would no longer lie above the clear one, and silence would read as
    /// evidence of harm (outside testing: a feed's baseline pushed to 0.7 multiplied quiet items' odds by 1000).
    public static let maxBaselineRate = 0.05

    /// The Bayes factor (harmful : clear) of `reports` reports in `views` views at baseline rate `rate`.
    public func bayesFactor(reports: Int, views: Int, baselineRate rate: Double) -> Double {
        let k = Double(max(0, reports))
        let n = max(Double(max(0, views)), k)
        let r0 = min(max(rate, 1e-6), Self.maxBaselineRate, 0.5 / max(harmfulRateMultiple, 1))
        let rh = min(r0 * harmfulRateMultiple, 0.5)
        let (ac, bc) = (priorViews * r0, priorViews * (1 - r0))
        let (ah, bh) = (harmfulPriorViews * rh, harmfulPriorViews * (1 - rh))
        // log B(k + ah, n − k + bh) − log B(ah, bh) − [the same with ac, bc], the log-gammas of the same counts
        // paired so that each pair's difference is computed directly (see `logGammaRatio`).
        let logFactor = Self.logGammaRatio(k, ah, ac) + Self.logGammaRatio(n - k, bh, bc) - Self.logGammaRatio(n, ah + bh, ac + bc)
            - Self.logBeta(ah, bh) + Self.logBeta(ac, bc)
        return min(maxOddsRatio, max(minOddsRatio, exp(logFactor)))
    }

    /// P(harm) after engagement, from the text model's P(harm) and a Bayes factor.
    public static func posterior(prior p: Double, oddsRatio: Double) -> Double {
        let q = min(max(p, 1e-9), 1 - 1e-9)
        let odds = q / (1 - q) * oddsRatio
        return odds / (1 + odds)
    }

    /// Views per hour at `ageHours` (ages under a quarter hour count as a quarter hour, so the first minutes do
    /// not look infinitely fast).
    public static func velocity(views: Int, ageHours: Double) -> Double {
        Double(max(0, views)) / max(ageHours, 0.25)
    }

    /// Whether an item with `views` at `velocity` spreads `viralFactor` times faster than the feed's baseline.
    public func isViral(views: Int, velocity: Double, baseline: Double) -> Bool {
        views >= viralMinViews && velocity >= viralFactor * max(baseline, 1)
    }

    /// The feed's typical views per hour, or `defaultVelocity` while it has fewer than `baselineMinimumItems` items.
    public func baselineVelocity(_ baseline: FeedBaseline) -> Double {
        baseline.velocity(minimumItems: baselineMinimumItems) ?? defaultVelocity
    }

    public func isUncertain(_ pHarm: Double) -> Bool { pHarm >= uncertainLow && pHarm <= uncertainHigh }
}

/// When stage 2 runs. Each view threshold fires once, when an update first reaches it; the age trigger fires on
/// the first update at or past that age unless stage 2 already ran there; a new report fires every time the
/// report count rises.
public struct EngagementTriggers: Codable, Equatable, Sendable {
    public var viewThresholds: [Int]
    public var ageMinutes: Double?
    public var onReport: Bool

    public init(viewThresholds: [Int] = [100, 1_000, 10_000], ageMinutes: Double? = 15, onReport: Bool = true) {
        self.viewThresholds = viewThresholds
        self.ageMinutes = ageMinutes
        self.onReport = onReport
    }

    /// The trigger that fires for an update from `previous` to `current` counters at `ageHours`, given the age of
    /// the last engagement stage (nil if none); nil when none fires.
    public func fired(previous: Engagement?, current: Engagement, ageHours: Double, lastEngagementStageAgeHours: Double?) -> String? {
        let before = previous ?? Engagement()
        if onReport && current.reports > before.reports { return "reports \(before.reports)→\(current.reports)" }
        for threshold in viewThresholds.sorted(by: >) where before.views < threshold && current.views >= threshold {
            return "views≥\(threshold)"
        }
        if let ageMinutes, ageHours * 60 >= ageMinutes, (lastEngagementStageAgeHours ?? -1) * 60 < ageMinutes {
            return "age≥\(Self.format(minutes: ageMinutes))"
        }
        return nil
    }

    static func format(minutes: Double) -> String {
        minutes >= 60 && minutes.truncatingRemainder(dividingBy: 60) == 0 ? "\(Int(minutes / 60))h" : "\(Int(minutes))m"
    }
}

/// A scheduled stage-3 rescore: the age it stands for and when it is due.
public struct ScheduledRescore: Codable, Equatable, Sendable {
    public var ageHours: Double
    public var at: Date

    public init(ageHours: Double, at: Date) {
        self.ageHours = ageHours
        self.at = at
    }
}

/// The ages at which stage 3 rescores an item. Only the next rescore of an item is stored; each rescore schedules
/// the one after it. A rescore that runs late (the server was down) stands for the latest age already reached,
/// so missed ages collapse into one rescore instead of several in a row on the same data.
public struct RescoreSchedule: Codable, Equatable, Sendable {
    public var agesHours: [Double]

    public init(agesHours: [Double] = [1, 6, 24, 72]) {
        self.agesHours = agesHours
    }

    /// The first rescore due after `after` (ages already past on arrival are skipped: a back-filled item is not
    /// rescored on the spot); nil when every age has passed.
    public func next(createdAt: Date, after: Date) -> ScheduledRescore? {
        for age in agesHours.sorted() {
            let due = createdAt.addingTimeInterval(age * 3600)
            if due > after { return ScheduledRescore(ageHours: age, at: due) }
        }
        return nil
    }

    /// For a rescore running at `now`: the age it stands for (the latest age reached by now, at least the
    /// scheduled one) and the rescore after it.
    public func step(scheduled: ScheduledRescore, createdAt: Date, now: Date) -> (ageHours: Double, next: ScheduledRescore?) {
        let reached = agesHours.filter { createdAt.addingTimeInterval($0 * 3600) <= now }.max() ?? scheduled.ageHours
        return (max(reached, scheduled.ageHours), next(createdAt: createdAt, after: max(now, scheduled.at)))
    }

    public static func label(ageHours: Double) -> String {
        ageHours >= 24 && ageHours.truncatingRemainder(dividingBy: 24) == 0 ? "\(Int(ageHours / 24))d"
            : ageHours == ageHours.rounded() ? "\(Int(ageHours))h" : "\(ageHours)h"
    }
}
