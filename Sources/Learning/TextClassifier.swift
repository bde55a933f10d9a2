import Foundation

/// The learning algorithm behind a `TextClassifier`.
public enum Algorithm: String, Codable, CaseIterable, Sendable {
    /// Multinomial naive Bayes over feature counts; learns online (`partialFit`).
    case naiveBayes = "nb"
    /// Complement naive Bayes over feature counts.
    case complementNaiveBayes = "complement-nb"
    /// Multinomial logistic regression over length-normalised signed features.
    case logistic

    var isNaiveBayes: Bool { self != .logistic }
}

/// A labelled text, the unit of training and evaluation data.
public struct LabelledText: Sendable, Equatable {
    public var text: String
    public var label: String
    /// Whether the row may calibrate the model's probabilities: a sample of what the model will score, labelled with
    /// care (curated data files). Reviewers' decisions are not: they are the items the model was unsure of or that
    /// were reported, and they carry the reviewers' own errors, which flatten a temperature fitted on them.
    public var calibrates: Bool
    public init(text: String, label: String, calibrates: Bool = true) {
        self.text = text
        self.label = label
        self.calibrates = calibrates
    }
}

/// Everything that decides how a model is trained.
public struct TrainingOptions: Codable, Equatable, Sendable {
    public var algorithm: Algorithm = .logistic
    public var featurizer = FeaturizerConfig()
    public var naiveBayes = NaiveBayesConfig()
    public var logistic = LogisticConfig()
    /// Share of each class held out to fit calibration and report held-out metrics, 0…0.5. Default 0.1.
    public var holdoutFraction: Double = 0.1
    /// Seed of the held-out split.
    public var seed: UInt64 = 42
    /// A model refuses to score while any class has fewer training examples than this. Default 5.
    public var minExamplesPerClass: Int = 5
    /// Fit per-class decision offsets on the held-out rows to maximise macro-F1 (noisy on small hold-outs). Default false.
    public var fitClassOffsets = false
    /// Known word features a text needs for full evidence; below it probabilities shrink toward the prior. Default 2.
    public var evidenceTarget: Double = 2
    /// After calibration, train again on all rows (held-out ones included). Default true.
    public var refit = true
    /// The class whose odds against all the others are calibrated as well (`ModelHeader.ClassOdds`), when the model
    /// has it: the harmless class, whose complement a policy's `harm` rule acts on. One temperature over several
    /// classes is fitted mostly to the confusions among the harmful ones (offensive or abusive), which left P(harm)
    /// too timid: on the Davidson tweets, posts it scored 0.9-0.97 were 98-99% harmful. Nil: none. Default "clear".
    public var oddsLabel: String? = "clear"
    /// Folds of the cross-fitted calibration: when some rows may not calibrate (`LabelledText.calibrates`: the
    /// store's labels joining the base data on retraining) and fewer than `TextClassifier.crossFitBelow` held-out
    /// rows may, the temperatures are fitted on the out-of-fold scores of every row that may calibrate, each fold
    /// scored by a model trained on all the other rows. The held-out share of the base data alone is small (the
    /// simulator's 991 base posts hold out 99, about 17 of them clear), and temperatures fitted on it differed from
    /// one base sample to the next. 0 or 1: off. Default 5.
    public var calibrationFolds: Int = 5
    /// The folds `calibrationFolds` may be.
    public static let calibrationFoldsRange = 0...20

    public init() {}

    /// - Throws: `LearningError.invalidParameter` naming the first bad option.
    public func validate() throws {
        try featurizer.validate()
        try naiveBayes.validate()
        try logistic.validate()
        guard holdoutFraction.isFinite, (0...0.5).contains(holdoutFraction) else {
            throw LearningError.invalidParameter(name: "holdout", value: "\(holdoutFraction)", expected: "a fraction in 0...0.5")
        }
        guard minExamplesPerClass >= 1 else {
            throw LearningError.invalidParameter(name: "minExamplesPerClass", value: "\(minExamplesPerClass)", expected: "an integer >= 1")
        }
        guard evidenceTarget.isFinite, evidenceTarget >= 0 else {
            throw LearningError.invalidParameter(name: "evidenceTarget", value: "\(evidenceTarget)", expected: "a number >= 0")
        }
        guard Self.calibrationFoldsRange.contains(calibrationFolds) else {
            throw LearningError.invalidParameter(name: "calibrationFolds", value: "\(calibrationFolds)", expected: "an integer in \(Self.calibrationFoldsRange) (0 or 1: off)")
        }
    }
}

