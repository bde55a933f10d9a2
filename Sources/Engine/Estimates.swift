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

    public init(action: Action, autoLabel: String?, trueLabel: String, inclusionProbability: Double) {
        self.action = action
        self.autoLabel = autoLabel
        self.trueLabel = trueLabel
        self.inclusionProbability = inclusionProbability
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
        return Estimate(value: p, low: max(0, centre - half), high: min(1, centre + half), audits: outcomes.count, effectiveAudits: n)
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

    public init(removalPrecision: Estimate?, missedHarm: Estimate?, prevalenceShown: Estimate?, recall: [String: Estimate], audits: Int) {
        self.removalPrecision = removalPrecision
        self.missedHarm = missedHarm
        self.prevalenceShown = prevalenceShown
        self.recall = recall
        self.audits = audits
    }

    /// Each audit stands for 1/π automatic decisions of its kind (π its inclusion probability), so a bucket audited
    /// ten times as often counts a tenth as much per audit.
    public static func estimate(_ samples: [AuditSample], clearLabel: String) -> AuditEstimates {
        func proportion(_ domain: (AuditSample) -> Bool, _ hit: (AuditSample) -> Bool) -> Estimate? {
            Estimate.proportion(samples.filter(domain).map { ($0.weight, hit($0)) })
        }
        let harmful = { (s: AuditSample) in s.trueLabel != clearLabel }
        var recall: [String: Estimate] = [:]
        for label in Set(samples.map(\.trueLabel)).subtracting([clearLabel]).sorted() {
            recall[label] = proportion({ $0.trueLabel == label }, { $0.action == .remove || $0.action == .demote })
        }
        return AuditEstimates(
            removalPrecision: proportion({ $0.action == .remove }, harmful),
            missedHarm: proportion({ $0.action == .allow }, harmful),
            prevalenceShown: proportion({ $0.action == .allow || $0.action == .demote }, harmful),
            recall: recall, audits: samples.count)
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
