import Dispatch
import Foundation

/// What training reports besides the model.
public struct TrainingSummary: Sendable {
    public var classes: [String]
    public var classCounts: [Int]
    public var seconds: Double
    /// Metrics on the held-out rows, with calibrated probabilities (nil without a holdout).
    public var heldOut: ClassificationReport?
    public var temperature: Double
    public var optimization: LBFGS.Result?
    /// Classes below the model's minimum: the model will refuse to score until they have more examples.
    public var undertrained: [String]
}

/// Progress of a long training run: a phase and a fraction of it done.
public struct TrainingProgress: Sendable {
    public var phase: String
    public var fraction: Double
}

/// Hashed features of many texts, computed once and reused by every fit.
struct FeaturizedCorpus {
    var rowStart: [Int] = [0]
    var hashes: [UInt32] = []
    var counts: [Float] = []
    var wordCounts: [Int] = []

    /// Featurizes `texts`, in two halves on two threads when there are many (joined in order, so the
    /// result does not depend on the machine).
    init(texts: [String], config: FeaturizerConfig, progress: ((Double) -> Void)?) {
        let parts = texts.count >= 2000 ? 2 : 1
        let report = Unchecked(progress)
        let pieces = (0..<parts).map { _ in Unchecked<FeaturizedCorpus?>(nil) }
        TrainingThreads.perform(parts) { part in
            let range = (texts.count * part / parts)..<(texts.count * (part + 1) / parts)
            var piece = FeaturizedCorpus()
            var featurizer = Featurizer(config: config)
            let step = max(1, range.count / 100)
            for i in range {
                featurizer.featurize(texts[i])
                piece.hashes.append(contentsOf: featurizer.uniqueHashes)
                piece.counts.append(contentsOf: featurizer.counts)
                piece.rowStart.append(piece.hashes.count)
                piece.wordCounts.append(featurizer.uniqueWordCount)
                // Only the first part reports, as the share of its own rows done.
                if part == 0, (i - range.lowerBound) % step == 0 { report.value?(Double(i - range.lowerBound) / Double(range.count)) }
            }
            pieces[part].value = piece
        }
        for piece in pieces.map(\.value) {
            let offset = hashes.count
            hashes.append(contentsOf: piece!.hashes)
            counts.append(contentsOf: piece!.counts)
            rowStart.append(contentsOf: piece!.rowStart.dropFirst().map { $0 + offset })
            wordCounts.append(contentsOf: piece!.wordCounts)
        }
    }

    private init() {}

    /// Rows as the estimator sees them: counts for naive Bayes; signed, sublinear and block-normalised
    /// values for logistic regression (exactly what `TextClassifier.logits` computes at scoring time).
    func matrix(rows: [Int], algorithm: Algorithm, config: FeaturizerConfig) -> SparseMatrix {
        let parts = rows.count >= 2000 ? 2 : 1
        let pieces = (0..<parts).map { _ in Unchecked<SparseMatrix?>(nil) }
        TrainingThreads.perform(parts) { part in
            let range = (rows.count * part / parts)..<(rows.count * (part + 1) / parts)
            pieces[part].value = matrix(rows: rows[range], algorithm: algorithm, config: config)
        }
        var m = pieces[0].value!
        for piece in pieces.dropFirst() { m.append(contentsOf: piece.value!) }
        return m
    }

    private func matrix(rows: ArraySlice<Int>, algorithm: Algorithm, config: FeaturizerConfig) -> SparseMatrix {
        let mask = UInt32(truncatingIfNeeded: config.bucketCount - 1)
        var m = SparseMatrix(columnCount: config.bucketCount)
        var idx: [Int32] = []
        var val: [Float] = []
        for i in rows {
            let r = rowStart[i]..<rowStart[i + 1]
            idx.removeAll(keepingCapacity: true)
            val.removeAll(keepingCapacity: true)
            let words = wordCounts[i]
            let (wordScale, charScale) = counts[r].withUnsafeBufferPointer {
                TextClassifier.blockScales(counts: $0, wordCount: words, sublinear: config.sublinearTF, charWeight: config.charWeight)
            }
            for p in r {
                let h = hashes[p]
                idx.append(Int32(bitPattern: h & mask))
                if algorithm == .logistic {
                    let scale = p - r.lowerBound < words ? wordScale : charScale
                    val.append(Featurizer.sign(h) * TextClassifier.termWeight(counts[p], sublinear: config.sublinearTF) * Float(scale))
                } else {
                    val.append(counts[p])
                }
            }
            m.append(SparseVector(unsortedIndices: idx, values: val))
        }
        return m
    }
}

