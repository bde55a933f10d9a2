import Foundation

/// Hyperparameters of the naive-Bayes classifiers.
public struct NaiveBayesConfig: Codable, Equatable, Sendable {
    /// Additive (Laplace/Lidstone) smoothing, > 0. Default 1.
    public var alpha: Double
    /// Complement naive Bayes (Rennie et al. 2003) instead of multinomial: steadier on imbalanced classes.
    public var complement: Bool

    public init(alpha: Double = 1.0, complement: Bool = false) {
        self.alpha = alpha
        self.complement = complement
    }

    /// - Throws: `LearningError.invalidParameter` quoting the bad value.
    public func validate() throws {
        guard alpha.isFinite, alpha > 0 else {
            throw LearningError.invalidParameter(name: "alpha", value: "\(alpha)", expected: "a finite number > 0")
        }
    }
}

/// Multinomial (or complement) naive Bayes over non-negative count features, keeping raw counts.
///
/// As scikit-learn's `MultinomialNB`, it stores `classCount` and `featureCount` and derives log-probabilities
/// from them, so `partialFit` over chunks gives exactly the model `fit` gives on all rows, and labels can be
/// unlearned by fitting them again with weight −1. Two differences, both for hashed features:
/// the smoothing denominator counts only the features seen in training (`observedFeatureCount`, the
/// vocabulary size of an unhashed model), and features never seen in training contribute nothing to the
/// joint log-likelihood (as a vocabulary-based vectoriser drops unknown words).
///
/// Layout: `featureCount[j * classes + k]` is the (weighted) count of feature `j` in class `k`.
public struct MultinomialNB: Sendable {
    public let config: NaiveBayesConfig
    /// Number of classes K; class labels are `0..<classes`.
    public let classes: Int
    /// Number of features D.
    public let dimension: Int
    public private(set) var classCount: [Double]
    public private(set) var featureCount: [Double]

    /// - Throws: `LearningError.invalidParameter` for a bad config, fewer than 2 classes, or an empty dimension.
    public init(classes: Int, dimension: Int, config: NaiveBayesConfig = NaiveBayesConfig()) throws {
        try config.validate()
        guard classes >= 2 else {
            throw LearningError.invalidParameter(name: "classes", value: "\(classes)", expected: "at least 2 classes")
        }
        guard dimension > 0 else {
            throw LearningError.invalidParameter(name: "dimension", value: "\(dimension)", expected: "at least 1 feature")
        }
        self.config = config
        self.classes = classes
        self.dimension = dimension
        self.classCount = [Double](repeating: 0, count: classes)
        self.featureCount = [Double](repeating: 0, count: classes * dimension)
    }

    /// Restores a model from its raw counts (a model file).
    public init(classes: Int, dimension: Int, config: NaiveBayesConfig, classCount: [Double], featureCount: [Double]) throws {
        try self.init(classes: classes, dimension: dimension, config: config)
        guard classCount.count == classes, featureCount.count == classes * dimension else {
            throw LearningError.invalidTrainingData("Naive-Bayes counts have the wrong shape.")
        }
        self.classCount = classCount
        self.featureCount = featureCount
    }

    /// Forgets everything and learns from `x` (rows) with `labels` in `0..<classes` and optional sample weights.
    public mutating func fit(_ x: SparseMatrix, labels: [Int], weights: [Double]? = nil) throws {
        classCount = [Double](repeating: 0, count: classes)
        featureCount = [Double](repeating: 0, count: classes * dimension)
        try partialFit(x, labels: labels, weights: weights)
    }

    /// Adds the counts of `x` to the model. A weight of −1 unlearns a row learnt before with weight 1.
    /// - Throws: `LearningError.invalidTrainingData` when shapes disagree, a label is out of range, or a value is negative.
    public mutating func partialFit(_ x: SparseMatrix, labels: [Int], weights: [Double]? = nil) throws {
        guard x.rowCount == labels.count else {
            throw LearningError.invalidTrainingData("Got \(x.rowCount) rows but \(labels.count) labels; give one label per row.")
        }
        if let weights, weights.count != labels.count {
            throw LearningError.invalidTrainingData("Got \(labels.count) labels but \(weights.count) weights; give one weight per row.")
        }
        guard x.columnCount == dimension else {
            throw LearningError.invalidTrainingData("Rows have \(x.columnCount) columns; this model has \(dimension).")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw LearningError.invalidTrainingData("Label \(bad) is out of range 0..<\(classes).")
        }
        if x.values.contains(where: { $0 < 0 || !$0.isFinite }) {
            throw LearningError.invalidTrainingData("Naive Bayes needs non-negative counts; found a negative or non-finite value.")
        }
        let k = classes
        featureCount.withUnsafeMutableBufferPointer { fc in
            for i in 0..<x.rowCount {
                let y = labels[i]
                let w = weights?[i] ?? 1
                classCount[y] += w
                for p in x.rowStart[i]..<x.rowStart[i + 1] {
                    fc[Int(x.indices[p]) * k + y] += w * Double(x.values[p])
                }
            }
        }
    }

