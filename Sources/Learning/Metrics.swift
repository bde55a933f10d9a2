import Foundation

/// Precision, recall, F1 and ranking quality of one class, one-vs-rest.
public struct ClassMetrics: Codable, Equatable, Sendable {
    public var label: String
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// Rows whose true class this is.
    public var support: Int
    /// Area under the ROC curve (Mann–Whitney, ties averaged); nil when the class or its complement is absent.
    public var rocAUC: Double?
    /// Average precision (area under the precision–recall curve, step-wise as scikit-learn's).
    public var prAUC: Double?
}

/// One bin of a reliability diagram: confidence of the predicted class against how often it was right.
public struct ReliabilityBin: Codable, Equatable, Sendable {
    public var lower: Double
    public var upper: Double
    public var count: Int
    public var meanConfidence: Double
    public var accuracy: Double
}

/// One cut-off of the threshold sweep for a class.
///
/// At cut-off t ≥ 0.5, rows with P(class) ≥ t are acted on automatically, rows with P(class) < 1 − t are
/// automatically left alone, and the rows between go to human review (`reviewShare`).
public struct SweepPoint: Codable, Equatable, Sendable {
    public var threshold: Double
    public var precision: Double
    public var recall: Double
    public var reviewShare: Double
    public var actedShare: Double
}

public struct ClassSweep: Codable, Equatable, Sendable {
    public var label: String
    public var points: [SweepPoint]
}

public struct CurvePoint: Codable, Equatable, Sendable {
    public var x: Double
    public var y: Double
}

/// Precision–recall curve of one class (x = recall, y = precision), thinned to at most 200 points.
public struct ClassCurve: Codable, Equatable, Sendable {
    public var label: String
    public var points: [CurvePoint]
}

/// Everything `winnow evaluate` reports about a model on labelled rows.
public struct ClassificationReport: Codable, Equatable, Sendable {
    public var count: Int
    public var accuracy: Double
    /// Mean F1 over the classes that occur in the truth or the predictions (a model class absent from both,
    /// such as `offensive` on an SMS test set, does not count).
    public var macroF1: Double
    public var weightedF1: Double
    public var logLoss: Double
    /// Expected calibration error over 10 equal-width bins of the predicted class's probability.
    public var expectedCalibrationError: Double
    public var classes: [ClassMetrics]
    /// `confusionMatrix[true][predicted]`, in the order of `labels`.
    public var labels: [String]
    public var confusionMatrix: [[Int]]
    public var reliability: [ReliabilityBin]
    public var thresholdSweep: [ClassSweep]
    public var precisionRecallCurves: [ClassCurve]

    /// - Parameters:
    ///   - probabilities: one row per example, one column per class (in `labels` order), each row summing to 1.
    ///   - truth: the true class index of each row.
    public init(probabilities: [[Double]], truth: [Int], labels: [String]) {
        let k = labels.count
        let n = truth.count
        precondition(probabilities.count == n, "one probability row per label")
        self.count = n
        self.labels = labels
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var correct = 0
        var logLoss = 0.0
        let predicted = probabilities.map { row in row.indices.max { row[$0] < row[$1] } ?? 0 }
        for i in 0..<n {
            confusion[truth[i]][predicted[i]] += 1
            if truth[i] == predicted[i] { correct += 1 }
            logLoss -= log(max(probabilities[i][truth[i]], 1e-15))
        }
        self.confusionMatrix = confusion
        self.accuracy = n > 0 ? Double(correct) / Double(n) : 0
        self.logLoss = n > 0 ? logLoss / Double(n) : 0
        var perClass: [ClassMetrics] = []
        var sweeps: [ClassSweep] = []
        var curves: [ClassCurve] = []
        for c in 0..<k {
            let tp = Double(confusion[c][c])
            let predictedPositive = Double((0..<k).reduce(0) { $0 + confusion[$1][c] })
            let support = confusion[c].reduce(0, +)
            let precision = predictedPositive > 0 ? tp / predictedPositive : 0
            let recall = support > 0 ? tp / Double(support) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            let scores = probabilities.map { $0[c] }
            let positive = truth.map { $0 == c }
            let ranking = Ranking(scores: scores, positive: positive)
            perClass.append(ClassMetrics(
                label: labels[c], precision: precision, recall: recall, f1: f1, support: support,
                rocAUC: ranking.rocAUC, prAUC: ranking.averagePrecision))
            sweeps.append(ClassSweep(label: labels[c], points: Self.sweep(scores: scores, positive: positive)))
            curves.append(ClassCurve(label: labels[c], points: ranking.precisionRecallCurve(maxPoints: 200)))
        }
        self.classes = perClass
        self.thresholdSweep = sweeps
        self.precisionRecallCurves = curves
        // As scikit-learn: the mean over classes that occur in the truth or in the predictions.
        let present = (0..<k).filter { c in perClass[c].support > 0 || (0..<k).contains { confusion[$0][c] > 0 } }
        self.macroF1 = present.isEmpty ? 0 : present.map { perClass[$0].f1 }.reduce(0, +) / Double(present.count)
        self.weightedF1 = n > 0 ? perClass.map { $0.f1 * Double($0.support) }.reduce(0, +) / Double(n) : 0
        // Reliability diagram and ECE.
        var bins = (0..<10).map { ReliabilityBin(lower: Double($0) / 10, upper: Double($0 + 1) / 10, count: 0, meanConfidence: 0, accuracy: 0) }
        for i in 0..<n {
            let confidence = probabilities[i][predicted[i]]
            let b = min(9, max(0, Int(confidence * 10)))
            bins[b].count += 1
            bins[b].meanConfidence += confidence
            bins[b].accuracy += truth[i] == predicted[i] ? 1 : 0
        }
        var ece = 0.0
        for b in bins.indices where bins[b].count > 0 {
            bins[b].meanConfidence /= Double(bins[b].count)
            bins[b].accuracy /= Double(bins[b].count)
            ece += Double(bins[b].count) / Double(n) * abs(bins[b].accuracy - bins[b].meanConfidence)
        }
        self.reliability = bins
        self.expectedCalibrationError = ece
    }