/// Summary metrics kept in a model's header.
public struct MetricsSummary: Codable, Equatable, Sendable {
    public var examples: Int
    public var accuracy: Double
    public var macroF1: Double
    public var expectedCalibrationError: Double
    public var logLoss: Double
    public var f1: [String: Double]

    public init(_ report: ClassificationReport) {
        examples = report.count
        accuracy = report.accuracy
        macroF1 = report.macroF1
        expectedCalibrationError = report.expectedCalibrationError
        logLoss = report.logLoss
        f1 = Dictionary(uniqueKeysWithValues: report.classes.map { ($0.label, $0.f1) })
    }
}

/// The JSON header of a model file: the model card's facts.
public struct ModelHeader: Codable, Equatable, Sendable {
    public struct Training: Codable, Equatable, Sendable {
        /// FNV-1a 64 over each training text and label, in order (identity of the data, not a secret).
        public var digest: String
        public var examples: Int
        /// Training examples per class, in `classes` order.
        public var classCounts: [Int]
        public var sources: [String]
        public var labelMap: [String: String]
        public var holdoutFraction: Double
        public var seed: UInt64
        public var seconds: Double
        public var iterations: Int?
        public var converged: Bool?
    }

    public struct Calibration: Codable, Equatable, Sendable {
        public var method: String
        public var temperature: Double
        /// Per-class offsets added to the scaled scores, fitted on the held-out rows to maximise macro-F1
        /// (threshold moving for rare classes); nil or zeros when not fitted.
        public var classOffsets: [Double]?
        /// The odds of one class against all the others together, rescaled after the temperature: what a policy's
        /// `harm` rule reads (1 − P(clear)) is calibrated too, not only the classes one by one. Nil: not fitted.
        public var classOdds: ClassOdds?
        public var heldOutExamples: Int
        /// How the temperatures were fitted when not on the held-out rows: on out-of-fold scores. Nil: held-out rows.
        public var crossFit: CrossFit?
    }

    /// Temperatures fitted on the out-of-fold scores of `rows` rows, each of `folds` folds scored by a model trained without it.
    public struct CrossFit: Codable, Equatable, Sendable {
        public var folds: Int
        public var rows: Int
        public init(folds: Int, rows: Int) {
            self.folds = folds
            self.rows = rows
        }
    }

    /// P(label) / (1 − P(label)) raised to 1 / `temperature`; the other classes keep their shares of the rest.
    public struct ClassOdds: Codable, Equatable, Sendable {
        public var label: String
        public var temperature: Double
    }

    public var kind: Algorithm
    public var modelVersion: String
    public var parentVersion: String?
    /// ISO 8601.
    public var created: String
    public var classes: [String]
    public var featurizer: FeaturizerConfig
    public var naiveBayes: NaiveBayesConfig?
    public var logistic: LogisticConfig?
    public var calibration: Calibration
    public var training: Training
    public var heldOutMetrics: MetricsSummary?
    public var minExamplesPerClass: Int
    public var evidenceTarget: Double
}

/// A trained text classifier: featurizer configuration, estimator, calibration and header.
///
/// At scoring time every algorithm is a linear form over hashed features:
/// z = bias + scale · Σ_f value_f · table[bucket_f], then P = softmax(z / T), then the evidence rule.
/// Naive Bayes uses counts (value 1, table = feature log-probabilities); logistic regression uses signed
/// hashing (value ±1) scaled by `blockScales`, a cheap stand-in for L2 normalisation of each block.
public struct TextClassifier: Sendable {
    public internal(set) var header: ModelHeader
    /// `table[bucket * classes + k]`.
    let table: [Float]
    let bias: [Double]
    /// Bit set of buckets that carried weight in training.
    let known: [UInt64]
    /// Raw counts of naive-Bayes models (what `partialFit` continues from).
    public let naiveBayes: MultinomialNB?
    /// Coefficients of logistic models.
    public let logistic: LogisticRegression?
    let prior: [Double]

