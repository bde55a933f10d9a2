import Foundation

/// Whether a candidate model may replace the active one, measured on the same labelled rows: macro-F1 may not fall by
/// more than `maxMacroF1Drop`, and no class's recall by more than its margin (`recallDrops[class]`, else
/// `maxRecallDrop`).
///
/// With the `paired` method (the default) both models' predictions on the same rows are paired data: for each figure
/// the gate computes the candidate's change and a percentile bootstrap interval of that change at `confidence`
/// (resampling rows, both models together, `resamples` times from `seed`), and refuses only a drop that is beyond
/// its margin **and** whose whole interval lies below zero (a drop unlikely to be noise). With `threshold` the
/// point figures alone decide, as before: any drop beyond its margin fails. In both, a class the candidate cannot
/// predict at all fails.
public struct EvaluationGate: Codable, Equatable, Sendable {
    /// How a drop is judged.
    public enum Method: String, Codable, CaseIterable, Sendable {
        /// A drop beyond its margin fails only when the interval of the paired change lies wholly below zero.
        case paired
        /// Any drop beyond its margin fails (the point figures alone).
        case threshold
    }

    public var maxMacroF1Drop: Double
    public var maxRecallDrop: Double
    public var recallDrops: [String: Double]
    public var method: Method
    /// Two-sided confidence of the paired intervals (0.5-0.999). Default 0.95.
    public var confidence: Double
    /// Bootstrap resamples (100-100,000). Default 2,000.
    public var resamples: Int
    /// Seed of the resampling: the same rows and seed give the same intervals.
    public var seed: UInt64
    /// Fewest rows (of classes the active model knows) a comparison needs to count: fewer say nothing a decision could
    /// rest on (outside testing: a gate on 2 test rows, or on 1 blind audit, passed a far worse model). Default 30.
    public var minimumRows: Int

    public init(maxMacroF1Drop: Double = 0.01, maxRecallDrop: Double = 0.02, recallDrops: [String: Double] = [:],
                method: Method = .paired, confidence: Double = 0.95, resamples: Int = 2_000, seed: UInt64 = 20_261_205, minimumRows: Int = 30) {
        self.maxMacroF1Drop = maxMacroF1Drop
        self.maxRecallDrop = maxRecallDrop
        self.recallDrops = recallDrops
        self.method = method
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed
        self.minimumRows = minimumRows
    }

    private enum CodingKeys: String, CodingKey { case maxMacroF1Drop, maxRecallDrop, recallDrops, method, confidence, resamples, seed, minimumRows }

