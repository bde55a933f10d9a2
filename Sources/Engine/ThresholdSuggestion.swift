import Foundation

/// Cut-offs for one class solved from labelled data and a target precision, with what they would do.
///
/// The removal cut-off is the lowest score at which acting automatically still meets the target precision
/// (most recall at that precision). The allow cut-off is the highest score below it such that what falls
/// under it is at least `targetPrecision` clean (the misses left to automation are at most 1 − target).
/// Everything between the two goes to human review.
public struct ThresholdSuggestion: Codable, Equatable, Sendable {
    public var label: String
    public var targetPrecision: Double
    public var examples: Int
    public var positives: Int
    /// nil when no cut-off reaches the target precision.
    public var remove: Double?
    public var precision: Double?
    public var recall: Double?
    /// Items scored below this are allowed without review; nil when even the lowest band misses the target.
    public var allowBelow: Double?
    /// Share of positives among the auto-allowed (misses of the automatic path).
    public var missRate: Double?
    public var removeShare: Double
    public var reviewShare: Double
    public var allowShare: Double

    /// - Parameters:
    ///   - scores: P(label) for each labelled example.
    ///   - positive: whether each example truly is `label`.
    public static func solve(label: String, scores: [Double], positive: [Bool], targetPrecision: Double) -> ThresholdSuggestion {
        let n = scores.count
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        let totalPositive = positive.filter { $0 }.count
        // Walk down the ranking at distinct scores, remembering the lowest cut-off meeting the target.
        var tp = 0, acted = 0
        var remove: Double?, precision: Double?, recall: Double?, removed = 0
        var i = 0
        while i < n {
            var j = i
            while j < n && scores[order[j]] == scores[order[i]] {
                if positive[order[j]] { tp += 1 }
                acted += 1
                j += 1
            }
            let p = Double(tp) / Double(acted)
            if p >= targetPrecision {
                remove = scores[order[i]]
                precision = p
                recall = totalPositive > 0 ? Double(tp) / Double(totalPositive) : 0
                removed = acted
            }
            i = j
        }
        // Allow side: candidate cut-offs are the distinct scores (allow what lies strictly below), capped at
        // the removal cut-off; keep the highest whose allowed part is clean enough.
        let ascending = Array(order.reversed())
        let ceiling = remove ?? (scores.max() ?? 0).nextUp
        var allowBelow: Double?, missRate: Double?, allowed = 0
        var missed = 0, seen = 0
        i = 0
        while true {
            let score = i < n ? scores[ascending[i]] : .infinity
            if seen > 0 && 1 - Double(missed) / Double(seen) >= targetPrecision {
                allowBelow = min(score, ceiling)
                missRate = Double(missed) / Double(seen)
                allowed = seen
            }
            if i >= n || score >= ceiling { break }
            while i < n && scores[ascending[i]] == score {
                if positive[ascending[i]] { missed += 1 }
                seen += 1
                i += 1
            }
        }
        let total = Double(max(n, 1))
        return ThresholdSuggestion(
            label: label, targetPrecision: targetPrecision, examples: n, positives: totalPositive, remove: remove,
            precision: precision, recall: recall, allowBelow: allowBelow, missRate: missRate,
            removeShare: Double(removed) / total, reviewShare: Double(n - removed - allowed) / total, allowShare: Double(allowed) / total)
    }
}