/// A value handed to worker threads that write disjoint parts of it, or only read it, one at a time per part.
final class Unchecked<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A small, fast, seeded generator (SplitMix64) for reproducible splits.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension TextClassifier {
    /// How many held-out rows that may calibrate (`LabelledText.calibrates`) the temperatures need to be fitted on
    /// them alone; with fewer, every held-out row calibrates.
    public static let minimumCalibrationRows = 50
    /// Below this many held-out rows that may calibrate, among rows that do not, the temperatures are cross-fitted
    /// (`TrainingOptions.calibrationFolds`); with as many, the held-out rows are enough and training stays one fit.
    public static let crossFitBelow = 1000

    /// Trains a classifier on `examples`.
    ///
    /// Classes are the sorted distinct labels. A stratified `holdoutFraction` of each class (seeded) is held
    /// out: the model trained on the rest calibrates its temperature and reports held-out metrics on it; then,
    /// with `refit`, the model is trained again on all rows and keeps that temperature.
    /// - Throws: `LearningError` for invalid options, empty data, or a single class.
    public static func train(
        _ examples: [LabelledText], options: TrainingOptions, modelVersion: String? = nil, parentVersion: String? = nil,
        sources: [String] = [], labelMap: [String: String] = [:], created: Date = Date(),
        progress: ((TrainingProgress) -> Void)? = nil
    ) throws -> (TextClassifier, TrainingSummary) {
        try options.validate()
        let clock = ContinuousClock.now
        guard !examples.isEmpty else {
            throw LearningError.invalidTrainingData("There are no training examples. Give a file with at least two labelled classes.")
        }
        let classes = Array(Set(examples.map(\.label))).sorted()
        guard classes.count >= 2 else {
            throw LearningError.invalidTrainingData(
                "All \(examples.count) training examples have the label '\(classes[0])'. Training needs at least two classes: add examples of another class, or check the label map.")
        }
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let labels = examples.map { classIndex[$0.label]! }
        var classCounts = [Int](repeating: 0, count: classes.count)
        for y in labels { classCounts[y] += 1 }
        var digest = FNV1a64()
        for e in examples { digest.update(e.text); digest.update(e.label) }

        // Held-out split, stratified by class, and within a class by whether rows may calibrate: those are drawn
        // by a generator of their own, so the same base data holds out the same rows whatever labels join it (each
        // retraining pass calibrates on the same rows; a new sample each time moved the temperatures from pass to pass).
        var rng = SplitMix64(seed: options.seed)
        var others = SplitMix64(seed: options.seed ^ 0x9E37_79B9_7F4A_7C15)
        var trainRows: [Int] = []
        var heldRows: [Int] = []
        for c in classes.indices {
            let rows = labels.indices.filter { labels[$0] == c }
            var calibrating = rows.filter { examples[$0].calibrates }, rest = rows.filter { !examples[$0].calibrates }
            calibrating.shuffle(using: &rng)
            rest.shuffle(using: &others)
            func share(_ count: Int) -> Int { count >= 2 ? Int((Double(count) * options.holdoutFraction).rounded()) : 0 }
            // At least one row of the class trains.
            let heldCalibrating = min(share(calibrating.count), max(0, rows.count - 1))
            let heldRest = min(share(rest.count), max(0, rows.count - 1 - heldCalibrating))
            heldRows += calibrating.prefix(heldCalibrating) + rest.prefix(heldRest)
            trainRows += calibrating.dropFirst(heldCalibrating) + rest.dropFirst(heldRest)
        }
        trainRows.sort()
        heldRows.sort()

        let featurizerConfig = options.featurizer
        let corpus = FeaturizedCorpus(texts: examples.map(\.text), config: featurizerConfig) {
            progress?(TrainingProgress(phase: "features", fraction: $0))
        }
        let columns = featurizerConfig.bucketCount
        let algorithm = options.algorithm

        var header = ModelHeader(
            kind: algorithm, modelVersion: modelVersion ?? "\(algorithm.rawValue)-\(digest.hex.prefix(8))",
            parentVersion: parentVersion, created: ISO8601DateFormatter().string(from: created), classes: classes,
            featurizer: featurizerConfig, naiveBayes: algorithm.isNaiveBayes ? options.naiveBayes : nil,
            logistic: algorithm == .logistic ? options.logistic : nil,
            calibration: .init(method: "temperature", temperature: 1, heldOutExamples: heldRows.count),
            training: .init(
                digest: digest.hex, examples: examples.count, classCounts: classCounts, sources: sources, labelMap: labelMap,
                holdoutFraction: options.holdoutFraction, seed: options.seed, seconds: 0),
            heldOutMetrics: nil, minExamplesPerClass: options.minExamplesPerClass, evidenceTarget: options.evidenceTarget)

        // Every fit takes its rows from one matrix of all rows.
        let allRows = corpus.matrix(rows: Array(examples.indices), algorithm: algorithm, config: featurizerConfig)
        // The last logistic fit before rounding: the refit starts from it (rounded weights would cost it iterations).
        var exact: LogisticRegression?
        /// A model fitted on `rows`: naive Bayes adding them to `counts` (or to none), logistic starting from `start`
        /// (or cold); with the logistic fit before rounding.
        func fit(_ rows: [Int], counts: MultinomialNB?, start: LogisticRegression?, phase: String) throws -> (TextClassifier, LogisticRegression?) {
            let x = rows.count == examples.count ? allRows : allRows.selecting(rows: rows)
            let y = rows.map { labels[$0] }
            if algorithm.isNaiveBayes {
                var nb = try counts ?? MultinomialNB(classes: classes.count, dimension: columns, config: options.naiveBayes)
                try nb.partialFit(x, labels: y)
                return (TextClassifier(header: header, naiveBayes: nb), nil)
            }
            var lr = try start ?? LogisticRegression(classes: classes.count, dimension: columns, config: options.logistic)
            let budget = Double(options.logistic.maxIterations)
            // Every fit runs to the configured tolerance: the held-out fit's logits set the temperature and the class
            // offsets that the final model keeps, and a looser held-out fit made them depend on the optimiser's
            // path (on the SMS set, T = 0.31 or 0.37 from two equally converged runs; at the full tolerance 0.37 both).
            try lr.fit(x, labels: y, warmStart: start != nil) { iteration, _, _ in
                progress?(TrainingProgress(phase: phase, fraction: min(1, Double(iteration) / budget)))
            }
            let unrounded = lr
            lr.roundCoefficientsForStorage()
            return (TextClassifier(header: header, logistic: lr), unrounded)
        }
        /// The held-out fit (from nothing) or the refit (from it), keeping the logistic fit before rounding in `exact`.
        func fitOn(_ rows: [Int], from previous: TextClassifier?, phase: String) throws -> TextClassifier {
            let (model, unrounded) = try fit(rows, counts: previous?.naiveBayes, start: previous == nil ? nil : exact, phase: phase)
            exact = unrounded
            return model
        }

        /// Raw scores (before calibration) of `rows` by `model`, with each row's known words.
        func rawScores(of rows: [Int], by model: TextClassifier) -> (logits: [[Double]], knownWords: [Int]) {
            var featurizer = Featurizer(config: featurizerConfig)
            var z = [Double](repeating: 0, count: classes.count)
            var logits: [[Double]] = [], knownWords: [Int] = []
            for i in rows {
                featurizer.featurize(examples[i].text)
                knownWords.append(model.logits(featurizer, into: &z))
                logits.append(z)
            }
            return (logits, knownWords)
        }
        /// Scores of `pool`'s rows, each by a model trained on every row outside its fold (folds stratified by class,
        /// drawn by a generator of their own; logistic fits start from the held-out fit), with their labels.
        func outOfFoldLogits(of pool: [Int]) throws -> ([[Double]], [Int]) {
            let folds = options.calibrationFolds
            var draw = SplitMix64(seed: options.seed ^ 0xC2B2_AE3D_27D4_EB4F)
            var fold = [Int](repeating: -1, count: examples.count)
            var next = 0
            for c in classes.indices {
                var rows = pool.filter { labels[$0] == c }
                rows.shuffle(using: &draw)
                for r in rows { fold[r] = next % folds; next += 1 }
            }
            var logits: [[Double]] = [], truth: [Int] = []
            for f in 0..<folds {
                let scored = pool.filter { fold[$0] == f }
                guard !scored.isEmpty else { continue }
                let training = examples.indices.filter { fold[$0] != f }
                let (foldModel, _) = try fit(training, counts: nil, start: exact, phase: "calibration fold \(f + 1) of \(folds)")
                logits += rawScores(of: scored, by: foldModel).logits
                truth += scored.map { labels[$0] }
            }
            return (logits, truth)
        }

        var model = try fitOn(trainRows, from: nil, phase: heldRows.isEmpty ? "training" : "training (held-out split)")
        var heldOutReport: ClassificationReport?
        if !heldRows.isEmpty {
            // Calibrate on held-out raw scores, then report held-out metrics with calibrated probabilities.
            let (logits, knownWords) = rawScores(of: heldRows, by: model)
            let heldLabels = heldRows.map { labels[$0] }
            // The temperatures are fitted on the held-out rows that may calibrate (`LabelledText.calibrates`) when
            // there are enough of them, else on all held-out rows; or, when those are few among rows that do not
            // calibrate, on out-of-fold scores of every row that may (`TrainingOptions.calibrationFolds`).
            let marked = heldRows.indices.filter { examples[heldRows[$0]].calibrates }
            var calibrationLogits: [[Double]]
            var calibrationLabels: [Int]
            let mayCalibrate = examples.indices.filter { examples[$0].calibrates }
            if options.calibrationFolds >= 2, mayCalibrate.count < examples.count, marked.count < Self.crossFitBelow,
               mayCalibrate.count >= Self.minimumCalibrationRows {
                (calibrationLogits, calibrationLabels) = try outOfFoldLogits(of: mayCalibrate)
                header.calibration.crossFit = ModelHeader.CrossFit(folds: options.calibrationFolds, rows: mayCalibrate.count)
            } else {
                let calibrating = marked.count >= Self.minimumCalibrationRows ? marked : Array(heldRows.indices)
                calibrationLogits = calibrating.map { logits[$0] }
                calibrationLabels = calibrating.map { heldLabels[$0] }
            }
            let calibration = TemperatureScaling.fit(logits: calibrationLogits, labels: calibrationLabels)
            header.calibration.temperature = calibration.temperature
            if options.fitClassOffsets {
                let scaled = logits.map { $0.map { $0 / calibration.temperature } }
                let offsets = DecisionOffsets.fit(scaledLogits: scaled, labels: heldLabels, classes: classes.count)
                header.calibration.classOffsets = offsets.allSatisfy { $0 == 0 } ? nil : offsets
            }
            // The odds of the harmless class against the rest, fitted on the same rows as the temperature, through
            // the scaled scores: a temperature over two scores (0 and the log-odds) is a binary one. Not on fewer
            // than `minimumCalibrationRows` rows: a second temperature on a handful of rows would swing from one
            // training to the next.
            if let label = options.oddsLabel, let k = classes.firstIndex(of: label), classes.count > 2,
               calibrationLogits.count >= Self.minimumCalibrationRows {
                model.header = header
                var odds: [[Double]] = [], isLabel: [Int] = []
                for (row, y) in zip(calibrationLogits, calibrationLabels) {
                    var p = row
                    _ = model.probabilities(&p, knownWords: Int.max)
                    let rest = 1 - p[k]
                    guard p[k] > 0, rest > 0 else { continue }
                    odds.append([0, log(p[k]) - log(rest)])
                    isLabel.append(y == k ? 1 : 0)
                }
                let fitted = TemperatureScaling.fit(logits: odds, labels: isLabel)
                header.calibration.classOdds = ModelHeader.ClassOdds(label: label, temperature: fitted.temperature)
            }
            model.header = header
            let probabilities = zip(logits, knownWords).map { row, known -> [Double] in
                var p = row
                _ = model.probabilities(&p, knownWords: known)
                return p
            }
            let report = ClassificationReport(probabilities: probabilities, truth: heldLabels, labels: classes)
            heldOutReport = report
            header.heldOutMetrics = MetricsSummary(report)
            if options.refit {
                // Naive Bayes adds the held-out counts (exactly a fit on all rows); logistic restarts warm.
                model = try fitOn(algorithm.isNaiveBayes ? heldRows : Array(0..<examples.count), from: model, phase: "training (all rows)")
            }
        }
        let optimization = model.logistic?.optimization
        header.training.seconds = (ContinuousClock.now - clock).seconds
        header.training.iterations = optimization?.iterations
        header.training.converged = optimization?.converged
        model.header = header
        let undertrained = classes.indices.filter { classCounts[$0] < options.minExamplesPerClass }.map { classes[$0] }
        let summary = TrainingSummary(
            classes: classes, classCounts: classCounts, seconds: header.training.seconds, heldOut: heldOutReport,
            temperature: header.calibration.temperature, optimization: optimization, undertrained: undertrained)
        return (model, summary)
    }

