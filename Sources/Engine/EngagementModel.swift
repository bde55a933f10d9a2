import CBLAS
import Foundation

/// The dense features stages 2 and 3 see: the text model's log-odds of harm plus engagement and author facts.
/// Unknown author facts are 0 after their log transform, the same as "none".
public enum EngagementFeatures {
    public static let names = [
        "text_log_odds", "log_views", "log_report_rate", "log_hide_rate", "log_share_rate", "log_like_rate",
        "log_velocity_ratio", "log_followers", "log_account_age_days", "log_prior_removals",
    ]

    public static func vector(textHarm: Double, engagement e: Engagement, ageHours: Double, baselineVelocity: Double, author: Author?) -> [Double] {
        let p = min(max(textHarm, 1e-6), 1 - 1e-6)
        let views = Double(max(0, e.views)) + 1
        func rate(_ count: Int) -> Double { log((Double(max(0, count)) + 0.5) / views) }
        let velocity = EngagementRule.velocity(views: e.views, ageHours: ageHours)
        return [
            log(p / (1 - p)),
            log(views),
            rate(e.reports),
            rate(e.hides),
            rate(e.shares),
            rate(e.likes),
            log((velocity + 1) / (max(baselineVelocity, 0) + 1)),
            log1p(Double(max(0, author?.followers ?? 0))),
            log1p(max(0, author?.accountAgeDays ?? 0)),
            log1p(Double(max(0, author?.priorRemovals ?? 0))),
        ]
    }
}

/// A labelled item with engagement, for training the engagement model.
public struct EngagementExample: Equatable, Sendable {
    public var features: [Double]
    public var harmful: Bool

    public init(features: [Double], harmful: Bool) {
        self.features = features
        self.harmful = harmful
    }
}

public enum EngagementModelError: Error, CustomStringConvertible, Equatable {
    case notEnoughLabels(examples: Int, harmful: Int, clear: Int, needed: Int, neededPerClass: Int)
    case wrongFeatureCount(expected: Int, got: Int)

    public var description: String {
        switch self {
        case let .notEnoughLabels(examples, harmful, clear, needed, perClass):
            return "Only \(examples) labelled items with engagement (\(harmful) harmful, \(clear) clear); the engagement model needs at least \(needed), with \(perClass) of each. Until then stages 2 and 3 use the Bayesian report-rate rule; label more items through review first."
        case let .wrongFeatureCount(expected, got):
            return "An engagement example has \(got) features; the model expects \(expected)."
        }
    }
}

/// A small dense logistic model over `EngagementFeatures`: P(harm | text, engagement, author). Features are
/// standardised with the training set's mean and deviation; the weights are fitted by Newton's method with an L2
/// penalty (BLAS for the products).
public struct EngagementModel: Codable, Equatable, Sendable {
    public var version: String
    public var featureNames: [String]
    public var mean: [Double]
    public var scale: [Double]
    public var weights: [Double]
    public var bias: Double
    public var l2: Double
    public var examples: Int
    public var harmful: Int
    /// Mean log loss on the training examples.
    public var trainingLogLoss: Double
    public var iterations: Int

    public static let minimumExamples = 200
    public static let minimumPerClass = 20

    /// P(harm) for one feature vector.
    public func probability(_ features: [Double]) -> Double {
        var z = bias
        for j in weights.indices { z += weights[j] * (features[j] - mean[j]) / scale[j] }
        return 1 / (1 + exp(-z))
    }

