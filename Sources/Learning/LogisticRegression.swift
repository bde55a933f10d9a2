import Dispatch
import Foundation

/// How training rows are weighted by their class.
public enum ClassWeight: String, Codable, Sendable, CaseIterable {
    /// Every row counts 1.
    case none
    /// Rows of class k weigh n / (K · n_k), as scikit-learn's `class_weight="balanced"`.
    case balanced
    /// The square root of `balanced`: a milder correction that keeps precision on the common class.
    case sqrtBalanced = "sqrt-balanced"

    /// Per-class weights for `labels` in `0..<classes`.
    public func weights(labels: [Int], classes: Int) -> [Double] {
        var counts = [Double](repeating: 0, count: classes)
        for y in labels { counts[y] += 1 }
        let n = Double(labels.count)
        return counts.map { c in
            guard c > 0 else { return 0 }
            switch self {
            case .none: return 1
            case .balanced: return n / (Double(classes) * c)
            case .sqrtBalanced: return (n / (Double(classes) * c)).squareRoot()
            }
        }
    }
}

/// Hyperparameters of `LogisticRegression`.
public struct LogisticConfig: Codable, Equatable, Sendable {
    /// Inverse L2 strength, > 0, in scikit-learn's convention: the objective is
    /// (1/n) Σᵢ wᵢ·CE(xᵢ, yᵢ) + ‖W‖² / (2·C·n). Default 10.
    public var c: Double
    /// L-BFGS iterations at most, ≥ 1. Default 300.
    public var maxIterations: Int
    /// Convergence: largest absolute gradient component, > 0. Default 1e-5 (near enough to the optimum that the
    /// result no longer depends on the optimiser's path).
    public var tolerance: Double
    /// Default `.balanced`.
    public var classWeight: ClassWeight
    /// Features seen in fewer training rows than this get no coefficient, ≥ 1. Default 1 (keep all): 2 halves
    /// the parameters and the training time, but cost 0.008 macro-F1 on the Davidson set.
    public var minDocumentFrequency: Int

    public init(
        c: Double = 10, maxIterations: Int = 300, tolerance: Double = 1e-5, classWeight: ClassWeight = .balanced,
        minDocumentFrequency: Int = 1
    ) {
        self.minDocumentFrequency = minDocumentFrequency
        self.c = c
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.classWeight = classWeight
    }

    /// - Throws: `LearningError.invalidParameter` quoting the bad value.
    public func validate() throws {
        guard c.isFinite, c > 0 else {
            throw LearningError.invalidParameter(name: "c", value: "\(c)", expected: "a finite number > 0")
        }
        guard maxIterations >= 1 else {
            throw LearningError.invalidParameter(name: "maxIterations", value: "\(maxIterations)", expected: "an integer >= 1")
        }
        guard minDocumentFrequency >= 1 else {
            throw LearningError.invalidParameter(name: "minDocumentFrequency", value: "\(minDocumentFrequency)", expected: "an integer >= 1")
        }
        guard tolerance.isFinite, tolerance > 0 else {
            throw LearningError.invalidParameter(name: "tolerance", value: "\(tolerance)", expected: "a finite number > 0")
        }
    }
}

/// Multinomial logistic regression with L2 penalty, trained by L-BFGS.
///
/// Coefficients are kept only for the columns seen in training (`columns`, ascending), as
/// `coefficients[p * classes + k]` for column `columns[p]`; the intercept is not penalised.
public struct LogisticRegression: Sendable {
    public let config: LogisticConfig
    public let classes: Int
    public let dimension: Int
    public private(set) var columns: [Int32] = []
    public internal(set) var coefficients: [Double] = []
    public private(set) var intercept: [Double]
    /// The optimiser's report from the last `fit`.
    public private(set) var optimization: LBFGS.Result?

    public init(classes: Int, dimension: Int, config: LogisticConfig = LogisticConfig()) throws {
        try config.validate()
        guard classes >= 2 else {
            throw LearningError.invalidParameter(name: "classes", value: "\(classes)", expected: "at least 2 classes")
        }
        self.config = config
        self.classes = classes
        self.dimension = dimension
        self.intercept = [Double](repeating: 0, count: classes)
    }

    /// Restores a trained model (a model file).
    public init(
        classes: Int, dimension: Int, config: LogisticConfig, columns: [Int32], coefficients: [Double], intercept: [Double],
        optimization: LBFGS.Result? = nil
    ) throws {
        try self.init(classes: classes, dimension: dimension, config: config)
        guard coefficients.count == columns.count * classes, intercept.count == classes else {
            throw LearningError.invalidTrainingData("Logistic coefficients have the wrong shape.")
        }
        self.columns = columns
        self.coefficients = coefficients
        self.intercept = intercept
        self.optimization = optimization
    }

