import Foundation
import Testing

@testable import Learning

@Suite struct EvaluationGateTests {
    /// A report over three classes where `wrong[c]` of the 10 rows of class c are predicted as the next class.
    func report(wrong: [Int]) -> ClassificationReport {
        let labels = ["clear", "offensive", "spam"]
        var probabilities: [[Double]] = [], truth: [Int] = []
        for (c, errors) in wrong.enumerated() {
            for i in 0..<10 {
                var p = [0.1, 0.1, 0.1]
                p[i < errors ? (c + 1) % 3 : c] = 0.8
                probabilities.append(p)
                truth.append(c)
            }
        }
        return ClassificationReport(probabilities: probabilities, truth: truth, labels: labels)
    }

    @Test func anEqualOrBetterCandidatePasses() {
        let active = report(wrong: [1, 2, 1])
        #expect(EvaluationGate().check(candidate: active, active: active).passed)
        #expect(EvaluationGate(maxMacroF1Drop: 0, maxRecallDrop: 0).check(candidate: report(wrong: [0, 1, 1]), active: active).passed)
    }

    @Test func aRecallDropBeyondItsMarginFailsEvenWhenMacroF1Holds() {
        let active = report(wrong: [1, 1, 1])
        // Offensive recall 0.9 → 0.7 while clear improves: macro-F1 falls less than recall does.
        let candidate = report(wrong: [0, 3, 0])
        let verdict = EvaluationGate(maxMacroF1Drop: 0.1, maxRecallDrop: 0.1).check(candidate: candidate, active: active)
        #expect(!verdict.passed)
        #expect(verdict.checks.filter { !$0.passed }.map(\.name) == ["recall of offensive"])
        #expect(verdict.failures == ["recall of offensive fell from 0.9000 to 0.7000 (allowed 0.1000)"])
        // A class's own margin can allow it.
        #expect(EvaluationGate(maxMacroF1Drop: 0.1, maxRecallDrop: 0.1, recallDrops: ["offensive": 0.25]).check(candidate: candidate, active: active).passed)
    }

    @Test func aMacroF1DropFailsAndAMissingClassFails() {
        let active = report(wrong: [0, 0, 0])
        let worse = report(wrong: [2, 2, 2])
        let verdict = EvaluationGate(maxMacroF1Drop: 0.1, maxRecallDrop: 0.5).check(candidate: worse, active: active)
        #expect(verdict.checks.first?.name == "macro-F1" && verdict.checks.first?.passed == false)
        var twoClasses = report(wrong: [0, 0, 0])
        twoClasses.classes.removeAll { $0.label == "spam" }
        let missing = EvaluationGate(maxMacroF1Drop: 1, maxRecallDrop: 1).check(candidate: twoClasses, active: active)
        #expect(!missing.passed && missing.failures == ["recall of spam: the candidate has no such class"])
    }
}

@Suite struct WeightedGateFiguresTests {
    @Test func weightedRecallAndMacroF1MatchHandComputedValues() {
        // spam: TP 1, FN 3, FP 2 → precision 1/3, recall 1/4, F1 2/7; clear: TP 2, FP 3, FN 2 → 2/5, 1/2, F1 4/9.
        let f = EvaluationGate.Figures.weighted(predicted: ["spam", "clear", "clear", "spam"], truth: ["spam", "spam", "clear", "clear"],
                                                weights: [1, 3, 2, 2])
        #expect(abs(f.recall["spam"]! - 0.25) < 1e-12)
        #expect(abs(f.recall["clear"]! - 0.5) < 1e-12)
        #expect(abs(f.macroF1 - 23.0 / 63) < 1e-12)
        #expect(f.support == ["spam": 4, "clear": 4])
        // The gate reads the same figures: a candidate that misses every spam fails on spam's recall.
        let blind = EvaluationGate.Figures.weighted(predicted: ["clear", "clear", "clear", "clear"], truth: ["spam", "spam", "clear", "clear"],
                                                    weights: [1, 3, 2, 2])
        let verdict = EvaluationGate(maxMacroF1Drop: 1, maxRecallDrop: 0.2).check(candidate: blind, active: f)
        #expect(verdict.failures == ["recall of spam fell from 0.2500 to 0.0000 (allowed 0.2000)"])
    }
}