    public var classes: [String] { header.classes }

    /// Rescales the odds of class `k` in the unnormalised probabilities `z` (summing to `sum`) by the power 1/`temperature`,
    /// keeping the sum and the other classes' shares of the rest.
    static func rescaleOdds(_ z: inout [Double], of k: Int, sum: Double, temperature: Double) {
        var rest = 0.0
        for c in z.indices where c != k { rest += z[c] }
        guard z[k] > 0, rest > 0 else { return }
        let p = 1 / (1 + exp(-(log(z[k]) - log(rest)) / temperature))
        let scale = (1 - p) * sum / rest
        for c in z.indices where c != k { z[c] *= scale }
        z[k] = p * sum
    }
    public var kind: Algorithm { header.kind }

    init(header: ModelHeader, naiveBayes: MultinomialNB) {
        self.header = header
        self.naiveBayes = naiveBayes
        self.logistic = nil
        self.table = naiveBayes.featureLogProb()
        self.bias = naiveBayes.intercept
        var known = [UInt64](repeating: 0, count: (naiveBayes.dimension + 63) / 64)
        for j in naiveBayes.observedFeatures() { known[Int(j) >> 6] |= 1 << UInt64(Int(j) & 63) }
        self.known = known
        self.prior = TextClassifier.prior(header.training.classCounts)
    }

    init(header: ModelHeader, logistic: LogisticRegression) {
        self.header = header
        self.naiveBayes = nil
        self.logistic = logistic
        let k = logistic.classes
        var table = [Float](repeating: 0, count: logistic.dimension * k)
        var known = [UInt64](repeating: 0, count: (logistic.dimension + 63) / 64)
        for (p, j) in logistic.columns.enumerated() {
            for c in 0..<k { table[Int(j) * k + c] = Float(logistic.coefficients[p * k + c]) }
            known[Int(j) >> 6] |= 1 << UInt64(Int(j) & 63)
        }
        self.table = table
        self.bias = logistic.intercept
        self.known = known
        self.prior = TextClassifier.prior(header.training.classCounts)
    }

    static func prior(_ counts: [Int]) -> [Double] {
        let total = Double(counts.reduce(0, +))
        return counts.map { total > 0 ? Double($0) / total : 1 / Double(max(1, counts.count)) }
    }

    /// Classes with fewer training examples than the stated minimum, as `insufficientTraining` errors.
    public func checkTrained() throws {
        for (c, label) in classes.enumerated() where header.training.classCounts[c] < header.minExamplesPerClass {
            throw LearningError.insufficientTraining(label: label, have: header.training.classCounts[c], need: header.minExamplesPerClass)
        }
    }

    @inline(__always) func isKnown(_ bucket: Int) -> Bool {
        known[bucket >> 6] & (1 << UInt64(bucket & 63)) != 0
    }

    /// The value the estimator sees for a feature seen `count` times (before block normalisation).
    @inline(__always) static func termWeight(_ count: Float, sublinear: Bool) -> Float {
        sublinear && count != 1 ? 1 + log(count) : count
    }

    /// Logistic features are scaled per block so that the word block has unit L2 norm and the character block
    /// norm `charWeight` (as two L2-normalised hashing vectorisers side by side, the second one weighted).
    /// Returns the scale of each block.
    static func blockScales(counts: UnsafeBufferPointer<Float>, wordCount: Int, sublinear: Bool, charWeight: Double) -> (Double, Double) {
        var word: Float = 0, char: Float = 0
        for i in 0..<counts.count {
            let v = termWeight(counts[i], sublinear: sublinear)
            if i < wordCount { word += v * v } else { char += v * v }
        }
        return (word > 0 ? 1 / Double(word).squareRoot() : 0, char > 0 ? charWeight / Double(char).squareRoot() : 0)
    }