    /// Fits the model.
    /// - Throws: `EngagementModelError.notEnoughLabels` below `minimumExamples` (or `minimumPerClass` of a class).
    public static func train(_ data: [EngagementExample], l2: Double = 1, version: String,
                             minimumExamples: Int = minimumExamples, minimumPerClass: Int = minimumPerClass) throws -> EngagementModel {
        let d = EngagementFeatures.names.count
        let positives = data.count { $0.harmful }
        guard data.count >= minimumExamples, positives >= minimumPerClass, data.count - positives >= minimumPerClass else {
            throw EngagementModelError.notEnoughLabels(examples: data.count, harmful: positives, clear: data.count - positives,
                                                       needed: minimumExamples, neededPerClass: minimumPerClass)
        }
        if let bad = data.first(where: { $0.features.count != d }) {
            throw EngagementModelError.wrongFeatureCount(expected: d, got: bad.features.count)
        }
        let n = data.count
        var mean = [Double](repeating: 0, count: d)
        var scale = [Double](repeating: 0, count: d)
        for x in data { for j in 0..<d { mean[j] += x.features[j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        for x in data { for j in 0..<d { scale[j] += (x.features[j] - mean[j]) * (x.features[j] - mean[j]) } }
        for j in 0..<d { scale[j] = max((scale[j] / Double(n)).squareRoot(), 1e-9) }
        // Design matrix with a leading column of ones (the bias, not penalised), row-major n × (d+1).
        let p = d + 1
        var X = [Double](repeating: 0, count: n * p)
        var y = [Double](repeating: 0, count: n)
        for (i, x) in data.enumerated() {
            X[i * p] = 1
            for j in 0..<d { X[i * p + 1 + j] = (x.features[j] - mean[j]) / scale[j] }
            y[i] = x.harmful ? 1 : 0
        }
        var w = [Double](repeating: 0, count: p)
        let base = Double(positives) / Double(n)
        w[0] = log(base / (1 - base))
        var z = [Double](repeating: 0, count: n)
        var iterations = 0
        for iteration in 1...50 {
            iterations = iteration
            cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(p), 1, X, Int32(p), w, 1, 0, &z, 1)
            var residual = [Double](repeating: 0, count: n)
            var weighted = [Double](repeating: 0, count: n * p)  // √s_i · x_i
            for i in 0..<n {
                let mu = 1 / (1 + exp(-z[i]))
                residual[i] = mu - y[i]
                let s = max(mu * (1 - mu), 1e-12).squareRoot()
                for j in 0..<p { weighted[i * p + j] = s * X[i * p + j] }
            }
            var gradient = [Double](repeating: 0, count: p)
            cblas_dgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(p), 1, X, Int32(p), residual, 1, 0, &gradient, 1)
            for j in 1..<p { gradient[j] += l2 * w[j] }
            var hessian = [Double](repeating: 0, count: p * p)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(p), Int32(p), Int32(n), 1, weighted, Int32(p), weighted, Int32(p), 0, &hessian, Int32(p))
            for j in 1..<p { hessian[j * p + j] += l2 }
            hessian[0] += 1e-9
            let step = solveSymmetric(hessian, gradient, size: p)
            for j in 0..<p { w[j] -= step[j] }
            let norm = gradient.reduce(0) { $0 + $1 * $1 }.squareRoot()
            if norm < 1e-8 * Double(n) { break }
        }
        cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(p), 1, X, Int32(p), w, 1, 0, &z, 1)
        var loss = 0.0
        for i in 0..<n {
            let mu = min(max(1 / (1 + exp(-z[i])), 1e-15), 1 - 1e-15)
            loss -= y[i] == 1 ? log(mu) : log(1 - mu)
        }
        return EngagementModel(version: version, featureNames: EngagementFeatures.names, mean: mean, scale: scale, weights: Array(w[1...]),
                               bias: w[0], l2: l2, examples: n, harmful: positives, trainingLogLoss: loss / Double(n), iterations: iterations)
    }

    /// Solves A x = b for a symmetric positive-definite A (Cholesky; tiny sizes only).
    static func solveSymmetric(_ A: [Double], _ b: [Double], size p: Int) -> [Double] {
        var L = [Double](repeating: 0, count: p * p)
        for i in 0..<p {
            for j in 0...i {
                var sum = A[i * p + j]
                for k in 0..<j { sum -= L[i * p + k] * L[j * p + k] }
                L[i * p + j] = i == j ? max(sum, 1e-12).squareRoot() : sum / L[j * p + j]
            }
        }
        var x = b
        for i in 0..<p {
            var sum = x[i]
            for k in 0..<i { sum -= L[i * p + k] * x[k] }
            x[i] = sum / L[i * p + i]
        }
        for i in stride(from: p - 1, through: 0, by: -1) {
            var sum = x[i]
            for k in (i + 1)..<p { sum -= L[k * p + i] * x[k] }
            x[i] = sum / L[i * p + i]
        }
        return x
    }
}
