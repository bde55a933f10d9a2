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
        // The used columns, in bucket order; features seen in fewer than `minDocumentFrequency` rows get no
        // coefficient (as scikit-learn's min_df).
        var frequency = [Int32](repeating: 0, count: x.columnCount)
        for j in x.indices { frequency[Int(j)] += 1 }
        let minimum = Int32(config.minDocumentFrequency)
        var used: [Int32] = []
        var map = [Int32](repeating: -1, count: x.columnCount)  // bucket → position in `used`, or −1
        for j in 0..<x.columnCount where frequency[j] >= minimum {
            map[j] = Int32(used.count)
            used.append(Int32(j))
        }
        let d = used.count
        let data = ColumnMajor(x, columns: d, position: map)
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
                if let q = old[j] { for c in 0..<k { theta[p * k + c] = coefficients[q * k + c] } }
            }
            for c in 0..<k { theta[d * k + c] = intercept[c] }
        }
        // 20 pairs, not the textbook 10: kept in single precision they take the memory 10 took in double, and
        // they cut the iterations (Davidson set, held-out fit + refit to 1e-5: 10 pairs 193 + 147 iterations,
        // 20 pairs 103 + 112, 30 pairs 90 + 90 but 20% more peak memory and no faster).
        let optimizer = LBFGS(memory: 20, tolerance: tolerance ?? config.tolerance, maxIterations: config.maxIterations)
        let objective = ColumnObjective(data: data, labels: labels, rowWeight: rowWeight, classes: k, lambda: lambda)
        defer { objective.deallocate() }
        let result = optimizer.minimize(&theta, progress: progress) { th, grad in objective.evaluate(theta: th, gradient: grad) }
        optimization = result
        columns = used
        coefficients = Array(theta[0..<(d * k)])
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

/// The training matrix stored by columns (CSC) over the used columns only: column p holds the entries
/// `entries[start[p]..<start[p + 1]]`, rows ascending.
struct ColumnMajor {
    /// One stored value with its row: row and value side by side, so that building (a scatter) and both
    /// passes of the objective touch one cache line per entry.
    struct Entry {
        var row: Int32
        var value: Float
    }

    var start: [Int]
    var entries: [Entry]
    let rowCount: Int

    /// `position[j]` is bucket j's column here, or −1 to leave it out.
    init(_ x: SparseMatrix, columns: Int, position: [Int32]) {
        rowCount = x.rowCount
        // Each stored value's column, found once; then a counting sort by column.
        var column = [Int32](repeating: -1, count: x.nonZeroCount)
        var counts = [Int32](repeating: 0, count: columns)
        for (q, j) in x.indices.enumerated() {
            let p = position[Int(j)]
            column[q] = p
            if p >= 0 { counts[Int(p)] += 1 }
        }
        var start = [Int](repeating: 0, count: columns + 1)
        for p in 0..<columns { start[p + 1] = start[p] + Int(counts[p]) }
        var next = start.dropLast().map { Int32(truncatingIfNeeded: $0) }
        let total = start[columns]
        precondition(total < Int(Int32.max), "too many stored values for one training matrix")
        let entries = [Entry](unsafeUninitializedCapacity: total) { buffer, count in
            for i in 0..<x.rowCount {
                for q in x.rowStart[i]..<x.rowStart[i + 1] {
                    let p = Int(column[q])
                    if p < 0 { continue }
                    buffer[Int(next[p])] = Entry(row: Int32(i), value: x.values[q])
                    next[p] += 1
                }
            }
            count = total
        }
        self.start = start
        self.entries = entries
    }

    /// Splits the columns into `parts` consecutive ranges of about equal numbers of entries.
    func columnRanges(parts: Int) -> [Range<Int>] {
        let columns = start.count - 1
        var bounds = [0]
        var p = 0
        for part in 1..<max(parts, 1) {
            let target = start[columns] * part / parts
            while p < columns && start[p] < target { p += 1 }
            bounds.append(max(p, bounds.last!))
        }
        bounds.append(columns)
        return (0..<bounds.count - 1).map { bounds[$0]..<bounds[$0 + 1] }
    }
}