    /// Raw scores of featurized text. Returns the number of distinct known word features.
    ///
    /// With `products` (room for `uniqueHashes.count × classes.count`), each feature's term toward each class is
    /// also kept there (row = the feature's index in `uniqueHashes`): the reasons are ranked from those terms in
    /// cache instead of reading the weight table a second time.
    func logits(_ featurizer: Featurizer, into z: inout [Double], products: UnsafeMutableBufferPointer<Double>? = nil) -> Int {
        let k = classes.count
        for c in 0..<k { z[c] = 0 }
        var knownWords = 0
        let signed = kind == .logistic
        let sublinear = header.featurizer.sublinearTF
        let charWeight = header.featurizer.charWeight
        let hashes = featurizer.uniqueHashes
        let counts = featurizer.counts
        let wordCount = featurizer.uniqueWordCount
        let mask = featurizer.mask
        table.withUnsafeBufferPointer { w in
            known.withUnsafeBufferPointer { kn in
                counts.withUnsafeBufferPointer { counts in
                    z.withUnsafeMutableBufferPointer { z in
                        let (wordScale, charScale) = signed ? TextClassifier.blockScales(counts: counts, wordCount: wordCount, sublinear: sublinear, charWeight: charWeight) : (1, 1)
                        // Word features: count the known ones (evidence). Character features skip the check:
                        // buckets never seen in training hold zero weights.
                        for index in 0..<hashes.count {
                            let h = hashes[index]
                            let b = Int(h & mask)
                            if index < wordCount && kn[b >> 6] & (1 << UInt64(b & 63)) != 0 { knownWords &+= 1 }
                            let base = b &* k
                            let v: Double
                            if signed {
                                let magnitude = Double(TextClassifier.termWeight(counts[index], sublinear: sublinear)) * (index < wordCount ? wordScale : charScale)
                                v = (h & 0x8000_0000) != 0 ? -magnitude : magnitude
                            } else {
                                v = Double(counts[index])
                            }
                            if let products {
                                let row = index &* k
                                for c in 0..<k {
                                    let term = v * Double(w[base &+ c])
                                    products[row &+ c] = term
                                    z[c] += term
                                }
                            } else {
                                for c in 0..<k { z[c] += v * Double(w[base &+ c]) }
                            }
                        }
                    }
                }
            }
        }
        for c in 0..<k { z[c] += bias[c] }
        return knownWords
    }

    /// Calibrated probabilities from raw scores and evidence, written over `z`.
    func probabilities(_ z: inout [Double], knownWords: Int) -> Double {
        let t = header.calibration.temperature
        var m = -Double.infinity
        if let offsets = header.calibration.classOffsets {
            for c in z.indices { z[c] = z[c] / t + offsets[c]; if z[c] > m { m = z[c] } }
        } else {
            for c in z.indices { z[c] /= t; if z[c] > m { m = z[c] } }
        }
        var s = 0.0
        for c in z.indices { z[c] = exp(z[c] - m); s += z[c] }
        if let odds = header.calibration.classOdds, let k = header.classes.firstIndex(of: odds.label) {
            Self.rescaleOdds(&z, of: k, sum: s, temperature: odds.temperature)
        }
        let target = header.evidenceTarget
        let evidence = target > 0 ? min(1, Double(knownWords) / target) : 1
        for c in z.indices { z[c] = evidence * (z[c] / s) + (1 - evidence) * prior[c] }
        return evidence
    }
}

/// How much the model knew about a text.
public struct Evidence: Codable, Equatable, Sendable {
    /// 0…1: known word features over the model's evidence target, capped at 1. Below 1 the probabilities
    /// were shrunk toward the class prior in that proportion; 0 means the score is the prior.
    public var score: Double
    /// Distinct word features (words and word n-grams) of the text that the model saw in training.
    public var knownFeatures: Int
    /// Distinct word features of the text.
    public var features: Int
    /// True when `score < 1`: too little signal for a confident answer.
    public var thin: Bool
}