    /// The cut-offs of the sweep.
    public static let sweepThresholds: [Double] = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99]

    static func sweep(scores: [Double], positive: [Bool]) -> [SweepPoint] {
        let n = Double(scores.count)
        let totalPositive = Double(positive.filter { $0 }.count)
        return sweepThresholds.map { t in
            var tp = 0.0, acted = 0.0, review = 0.0
            for (s, p) in zip(scores, positive) {
                if s >= t {
                    acted += 1
                    if p { tp += 1 }
                } else if s >= 1 - t {
                    review += 1
                }
            }
            return SweepPoint(
                threshold: t, precision: acted > 0 ? tp / acted : 1, recall: totalPositive > 0 ? tp / totalPositive : 0,
                reviewShare: n > 0 ? review / n : 0, actedShare: n > 0 ? acted / n : 0)
        }
    }
}

/// Scores of one class against the truth, sorted once for the ranking metrics.
struct Ranking {
    let order: [Int]
    let scores: [Double]
    let positive: [Bool]
    let positives: Int
    let negatives: Int

    init(scores: [Double], positive: [Bool]) {
        self.scores = scores
        self.positive = positive
        self.order = scores.indices.sorted { scores[$0] > scores[$1] }
        self.positives = positive.filter { $0 }.count
        self.negatives = positive.count - positives
    }

    /// Mann–Whitney U / (P·N), ties counted one half.
    var rocAUC: Double? {
        guard positives > 0, negatives > 0 else { return nil }
        // Ascending ranks with ties averaged.
        let ascending = order.reversed().map { $0 }
        var rankSumPositive = 0.0
        var i = 0
        while i < ascending.count {
            var j = i
            while j + 1 < ascending.count && scores[ascending[j + 1]] == scores[ascending[i]] { j += 1 }
            let averageRank = Double(i + j) / 2 + 1
            for q in i...j where positive[ascending[q]] { rankSumPositive += averageRank }
            i = j + 1
        }
        let p = Double(positives), n = Double(negatives)
        return (rankSumPositive - p * (p + 1) / 2) / (p * n)
    }

    /// Σ (Rₙ − Rₙ₋₁)·Pₙ over distinct thresholds, as scikit-learn's `average_precision_score`.
    var averagePrecision: Double? {
        guard positives > 0 else { return nil }
        var tp = 0.0, fp = 0.0, previousRecall = 0.0, ap = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j < order.count && scores[order[j]] == scores[order[i]] {
                if positive[order[j]] { tp += 1 } else { fp += 1 }
                j += 1
            }
            let recall = tp / Double(positives)
            let precision = tp / (tp + fp)
            ap += (recall - previousRecall) * precision
            previousRecall = recall
            i = j
        }
        return ap
    }

    func precisionRecallCurve(maxPoints: Int) -> [CurvePoint] {
        guard positives > 0 else { return [] }
        var points: [CurvePoint] = [CurvePoint(x: 0, y: 1)]
        var tp = 0.0, fp = 0.0
        var i = 0
        while i < order.count {
            var j = i
            while j < order.count && scores[order[j]] == scores[order[i]] {
                if positive[order[j]] { tp += 1 } else { fp += 1 }
                j += 1
            }
            points.append(CurvePoint(x: tp / Double(positives), y: tp / (tp + fp)))
            i = j
        }
        guard points.count > maxPoints else { return points }
        let stride = Double(points.count - 1) / Double(maxPoints - 1)
        return (0..<maxPoints).map { points[min(points.count - 1, Int((Double($0) * stride).rounded()))] }
    }
}
