import Foundation

// Honest estimates of how the automatic path does, from blind audits. Pure.

/// One audited automatic decision: what the automatic path did, what the auditor found, and the probability the
/// decision had of being sampled.
public struct AuditSample: Codable, Equatable, Sendable {
    public var action: Action
    /// The class the automatic decision acted on (nil when it allowed the item).
    public var autoLabel: String?
    /// The auditor's label.
    public var trueLabel: String
    public var inclusionProbability: Double
    /// When the automatic decision was made (estimates for a period filter on it).
    public var decidedAt: Date?

    public init(action: Action, autoLabel: String?, trueLabel: String, inclusionProbability: Double, decidedAt: Date? = nil) {
        self.action = action
        self.autoLabel = autoLabel
        self.trueLabel = trueLabel
        self.inclusionProbability = inclusionProbability
        self.decidedAt = decidedAt
    }

    /// The inverse-probability weight: how many automatic decisions this audit stands for.
    public var weight: Double { 1 / max(inclusionProbability, 1e-9) }
}

/// A proportion estimated from weighted audits, with its 95% interval.
public struct Estimate: Codable, Equatable, Sendable {
    public var value: Double
    public var low: Double
    public var high: Double
    /// Audits behind it, and the effective sample size of their weights (Kish: (Σw)² / Σw²).
    public var audits: Int
    public var effectiveAudits: Double

    public init(value: Double, low: Double, high: Double, audits: Int, effectiveAudits: Double) {
        self.value = value
        self.low = low
        self.high = high
        self.audits = audits
        self.effectiveAudits = effectiveAudits
    }

    public func covers(_ x: Double) -> Bool { low <= x && x <= high }

    /// The inverse-probability-weighted (Hájek) proportion Σ w·y / Σ w of `outcomes` (weight, indicator), with a
    /// Wilson score interval computed at the effective sample size: unlike the normal approximation it stays inside
    /// [0, 1] and does not collapse to a point when every audit agrees. Nil without audits.
    public static func proportion(_ outcomes: [(weight: Double, hit: Bool)], z: Double = 1.959964) -> Estimate? {
        guard !outcomes.isEmpty else { return nil }
        let total = outcomes.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return nil }
        let hits = outcomes.reduce(0) { $0 + ($1.hit ? $1.weight : 0) }
        let squares = outcomes.reduce(0) { $0 + $1.weight * $1.weight }
        let p = hits / total
        let n = total * total / squares
        let z2 = z * z
        let denominator = 1 + z2 / n
        let centre = (p + z2 / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / denominator
        // When every audit (or none) is a hit, the interval ends at 1 (or 0) exactly, not at a rounding error below it.
        return Estimate(value: p, low: hits <= 0 ? 0 : max(0, centre - half), high: hits >= total ? 1 : min(1, centre + half),
                        audits: outcomes.count, effectiveAudits: n)
    }
}

/// How often one reviewer's label is wrong, from independent double reviews of the same tickets.
///
/// If each reviewer errs with probability e, picking uniformly among the other k − 1 classes, two of them agree with
/// probability a = (1 − e)² + e²/(k − 1). Solved for e (the root below (k − 1)/k, where more agreement means fewer errors):
/// e = (1 − √(1 − c·(1 − a))) / c with c = k/(k − 1).
///
/// The rate is itself an estimate from a few dozen or hundred pairs: its 95% interval (`low`, `high`) is the Wilson
/// interval of the agreement mapped through the same formula (more agreement, less error).
public struct ReviewerError: Codable, Equatable, Sendable {
    /// The estimated chance that one reviewer's label is wrong.
    public var rate: Double
    /// The rate's 95% interval.
    public var low: Double
    public var high: Double
    /// Double reviews behind it, and the share that agreed.
    public var pairs: Int
    public var agreement: Double

    /// Without `low` and `high`, the rate is taken as exact.
    public init(rate: Double, low: Double? = nil, high: Double? = nil, pairs: Int, agreement: Double) {
        self.rate = rate
        self.low = low ?? rate
        self.high = high ?? rate
        self.pairs = pairs
        self.agreement = agreement
    }

    /// The fewest double reviews the estimate is made from; with fewer, estimates are left uncorrected.
    public static let minimumPairs = 20

    /// Nil with fewer than `minimumPairs` pairs or fewer than two classes.
    public static func estimate(_ pairs: [(String, String)], classes k: Int) -> ReviewerError? {
        guard pairs.count >= minimumPairs, k >= 2 else { return nil }
        let agreeing = pairs.filter { $0.0 == $0.1 }.count
        let agreement = Double(agreeing) / Double(pairs.count)
        let interval = Estimate.proportion(pairs.indices.map { (weight: 1, hit: $0 < agreeing) })!
        return ReviewerError(rate: rate(agreement: agreement, classes: k), low: rate(agreement: interval.high, classes: k),
                             high: rate(agreement: interval.low, classes: k), pairs: pairs.count, agreement: agreement)
    }

    public static func rate(agreement a: Double, classes k: Int) -> Double {
        let c = Double(k) / Double(k - 1)
        return (1 - max(0, 1 - c * (1 - min(1, max(0, a)))).squareRoot()) / c
    }

    /// The true share of harmful items behind an observed share `q` of labels saying harmful, for a reviewer error of
    /// `rate` (by default the estimate): a clear item is labelled harmful with probability e (every wrong label is a
    /// harmful class), a harmful one clear with e/(k − 1), so q = h·(1 − e/(k − 1)) + (1 − h)·e and
    /// h = (q − e)/(1 − e − e/(k − 1)), clipped to [0, 1].
    public func trueHarmShare(observed q: Double, classes k: Int, rate e: Double? = nil) -> Double {
        let e = e ?? rate
        let denominator = 1 - e - e / Double(max(k - 1, 1))
        guard denominator > 0.05 else { return q }
        return min(1, max(0, (q - e) / denominator))
    }