    /// Trains on `x` with `labels` in `0..<classes`. With `warmStart`, starts from the current coefficients
    /// (columns not seen before start at 0). `tolerance` overrides the configured one for this fit.
    public mutating func fit(
        _ x: SparseMatrix, labels: [Int], sampleWeights: [Double]? = nil, warmStart: Bool = false, tolerance: Double? = nil,
        progress: ((Int, Double, Double) -> Void)? = nil
    ) throws {
        guard x.rowCount == labels.count, x.rowCount > 0 else {
            throw LearningError.invalidTrainingData("Got \(x.rowCount) rows but \(labels.count) labels; give one label per row.")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= classes }) {
            throw LearningError.invalidTrainingData("Label \(bad) is out of range 0..<\(classes).")
        }
        let k = classes
        let n = x.rowCount
        // Compact the used columns, the most frequent first: their coefficients then share cache lines,
        // which matters because the objective's cost is memory traffic.
        var frequency = [Int32](repeating: 0, count: x.columnCount)
        var used: [Int32] = []
        for j in x.indices {
            if frequency[Int(j)] == 0 { used.append(j) }
            frequency[Int(j)] += 1
        }
        // Features seen in fewer than `minDocumentFrequency` rows get no coefficient (as scikit-learn's min_df).
        used = used.filter { frequency[Int($0)] >= Int32(config.minDocumentFrequency) }
        used.sort()
        let byFrequency = used.indices.sorted { frequency[Int(used[$0])] > frequency[Int(used[$1])] || (frequency[Int(used[$0])] == frequency[Int(used[$1])] && $0 < $1) }
        var slot = [Int](repeating: 0, count: used.count)  // slot[p]: optimisation position of used[p]
        for (q, p) in byFrequency.enumerated() { slot[p] = q }
        var map = [Int32](repeating: -1, count: x.columnCount)  // bucket → optimisation position, or −1
        for (p, j) in used.enumerated() { map[Int(j)] = Int32(slot[p]) }
        var compact: [Int32] = []
        var values: [Float] = []
        var rowStart: [Int] = [0]
        compact.reserveCapacity(x.nonZeroCount)
        values.reserveCapacity(x.nonZeroCount)
        rowStart.reserveCapacity(n + 1)
        for i in 0..<n {
            for p in x.rowStart[i]..<x.rowStart[i + 1] {
                let q = map[Int(x.indices[p])]
                if q >= 0 { compact.append(q); values.append(x.values[p]) }
            }
            rowStart.append(compact.count)
        }
        let d = used.count
        // Per-row weights: class weights times sample weights, normalised by n.
        let classWeights = config.classWeight.weights(labels: labels, classes: k)
        var rowWeight = [Double](repeating: 0, count: n)
        for i in 0..<n { rowWeight[i] = classWeights[labels[i]] * (sampleWeights?[i] ?? 1) / Double(n) }
        let lambda = 1 / (config.c * Double(n))
        // Start point.
        var theta = [Double](repeating: 0, count: d * k + k)
        if warmStart {
            var old = [Int32: Int]()
            for (p, j) in columns.enumerated() { old[j] = p }
            for (p, j) in used.enumerated() {
                if let q = old[j] { for c in 0..<k { theta[slot[p] * k + c] = coefficients[q * k + c] } }
            }
            for c in 0..<k { theta[d * k + c] = intercept[c] }
        }
        let optimizer = LBFGS(tolerance: tolerance ?? config.tolerance, maxIterations: config.maxIterations)
        // Rows are split in two halves on two threads; each accumulates into its own gradient, summed
        // afterwards. Always the same split, so the result does not depend on the machine's core count.
        let parts = n >= 4000 ? 2 : 1
        let size = d * k + k
        let scratch = PartBuffers(parts: parts, size: size)
        defer { scratch.deallocate() }
        let result = optimizer.minimize(&theta, progress: progress) { th, grad in
            compact.withUnsafeBufferPointer { cols in
                values.withUnsafeBufferPointer { vals in
                    rowWeight.withUnsafeBufferPointer { rw in
                        labels.withUnsafeBufferPointer { ys in
                            rowStart.withUnsafeBufferPointer { starts in
                                let problem = Objective(
                                    cols: cols, vals: vals, rowStart: starts, labels: ys, rowWeight: rw, theta: th, classes: k, features: d)
                                DispatchQueue.concurrentPerform(iterations: parts) { part in
                                    let rows = (n * part / parts)..<(n * (part + 1) / parts)
                                    let target = scratch.gradients[part]
                                    target.update(repeating: 0)
                                    scratch.losses[part] = problem.accumulate(rows: rows, gradient: target)
                                }
                            }
                        }
                    }
                }
            }
            for q in 0..<size { grad[q] = 0 }
            for g in scratch.gradients { for q in 0..<size { grad[q] += g[q] } }
            let loss = scratch.losses.reduce(0, +)
            var penalty = 0.0
            for q in 0..<(d * k) {
                penalty += th[q] * th[q]
                grad[q] += lambda * th[q]
            }
            return loss + 0.5 * lambda * penalty
        }
        optimization = result
        columns = used
        var sorted = [Double](repeating: 0, count: d * k)
        for p in 0..<d { for c in 0..<k { sorted[p * k + c] = theta[slot[p] * k + c] } }
        coefficients = sorted
        intercept = Array(theta[(d * k)...])
    }

    /// Raw class scores (logits) for each row.
    public func decisionFunction(_ x: SparseMatrix) -> [[Double]] {
        var position = [Int32: Int]()
        for (p, j) in columns.enumerated() { position[j] = p }
        return (0..<x.rowCount).map { i in
            var z = intercept
            for p in x.rowStart[i]..<x.rowStart[i + 1] {
                guard let q = position[x.indices[p]] else { continue }
                for c in 0..<classes { z[c] += Double(x.values[p]) * coefficients[q * classes + c] }
            }
            return z
        }
    }

    public func predictLogProba(_ x: SparseMatrix) -> [[Double]] { decisionFunction(x).map(logSoftmax) }
    public func predictProba(_ x: SparseMatrix) -> [[Double]] { predictLogProba(x).map { $0.map(exp) } }
}