/// One feature's push toward a class: log-odds units after calibration, against the mean of all classes.
public struct Reason: Codable, Equatable, Sendable {
    public var label: String
    public var feature: String
    public var kind: FeatureOrigin.Kind
    public var contribution: Double

    public init(label: String, feature: String, kind: FeatureOrigin.Kind, contribution: Double) {
        self.label = label
        self.feature = feature
        self.kind = kind
        self.contribution = contribution
    }
}

/// The answer for one text.
public struct Prediction: Sendable, Equatable {
    public var label: String
    public var labelIndex: Int
    /// In the model's `classes` order; sums to 1.
    public var probabilities: [Double]
    public var evidence: Evidence
    /// Top features pushing toward the predicted class (empty unless asked for).
    public var reasons: [Reason]
}

/// Scores texts with one model. Holds scratch space: one `Scorer` per thread.
public struct Scorer: Sendable {
    public let model: TextClassifier
    var featurizer: Featurizer
    var z: [Double]
    /// Each feature's term toward each class from the last `logits` pass that kept them (for the reasons).
    var products: [Double] = []

    /// - Throws: `LearningError.insufficientTraining` when a class has fewer examples than the model's minimum.
    public init(model: TextClassifier) throws {
        try model.checkTrained()
        self.init(unchecked: model)
    }

    init(unchecked model: TextClassifier) {
        self.model = model
        self.featurizer = Featurizer(config: model.header.featurizer)
        self.z = [Double](repeating: 0, count: model.classes.count)
    }

    /// Calibrated class probabilities of `text` (in `model.classes` order), and the evidence score.
    /// The array is a value; when the caller does not keep it, the next call reuses its storage.
    public mutating func probabilities(_ text: String) -> (probabilities: [Double], evidence: Double) {
        featurizer.featurize(text)
        let knownWords = model.logits(featurizer, into: &z)
        let e = model.probabilities(&z, knownWords: knownWords)
        return (z, e)
    }

    /// Scores `text`, with the `reasons` strongest features toward the predicted class. A blank text (an item that is
    /// only media) has nothing to read: its answer is the class prior with evidence 0, whatever the evidence target
    /// (the intercepts alone, which a class-weighted model balances, would read as an opinion).
    public mutating func score(_ text: String, reasons: Int = 3) -> Prediction {
        let blank = text.isBlank
        let knownWords: Int, e: Double
        if blank {
            z = model.prior
            (knownWords, e) = (0, 0)
        } else {
            featurizer.featurize(text, trace: reasons > 0)
            knownWords = reasons > 0 ? logitsKeepingProducts() : model.logits(featurizer, into: &z)
            e = model.probabilities(&z, knownWords: knownWords)
        }
        var best = 0
        for c in z.indices where z[c] > z[best] { best = c }
        let evidence = Evidence(score: e, knownFeatures: knownWords, features: blank ? 0 : featurizer.uniqueWordCount, thin: e < 1)
        let why = reasons > 0 && !blank ? topReasons(limit: reasons, for: [best])[0] : []
        return Prediction(label: model.classes[best], labelIndex: best, probabilities: z, evidence: evidence, reasons: why)
    }

    /// The strongest features toward each class for `text`, `limit` per class.
    public mutating func explain(_ text: String, limit: Int = 5) -> [[Reason]] {
        featurizer.featurize(text, trace: true)
        _ = logitsKeepingProducts()
        return topReasons(limit: limit, for: Array(model.classes.indices))
    }

    /// `model.logits` into `z`, keeping each feature's terms in `products` for `topReasons`.
    private mutating func logitsKeepingProducts() -> Int {
        let needed = featurizer.uniqueHashes.count * model.classes.count
        if products.count < needed { products = [Double](repeating: 0, count: max(needed, 2 * products.count)) }
        var terms = products
        products = []
        defer { products = terms }
        return terms.withUnsafeMutableBufferPointer { model.logits(featurizer, into: &z, products: $0) }
    }

