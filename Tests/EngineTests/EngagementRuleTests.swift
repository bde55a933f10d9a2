import Foundation
import Testing

@testable import Engine

@Suite struct EngagementRuleTests {
    let rule = EngagementRule()

    /// Up to the largest counters accepted, against the ratio computed with 50-digit arithmetic (mpmath), at the
    /// rate floor (1e-6, a young quiet feed): the log-gammas of counts near 1e15 are off by units, which once made
    /// silence in 3e14 views look like a 2.5× factor toward harm.
    @Test(arguments: [(0, 300_000_000_000_000, -0.009108611722055961), (40, 2_000_000_000_000, 0.9099612066388827),
                      (2_000, 100_000_000_000_000, 0.9099648946510887), (12, 10_000_000, 0.9134329319327941), (3, 1_000_000_000, 0.9114159002880442)])
    func bayesFactorsOfHugeCountsStayExact(reports: Int, views: Int, logExpected: Double) {
        let factor = rule.bayesFactor(reports: reports, views: views, baselineRate: 1e-6)
        #expect(abs(log(factor) - logExpected) < 1e-9, "\(reports) in \(views): \(log(factor))")
    }

    // Expected values computed independently with Python's math.lgamma from the formula in the documentation.
    @Test(arguments: [
        (0, 0, 1.0),
        (3, 200, 4.838581304133621),
        (1, 50, 3.432905744512089),
        (0, 100, 0.3869452267339505),
        (2, 2000, 0.2571898847070945),
        (0, 1000, 0.2),  // silence is weak evidence: clamped at minOddsRatio
        (10, 100, 1000.0),  // clamped at maxOddsRatio
    ])
    func bayesFactorMatchesTheBetaBinomialRatio(reports: Int, views: Int, expected: Double) {
        let factor = rule.bayesFactor(reports: reports, views: views, baselineRate: 0.002)
        #expect(abs(factor - expected) < 1e-9 * max(1, expected))
    }

    @Test func moreReportsAlwaysRaiseTheFactor() {
        var last = 0.0
        for reports in 0...12 {
            let factor = rule.bayesFactor(reports: reports, views: 500, baselineRate: 0.002)
            #expect(factor >= last)
            last = factor
        }
    }

    @Test func reportsBeyondViewsCountAsViews() {
        #expect(rule.bayesFactor(reports: 5, views: 2, baselineRate: 0.002) == rule.bayesFactor(reports: 5, views: 5, baselineRate: 0.002))
    }

    @Test func posteriorMultipliesTheOdds() {
        #expect(abs(EngagementRule.posterior(prior: 0.2, oddsRatio: 4.838581304133621) - 0.5474386824807186) < 1e-12)
        #expect(EngagementRule.posterior(prior: 0.5, oddsRatio: 1) == 0.5)
        #expect(abs(EngagementRule.posterior(prior: 0.5, oddsRatio: 3) - 0.75) < 1e-12)
    }

    @Test func velocityAndVirality() {
        #expect(EngagementRule.velocity(views: 600, ageHours: 2) == 300)
        #expect(EngagementRule.velocity(views: 100, ageHours: 0) == 400)  // ages under 15 minutes count as 15 minutes
        #expect(rule.isViral(views: 600, velocity: 600, baseline: 50))
        #expect(!rule.isViral(views: 600, velocity: 499, baseline: 50))
        #expect(!rule.isViral(views: 99, velocity: 5_000, baseline: 50))  // too few views to call
        #expect(rule.isViral(views: 100, velocity: 10, baseline: 0.2))  // a baseline under 1 view/h counts as 1
    }

    /// Outside testing: a feed's baseline pushed to 0.7 reports a view made silence read as harm (×1000 on a quiet
    /// item). The rule takes baselines up to 5%, where the harmful rate (10×, at most 0.5) still lies above the clear one.
    @Test func aBaselineAboveTheHighestRateIsTakenAtIt() {
        #expect(rule.bayesFactor(reports: 0, views: 200, baselineRate: 0.716) == rule.bayesFactor(reports: 0, views: 200, baselineRate: 0.05))
        #expect(rule.bayesFactor(reports: 0, views: 200, baselineRate: 0.716) < 1)
        #expect(rule.bayesFactor(reports: 0, views: 200, baselineRate: 9.84) < 1)
        #expect(rule.bayesFactor(reports: 150, views: 200, baselineRate: 0.716) == rule.maxOddsRatio)
    }