    /// Every key may be left out (its default applies), so older configurations keep working.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EvaluationGate()
        maxMacroF1Drop = try c.decodeIfPresent(Double.self, forKey: .maxMacroF1Drop) ?? d.maxMacroF1Drop
        maxRecallDrop = try c.decodeIfPresent(Double.self, forKey: .maxRecallDrop) ?? d.maxRecallDrop
        recallDrops = try c.decodeIfPresent([String: Double].self, forKey: .recallDrops) ?? d.recallDrops
        method = try c.decodeIfPresent(Method.self, forKey: .method) ?? d.method
        confidence = try c.decodeIfPresent(Double.self, forKey: .confidence) ?? d.confidence
        resamples = try c.decodeIfPresent(Int.self, forKey: .resamples) ?? d.resamples
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        minimumRows = try c.decodeIfPresent(Int.self, forKey: .minimumRows) ?? d.minimumRows
    }

    /// - Throws: `LearningError.invalidParameter` naming the first bad setting.
    public func validate() throws {
        func fail(_ name: String, _ value: Any, _ expected: String) -> LearningError { .invalidParameter(name: name, value: "\(value)", expected: expected) }
        guard maxMacroF1Drop.isFinite, (0...1).contains(maxMacroF1Drop) else { throw fail("maxMacroF1Drop", maxMacroF1Drop, "a drop in 0...1") }
        guard maxRecallDrop.isFinite, (0...1).contains(maxRecallDrop) else { throw fail("maxRecallDrop", maxRecallDrop, "a drop in 0...1") }
        for (label, drop) in recallDrops where !(drop.isFinite && (0...1).contains(drop)) { throw fail("recallDrops.\(label)", drop, "a drop in 0...1") }
        guard confidence.isFinite, (0.5...0.999).contains(confidence) else { throw fail("confidence", confidence, "a confidence in 0.5...0.999") }
        guard (100...100_000).contains(resamples) else { throw fail("resamples", resamples, "100 to 100,000 resamples") }
        guard minimumRows >= 1 else { throw fail("minimumRows", minimumRows, "a number of rows ≥ 1") }
    }

    /// A change's interval at the gate's confidence.
    public struct Interval: Codable, Equatable, Sendable {
        public var low: Double
        public var high: Double
        public init(low: Double, high: Double) {
            self.low = low
            self.high = high
        }
    }

    /// One comparison: the candidate's value, the active model's, how far it may fall, and with the paired method the
    /// change (candidate − active) with its interval.
    public struct Check: Codable, Equatable, Sendable {
        public var name: String
        public var candidate: Double?
        public var active: Double
        public var allowedDrop: Double
        public var passed: Bool
        /// The candidate's change (paired method).
        public var change: Double?
        /// The interval of the change at the gate's confidence (paired method).
        public var interval: Interval?

        public init(name: String, candidate: Double?, active: Double, allowedDrop: Double, passed: Bool, change: Double? = nil, interval: Interval? = nil) {
            self.name = name
            self.candidate = candidate
            self.active = active
            self.allowedDrop = allowedDrop
            self.passed = passed
            self.change = change
            self.interval = interval
        }

        /// A drop beyond its margin that passed because its interval reaches zero or above (within noise).
        public var withinNoise: Bool {
            guard passed, let candidate, let interval else { return false }
            return candidate < active - allowedDrop - 1e-12 && interval.high >= 0
        }
    }

    public struct Verdict: Codable, Equatable, Sendable {
        public var passed: Bool
        public var checks: [Check]

        public init(passed: Bool, checks: [Check]) {
            self.passed = passed
            self.checks = checks
        }
        /// The checks that failed, as sentences.
        public var failures: [String] {
            checks.filter { !$0.passed }.map { check in
                guard let candidate = check.candidate else { return "\(check.name): the candidate has no such class" }
                let base = String(format: "%@ fell from %.4f to %.4f (allowed %.4f", check.name, check.active, candidate, check.allowedDrop)
                guard let interval = check.interval else { return base + ")" }
                return base + String(format: "; interval of the change [%+.4f, %+.4f])", interval.low, interval.high)
            }
        }
        /// Drops beyond their margin that the paired method let pass as noise, as sentences.
        public var noise: [String] {
            checks.filter(\.withinNoise).map { check in
                String(format: "%@ fell from %.4f to %.4f, within noise (interval of the change [%+.4f, %+.4f])", check.name, check.active,
                       check.candidate ?? 0, check.interval?.low ?? 0, check.interval?.high ?? 0)
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

        /// From a report; macro-F1 averages the classes the report's truth holds (see `weighted`).
        public init(_ report: ClassificationReport) {
            let present = report.classes.filter { $0.support > 0 }
            macroF1 = present.isEmpty ? 0 : present.map(\.f1).reduce(0, +) / Double(present.count)
            recall = Dictionary(uniqueKeysWithValues: report.classes.map { ($0.label, $0.recall) })
            support = Dictionary(uniqueKeysWithValues: report.classes.map { ($0.label, Double($0.support)) })
        }

        /// Weighted precision, recall and F1 per class from predicted and true labels, each row counting `weight`
        /// (audits weigh 1/π, so the figures describe all automatic decisions). Macro-F1 averages the classes the
        /// truth holds: a class only predicted lowers the recall of the classes it was predicted for, not the average's
        /// divisor, so both models are judged over one class set (scikit-learn's default, truth ∪ predictions, would
        /// give each model its own; `ClassificationReport.macroF1` keeps that definition for `evaluate`).
        public static func weighted(predicted: [String], truth: [String], weights: [Double]) -> Figures {
            var tp: [String: Double] = [:], fp: [String: Double] = [:], fn: [String: Double] = [:]
            for ((p, t), w) in zip(zip(predicted, truth), weights) {
                if p == t { tp[t, default: 0] += w } else { fp[p, default: 0] += w; fn[t, default: 0] += w }
            }
            let classes = Set(truth).sorted()
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
    /// Both models' predicted classes for the same labelled rows, each row standing for `weights[i]` items (a blind
    /// audit weighs 1/π, a test row 1).
    public struct PairedRows: Sendable, Equatable {
        public var truth: [String]
        public var candidate: [String]
        public var active: [String]
        public var weights: [Double]

        public init(truth: [String], candidate: [String], active: [String], weights: [Double]? = nil) {
            precondition(truth.count == candidate.count && truth.count == active.count, "paired rows need one prediction of each model per row")
            self.truth = truth
            self.candidate = candidate
            self.active = active
            self.weights = weights ?? [Double](repeating: 1, count: truth.count)
        }

        public var count: Int { truth.count }
    }

    /// The gate on paired predictions: the point figures by the margins, and with the paired method each change's
    /// interval, so that a drop beyond its margin fails only when its interval lies wholly below zero.
    public func check(_ rows: PairedRows) -> Verdict {
        let point = check(candidate: .weighted(predicted: rows.candidate, truth: rows.truth, weights: rows.weights),
                          active: .weighted(predicted: rows.active, truth: rows.truth, weights: rows.weights))
        guard method == .paired, rows.count > 0 else { return point }
        let intervals = changeIntervals(rows)
        var checks = point.checks
        for i in checks.indices {
            guard let candidate = checks[i].candidate, let interval = intervals[checks[i].name] else { continue }
            checks[i].change = candidate - checks[i].active
            checks[i].interval = interval
            if !checks[i].passed { checks[i].passed = interval.high >= 0 }
        }
        return Verdict(passed: checks.allSatisfy(\.passed), checks: checks)
    }

    /// Percentile bootstrap intervals of the paired change (candidate − active) of macro-F1 and of each class's
    /// recall, keyed by check name: rows are drawn with replacement, both models' predictions together, and a
    /// resample without rows of a class says nothing of that class's recall. Every resample's macro-F1 averages over
    /// the same classes, those of all the rows' truth (a class a resample lacks adds 0 to both models), so the
    /// interval measures the point figure's change and not a divisor that moves between resamples.
    public func changeIntervals(_ rows: PairedRows) -> [String: Interval] {
        var index: [String: Int] = [:], names: [String] = []
        func id(_ label: String) -> Int {
            if let i = index[label] { return i }
            index[label] = names.count
            names.append(label)
            return names.count - 1
        }
        let truth = rows.truth.map(id), candidate = rows.candidate.map(id), active = rows.active.map(id)
        let k = names.count, n = rows.count
        guard n > 0 else { return [:] }
        var rng = SplitMix64(seed: seed)
        var tpC = [Double](repeating: 0, count: k), fpC = tpC, fnC = tpC, tpA = tpC, fpA = tpC, fnA = tpC
        var macro: [Double] = [], recall = [[Double]](repeating: [], count: k)
        macro.reserveCapacity(resamples)
        var inTruth = [Bool](repeating: false, count: k)
        for t in truth { inTruth[t] = true }
        let averaged = Double(inTruth.filter { $0 }.count)
        func macroF1(_ tp: [Double], _ fp: [Double], _ fn: [Double]) -> Double {
            var sum = 0.0
            for c in 0..<k where inTruth[c] {
                let precision = tp[c] + fp[c] > 0 ? tp[c] / (tp[c] + fp[c]) : 0
                let r = tp[c] + fn[c] > 0 ? tp[c] / (tp[c] + fn[c]) : 0
                sum += precision + r > 0 ? 2 * precision * r / (precision + r) : 0
            }
            return sum / averaged
        }
        for _ in 0..<resamples {
            for c in 0..<k { tpC[c] = 0; fpC[c] = 0; fnC[c] = 0; tpA[c] = 0; fpA[c] = 0; fnA[c] = 0 }
            for _ in 0..<n {
                let i = Int(rng.next() % UInt64(n))
                let w = rows.weights[i], t = truth[i], c = candidate[i], a = active[i]
                if c == t { tpC[t] += w } else { fpC[c] += w; fnC[t] += w }
                if a == t { tpA[t] += w } else { fpA[a] += w; fnA[t] += w }
            }
            macro.append(macroF1(tpC, fpC, fnC) - macroF1(tpA, fpA, fnA))
            for c in 0..<k where tpC[c] + fnC[c] > 0 {
                recall[c].append(tpC[c] / (tpC[c] + fnC[c]) - tpA[c] / (tpA[c] + fnA[c]))
            }
        }
        var intervals = ["macro-F1": interval(macro)]
        for c in 0..<k where !recall[c].isEmpty { intervals["recall of \(names[c])"] = interval(recall[c]) }
        return intervals
    }

    /// The central `confidence` share of `values` (nearest ranks, outward).
    func interval(_ values: [Double]) -> Interval {
        let sorted = values.sorted(), last = Double(sorted.count - 1), tail = (1 - confidence) / 2
        return Interval(low: sorted[Int((last * tail).rounded(.down))], high: sorted[Int((last * (1 - tail)).rounded(.up))])
    }

    /// Both models on the same labelled rows (`weight` each), through the gate. A class the active model knows and
    /// the candidate does not fails; rows of a class the active model does not know are left out. Nil with fewer than
    /// `minimumRows` rows left.
    /// - Throws: `LearningError.insufficientTraining` when a model refuses to score.
    public func compare(candidate: TextClassifier, active: TextClassifier,
                        rows: [(text: String, label: String, weight: Double)]) throws -> Verdict? {
        let known = Set(active.classes)
        let kept = rows.filter { known.contains($0.label) }
        guard !kept.isEmpty, kept.count >= minimumRows else { return nil }
        let texts = kept.map(\.text)
        var verdict = check(PairedRows(truth: kept.map(\.label), candidate: try candidate.predictions(texts), active: try active.predictions(texts),
                                       weights: kept.map(\.weight)))
        for label in active.classes where !candidate.classes.contains(label) {
            verdict.checks.removeAll { $0.name == "recall of \(label)" }
            verdict.checks.append(Check(name: "recall of \(label)", candidate: nil, active: 0, allowedDrop: recallDrops[label] ?? maxRecallDrop, passed: false))
            verdict.passed = false
        }
        return verdict
    }

    /// The gate on blind audits (text, auditor's label, inclusion probability π), each weighing 1/π; nil with fewer
    /// than `minimumRows`.
    /// (Learning stays free of the Engine: callers pass the audits' fields.)
    /// - Throws: `LearningError.insufficientTraining` when a model refuses to score.
    public func check(candidate: TextClassifier, active: TextClassifier,
                      audits: [(text: String, label: String, inclusionProbability: Double)]) throws -> Verdict? {
        try compare(candidate: candidate, active: active,
                    rows: audits.map { (text: $0.text, label: $0.label, weight: 1 / max($0.inclusionProbability, 1e-9)) })
    }
}

extension TextClassifier {
    /// The most probable class of each text.
    /// - Throws: `LearningError.insufficientTraining` when the model refuses to score.
    public func predictions(_ texts: [String]) throws -> [String] {
        var scorer = try Scorer(model: self)
        return texts.map { text in
            let p = scorer.probabilities(text).probabilities
            return classes[p.indices.max { p[$0] < p[$1] } ?? 0]
        }
    }
}
