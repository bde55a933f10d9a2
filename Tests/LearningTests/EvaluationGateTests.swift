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
