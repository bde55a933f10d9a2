import Foundation

/// Whether a candidate model may replace the active one: measured on the same labelled rows, macro-F1 may not fall by
/// more than `maxMacroF1Drop`, and no class's recall by more than its margin (`recallDrops[class]`, else
/// `maxRecallDrop`). A class the candidate cannot predict fails the gate.
public struct EvaluationGate: Codable, Equatable, Sendable {
    public var maxMacroF1Drop: Double
    public var maxRecallDrop: Double
    public var recallDrops: [String: Double]

    public init(maxMacroF1Drop: Double = 0.01, maxRecallDrop: Double = 0.02, recallDrops: [String: Double] = [:]) {
        self.maxMacroF1Drop = maxMacroF1Drop
        self.maxRecallDrop = maxRecallDrop
        self.recallDrops = recallDrops
    }

    /// One comparison: the candidate's value, the active model's, and how far it may fall.
    public struct Check: Codable, Equatable, Sendable {
        public var name: String
        public var candidate: Double?
        public var active: Double
        public var allowedDrop: Double
        public var passed: Bool
    }

    public struct Verdict: Codable, Equatable, Sendable {
        public var passed: Bool
        public var checks: [Check]
        /// The checks that failed, as sentences.
        public var failures: [String] {
            checks.filter { !$0.passed }.map { check in
                guard let candidate = check.candidate else { return "\(check.name): the candidate has no such class" }
                return String(format: "%@ fell from %.4f to %.4f (allowed %.4f)", check.name, check.active, candidate, check.allowedDrop)
            }
        }
    }

    /// What the gate compares: macro-F1 and each class's recall (with its support, in rows or weights).
    public struct Figures: Codable, Equatable, Sendable {
        public var macroF1: Double
        public var recall: [String: Double]
        public var support: [String: Double]

        public init(macroF1: Double, recall: [String: Double], support: [String: Double]) {
            self.macroF1 = macroF1
            self.recall = recall
            self.support = support
        }

        public init(_ report: ClassificationReport) {
            macroF1 = report.macroF1
            recall = Dictionary(uniqueKeysWithValues: report.classes.map { ($0.label, $0.recall) })
            support = Dictionary(uniqueKeysWithValues: report.classes.map { ($0.label, Double($0.support)) })
        }

        /// Weighted precision, recall and F1 per class from predicted and true labels, each row counting `weight`
        /// (audits weigh 1/π, so the figures describe all automatic decisions). Macro-F1 averages the classes present
        /// in the truth or the predictions.
        public static func weighted(predicted: [String], truth: [String], weights: [Double]) -> Figures {
            var tp: [String: Double] = [:], fp: [String: Double] = [:], fn: [String: Double] = [:]
            for ((p, t), w) in zip(zip(predicted, truth), weights) {
                if p == t { tp[t, default: 0] += w } else { fp[p, default: 0] += w; fn[t, default: 0] += w }
            }
            let classes = Set(predicted).union(truth).sorted()
            var recall: [String: Double] = [:], support: [String: Double] = [:], f1Sum = 0.0
            for c in classes {
                let tpc = tp[c] ?? 0, fpc = fp[c] ?? 0, fnc = fn[c] ?? 0
                let precision = tpc + fpc > 0 ? tpc / (tpc + fpc) : 0
                let r = tpc + fnc > 0 ? tpc / (tpc + fnc) : 0
                f1Sum += precision + r > 0 ? 2 * precision * r / (precision + r) : 0
                if tpc + fnc > 0 { recall[c] = r; support[c] = tpc + fnc }
            }
            return Figures(macroF1: classes.isEmpty ? 0 : f1Sum / Double(classes.count), recall: recall, support: support)
        }
    }

    public func check(candidate: ClassificationReport, active: ClassificationReport) -> Verdict {
        check(candidate: Figures(candidate), active: Figures(active))
    }

    public func check(candidate: Figures, active: Figures) -> Verdict {
        // A tiny tolerance, so that equal figures computed in another order never fail the gate.
        let epsilon = 1e-12
        var checks = [Check(name: "macro-F1", candidate: candidate.macroF1, active: active.macroF1, allowedDrop: maxMacroF1Drop,
                            passed: candidate.macroF1 >= active.macroF1 - maxMacroF1Drop - epsilon)]
        for (label, recall) in active.recall.sorted(by: { $0.key < $1.key }) where (active.support[label] ?? 0) > 0 {
            let allowed = recallDrops[label] ?? maxRecallDrop
            let mine = candidate.recall[label]
            checks.append(Check(name: "recall of \(label)", candidate: mine, active: recall, allowedDrop: allowed,
                                passed: mine.map { $0 >= recall - allowed - epsilon } ?? false))
        }
        return Verdict(passed: checks.allSatisfy(\.passed), checks: checks)
    }
}

extension EvaluationGate {
    /// The gate on blind audits (text, auditor's label, inclusion probability π), each weighing 1/π; nil without audits.
    /// - Throws: `LearningError.insufficientTraining` when a model refuses to score.
    public func check(candidate: TextClassifier, active: TextClassifier,
                      audits: [(text: String, label: String, inclusionProbability: Double)]) throws -> Verdict? {
        guard !audits.isEmpty else { return nil }
        let rows = audits.map { (text: $0.text, label: $0.label, weight: 1 / max($0.inclusionProbability, 1e-9)) }
        return check(candidate: try candidate.weightedFigures(rows), active: try active.weightedFigures(rows))
    }
}

extension TextClassifier {
    /// The gate's figures for this model on rows each standing for `weight` items (a blind audit weighs 1/π): the
    /// predicted class is the most probable one.
    /// - Throws: `LearningError.insufficientTraining` when the model refuses to score.
    public func weightedFigures(_ rows: [(text: String, label: String, weight: Double)]) throws -> EvaluationGate.Figures {
        var scorer = try Scorer(model: self)
        let predicted = rows.map { row -> String in
            let p = scorer.probabilities(row.text).probabilities
            return classes[p.indices.max { p[$0] < p[$1] } ?? 0]
        }
        return .weighted(predicted: predicted, truth: rows.map(\.label), weights: rows.map(\.weight))
    }
}