@Suite struct PairedGateTests {
    /// 100 spam and 100 clear rows; the active model is right on all of them, the candidate calls the first
    /// `missed` spam rows clear (and is right on the rest).
    func rows(missed: Int) -> EvaluationGate.PairedRows {
        let truth = [String](repeating: "spam", count: 100) + [String](repeating: "clear", count: 100)
        var candidate = truth
        for i in 0..<missed { candidate[i] = "clear" }
        return EvaluationGate.PairedRows(truth: truth, candidate: candidate, active: truth)
    }

    @Test func aNoiseSizedDropPassesAndTheThresholdRuleRefusesIt() throws {
        // Spam recall 1.00 → 0.97, beyond the 0.02 margin. A resample misses all three rows the models disagree on
        // with probability (197/200)^200 = 0.0487, more than the 2.5% above the interval's upper end: the upper end
        // is exactly 0, so the drop cannot be told from noise. Macro-F1 falls by 0.0150 (spam F1 2·0.97/1.97, clear
        // F1 2·(100/103)/(1 + 100/103)), beyond its 0.01 margin, and passes the same way.
        let verdict = EvaluationGate().check(rows(missed: 3))
        #expect(verdict.passed)
        let recall = try #require(verdict.checks.first { $0.name == "recall of spam" })
        #expect(abs(recall.change! - -0.03) < 1e-12)
        #expect(recall.interval?.high == 0)
        #expect(recall.interval!.low < -0.03)
        #expect(recall.withinNoise)
        let macro = try #require(verdict.checks.first { $0.name == "macro-F1" })
        let expected = (2 * 0.97 / 1.97 + 2 * (100.0 / 103) / (1 + 100.0 / 103)) / 2 - 1
        #expect(abs(macro.change! - expected) < 1e-12)
        #expect(macro.withinNoise && macro.interval?.high == 0)
        #expect(verdict.noise.count == 2)
        #expect(verdict.noise.contains("recall of spam fell from 1.0000 to 0.9700, within noise (interval of the change [\(String(format: "%+.4f", recall.interval!.low)), +0.0000])"))
        // The point rule refuses the same rows.
        let threshold = EvaluationGate(method: .threshold).check(rows(missed: 3))
        #expect(!threshold.passed)
        #expect(threshold.failures == ["macro-F1 fell from 1.0000 to 0.9850 (allowed 0.0100)", "recall of spam fell from 1.0000 to 0.9700 (allowed 0.0200)"])
    }

    @Test func aRealDropIsRefused() throws {
        // 15 of 100 missed: a resample keeps clear of all 15 with probability (185/200)^200 ≈ 2e-7.
        let verdict = EvaluationGate().check(rows(missed: 15))
        #expect(!verdict.passed)
        let recall = try #require(verdict.checks.first { $0.name == "recall of spam" })
        #expect(!recall.passed && abs(recall.change! - -0.15) < 1e-12)
        #expect(recall.interval!.high < 0)
        #expect(verdict.failures.count == 2)
        #expect(verdict.failures[1].hasPrefix("recall of spam fell from 1.0000 to 0.8500 (allowed 0.0200; interval of the change ["))
    }

    @Test func dropsWithinTheMarginAndGainsPass() {
        #expect(EvaluationGate().check(rows(missed: 1)).passed)
        #expect(EvaluationGate(method: .threshold).check(rows(missed: 1)).passed)
        // Swapped: the candidate is the better model.
        let worse = rows(missed: 15)
        let better = EvaluationGate.PairedRows(truth: worse.truth, candidate: worse.active, active: worse.candidate)
        let verdict = EvaluationGate().check(better)
        #expect(verdict.passed && verdict.noise.isEmpty)
        #expect(verdict.checks.allSatisfy { ($0.interval?.low ?? -1) >= 0 })
    }

