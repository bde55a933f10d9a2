import Foundation
import Learning
import Testing

@testable import Engine

@Suite struct AuditEstimateTests {
    /// Ten removals audited at π = 0.5 (8 harmful), four allows at π = 0.1 or 0.01 (one harmful, in the heavily
    /// audited bucket), two demotions at π = 0.05 (one harmful).
    static let samples: [AuditSample] =
        (0..<8).map { _ in AuditSample(action: .remove, autoLabel: "spam", trueLabel: "spam", inclusionProbability: 0.5) }
        + (0..<2).map { _ in AuditSample(action: .remove, autoLabel: "spam", trueLabel: "clear", inclusionProbability: 0.5) }
        + [AuditSample(action: .allow, autoLabel: nil, trueLabel: "spam", inclusionProbability: 0.1),
           AuditSample(action: .allow, autoLabel: nil, trueLabel: "clear", inclusionProbability: 0.1),
           AuditSample(action: .allow, autoLabel: nil, trueLabel: "clear", inclusionProbability: 0.01),
           AuditSample(action: .allow, autoLabel: nil, trueLabel: "clear", inclusionProbability: 0.01),
           AuditSample(action: .demote, autoLabel: "spam", trueLabel: "spam", inclusionProbability: 0.05),
           AuditSample(action: .demote, autoLabel: "spam", trueLabel: "clear", inclusionProbability: 0.05)]

    func expect(_ e: Estimate?, value: Double, low: Double, high: Double, audits: Int, effective: Double) {
        guard let e else { Issue.record("no estimate"); return }
        #expect(abs(e.value - value) < 1e-9)
        #expect(abs(e.low - low) < 1e-6)
        #expect(abs(e.high - high) < 1e-6)
        #expect(e.audits == audits)
        #expect(abs(e.effectiveAudits - effective) < 1e-9)
    }

    @Test func estimatesMatchHandComputedWeightedProportionsAndWilsonIntervals() {
        let a = AuditEstimates.estimate(Self.samples, clearLabel: "clear")
        #expect(a.audits == 16)
        // Equal weights: 8 of 10, Wilson at n = 10.
        expect(a.removalPrecision, value: 0.8, low: 0.4901624691, high: 0.9433178491, audits: 10, effective: 10)
        // Weights 10, 10, 100, 100: 10 / 220 harmful; Kish n = 220² / 20,200.
        expect(a.missedHarm, value: 10.0 / 220, low: 0.0012218438, high: 0.6495647933, audits: 4, effective: 48_400.0 / 20_200)
        // What feeds show: the allows and the demotions (weight 20 each).
        expect(a.prevalenceShown, value: 30.0 / 260, low: 0.0094872707, high: 0.6398026951, audits: 6, effective: 260.0 * 260 / 21_000)
        // Spam the automatic path decided: 8 removed (weight 2), 1 allowed (10), 1 demoted (20): 36 / 46 acted on.
        expect(a.recall["spam"], value: 36.0 / 46, low: 0.3230359154, high: 0.9644878520, audits: 10, effective: 46.0 * 46 / 532)
        #expect(a.recall.keys.sorted() == ["spam"])
    }

    @Test func reviewerErrorComesFromDoubleReviewAgreement() throws {
        // Two reviewers erring 5% of the time over three classes agree with probability 0.95² + 0.05²/2 = 0.90375.
        #expect(abs(ReviewerError.rate(agreement: 0.90375, classes: 3) - 0.05) < 1e-12)
        #expect(ReviewerError.rate(agreement: 1, classes: 3) == 0)
        // Agreement at chance level (1/k) is the largest error the formula gives: (k − 1)/k.
        #expect(abs(ReviewerError.rate(agreement: 1.0 / 3, classes: 3) - 2.0 / 3) < 1e-12)
        // 40 pairs, 36 agreeing: a = 0.9, two classes: e = (1 − √(1 − 2·0.1))/2.
        let pairs = (0..<36).map { _ in ("spam", "spam") } + (0..<4).map { _ in ("spam", "clear") }
        let error = try #require(ReviewerError.estimate(pairs, classes: 2))
        #expect(error.pairs == 40 && error.agreement == 0.9)
        #expect(abs(error.rate - (1 - 0.8.squareRoot()) / 2) < 1e-12)
        #expect(ReviewerError.estimate(Array(pairs.prefix(19)), classes: 2) == nil)
    }

    @Test func harmSharesAreCorrectedForReviewerError() throws {
        // e = 0.05 over three classes: an observed 0.966 harmful stands for (0.966 − 0.05) / (1 − 0.05 − 0.025).
        let error = ReviewerError(rate: 0.05, pairs: 100, agreement: 0.90375)
        #expect(abs(error.trueHarmShare(observed: 0.966, classes: 3) - 0.916 / 0.925) < 1e-12)
        #expect(error.trueHarmShare(observed: 0.99, classes: 3) == 1)
        #expect(error.trueHarmShare(observed: 0.02, classes: 3) == 0)
        let a = AuditEstimates.estimate(Self.samples, clearLabel: "clear", reviewerError: error, classes: 3)
        // Removals: 8 of 10 said harmful; the Wilson interval at n = 10, each end mapped the same way.
        expect(a.removalPrecision, value: (0.8 - 0.05) / 0.925, low: (0.4901624691 - 0.05) / 0.925, high: (0.9433178491 - 0.05) / 0.925,
               audits: 10, effective: 10)
        #expect(a.reviewerError == error)
        // Recall is left as audited.
        #expect(a.recall == AuditEstimates.estimate(Self.samples, clearLabel: "clear").recall)
    }

