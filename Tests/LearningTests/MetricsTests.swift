import Foundation
import Testing

@testable import Learning

/// Four rows, two classes, hand-computed (see each expectation).
struct MetricsTests {
    static let probabilities: [[Double]] = [[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]
    static let truth = [0, 0, 1, 1]
    let report = ClassificationReport(probabilities: probabilities, truth: truth, labels: ["clear", "spam"])

    @Test func countsAndF1() {
        // Predicted: clear, clear, clear, spam.
        #expect(report.confusionMatrix == [[2, 0], [1, 1]])
        #expect(report.accuracy == 0.75)
        #expect(abs(report.classes[0].precision - 2.0 / 3) < 1e-12)
        #expect(report.classes[0].recall == 1)
        #expect(abs(report.classes[0].f1 - 0.8) < 1e-12)
        #expect(report.classes[1].precision == 1)
        #expect(report.classes[1].recall == 0.5)
        #expect(abs(report.classes[1].f1 - 2.0 / 3) < 1e-12)
        #expect(abs(report.macroF1 - (0.8 + 2.0 / 3) / 2) < 1e-12)
    }

    @Test func rankingMetrics() {
        // Spam scores .1 .4 .35 .8 with positives at .35 and .8: 3 of 4 pairs ordered → ROC-AUC 0.75.
        #expect(abs(report.classes[1].rocAUC! - 0.75) < 1e-12)
        #expect(abs(report.classes[0].rocAUC! - 0.75) < 1e-12)
        // Ranked .8(+) .4(−) .35(+) .1(−): AP = 0.5·1 + 0.5·(2/3).
        #expect(abs(report.classes[1].prAUC! - (0.5 + 1.0 / 3)) < 1e-12)
    }

    @Test func macroF1IgnoresClassesAbsentFromTruthAndPredictions() {
        let three = ClassificationReport(probabilities: [[0.9, 0.05, 0.05], [0.2, 0.1, 0.7]], truth: [0, 2], labels: ["a", "b", "c"])
        #expect(three.macroF1 == 1)
        let wrong = ClassificationReport(probabilities: [[0.1, 0.8, 0.1], [0.2, 0.1, 0.7]], truth: [0, 2], labels: ["a", "b", "c"])
        #expect(abs(wrong.macroF1 - 1.0 / 3) < 1e-12)  // a: 0, b (predicted, absent): 0, c: 1
    }

    @Test func tiesCountOneHalfInROC() {
        let tied = ClassificationReport(probabilities: [[0.5, 0.5], [0.5, 0.5]], truth: [0, 1], labels: ["a", "b"])
        #expect(tied.classes[1].rocAUC == 0.5)
    }

    @Test func expectedCalibrationError() {
        // Bins: 0.9 right (|1−.9|·¼), 0.6 right and 0.65 wrong (|.5−.625|·½), 0.8 right (|1−.8|·¼).
        #expect(abs(report.expectedCalibrationError - 0.1375) < 1e-12)
        #expect(report.reliability.count == 10)
        #expect(report.reliability[6].count == 2)
    }

    @Test func thresholdSweep() {
        let spam = report.thresholdSweep[1].points
        let at50 = spam.first { $0.threshold == 0.5 }!
        #expect(at50.precision == 1 && at50.recall == 0.5 && at50.reviewShare == 0)
        // At 0.7: .8 is acted on; .4 and .35 fall in the review band [0.3, 0.7).
        let at70 = spam.first { $0.threshold == 0.7 }!
        #expect(at70.actedShare == 0.25 && at70.reviewShare == 0.5)
    }

    @Test func logLoss() {
        let expected = -(log(0.9) + log(0.6) + log(0.35) + log(0.8)) / 4
        #expect(abs(report.logLoss - expected) < 1e-12)
    }
}

struct CalibrationTests {
    @Test func temperatureRecoversAKnownOverconfidence() {
        // Labels drawn from softmax(z); the model reports 3z, so the fitted temperature should be near 3.
        var rng = SplitMix64(seed: 11)
        var logits: [[Double]] = []
        var labels: [Int] = []
        for _ in 0..<20_000 {
            let z = (0..<3).map { _ in Double(rng.next() % 2000) / 1000 - 1 }
            let p = softmax(z)
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            labels.append(u < p[0] ? 0 : (u < p[0] + p[1] ? 1 : 2))
            logits.append(z.map { $0 * 3 })
        }
        let fitted = TemperatureScaling.fit(logits: logits, labels: labels)
        #expect(abs(fitted.temperature - 3) < 0.3)
        let nll = TemperatureScaling.negativeLogLikelihood(logits: logits, labels: labels, temperature: fitted.temperature)
        #expect(nll < TemperatureScaling.negativeLogLikelihood(logits: logits, labels: labels, temperature: 1))
        #expect(abs(fitted.probabilities([1, 2, 3]).reduce(0, +) - 1) < 1e-12)
    }

    @Test func perfectlySeparatedRowsDoNotDriveTheTemperatureToZero() {
        let rows = (0..<1000).map { i -> [Double] in i % 2 == 0 ? [0.5, 0] : [0, 0.5] }
        let labels = (0..<1000).map { $0 % 2 }
        let fitted = TemperatureScaling.fit(logits: rows, labels: labels)
        #expect(abs(fitted.temperature - TemperatureScaling.minimumTemperature) < 1e-4)
        // With three rows, the prior on log T holds the temperature well above the bound.
        let few = TemperatureScaling.fit(logits: [[3, 0], [0, 3], [2, 0]], labels: [0, 1, 0])
        #expect(few.temperature > 0.3 && few.temperature < 1)
    }

    @Test func decisionOffsetsStayZeroWithoutGain() {
        let z: [[Double]] = [[2, 0], [0, 2], [3, 1], [1, 3]]
        #expect(DecisionOffsets.fit(scaledLogits: z, labels: [0, 1, 0, 1], classes: 2) == [0, 0])
    }
}