    /// No item moves its feed's baseline by more than a plausible item would: views up to a million, reports up to 5%
    /// of them, speed up to 100,000 views an hour.
    @Test func oneItemsShareOfTheBaselineIsBounded() {
        #expect(FeedBaseline.share(of: Engagement(views: 200, reports: 1), ageHours: 2) == .init(views: 200, reports: 1, logVelocity: log1p(100)))
        #expect(FeedBaseline.share(of: Engagement(views: 1000, reports: 8000), ageHours: 2).reports == 50)
        #expect(FeedBaseline.share(of: Engagement(views: 10, reports: 1), ageHours: 2).reports == 1)  // 5% of 10, rounded up
        let huge = FeedBaseline.share(of: Engagement(views: 1_000_000_000_000_000), ageHours: 1)
        #expect(huge.views == 1_000_000 && huge.logVelocity == log1p(100_000))
        #expect(FeedBaseline.share(of: Engagement(views: -5, reports: -1), ageHours: 1) == .init(views: 0, reports: 0, logVelocity: 0))
    }

    @Test func feedBaselineShrinksTowardThePrior() {
        let baseline = FeedBaseline(items: 30, views: 1_000, reports: 5, meanLogVelocity: log(51))
        #expect(abs(baseline.reportRate(prior: 0.002, priorViews: 10_000) - 0.0022727272727272726) < 1e-15)
        #expect(abs(baseline.velocity(minimumItems: 20)! - 50) < 1e-9)
        #expect(baseline.velocity(minimumItems: 31) == nil)
    }
}

@Suite struct EngagementTriggerTests {
    let triggers = EngagementTriggers()

    @Test func viewThresholdsFireOnceWhenCrossed() {
        #expect(triggers.fired(previous: Engagement(views: 50), current: Engagement(views: 120), ageHours: 0.1, lastEngagementStageAgeHours: nil) == "views≥100")
        #expect(triggers.fired(previous: Engagement(views: 120), current: Engagement(views: 180), ageHours: 0.1, lastEngagementStageAgeHours: 0.1) == nil)
        #expect(triggers.fired(previous: nil, current: Engagement(views: 5_000), ageHours: 0.1, lastEngagementStageAgeHours: nil) == "views≥1000")
    }

    @Test func everyNewReportFires() {
        #expect(triggers.fired(previous: Engagement(views: 10), current: Engagement(views: 10, reports: 1), ageHours: 0.01, lastEngagementStageAgeHours: nil) == "reports 0→1")
        #expect(triggers.fired(previous: Engagement(reports: 1), current: Engagement(reports: 1), ageHours: 0.01, lastEngagementStageAgeHours: nil) == nil)
    }

    @Test func ageFiresOnceAtFifteenMinutes() {
        #expect(triggers.fired(previous: Engagement(views: 3), current: Engagement(views: 4), ageHours: 0.2, lastEngagementStageAgeHours: nil) == nil)
        #expect(triggers.fired(previous: Engagement(views: 3), current: Engagement(views: 4), ageHours: 0.25, lastEngagementStageAgeHours: nil) == "age≥15m")
        #expect(triggers.fired(previous: Engagement(views: 4), current: Engagement(views: 5), ageHours: 0.5, lastEngagementStageAgeHours: 0.3) == nil)
        // Stage 2 ran early (on a report); the age trigger still fires once past 15 minutes.
        #expect(triggers.fired(previous: Engagement(views: 4), current: Engagement(views: 5), ageHours: 0.5, lastEngagementStageAgeHours: 0.05) == "age≥15m")
    }

