import Foundation
import Testing

@testable import Learning

/// A worked example small enough to do by hand (our own fixture).
///
/// Three features (a, b, c), two classes, alpha = 1.
/// Class 0 has two rows: a·2 + b·1, and a·1 + c·1  → counts a 3, b 1, c 1 (total 5).
/// Class 1 has one row:  b·1 + c·3                 → counts a 0, b 1, c 3 (total 4).
/// All three features are seen, so V = 3:
///   P(a|0) = 4/8, P(b|0) = 2/8, P(c|0) = 2/8;  P(a|1) = 1/7, P(b|1) = 2/7, P(c|1) = 4/7.
/// Priors 2/3 and 1/3. For x = a·1 + c·2:
///   P(x, 0) ∝ 2/3 · 1/2 · (1/4)² = 1/48;  P(x, 1) ∝ 1/3 · 1/7 · (4/7)² = 16/1029
///   P(0 | x) = (1/48) / (1/48 + 16/1029) = 1029 / 1797.
struct NaiveBayesTests {
    static let x = SparseMatrix(
        rows: [
            SparseVector(indices: [0, 1], values: [2, 1]),
            SparseVector(indices: [0, 2], values: [1, 1]),
            SparseVector(indices: [1, 2], values: [1, 3]),
        ], columnCount: 3)
    static let y = [0, 0, 1]
    static let query = SparseMatrix(rows: [SparseVector(indices: [0, 2], values: [1, 2])], columnCount: 3)

    @Test func workedExampleMatchesHandComputation() throws {
        var nb = try MultinomialNB(classes: 2, dimension: 3)
        try nb.fit(Self.x, labels: Self.y)
        #expect(nb.classCount == [2, 1])
        #expect(nb.featureCount == [3, 0, 1, 1, 1, 3])
        let table = nb.featureLogProb()
        let fractions: [Double] = [0.5, 1.0 / 7, 0.25, 2.0 / 7, 0.25, 4.0 / 7]
        let expected = fractions.map { log($0) }
        for (a, b) in zip(table, expected) { #expect(abs(Double(a) - b) < 1e-6) }
        let jll = nb.jointLogLikelihood(Self.query)[0]
        #expect(abs(jll[0] - log(1.0 / 48)) < 1e-6)
        #expect(abs(jll[1] - log(16.0 / 1029)) < 1e-6)
        let p = nb.predictProba(Self.query)[0]
        #expect(abs(p[0] - 1029.0 / 1797) < 1e-6)
        #expect(abs(p[0] + p[1] - 1) < 1e-12)
        let logp = nb.predictLogProba(Self.query)[0]
        #expect(abs(exp(logp[0]) - p[0]) < 1e-12)
    }

    @Test func partialFitInChunksEqualsFit() throws {
        var rng = SplitMix64(seed: 7)
        var rows: [SparseVector] = []
        var labels: [Int] = []
        for _ in 0..<200 {
            let idx = (0..<5).map { _ in Int32(rng.next() % 50) }
            rows.append(SparseVector(unsortedIndices: idx, value: 1))
            labels.append(Int(rng.next() % 3))
        }
        let all = SparseMatrix(rows: rows, columnCount: 50)
        var whole = try MultinomialNB(classes: 3, dimension: 50)
        try whole.fit(all, labels: labels)
        var chunked = try MultinomialNB(classes: 3, dimension: 50)
        for start in stride(from: 0, to: 200, by: 37) {
            let range = Array(start..<min(200, start + 37))
            try chunked.partialFit(all.selecting(rows: range), labels: range.map { labels[$0] })
        }
        #expect(chunked.classCount == whole.classCount)
        #expect(chunked.featureCount == whole.featureCount)
        #expect(chunked.predictProba(all) == whole.predictProba(all))
    }

    @Test func unlearningWithNegativeWeightRestoresCounts() throws {
        var nb = try MultinomialNB(classes: 2, dimension: 3)
        try nb.fit(Self.x, labels: Self.y)
        let before = nb.featureCount
        let extra = SparseMatrix(rows: [SparseVector(indices: [1], values: [4])], columnCount: 3)
        try nb.partialFit(extra, labels: [1])
        try nb.partialFit(extra, labels: [1], weights: [-1])
        #expect(nb.featureCount == before)
        #expect(nb.classCount == [2, 1])
    }

    @Test func alphaIsValidated() {
        #expect(throws: LearningError.invalidParameter(name: "alpha", value: "0.0", expected: "a finite number > 0")) {
            try MultinomialNB(classes: 2, dimension: 3, config: NaiveBayesConfig(alpha: 0))
        }
        #expect(throws: LearningError.self) { try MultinomialNB(classes: 2, dimension: 3, config: NaiveBayesConfig(alpha: -1)) }
        #expect(throws: LearningError.self) { try MultinomialNB(classes: 2, dimension: 3, config: NaiveBayesConfig(alpha: .nan)) }
    }

    @Test func complementNaiveBayesWeights() throws {
        // Complement counts for class 0 are class 1's counts: (0+1, 1+1, 3+1)/(4+3) → weights −log of those.
        var nb = try MultinomialNB(classes: 2, dimension: 3, config: NaiveBayesConfig(alpha: 1, complement: true))
        try nb.fit(Self.x, labels: Self.y)
        let table = nb.featureLogProb()
        let complement0: [Double] = [1.0 / 7, 2.0 / 7, 4.0 / 7]
        let complement1: [Double] = [0.5, 0.25, 0.25]
        let expected0 = complement0.map { -log($0) }
        let expected1 = complement1.map { -log($0) }
        for j in 0..<3 {
            #expect(abs(Double(table[j * 2]) - expected0[j]) < 1e-6)
            #expect(abs(Double(table[j * 2 + 1]) - expected1[j]) < 1e-6)
        }
    }

    @Test func negativeCountsAreRefused() throws {
        var nb = try MultinomialNB(classes: 2, dimension: 3)
        let bad = SparseMatrix(rows: [SparseVector(indices: [0], values: [-1])], columnCount: 3)
        #expect(throws: LearningError.self) { try nb.fit(bad, labels: [0]) }
    }
}