    @Test func theReviewerErrorsOwnIntervalWidensTheCorrectedOnes() throws {
        // 36 of 40 pairs agree: the agreement's Wilson interval is [0.7694822464, 0.9604204716]; over two classes the
        // rate is (1 − √(1 − 2·(1 − a)))/2 at each end, more agreement giving the lower rate.
        let pairs = (0..<36).map { _ in ("spam", "spam") } + (0..<4).map { _ in ("spam", "clear") }
        let estimated = try #require(ReviewerError.estimate(pairs, classes: 2))
        #expect(abs(estimated.low - 0.0201977118) < 1e-9)
        #expect(abs(estimated.high - 0.1329289943) < 1e-9)
        #expect(estimated.low < estimated.rate && estimated.rate < estimated.high)
        // Every pair agreeing: the rate's interval still reaches above 0.
        let agreeing = try #require(ReviewerError.estimate((0..<40).map { _ in ("spam", "spam") }, classes: 2))
        #expect(agreeing.rate == 0 && agreeing.low == 0 && agreeing.high > 0.02)

        // A rate of 0.05 in [0.02, 0.10] over three classes (the correction rises with the rate above q = 2/3 and falls
        // below it). Removals, 8 of 10 said harmful: the low end 0.4901624691 is below 2/3, so it is corrected at the
        // high rate, as is the high end 0.9433178491, which is above it; the value stays corrected at 0.05.
        let error = ReviewerError(rate: 0.05, low: 0.02, high: 0.10, pairs: 100, agreement: 0.90375)
        let a = AuditEstimates.estimate(Self.samples, clearLabel: "clear", reviewerError: error, classes: 3)
        expect(a.removalPrecision, value: (0.8 - 0.05) / 0.925, low: (0.4901624691 - 0.10) / 0.85, high: (0.9433178491 - 0.10) / 0.85,
               audits: 10, effective: 10)
        // Without the rate's interval (low = high = rate) the ends are those of the rate alone, and narrower.
        let exact = AuditEstimates.estimate(Self.samples, clearLabel: "clear", reviewerError: ReviewerError(rate: 0.05, pairs: 100, agreement: 0.90375),
                                            classes: 3)
        #expect(exact.removalPrecision!.low > a.removalPrecision!.low && exact.removalPrecision!.high < a.removalPrecision!.high)
        // Missed harm (10/220 said harmful, interval [0.0012218438, 0.6495647933]): both ends below 2/3, so the low end
        // clips at 0 and the high end is corrected at the low rate.
        expect(a.missedHarm, value: 0, low: 0, high: (0.6495647933 - 0.02) / 0.97, audits: 4, effective: 48_400.0 / 20_200)
    }

    @Test func intervalsStayInsideZeroAndOneAndEmptyDomainsHaveNoEstimate() {
        let all = Estimate.proportion((0..<5).map { _ in (weight: 1.0, hit: true) })!
        #expect(all.value == 1 && all.high == 1 && all.low < 1 && all.low > 0.4)
        // Exactly 1 for any count and weights, so that a true share of 1 is covered.
        for n in 1...200 { #expect(Estimate.proportion((0..<n).map { (weight: 1 + Double($0 % 7) / 3, hit: true) })!.covers(1)) }
        let none = Estimate.proportion((0..<5).map { _ in (weight: 1.0, hit: false) })!
        #expect(none.value == 0 && none.low == 0 && none.high > 0)
        #expect(Estimate.proportion([]) == nil)
        let a = AuditEstimates.estimate([AuditSample(action: .allow, autoLabel: nil, trueLabel: "clear", inclusionProbability: 0.01)], clearLabel: "clear")
        #expect(a.removalPrecision == nil && a.missedHarm?.value == 0 && a.recall.isEmpty)
    }

    @Test func intervalsCoverTheTruthAboutNinetyFivePercentOfTheTime() {
        // 2,000 repetitions of 60 audits of a 0.9-precise removal stream: the interval should cover 0.9 about 95% of
        // the time (Wilson is close to nominal here).
        var rng = SplitMix64(seed: 7)
        var covered = 0
        for _ in 0..<2_000 {
            let outcomes = (0..<60).map { _ in (weight: 1.0, hit: Double.random(in: 0..<1, using: &rng) < 0.9) }
            if Estimate.proportion(outcomes)!.covers(0.9) { covered += 1 }
        }
        #expect((1_840...1_960).contains(covered))
    }
}

@Suite struct CohenKappaTests {
    @Test func theTextbookTwoByTwo() {
        // 50 items: both yes 20, first yes / second no 5, first no / second yes 10, both no 15.
        let pairs = Array(repeating: ("yes", "yes"), count: 20) + Array(repeating: ("yes", "no"), count: 5)
            + Array(repeating: ("no", "yes"), count: 10) + Array(repeating: ("no", "no"), count: 15)
        // p_o = 0.7, p_e = 0.5 · 0.6 + 0.5 · 0.4 = 0.5
        #expect(abs(CohenKappa.kappa(pairs)! - 0.4) < 1e-12)
    }

    @Test func perfectChanceAndNoData() {
        #expect(CohenKappa.kappa([("a", "a"), ("b", "b")]) == 1)
        #expect(CohenKappa.kappa([("a", "a"), ("a", "a")]) == 1)
        #expect(abs(CohenKappa.kappa([("a", "b"), ("b", "a")])! - -1) < 1e-12)
        #expect(CohenKappa.kappa([]) == nil)
    }
}