    @Test func scheduleSkipsAgesPastOnArrivalAndCollapsesMissedOnes() {
        let created = Date(timeIntervalSince1970: 1_000_000)
        let schedule = RescoreSchedule()
        let hour = 3600.0
        #expect(schedule.next(createdAt: created, after: created) == ScheduledRescore(ageHours: 1, at: created.addingTimeInterval(hour)))
        // Received 2 hours after creation: the first rescore is the 6-hour one.
        #expect(schedule.next(createdAt: created, after: created.addingTimeInterval(2 * hour)) == ScheduledRescore(ageHours: 6, at: created.addingTimeInterval(6 * hour)))
        #expect(schedule.next(createdAt: created, after: created.addingTimeInterval(100 * hour)) == nil)
        // On time: the 6-hour rescore stands for 6 h and schedules 24 h.
        let onTime = schedule.step(scheduled: ScheduledRescore(ageHours: 6, at: created.addingTimeInterval(6 * hour)), createdAt: created,
                                   now: created.addingTimeInterval(6 * hour + 5))
        #expect(onTime.ageHours == 6)
        #expect(onTime.next == ScheduledRescore(ageHours: 24, at: created.addingTimeInterval(24 * hour)))
        // Late by two days: it stands for 24 h (the latest reached) and schedules 72 h.
        let late = schedule.step(scheduled: ScheduledRescore(ageHours: 6, at: created.addingTimeInterval(6 * hour)), createdAt: created,
                                 now: created.addingTimeInterval(50 * hour))
        #expect(late.ageHours == 24)
        #expect(late.next == ScheduledRescore(ageHours: 72, at: created.addingTimeInterval(72 * hour)))
        #expect(RescoreSchedule.label(ageHours: 72) == "3d")
        #expect(RescoreSchedule.label(ageHours: 6) == "6h")
    }
}

@Suite struct EngagementModelTests {
    /// Data drawn from a known logistic model: the fit recovers the direction of its weights.
    @Test func newtonFitRecoversAKnownModel() throws {
        var generator = SplitMix(seed: 7)
        var data: [EngagementExample] = []
        let d = EngagementFeatures.names.count
        for _ in 0..<4_000 {
            let x = (0..<d).map { _ in generator.normal() }
            let z = 2 * x[0] + 1.5 * x[2] - 1 * x[6] - 0.5
            let p = 1 / (1 + exp(-z))
            data.append(EngagementExample(features: x, harmful: generator.uniform() < p))
        }
        let model = try EngagementModel.train(data, l2: 0.01, version: "test")
        // Weights are per standard deviation; the features here have deviation ≈ 1.
        #expect(abs(model.weights[0] - 2) < 0.2)
        #expect(abs(model.weights[2] - 1.5) < 0.2)
        #expect(abs(model.weights[6] + 1) < 0.2)
        #expect(abs(model.weights[1]) < 0.15)
        #expect(model.iterations < 20)
        let sure = model.probability([3, 0, 3, 0, 0, 0, -3, 0, 0, 0])
        #expect(sure > 0.99)
    }

    @Test func refusesTooFewLabels() {
        let data = (0..<50).map { EngagementExample(features: [Double](repeating: Double($0), count: EngagementFeatures.names.count), harmful: $0 % 2 == 0) }
        #expect(throws: EngagementModelError.notEnoughLabels(examples: 50, harmful: 25, clear: 25, needed: 200, neededPerClass: 20)) {
            try EngagementModel.train(data, version: "x")
        }
    }

    @Test func featureVectorIsDocumentedOrder() {
        let x = EngagementFeatures.vector(textHarm: 0.5, engagement: Engagement(views: 99, likes: 0, shares: 0, comments: 0, reports: 0, hides: 0),
                                          ageHours: 1, baselineVelocity: 99, author: Author(id: "a", followers: 0))
        #expect(x.count == EngagementFeatures.names.count)
        #expect(x[0] == 0)  // log-odds of 0.5
        #expect(abs(x[1] - log(100)) < 1e-12)
        #expect(abs(x[2] - log(0.5 / 100)) < 1e-12)
        #expect(abs(x[6]) < 1e-12)  // same velocity as the baseline
    }
}

/// A tiny seeded generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