    /// For each class in `wanted`, features with positive contributions, strongest first (after `featurize(trace:
    /// true)` and `logitsKeepingProducts()`).
    ///
    /// A feature's contribution toward class k is its term in class k's raw score minus the mean of its terms over
    /// all classes (their sum times 1/k), divided by the temperature. Features are ranked by their hash, and only the chosen few are
    /// turned back into text.
    func topReasons(limit: Int, for wanted: [Int]) -> [[Reason]] {
        let k = model.classes.count
        let unique = featurizer.uniqueHashes
        let uniqueWords = featurizer.uniqueWordCount
        let temperature = model.header.calibration.temperature
        // The best `limit` (contribution, unique index) per wanted class, kept sorted, in flat buffers: slot
        // w * limit + r holds the r-th best of wanted[w] (nested arrays cost a uniqueness check per write).
        let slots = wanted.count * max(limit, 0)
        var bestValue = [Double](repeating: 0, count: slots)
        var bestIndex = [Int](repeating: 0, count: slots)
        var filled = [Int](repeating: 0, count: wanted.count)
        let mask = featurizer.mask
        precondition(products.count >= unique.count * k, "topReasons needs the terms of logitsKeepingProducts()")
        products.withUnsafeBufferPointer { products in
            unique.withUnsafeBufferPointer { unique in
                wanted.withUnsafeBufferPointer { wanted in
                    bestValue.withUnsafeMutableBufferPointer { bestValue in
                        bestIndex.withUnsafeMutableBufferPointer { bestIndex in
                            filled.withUnsafeMutableBufferPointer { filled in
                                guard limit > 0 else { return }
                                // Ranked before dividing by the (positive) temperature, which keeps the order: two
                                // divisions a feature were most of this loop's time.
                                let perClass = 1 / Double(k)
                                // A logistic model's unseen buckets hold zero weights, so their terms are 0 and never
                                // rank; naive Bayes gives every bucket a smoothed weight, so unseen ones are skipped.
                                let skipUnseen = model.kind != .logistic
                                // The value a feature must beat to enter class w's list: 0 until the list is full,
                                // then its last (one predictable test a feature instead of two).
                                var floor = [Double](repeating: 0, count: wanted.count)
                                for u in 0..<unique.count {
                                    if skipUnseen && !model.isKnown(Int(unique[u] & mask)) { continue }
                                    let row = u &* k
                                    var sum = 0.0
                                    for c in 0..<k { sum += products[row &+ c] }
                                    let mean = sum * perClass
                                    for w in 0..<wanted.count {
                                        let value = products[row &+ wanted[w]] - mean
                                        guard value > floor[w] else { continue }
                                        let first = w &* limit
                                        let n = filled[w]
                                        // Insert after every equal or larger value (ties keep the earlier feature).
                                        var at = min(n, limit - 1)
                                        while at > 0 && value > bestValue[first &+ at &- 1] {
                                            bestValue[first &+ at] = bestValue[first &+ at &- 1]
                                            bestIndex[first &+ at] = bestIndex[first &+ at &- 1]
                                            at -= 1
                                        }
                                        bestValue[first &+ at] = value
                                        bestIndex[first &+ at] = u
                                        if n < limit { filled[w] = n + 1 }
                                        if filled[w] == limit { floor[w] = bestValue[first &+ limit &- 1] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let wordEnd = featurizer.wordFeatureCount
        return wanted.indices.map { w in
            (0..<filled[w]).map { r in
                let value = bestValue[w * limit + r] / temperature, u = bestIndex[w * limit + r]
                let h = unique[u]
                let range = u < uniqueWords ? 0..<wordEnd : wordEnd..<featurizer.hashes.count
                let first = range.first { featurizer.hashes[$0] == h } ?? range.lowerBound
                let origin = featurizer.origins[first]
                return Reason(label: model.classes[wanted[w]], feature: featurizer.text(of: origin), kind: origin.kind, contribution: value)
            }
        }
    }
}