/// The data term of the logistic objective over a range of rows: Σᵢ wᵢ·CE and its gradient.
private struct Objective: @unchecked Sendable {
    let cols: UnsafeBufferPointer<Int32>
    let vals: UnsafeBufferPointer<Float>
    let rowStart: UnsafeBufferPointer<Int>
    let labels: UnsafeBufferPointer<Int>
    let rowWeight: UnsafeBufferPointer<Double>
    let theta: UnsafeBufferPointer<Double>
    let classes: Int
    let features: Int

    func accumulate(rows: Range<Int>, gradient grad: UnsafeMutableBufferPointer<Double>) -> Double {
        let k = classes, d = features
        let th = theta
        var z = [Double](repeating: 0, count: k)
        var loss = 0.0
        z.withUnsafeMutableBufferPointer { z in
            for i in rows {
                let w = rowWeight[i]
                if w == 0 { continue }
                let r0 = rowStart[i], r1 = rowStart[i + 1]
                for c in 0..<k { z[c] = th[d * k + c] }
                for p in r0..<r1 {
                    let base = Int(cols[p]) &* k
                    let v = Double(vals[p])
                    for c in 0..<k { z[c] += v * th[base &+ c] }
                }
                var m = z[0]
                for c in 1..<k where z[c] > m { m = z[c] }
                var s = 0.0
                for c in 0..<k { z[c] = exp(z[c] - m); s += z[c] }
                let y = labels[i]
                loss -= w * log(z[y] / s)
                for c in 0..<k { z[c] = w * (z[c] / s - (c == y ? 1 : 0)) }
                for c in 0..<k { grad[d * k + c] += z[c] }
                for p in r0..<r1 {
                    let base = Int(cols[p]) &* k
                    let v = Double(vals[p])
                    for c in 0..<k { grad[base &+ c] += v * z[c] }
                }
            }
        }
        return loss
    }
}

/// Per-part gradient buffers and losses of a parallel objective; each part writes only its own.
private struct PartBuffers: @unchecked Sendable {
    let gradients: [UnsafeMutableBufferPointer<Double>]
    let losses: UnsafeMutableBufferPointer<Double>

    init(parts: Int, size: Int) {
        gradients = (0..<parts).map { _ in UnsafeMutableBufferPointer<Double>.allocate(capacity: size) }
        losses = UnsafeMutableBufferPointer<Double>.allocate(capacity: parts)
        losses.initialize(repeating: 0)
        for g in gradients { g.initialize(repeating: 0) }
    }

    func deallocate() {
        for g in gradients { g.deallocate() }
        losses.deallocate()
    }
}
