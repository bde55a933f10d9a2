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

    /// Fits T by golden-section search over log(1/T) in [-12, 6] (the NLL is convex in 1/T, so unimodal there).
    public static func fit(logits: [[Double]], labels: [Int]) -> TemperatureScaling {
        guard !logits.isEmpty else { return TemperatureScaling() }
        func loss(_ u: Double) -> Double { negativeLogLikelihood(logits: logits, labels: labels, temperature: exp(-u)) }
        var a = -12.0, b = 6.0
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