    /// The model's most confident mistakes: for each true class, up to `perClass` texts it labelled as another class,
    /// most confident first, with the features that pushed it there. What to read first when a class does badly.
    /// - Throws: `LearningError.unknownLabel` for a label the model does not know.
    public func confidentMistakes(_ examples: [LabelledText], perClass: Int, reasons: Int = 3) throws -> [Mistake] {
        guard perClass > 0 else { return [] }
        let known = Set(classes)
        if let unknown = examples.first(where: { !known.contains($0.label) }) { throw LearningError.unknownLabel(unknown.label, known: classes) }
        var scorer = try Scorer(model: self)
        var wrong: [String: [(index: Int, probability: Double)]] = [:]
        for (i, e) in examples.enumerated() {
            let p = scorer.score(e.text, reasons: 0)
            guard p.label != e.label else { continue }
            wrong[e.label, default: []].append((i, p.probabilities[p.labelIndex]))
        }
        var out: [Mistake] = []
        for label in classes {
            let worst = (wrong[label] ?? []).sorted { $0.probability != $1.probability ? $0.probability > $1.probability : $0.index < $1.index }
            for (index, _) in worst.prefix(perClass) {
                let prediction = scorer.score(examples[index].text, reasons: reasons)
                out.append(Mistake(row: index, text: examples[index].text, truth: label, predicted: prediction.label,
                                   probability: prediction.probabilities[prediction.labelIndex], reasons: prediction.reasons))
            }
        }
        return out
    }