    /// The features with a non-zero count in some class, ascending: the model's vocabulary.
    public func observedFeatures() -> [Int32] {
        var observed: [Int32] = []
        featureCount.withUnsafeBufferPointer { fc in
            for j in 0..<dimension {
                for c in 0..<classes where fc[j * classes + c] != 0 { observed.append(Int32(j)); break }
            }
        }
        return observed
    }

    /// How many features have a non-zero count in some class (V in `featureLogProb`).
    public var observedFeatureCount: Int { observedFeatures().count }

    /// log P(class), from `classCount`.
    public var classLogPrior: [Double] {
        let total = classCount.reduce(0, +)
        return classCount.map { total > 0 && $0 > 0 ? log($0 / total) : -Double.infinity }
    }

    /// The per-feature log weights, `featureLogProb[j * classes + k]`, zero for features never seen.
    ///
    /// Multinomial: log((N_jk + α) / (N_k + α·V)). Complement: −log((N_j − N_jk + α) / (N − N_k + α·V)),
    /// where N_jk are feature counts, N_k their total per class, N_j per feature, and V the observed features.
    public func featureLogProb() -> [Float] {
        let k = classes
        let alpha = config.alpha
        let observed = observedFeatures()
        var total = [Double](repeating: 0, count: k)
        var perFeature = [Double](repeating: 0, count: dimension)
        for j32 in observed {
            let j = Int(j32)
            for c in 0..<k {
                total[c] += featureCount[j * k + c]
                perFeature[j] += featureCount[j * k + c]
            }
        }
        let vocabulary = observed.count
        let v = Double(vocabulary)
        let grand = total.reduce(0, +)
        var out = [Float](repeating: 0, count: k * dimension)
        if config.complement {
            let denominators = (0..<k).map { log(grand - total[$0] + alpha * v) }
            for j in observed.map({ Int($0) }) {
                for c in 0..<k {
                    out[j * k + c] = Float(-(log(perFeature[j] - featureCount[j * k + c] + alpha) - denominators[c]))
                }
            }
        } else {
            let denominators = (0..<k).map { log(total[$0] + alpha * v) }
            for j in observed.map({ Int($0) }) {
                for c in 0..<k {
                    out[j * k + c] = Float(log(featureCount[j * k + c] + alpha) - denominators[c])
                }
            }
        }
        return out
    }

    /// The intercept of the linear form: `classLogPrior` for multinomial, and for complement NB too (so
    /// that, as in scikit-learn, a single-feature-free row falls back on the prior).
    public var intercept: [Double] {
        classLogPrior.map { $0.isFinite ? $0 : -1e30 }
    }

    /// Unnormalised log P(x, class) for each row: `intercept + x · featureLogProb`.
    public func jointLogLikelihood(_ x: SparseMatrix) -> [[Double]] {
        let table = featureLogProb()
        let prior = intercept
        return (0..<x.rowCount).map { i in
            var out = prior
            for p in x.rowStart[i]..<x.rowStart[i + 1] {
                let j = Int(x.indices[p])
                for c in 0..<classes { out[c] += Double(x.values[p]) * Double(table[j * classes + c]) }
            }
            return out
        }
    }

    /// log P(class | x) for each row; each row's exponentials sum to 1.
    public func predictLogProba(_ x: SparseMatrix) -> [[Double]] {
        jointLogLikelihood(x).map(logSoftmax)
    }

    /// P(class | x) for each row; each row sums to 1.
    public func predictProba(_ x: SparseMatrix) -> [[Double]] {
        predictLogProba(x).map { $0.map(exp) }
    }
}

/// log(softmax(z)), computed stably.
public func logSoftmax(_ z: [Double]) -> [Double] {
    let m = z.max() ?? 0
    guard m.isFinite else { return z.map { $0 == m ? 0 : -Double.infinity } }
    var s = 0.0
    for v in z { s += exp(v - m) }
    let lse = m + log(s)
    return z.map { $0 - lse }
}

/// softmax(z), computed stably; sums to 1.
public func softmax(_ z: [Double]) -> [Double] {
    logSoftmax(z).map(exp)
}