    /// The true harm share's interval behind an observed interval [`low`, `high`], carrying the rate's own uncertainty:
    /// the correction moves monotonically with the rate (up when q > (k − 1)/k, down below), so the widest interval
    /// takes each end at whichever end of the rate's interval puts it furthest out.
    public func trueHarmShareInterval(observedLow low: Double, high: Double, classes k: Int) -> (low: Double, high: Double) {
        let rates = [self.low, rate, self.high]
        return (rates.map { trueHarmShare(observed: low, classes: k, rate: $0) }.min()!,
                rates.map { trueHarmShare(observed: high, classes: k, rate: $0) }.max()!)
    }

    private enum CodingKeys: String, CodingKey { case rate, low, high, pairs, agreement }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(rate: try c.decode(Double.self, forKey: .rate), low: try c.decodeIfPresent(Double.self, forKey: .low),
                  high: try c.decodeIfPresent(Double.self, forKey: .high), pairs: try c.decode(Int.self, forKey: .pairs),
                  agreement: try c.decode(Double.self, forKey: .agreement))
    }
}

/// What the audits say about the automatic path.
public struct AuditEstimates: Codable, Equatable, Sendable {
    /// Of the items removed automatically, the share that were harmful.
    public var removalPrecision: Estimate?
    /// Of the items allowed automatically, the share that were harmful (missed harm).
    public var missedHarm: Estimate?
    /// Of what feeds show (allowed or demoted automatically), the share that is harmful.
    public var prevalenceShown: Estimate?
    /// Per harmful class: of its items the automatic path decided, the share it acted on (demoted or removed).
    public var recall: [String: Estimate]
    public var audits: Int
    /// The reviewer error the harm shares above were corrected for (nil: not corrected, too few double reviews).
    public var reviewerError: ReviewerError?

    public init(removalPrecision: Estimate?, missedHarm: Estimate?, prevalenceShown: Estimate?, recall: [String: Estimate], audits: Int,
                reviewerError: ReviewerError? = nil) {
        self.removalPrecision = removalPrecision
        self.missedHarm = missedHarm
        self.prevalenceShown = prevalenceShown
        self.recall = recall
        self.audits = audits
        self.reviewerError = reviewerError
    }

    /// Each audit stands for 1/π automatic decisions of its kind (π its inclusion probability), so a bucket audited
    /// ten times as often counts a tenth as much per audit.
    ///
    /// Auditors are people: with `reviewerError` (from double reviews) over `classes` classes, the three harm shares
    /// are mapped from what auditors said to what is true (`ReviewerError.trueHarmShare`); a 5% error rate otherwise
    /// pulls a true precision of 1 down to about 0.97 and the interval away from the truth. The interval carries both
    /// uncertainties: each end is the audits' 95% Wilson end corrected at whichever end of the rate's 95% interval
    /// puts it furthest out (`ReviewerError.trueHarmShareInterval`), so it is conservative, not exact. Recall is left as audited (its denominator, the items of a class, is itself
    /// labelled by auditors).
    public static func estimate(_ samples: [AuditSample], clearLabel: String, reviewerError: ReviewerError? = nil, classes: Int = 2) -> AuditEstimates {
        func proportion(_ domain: (AuditSample) -> Bool, _ hit: (AuditSample) -> Bool) -> Estimate? {
            Estimate.proportion(samples.filter(domain).map { ($0.weight, hit($0)) })
        }
        func harmShare(_ domain: (AuditSample) -> Bool) -> Estimate? {
            guard var e = proportion(domain, { $0.trueLabel != clearLabel }) else { return nil }
            if let reviewerError {
                e.value = reviewerError.trueHarmShare(observed: e.value, classes: classes)
                (e.low, e.high) = reviewerError.trueHarmShareInterval(observedLow: e.low, high: e.high, classes: classes)
            }
            return e
        }
        var recall: [String: Estimate] = [:]
        for label in Set(samples.map(\.trueLabel)).subtracting([clearLabel]).sorted() {
            recall[label] = proportion({ $0.trueLabel == label }, { $0.action == .remove || $0.action == .demote })
        }
        return AuditEstimates(
            removalPrecision: harmShare { $0.action == .remove },
            missedHarm: harmShare { $0.action == .allow },
            prevalenceShown: harmShare { $0.action == .allow || $0.action == .demote },
            recall: recall, audits: samples.count, reviewerError: reviewerError)
    }
}

/// Agreement between two independent reviews of the same items beyond what chance would give.
public enum CohenKappa {
    /// κ = (p_o − p_e) / (1 − p_e): p_o the share of items both gave the same label, p_e the agreement expected if
    /// each labelled at random with their own label frequencies. Nil without pairs; 1 when both always gave one and
    /// the same label (no disagreement was possible to measure).
    public static func kappa(_ pairs: [(String, String)]) -> Double? {
        guard !pairs.isEmpty else { return nil }
        let n = Double(pairs.count)
        let observed = Double(pairs.filter { $0.0 == $0.1 }.count) / n
        var first: [String: Double] = [:], second: [String: Double] = [:]
        for (a, b) in pairs {
            first[a, default: 0] += 1
            second[b, default: 0] += 1
        }
        let expected = Set(first.keys).union(second.keys).reduce(0) { $0 + (first[$1] ?? 0) / n * (second[$1] ?? 0) / n }
        guard expected < 1 else { return 1 }
        return (observed - expected) / (1 - expected)
    }
}