    /// Evaluates on labelled texts whose labels are all among the model's classes.
    /// - Throws: `LearningError.unknownLabel` for a label the model does not know.
    public func evaluate(_ examples: [LabelledText]) throws -> ClassificationReport {
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var truth: [Int] = []
        truth.reserveCapacity(examples.count)
        for e in examples {
            guard let y = index[e.label] else { throw LearningError.unknownLabel(e.label, known: classes) }
            truth.append(y)
        }
        var scorer = try Scorer(model: self)
        let probabilities = examples.map { scorer.probabilities($0.text).probabilities }
        return ClassificationReport(probabilities: probabilities, truth: truth, labels: classes)
    }

    /// Learns more labelled texts online (naive-Bayes models only): the result equals a model fitted on all
    /// the texts at once. Use `weight: -1` to unlearn texts learnt before.
    /// - Throws: `LearningError.invalidParameter` for a logistic model; `unknownLabel` for a new label.
    /// With `version`, the result carries that model version and names this one as its parent.
    public func partialFit(_ examples: [LabelledText], weight: Double = 1, version: String? = nil) throws -> TextClassifier {
        guard var nb = naiveBayes else {
            throw LearningError.invalidParameter(name: "algorithm", value: kind.rawValue, expected: "a naive-Bayes model (nb or complement-nb) for online learning")
        }
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        var y: [Int] = []
        for e in examples {
            guard let c = index[e.label] else { throw LearningError.unknownLabel(e.label, known: classes) }
            y.append(c)
        }
        let corpus = FeaturizedCorpus(texts: examples.map(\.text), config: header.featurizer, progress: nil)
        let x = corpus.matrix(rows: Array(examples.indices), algorithm: kind, config: header.featurizer)
        try nb.partialFit(x, labels: y, weights: [Double](repeating: weight, count: y.count))
        var next = header
        for c in y { next.training.classCounts[c] += Int(weight) }
        next.training.examples += Int(weight) * y.count
        if let version {
            next.parentVersion = header.modelVersion
            next.modelVersion = version
        }
        return TextClassifier(header: next, naiveBayes: nb)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

extension LogisticRegression {
    /// Rounds coefficients to what the model file stores (IEEE half precision), so that a trained model
    /// and the same model loaded from its file score identically.
    mutating func roundCoefficientsForStorage() {
        coefficients = coefficients.map { Double(Float16(Float($0))) }
    }
}

/// A text the model labelled wrongly: its row (0-based, in the order given), its true and predicted class, the
/// predicted class's probability and the features that pushed toward it.
public struct Mistake: Codable, Equatable, Sendable {
    public var row: Int
    public var text: String
    public var truth: String
    public var predicted: String
    public var probability: Double
    public var reasons: [Reason]
}