/// The L2-penalised, weighted multinomial cross-entropy and its gradient, computed by columns.
///
/// Both passes stream the parameters in order: the forward pass scatters each column's contribution into
/// the per-row scores (n × classes, small enough to stay in cache), the backward pass gathers each column's
/// gradient from the per-row residuals. Row-wise passes would instead touch the parameter vector (megabytes)
/// at random, once per entry, and that memory latency was most of the training time. Two threads share the
/// columns, each with its own score buffer, summed in a fixed order, so the result does not depend on the
/// machine's core count.
private final class ColumnObjective: @unchecked Sendable {
    let start: UnsafeMutableBufferPointer<Int>
    let entries: UnsafeMutableBufferPointer<ColumnMajor.Entry>
    let labels: UnsafeMutableBufferPointer<Int>
    let rowWeight: UnsafeMutableBufferPointer<Double>
    let rowCount: Int
    let columnCount: Int
    let classes: Int
    let lambda: Double
    let ranges: [Range<Int>]
    /// Per part: the partial row scores of its columns (n × classes).
    let scores: [UnsafeMutableBufferPointer<Double>]
    /// w_i (p_i − e_{y_i}) per row (n × classes).
    let residuals: UnsafeMutableBufferPointer<Double>
    let penalties: UnsafeMutableBufferPointer<Double>

    init(data: ColumnMajor, labels: [Int], rowWeight: [Double], classes: Int, lambda: Double) {
        func copy<T>(_ a: [T]) -> UnsafeMutableBufferPointer<T> {
            let b = UnsafeMutableBufferPointer<T>.allocate(capacity: max(a.count, 1))
            _ = b.initialize(from: a)
            return b
        }
        start = copy(data.start)
        entries = copy(data.entries)
        self.labels = copy(labels)
        self.rowWeight = copy(rowWeight)
        rowCount = data.rowCount
        columnCount = data.start.count - 1
        self.classes = classes
        self.lambda = lambda
        let parts = data.rowCount >= 2000 ? 2 : 1
        ranges = data.columnRanges(parts: parts)
        let size = data.rowCount * classes
        scores = (0..<parts).map { _ in
            let b = UnsafeMutableBufferPointer<Double>.allocate(capacity: size)
            b.initialize(repeating: 0)
            return b
        }
        residuals = .allocate(capacity: size)
        residuals.initialize(repeating: 0)
        penalties = .allocate(capacity: parts)
        penalties.initialize(repeating: 0)
    }

    func deallocate() {
        for b in scores { b.deallocate() }
        for b in [residuals, rowWeight] as [UnsafeMutableBufferPointer<Double>] { b.deallocate() }
        start.deallocate()
        entries.deallocate()
        labels.deallocate()
        penalties.deallocate()
    }

    /// The pointers of one evaluation, shared by its threads (each writes only its own part).
    private struct Point: @unchecked Sendable {
        let theta: UnsafeBufferPointer<Double>
        let gradient: UnsafeMutableBufferPointer<Double>
    }

