import Foundation

/// Temperature scaling (Guo et al. 2017): calibrated P = softmax(z / T) for raw scores z.
///
/// One parameter, fitted by minimising the negative log-likelihood on held-out rows; it keeps the ranking
/// and the predicted class, and only makes the probabilities honest.
public struct TemperatureScaling: Codable, Equatable, Sendable {
    public var temperature: Double

    public init(temperature: Double = 1) {
        self.temperature = temperature
    }

    /// Mean negative log-likelihood of `labels` under softmax(z / T).
    public static func negativeLogLikelihood(logits: [[Double]], labels: [Int], temperature: Double) -> Double {
        guard !logits.isEmpty else { return 0 }
        var total = 0.0
        for (z, y) in zip(logits, labels) {
            let scaled = z.map { $0 / temperature }
            total -= logSoftmax(scaled)[y]
        }
        return total / Double(logits.count)
    }

    /// The smallest temperature fitted: at most tenfold sharpening. Held-out rows that the model separates
    /// perfectly would otherwise drive T toward 0 and every probability to 0 or 1.
    public static let minimumTemperature = 0.1

    /// Fits T by golden-section search over log(1/T) in [−12, ln 10], minimising the mean negative log-likelihood
    /// plus (log T)²/(2n) (the NLL is convex in 1/T and the prior term convex in log T; the sum is unimodal
    /// in practice).
    public static func fit(logits: [[Double]], labels: [Int]) -> TemperatureScaling {
        guard !logits.isEmpty else { return TemperatureScaling() }
        // A standard normal prior on log T, worth one example: with few held-out errors the likelihood alone
        // is nearly flat toward sharpening and would pick an overconfident T.
        let n = Double(logits.count)
        func loss(_ u: Double) -> Double {
            negativeLogLikelihood(logits: logits, labels: labels, temperature: exp(-u)) + u * u / (2 * n)
        }
        var a = -12.0, b = -log(minimumTemperature)
        let ratio = (sqrt(5.0) - 1) / 2
        var c = b - ratio * (b - a), d = a + ratio * (b - a)
        var fc = loss(c), fd = loss(d)
        for _ in 0..<80 where b - a > 1e-7 {
            if fc < fd { b = d; d = c; fd = fc; c = b - ratio * (b - a); fc = loss(c) }
            else { a = c; c = d; fc = fd; d = a + ratio * (b - a); fd = loss(d) }
        }
        return TemperatureScaling(temperature: exp(-(a + b) / 2))
    }

    public func probabilities(_ logits: [Double]) -> [Double] {
        softmax(logits.map { $0 / temperature })
    }
}

/// Per-class offsets on calibrated log-scores that maximise macro-F1 on held-out rows.
///
/// Coordinate ascent over a grid (−4…4 in steps of 0.1) for every class but the first, three passes; an offset
/// moves only when it strictly improves macro-F1, so with no gain all offsets stay 0.
public enum DecisionOffsets {
    public static func fit(scaledLogits: [[Double]], labels: [Int], classes: Int) -> [Double] {
        var offsets = [Double](repeating: 0, count: classes)
        guard !labels.isEmpty else { return offsets }
        var best = macroF1(scaledLogits, labels, classes, offsets)
        let grid = stride(from: -4.0, through: 4.0, by: 0.1).map { ($0 * 10).rounded() / 10 }
        for _ in 0..<3 {
            var changed = false
            for c in 1..<classes {
                var bestValue = offsets[c]
                for v in grid {
                    var trial = offsets
                    trial[c] = v
                    let f = macroF1(scaledLogits, labels, classes, trial)
                    if f > best + 1e-12 {
                        best = f
                        bestValue = v
                    }
                }
                if bestValue != offsets[c] { offsets[c] = bestValue; changed = true }
            }
            if !changed { break }
        }
        return offsets
    }

    static func macroF1(_ z: [[Double]], _ labels: [Int], _ k: Int, _ offsets: [Double]) -> Double {
        var tp = [Double](repeating: 0, count: k), predicted = tp, actual = tp
        for (row, y) in zip(z, labels) {
            var best = 0
            var bestScore = -Double.infinity
            for c in 0..<k where row[c] + offsets[c] > bestScore { bestScore = row[c] + offsets[c]; best = c }
            predicted[best] += 1
            actual[y] += 1
            if best == y { tp[y] += 1 }
        }
        var total = 0.0
        for c in 0..<k where predicted[c] + actual[c] > 0 { total += 2 * tp[c] / (predicted[c] + actual[c]) }
        return total / Double(k)
    }
}
