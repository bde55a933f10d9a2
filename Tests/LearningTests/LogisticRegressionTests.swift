import Foundation
import Testing

@testable import Learning

struct LogisticRegressionTests {
    /// Two rows, one feature: x = +1 is class 0, x = −1 is class 1. By symmetry the optimum has zero
    /// intercepts and coefficients w and −w, where w solves λ·w·(1 + e^{2w}) = 1 with λ = 1/(C·n).
    /// The root is found here by bisection, independently of the optimiser.
    @Test func separablePairMatchesTheKnownOptimum() throws {
        let c = 1.0
        let lambda = 1 / (c * 2)
        var lo = 0.0, hi = 5.0
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if lambda * mid * (1 + exp(2 * mid)) < 1 { lo = mid } else { hi = mid }
        }
        let w = (lo + hi) / 2
        #expect(abs(w - 0.5213) < 1e-3)  // sanity of the fixture itself

        let x = SparseMatrix(rows: [SparseVector(indices: [0], values: [1]), SparseVector(indices: [0], values: [-1])], columnCount: 1)
        var lr = try LogisticRegression(classes: 2, dimension: 1, config: LogisticConfig(c: c, maxIterations: 500, tolerance: 1e-10, classWeight: .none))
        try lr.fit(x, labels: [0, 1])
        #expect(lr.optimization?.converged == true)
        #expect(abs(lr.coefficients[0] - w) < 1e-6)
        #expect(abs(lr.coefficients[1] + w) < 1e-6)
        #expect(abs(lr.intercept[0] - lr.intercept[1]) < 1e-6)
        let p = lr.predictProba(x)
        #expect(abs(p[0][0] - 1 / (1 + exp(-2 * w))) < 1e-6)
    }

    @Test func probabilitiesSumToOneOnThreeClasses() throws {
        var rng = SplitMix64(seed: 3)
        var rows: [SparseVector] = []
        var labels: [Int] = []
        for i in 0..<90 {
            let cls = i % 3
            let idx = (0..<4).map { _ in Int32(cls * 10 + Int(rng.next() % 10)) } + [Int32(30 + Int(rng.next() % 5))]
            rows.append(SparseVector(unsortedIndices: idx, value: 0.5))
            labels.append(cls)
        }
        let x = SparseMatrix(rows: rows, columnCount: 35)
        var lr = try LogisticRegression(classes: 3, dimension: 35)
        try lr.fit(x, labels: labels)
        for row in lr.predictProba(x) {
            #expect(abs(row.reduce(0, +) - 1) < 1e-12)
        }
        let predicted = lr.predictProba(x).map { r in r.indices.max { r[$0] < r[$1] }! }
        #expect(predicted == labels)
    }

    @Test func balancedWeightsFollowScikitLearn() {
        // n / (K · n_k): 6 rows, 2 classes, counts 4 and 2 → 0.75 and 1.5.
        #expect(ClassWeight.balanced.weights(labels: [0, 0, 0, 0, 1, 1], classes: 2) == [0.75, 1.5])
        #expect(ClassWeight.none.weights(labels: [0, 1, 1], classes: 2) == [1, 1])
    }

    @Test func parametersAreValidated() {
        #expect(throws: LearningError.invalidParameter(name: "c", value: "0.0", expected: "a finite number > 0")) {
            try LogisticRegression(classes: 2, dimension: 1, config: LogisticConfig(c: 0))
        }
        #expect(throws: LearningError.self) { try LogisticRegression(classes: 2, dimension: 1, config: LogisticConfig(maxIterations: 0)) }
        #expect(throws: LearningError.self) { try LogisticRegression(classes: 1, dimension: 1) }
    }

    @Test func lbfgsMinimisesAQuadratic() {
        // f(x) = Σ (i+1)(x_i − i)², minimum at x_i = i.
        var x = [Double](repeating: 0, count: 5)
        let result = LBFGS(tolerance: 1e-10, maxIterations: 100).minimize(&x) { p, g in
            var f = 0.0
            for i in 0..<p.count {
                let d = p[i] - Double(i)
                f += Double(i + 1) * d * d
                g[i] = 2 * Double(i + 1) * d
            }
            return f
        }
        #expect(result.converged)
        for i in 0..<5 { #expect(abs(x[i] - Double(i)) < 1e-8) }
    }

    /// The fitted model's gradient, recomputed row by row here (independently of the column-wise objective
    /// the optimiser uses), vanishes and equals the one the optimiser stopped on: (1/n) Σᵢ wᵢ xᵢ (pᵢ − e_yᵢ) + W / (C·n) for the coefficients, the same
    /// without the penalty for the intercepts. Sizes engage both threads (3,000 rows), and the class counts
    /// cover the compiled two-, three- and four-class kernels and the general one.
    @Test(arguments: [2, 3, 4, 6])
    func gradientVanishesAtTheFittedOptimum(classes k: Int) throws {
        var rng = SplitMix64(seed: UInt64(k))
        let n = 3000, columns = 400
        var rows: [SparseVector] = []
        var labels: [Int] = []
        for i in 0..<n {
            let y = i % k
            var idx: [Int32] = []
            var val: [Float] = []
            for _ in 0..<12 {
                // Two thirds of the features lean towards the row's class; the rest are noise. Values repeat.
                let column = rng.next() % 3 == 0 ? Int(rng.next() % UInt64(columns)) : y * (columns / k) + Int(rng.next() % UInt64(columns / k))
                idx.append(Int32(column))
                val.append(Float(Int(rng.next() % 7) - 3) / 8 + 0.1)
            }
            rows.append(SparseVector(unsortedIndices: idx, values: val))
            labels.append(y)
        }
        // An unbalanced label set, so that the class weights matter.
        for i in stride(from: 0, to: n, by: 5) where labels[i] == 0 { labels[i] = k - 1 }
        let x = SparseMatrix(rows: rows, columnCount: columns)
        let config = LogisticConfig(c: 2, maxIterations: 1000, tolerance: 1e-7, classWeight: .balanced)
        var lr = try LogisticRegression(classes: k, dimension: columns, config: config)
        try lr.fit(x, labels: labels)
        #expect(lr.optimization?.converged == true)

        var weight = [[Double]](repeating: [Double](repeating: 0, count: k), count: columns)
        for (p, j) in lr.columns.enumerated() { for c in 0..<k { weight[Int(j)][c] = lr.coefficients[p * k + c] } }
        let classWeight = ClassWeight.balanced.weights(labels: labels, classes: k)
        var gradW = [[Double]](repeating: [Double](repeating: 0, count: k), count: columns)
        var gradB = [Double](repeating: 0, count: k)
        for i in 0..<n {
            var z = lr.intercept
            for (j, v) in zip(x.rowStart[i]..<x.rowStart[i + 1], x.values[x.rowStart[i]..<x.rowStart[i + 1]]) {
                for c in 0..<k { z[c] += Double(v) * weight[Int(x.indices[j])][c] }
            }
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let total = e.reduce(0, +)
            for c in 0..<k {
                let r = classWeight[labels[i]] / Double(n) * (e[c] / total - (c == labels[i] ? 1 : 0))
                gradB[c] += r
                for q in x.rowStart[i]..<x.rowStart[i + 1] { gradW[Int(x.indices[q])][c] += Double(x.values[q]) * r }
            }
        }
        var largest = gradB.map(abs).max()!
        for j in 0..<columns { for c in 0..<k { largest = max(largest, abs(gradW[j][c] + weight[j][c] / (config.c * Double(n)))) } }
        #expect(largest <= 1e-7, "largest gradient component \(largest)")
        // The same number the optimiser stopped on: the column-wise objective's gradient is this gradient.
        #expect(abs(largest - lr.optimization!.gradientMaxNorm) < 1e-13)
    }

    /// Training is deterministic: the same data gives bit-identical coefficients (the threads' shares of the
    /// work are fixed, not taken from the machine).
    @Test func fittingTwiceGivesIdenticalCoefficients() throws {
        var rng = SplitMix64(seed: 9)
        let rows = (0..<2500).map { i in
            SparseVector(unsortedIndices: (0..<8).map { _ in Int32((i % 3) * 50 + Int(rng.next() % 60)) }, value: 0.25)
        }
        let labels = (0..<2500).map { $0 % 3 }
        let x = SparseMatrix(rows: rows, columnCount: 200)
        var a = try LogisticRegression(classes: 3, dimension: 200)
        var b = try LogisticRegression(classes: 3, dimension: 200)
        try a.fit(x, labels: labels)
        try b.fit(x, labels: labels)
        #expect(a.coefficients == b.coefficients)
        #expect(a.intercept == b.intercept)
        #expect(a.optimization == b.optimization)
    }

    /// A quadratic with 100,000 variables and curvatures from 1 to 1,000: long enough vectors for two
    /// threads, and enough iterations to cycle the optimiser's pair slots several times.
    @Test func lbfgsMinimisesAnIllConditionedQuadraticWithManyVariables() {
        let n = 100_000
        func run() -> ([Double], LBFGS.Result) {
            var x = [Double](repeating: 0, count: n)
            let result = LBFGS(memory: 5, tolerance: 1e-6, maxIterations: 2000).minimize(&x) { p, g in
                var f = 0.0
                for i in 0..<n {
                    let a = 1 + 999 * Double(i % 97) / 96, d = p[i] - Double(i % 11)
                    f += 0.5 * a * d * d
                    g[i] = a * d
                }
                return f
            }
            return (x, result)
        }
        let (x, result) = run()
        #expect(result.converged)
        #expect(result.iterations > 12)  // the 6 slots were reused
        var worst = 0.0
        for i in 0..<n { worst = max(worst, abs(x[i] - Double(i % 11))) }
        #expect(worst <= 1e-6)  // |x − b| ≤ |gradient| / smallest curvature
        let (again, second) = run()
        #expect(again == x)
        #expect(second == result)
    }

    @Test func unsortedIndicesAreSortedAndRepeatsSummed() {
        let v = SparseVector(unsortedIndices: [7, 2, 7, 0, 2, 2], values: [1, 2, 3, 4, 5, 6])
        #expect(v.indices == [0, 2, 7])
        #expect(v.values == [4, 13, 4])
    }
}