    func evaluate(theta: UnsafeBufferPointer<Double>, gradient: UnsafeMutableBufferPointer<Double>) -> Double {
        let k = classes
        let n = rowCount
        let d = columnCount
        let point = Point(theta: theta, gradient: gradient)
        // Forward: scores[part][i, c] = Σ over this part's columns of x_ij θ_jc.
        TrainingThreads.perform(ranges.count) { part in
            scores[part].update(repeating: 0)
            switch k {
            case 2: forward(Classes2.self, columns: ranges[part], theta: point.theta, into: scores[part])
            case 3: forward(Classes3.self, columns: ranges[part], theta: point.theta, into: scores[part])
            case 4: forward(Classes4.self, columns: ranges[part], theta: point.theta, into: scores[part])
            default: forward(AnyClasses.self, columns: ranges[part], theta: point.theta, into: scores[part])
            }
        }
        // Per row: softmax, the weighted loss, and the residual w (p − e_y).
        var loss = 0.0
        var interceptGradient = [Double](repeating: 0, count: k)
        let r = residuals
        for i in 0..<n {
            let base = i &* k
            let w = rowWeight[i]
            if w == 0 {
                for c in 0..<k { r[base &+ c] = 0 }
                continue
            }
            var m = -Double.infinity
            for c in 0..<k {
                var s = theta[d &* k &+ c]
                for z in scores { s += z[base &+ c] }
                r[base &+ c] = s
                m = max(m, s)
            }
            var total = 0.0
            for c in 0..<k {
                let e = exp(r[base &+ c] - m)
                r[base &+ c] = e
                total += e
            }
            let y = labels[i]
            loss -= w * log(r[base &+ y] / total)
            for c in 0..<k {
                let g = w * (r[base &+ c] / total - (c == y ? 1 : 0))
                r[base &+ c] = g
                interceptGradient[c] += g
            }
        }
        // Backward: grad[j, c] = Σ over column j's rows of x_ij r_ic, plus the penalty's λ θ_jc.
        TrainingThreads.perform(ranges.count) { part in
            let range = ranges[part], th = point.theta, grad = point.gradient
            switch k {
            case 2: penalties[part] = backward(Classes2.self, columns: range, residuals: UnsafeBufferPointer(residuals), theta: th, into: grad)
            case 3: penalties[part] = backward(Classes3.self, columns: range, residuals: UnsafeBufferPointer(residuals), theta: th, into: grad)
            case 4: penalties[part] = backward(Classes4.self, columns: range, residuals: UnsafeBufferPointer(residuals), theta: th, into: grad)
            default: penalties[part] = backward(AnyClasses.self, columns: range, residuals: UnsafeBufferPointer(residuals), theta: th, into: grad)
            }
        }
        for c in 0..<k { gradient[d &* k &+ c] = interceptGradient[c] }
        let penalty = penalties.reduce(0, +)
        return loss + 0.5 * lambda * penalty
    }

    /// z[i, c] += x_ij θ_jc over `columns`. `K` fixes the class count at compile time for the common cases,
    /// so the per-entry loop over classes unrolls.
    @inline(__always)
    private func forward<K: ClassCount>(
        _: K.Type, columns: Range<Int>, theta th: UnsafeBufferPointer<Double>, into z: UnsafeMutableBufferPointer<Double>
    ) {
        let k = K.value ?? classes
        for p in columns {
            let t = p &* k
            for e in start[p]..<start[p &+ 1] {
                let base = Int(entries[e].row) &* k
                let v = Double(entries[e].value)
                for c in 0..<k { z[base &+ c] += v * th[t &+ c] }
            }
        }
    }

    /// grad[j, c] = Σᵢ x_ij r_ic + λ θ_jc over `columns`; returns Σ θ² over them.
    @inline(__always)
    private func backward<K: ClassCount>(
        _: K.Type, columns: Range<Int>, residuals r: UnsafeBufferPointer<Double>, theta th: UnsafeBufferPointer<Double>,
        into grad: UnsafeMutableBufferPointer<Double>
    ) -> Double {
        let k = K.value ?? classes
        var penalty = 0.0
        for p in columns {
            let t = p &* k
            if k <= 4 {
                var g = SIMD4<Double>()
                for e in start[p]..<start[p &+ 1] {
                    let base = Int(entries[e].row) &* k
                    let v = Double(entries[e].value)
                    for c in 0..<k { g[c] += v * r[base &+ c] }
                }
                for c in 0..<k {
                    let value = th[t &+ c]
                    penalty += value * value
                    grad[t &+ c] = g[c] + lambda * value
                }
            } else {
                for c in 0..<k { grad[t &+ c] = 0 }
                for e in start[p]..<start[p &+ 1] {
                    let base = Int(entries[e].row) &* k
                    let v = Double(entries[e].value)
                    for c in 0..<k { grad[t &+ c] += v * r[base &+ c] }
                }
                for c in 0..<k {
                    let value = th[t &+ c]
                    penalty += value * value
                    grad[t &+ c] += lambda * value
                }
            }
        }
        return penalty
    }
}

/// A class count known at compile time (`value`), or nil for one known only at run time.
private protocol ClassCount { static var value: Int? { get } }
private enum Classes2: ClassCount { static var value: Int? { 2 } }
private enum Classes3: ClassCount { static var value: Int? { 3 } }
private enum Classes4: ClassCount { static var value: Int? { 4 } }
private enum AnyClasses: ClassCount { static var value: Int? { nil } }