    @Test func theIntervalMatchesThePairedNormalApproximation() throws {
        // 200 spam rows: the candidate misses 20 the active model gets (b) and gets 10 the active model misses (c).
        // Recall change (c − b)/n = −0.05; its standard error √(b + c − (b − c)²/n)/n = √29.5/200 = 0.02716, so the
        // normal 95% interval is −0.05 ± 0.0532. The bootstrap's percentile interval agrees within 0.01 at each end.
        let truth = [String](repeating: "spam", count: 200)
        var candidate = truth, active = truth
        for i in 0..<20 { candidate[i] = "clear" }
        for i in 20..<30 { active[i] = "clear" }
        let gate = EvaluationGate(resamples: 20_000)
        let interval = try #require(gate.changeIntervals(EvaluationGate.PairedRows(truth: truth, candidate: candidate, active: active))["recall of spam"])
        let se = (29.5).squareRoot() / 200
        #expect(abs(interval.low - (-0.05 - 1.96 * se)) < 0.01)
        #expect(abs(interval.high - (-0.05 + 1.96 * se)) < 0.01)
        // The same seed gives the same interval; weights count: doubling every weight changes nothing.
        let again = gate.changeIntervals(EvaluationGate.PairedRows(truth: truth, candidate: candidate, active: active, weights: [Double](repeating: 2, count: 200)))
        #expect(again["recall of spam"] == interval)
    }

    @Test func aClassOnlyPredictedIsNotAveragedIn() throws {
        // 100 spam and 100 clear rows; the candidate calls one clear row "abuse", a class the rows do not hold.
        // Averaged over the truth's classes: spam F1 1, clear F1 2·0.99/1.99, macro-F1 (1 + 1.98/1.99)/2 = 0.99749,
        // a fall of 0.0025 within the 0.01 margin. Over truth ∪ predictions abuse would count as a third class of F1
        // 0, and a candidate wrong on one row of 200 would read 0.665 and be refused by the threshold rule.
        let truth = [String](repeating: "spam", count: 100) + [String](repeating: "clear", count: 100)
        var candidate = truth
        candidate[150] = "abuse"
        let rows = EvaluationGate.PairedRows(truth: truth, candidate: candidate, active: truth)
        let figures = EvaluationGate.Figures.weighted(predicted: candidate, truth: truth, weights: rows.weights)
        #expect(abs(figures.macroF1 - (1 + 1.98 / 1.99) / 2) < 1e-12)
        #expect(figures.recall["abuse"] == nil && figures.recall["clear"] == 0.99)
        let threshold = EvaluationGate(method: .threshold).check(rows)
        #expect(threshold.passed, "\(threshold.failures)")
        // Every resample averages over the same two classes: the change is 0 (the row not drawn) or a small fall,
        // never the third of a point a resample that drew the row would show with abuse counted as a class.
        let macro = try #require(EvaluationGate().changeIntervals(rows)["macro-F1"])
        #expect(macro.high == 0)
        #expect(macro.low > -0.01 && macro.low < 0)
        // A report says the same: its macro-F1 keeps scikit-learn's definition, the gate's figures the truth's classes.
        let labels = ["abuse", "clear", "spam"]
        let probabilities: [[Double]] = candidate.map { predicted in labels.map { $0 == predicted ? 0.8 : 0.1 } }
        let report = ClassificationReport(probabilities: probabilities, truth: truth.map { labels.firstIndex(of: $0)! }, labels: labels)
        #expect(abs(report.macroF1 - (1 + 1.98 / 1.99) / 3) < 1e-12)
        #expect(abs(EvaluationGate.Figures(report).macroF1 - figures.macroF1) < 1e-12)
    }

    @Test func olderConfigurationsDecodeWithTheNewDefaults() throws {
        let gate = try JSONDecoder().decode(EvaluationGate.self, from: Data(#"{"maxMacroF1Drop": 0.02, "maxRecallDrop": 0.05, "recallDrops": {}}"#.utf8))
        #expect(gate.method == .paired && gate.confidence == 0.95 && gate.resamples == 2_000 && gate.maxMacroF1Drop == 0.02)
        #expect(throws: LearningError.self) { try EvaluationGate(confidence: 1.2).validate() }
    }
}
