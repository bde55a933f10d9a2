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
}
