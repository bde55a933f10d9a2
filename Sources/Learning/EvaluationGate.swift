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

    public func check(candidate: ClassificationReport, active: ClassificationReport) -> Verdict {
        // A tiny tolerance, so that equal figures computed in another order never fail the gate.
        let epsilon = 1e-12
        var checks = [Check(name: "macro-F1", candidate: candidate.macroF1, active: active.macroF1, allowedDrop: maxMacroF1Drop,
                            passed: candidate.macroF1 >= active.macroF1 - maxMacroF1Drop - epsilon)]
        for metrics in active.classes where metrics.support > 0 {
            let allowed = recallDrops[metrics.label] ?? maxRecallDrop
            let mine = candidate.classes.first { $0.label == metrics.label }?.recall
            checks.append(Check(name: "recall of \(metrics.label)", candidate: mine, active: metrics.recall, allowedDrop: allowed,
                                passed: mine.map { $0 >= metrics.recall - allowed - epsilon } ?? false))
        }
        return Verdict(passed: checks.allSatisfy(\.passed), checks: checks)
    }
}
