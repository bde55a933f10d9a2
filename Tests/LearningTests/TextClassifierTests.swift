import Foundation
import Testing

@testable import Learning

/// A small synthetic corpus: each class draws words mostly from its own vocabulary.
enum Synthetic {
    static let vocabulary = [
        "clear": ["meeting", "lunch", "tomorrow", "thanks", "see", "you", "home", "later", "dinner", "call"],
        "spam": ["free", "prize", "win", "cash", "claim", "txt", "now", "urgent", "winner", "offer"],
        "offensive": ["idiot", "stupid", "loser", "shut", "up", "moron", "pathetic", "clown", "dumb", "trash"],
    ]
    static let shared = ["the", "and", "is", "to", "it", "today"]

    static func corpus(classes: [String] = ["clear", "spam"], perClass: Int = 60, seed: UInt64 = 1) -> [LabelledText] {
        var rng = SplitMix64(seed: seed)
        var out: [LabelledText] = []
        for i in 0..<perClass {
            for label in classes {
                let own = vocabulary[label]!
                var words: [String] = []
                for _ in 0..<5 { words.append(own[Int(rng.next() % UInt64(own.count))]) }
                for _ in 0..<2 { words.append(shared[Int(rng.next() % UInt64(shared.count))]) }
                if i % 7 == 0, let other = classes.first(where: { $0 != label }) { words.append(vocabulary[other]![Int(rng.next() % 10)]) }
                out.append(LabelledText(text: words.joined(separator: " "), label: label))
            }
        }
        return out
    }

    static func options(_ algorithm: Algorithm, holdout: Double = 0.2) -> TrainingOptions {
        var o = TrainingOptions()
        o.algorithm = algorithm
        o.featurizer = FeaturizerConfig(bucketBits: 16)
        o.holdoutFraction = holdout
        o.naiveBayes = NaiveBayesConfig(alpha: 1, complement: algorithm == .complementNaiveBayes)
        return o
    }
}

struct TextClassifierTests {
    @Test(arguments: Algorithm.allCases)
    func trainsAndScoresWithProbabilitiesSummingToOne(_ algorithm: Algorithm) throws {
        let data = Synthetic.corpus(classes: ["clear", "spam", "offensive"])
        let (model, summary) = try TextClassifier.train(data, options: Synthetic.options(algorithm))
        #expect(model.classes == ["clear", "offensive", "spam"])
        #expect(summary.classCounts == [60, 60, 60])
        #expect(summary.heldOut!.accuracy > 0.9)
        var scorer = try Scorer(model: model)
        for text in ["free cash now", "see you at lunch", "", "😂😂", "ｆｒｅｅ ｃａｓｈ", String(repeating: "win ", count: 500)] {
            let p = scorer.score(text)
            #expect(abs(p.probabilities.reduce(0, +) - 1) < 1e-9)
            #expect(p.probabilities.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        #expect(scorer.score("claim your free prize now").label == "spam")
        #expect(scorer.score("thanks, see you tomorrow at dinner").label == "clear")
        let report = try model.evaluate(Synthetic.corpus(classes: ["clear", "spam", "offensive"], seed: 99))
        #expect(report.macroF1 > 0.9)
    }

    /// Issue 18: the evaluation report listed no misclassified examples. The most confident mistakes per true class,
    /// most confident first, with what pushed the model there; right answers never appear.
    @Test func confidentMistakesAreTheWrongAnswersMostConfidentFirst() throws {
        let (model, _) = try TextClassifier.train(Synthetic.corpus(classes: ["clear", "spam"]), options: Synthetic.options(.naiveBayes))
        var scorer = try Scorer(model: model)
        let spammy = ["claim your free prize now", "free cash prize claim now", "win free cash"]
        let rows = spammy.map { LabelledText(text: $0, label: "clear") }                    // all wrong: spam to the model
            + [LabelledText(text: "see you at lunch tomorrow", label: "clear"),                 // right
               LabelledText(text: "free cash now", label: "spam")]                              // right
        let mistakes = try model.confidentMistakes(rows, perClass: 2)
        #expect(mistakes.count == 2)
        #expect(mistakes.allSatisfy { $0.truth == "clear" && $0.predicted == "spam" && !$0.reasons.isEmpty })
        let confidence = spammy.map { scorer.score($0, reasons: 0).probabilities[1] }
        let expected = confidence.indices.sorted { confidence[$0] > confidence[$1] }.prefix(2)
        #expect(mistakes.map(\.row) == Array(expected))
        #expect(mistakes.map(\.probability) == expected.map { confidence[$0] })
        #expect(mistakes[0].text == spammy[mistakes[0].row])
        #expect(try model.confidentMistakes(rows, perClass: 0).isEmpty)
        #expect(throws: LearningError.self) { try model.confidentMistakes([LabelledText(text: "x", label: "ham")], perClass: 1) }
    }

    @Test func emptyTextGetsThePriorAndSaysSo() throws {
        var data = Synthetic.corpus(perClass: 60)
        data += Synthetic.corpus(classes: ["spam"], perClass: 30, seed: 5)  // priors 60:90
        let (model, _) = try TextClassifier.train(data, options: Synthetic.options(.logistic))
        var scorer = try Scorer(model: model)
        let p = scorer.score("")
        #expect(p.evidence.score == 0)
        #expect(p.evidence.thin)
        #expect(abs(p.probabilities[0] - 0.4) < 1e-12)
        #expect(abs(p.probabilities[1] - 0.6) < 1e-12)
        let unknown = scorer.score("zzqx")
        #expect(unknown.evidence.thin)
        let rich = scorer.score("free prize cash now claim")
        #expect(rich.evidence.score == 1 && !rich.evidence.thin)
    }

    @Test func refusesToScoreAnUndertrainedClass() throws {
        var data = Synthetic.corpus(classes: ["clear"], perClass: 40)
        data += Synthetic.corpus(classes: ["spam"], perClass: 3)
        let (model, summary) = try TextClassifier.train(data, options: Synthetic.options(.naiveBayes, holdout: 0))
        #expect(summary.undertrained == ["spam"])
        #expect(throws: LearningError.insufficientTraining(label: "spam", have: 3, need: 5)) { try Scorer(model: model) }
    }

    @Test func oneClassIsRefused() {
        #expect(throws: LearningError.self) {
            try TextClassifier.train(Synthetic.corpus(classes: ["spam"]), options: Synthetic.options(.logistic))
        }
        #expect(throws: LearningError.self) { try TextClassifier.train([], options: Synthetic.options(.logistic)) }
    }

    @Test func explanationsNameTheWordsThatPushed() throws {
        let (model, _) = try TextClassifier.train(Synthetic.corpus(), options: Synthetic.options(.logistic))
        var scorer = try Scorer(model: model)
        let p = scorer.score("claim your free prize", reasons: 10)
        #expect(p.label == "spam")
        #expect(p.reasons.contains { $0.feature == "free" && $0.kind == .word && $0.contribution > 0 })
        #expect(p.reasons.map(\.contribution) == p.reasons.map(\.contribution).sorted(by: >))
        let perClass = scorer.explain("see you at lunch", limit: 3)
        #expect(perClass.count == 2)
        #expect(perClass[0].allSatisfy { $0.label == "clear" })
    }

    /// The reasons are exactly the `limit` largest positive contributions (ties to the earlier feature), computed
    /// here by brute force over every feature of the text, for each class, for both kinds of model.
    @Test(arguments: [Algorithm.logistic, .naiveBayes])
    func reasonsAreTheLargestContributionsByBruteForce(_ algorithm: Algorithm) throws {
        let (model, _) = try TextClassifier.train(Synthetic.corpus(classes: ["clear", "spam", "offensive"]), options: Synthetic.options(algorithm))
        var scorer = try Scorer(model: model)
        let k = model.classes.count
        for text in ["claim your free prize today", "see you at lunch, you idiot", "free free free lunch prize", "it", ""] {
            let explained = scorer.explain(text, limit: 4)
            let f = scorer.featurizer
            let (wordScale, charScale) = f.counts.withUnsafeBufferPointer {
                TextClassifier.blockScales(counts: $0, wordCount: f.uniqueWordCount, sublinear: model.header.featurizer.sublinearTF,
                                           charWeight: model.header.featurizer.charWeight)
            }
            for c in 0..<k {
                var all: [(value: Double, u: Int)] = []
                for (u, h) in f.uniqueHashes.enumerated() {
                    let b = Int(h & f.mask)
                    guard model.isKnown(b) else { continue }
                    let t = model.header.calibration.temperature
                    // The feature's term in each class's raw score, as the logits pass computes it.
                    let v = algorithm == .logistic
                        ? Double(Featurizer.sign(h)) * (Double(TextClassifier.termWeight(f.counts[u], sublinear: model.header.featurizer.sublinearTF))
                            * (u < f.uniqueWordCount ? wordScale : charScale))
                        : Double(f.counts[u])
                    let terms = (0..<k).map { v * Double(model.table[b * k + $0]) }
                    let mean = terms.reduce(0.0, +) * (1 / Double(k))
                    let value = (terms[c] - mean) / t
                    if value > 0 { all.append((value, u)) }
                }
                // A stable sort, largest first: equal contributions keep the order of the features.
                let top = all.enumerated().sorted { $0.element.value != $1.element.value ? $0.element.value > $1.element.value : $0.offset < $1.offset }
                    .prefix(4).map(\.element)
                #expect(explained[c].map(\.contribution) == top.map(\.value), "\(text) / \(model.classes[c])")
                #expect(explained[c].allSatisfy { $0.label == model.classes[c] })
            }
            let scored = scorer.score(text, reasons: 4)
            #expect(scored.reasons == scorer.explain(text, limit: 4)[scored.labelIndex])
        }
    }

    @Test func onlineLearningEqualsARefitOnTheSameLabels() throws {
        let first = Synthetic.corpus(perClass: 40, seed: 1)
        let second = Synthetic.corpus(perClass: 25, seed: 2)
        let options = Synthetic.options(.naiveBayes, holdout: 0)
        let (base, _) = try TextClassifier.train(first, options: options)
        let online = try base.partialFit(second)
        let (refit, _) = try TextClassifier.train(first + second, options: options)
        #expect(online.naiveBayes!.featureCount == refit.naiveBayes!.featureCount)
        #expect(online.naiveBayes!.classCount == refit.naiveBayes!.classCount)
        #expect(online.header.training.classCounts == refit.header.training.classCounts)
        var a = try Scorer(model: online)
        var b = try Scorer(model: refit)
        for text in ["free prize", "lunch tomorrow", "the and it"] {
            #expect(a.probabilities(text).probabilities == b.probabilities(text).probabilities)
        }
        // Unlearning the second batch gives back the first model's counts.
        let unlearned = try online.partialFit(second, weight: -1)
        #expect(unlearned.naiveBayes!.featureCount == base.naiveBayes!.featureCount)
    }

    @Test func trainingIsDeterministic() throws {
        let data = Synthetic.corpus()
        let created = Date(timeIntervalSince1970: 1_700_000_000)
        let (a, _) = try TextClassifier.train(data, options: Synthetic.options(.logistic), modelVersion: "v", created: created)
        let (b, _) = try TextClassifier.train(data, options: Synthetic.options(.logistic), modelVersion: "v", created: created)
        #expect(a.logistic!.coefficients == b.logistic!.coefficients)
        #expect(a.header.calibration == b.header.calibration)
    }
}

struct ModelFileTests {
    static func model(_ algorithm: Algorithm) throws -> TextClassifier {
        try TextClassifier.train(Synthetic.corpus(), options: Synthetic.options(algorithm), modelVersion: "test-1").0
    }

    @Test(arguments: Algorithm.allCases)
    func roundTripIsBitExact(_ algorithm: Algorithm) throws {
        let model = try Self.model(algorithm)
        let bytes = try model.serialized()
        let loaded = try TextClassifier(serialized: bytes)
        #expect(try loaded.serialized() == bytes)
        #expect(loaded.header == model.header)
        var a = try Scorer(model: model)
        var b = try Scorer(model: loaded)
        for text in ["free prize now", "see you later", "zz"] {
            #expect(a.probabilities(text).probabilities == b.probabilities(text).probabilities)
        }
    }

    @Test func everyFlippedByteIsRefused() throws {
        let bytes = try Self.model(.naiveBayes).serialized()
        let positions = [0, 5, 9, 20, bytes.count / 3, bytes.count / 2, bytes.count - 10, bytes.count - 1]
        for position in positions {
            var damaged = bytes
            damaged[position] ^= 0x40
            #expect(throws: LearningError.self) { try TextClassifier(serialized: damaged) }
        }
    }

    @Test func truncatedFilesAreRefused() throws {
        let bytes = try Self.model(.logistic).serialized()
        for length in [0, 3, 8, 15, 40, bytes.count / 2, bytes.count - 1] {
            #expect(throws: LearningError.self) { try TextClassifier(serialized: Array(bytes.prefix(length))) }
        }
    }

    @Test func aNewerFormatIsRefusedWithAnUpgradeHint() throws {
        var bytes = try Self.model(.logistic).serialized()
        bytes[4] = 2
        #expect(throws: LearningError.unsupportedFormat(found: 2, supported: 1...1)) { try TextClassifier(serialized: bytes) }
        let message = "\(LearningError.unsupportedFormat(found: 2, supported: 1...1))"
        #expect(message.contains("Upgrade winnow or retrain"))
    }

    @Test func aForeignFeaturizerIsRefused() throws {
        var model = try Self.model(.naiveBayes)
        model.header.featurizer.version = 2
        let bytes = try model.serialized()
        #expect {
            try TextClassifier(serialized: bytes)
        } throws: { error in
            guard case LearningError.featurizerMismatch = error else { return false }
            return true
        }
    }

    @Test func notAModelAtAll() {
        #expect(throws: LearningError.self) { try TextClassifier(serialized: Array("id,text,label\n".utf8)) }
    }
}

struct ModelFileFuzzTests {
    /// Random damage anywhere in a valid file: every load either fails with a `LearningError` or, never, crashes.
    @Test func randomDamageNeverCrashes() throws {
        let bytes = try ModelFileTests.model(.logistic).serialized()
        var rng = SplitMix64(seed: 2024)
        for _ in 0..<300 {
            var damaged = bytes
            let edits = 1 + Int(rng.next() % 4)
            for _ in 0..<edits {
                switch rng.next() % 3 {
                case 0: damaged[Int(rng.next() % UInt64(damaged.count))] = UInt8(truncatingIfNeeded: rng.next())
                case 1: damaged.removeLast(Int(rng.next() % UInt64(min(64, damaged.count))))
                default: damaged.insert(UInt8(truncatingIfNeeded: rng.next()), at: Int(rng.next() % UInt64(damaged.count)))
                }
            }
            if damaged == bytes { continue }
            #expect(throws: LearningError.self) { try TextClassifier(serialized: damaged) }
        }
    }

    /// Damage behind a recomputed checksum reaches the header and section parsers: they must refuse or accept,
    /// never crash, and whatever they accept must score.
    @Test(arguments: Algorithm.allCases)
    func damageBehindAValidChecksumNeverCrashes(_ algorithm: Algorithm) throws {
        let bytes = try ModelFileTests.model(algorithm).serialized()
        var rng = SplitMix64(seed: 7)
        var refused = 0
        for _ in 0..<1000 {
            var damaged = bytes
            let position = 8 + Int(rng.next() % UInt64(damaged.count - 12))
            damaged[position] = UInt8(truncatingIfNeeded: rng.next())
            if rng.next() % 4 == 0 { damaged.removeSubrange(position..<min(damaged.count - 4, position + Int(rng.next() % 16))) }
            let crc = damaged.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(damaged.count - 4)])) }
            for i in 0..<4 { damaged[damaged.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
            do {
                let model = try TextClassifier(serialized: damaged)
                var scorer = try Scorer(model: model)
                _ = scorer.score("free prize now")
            } catch is LearningError {
                refused += 1
            }
        }
        #expect(refused > 0)
    }

    /// A header that is JSON but not a model's says what is wrong in the header's terms; it had shown Swift's
    /// `keyNotFound(CodingKeys(stringValue: "classes", intValue: nil), …)` (outside testing).
    @Test(arguments: [("classes", nil, "The model header is not valid: the field 'classes' is missing."),
                      ("classes", 7, "The model header is not valid: the field 'classes' is not a list."),
                      ("", nil, "The model header is not valid: it is not valid JSON, or a number in it does not fit its field")] as [(String, Int?, String)])
    func aHeaderThatIsNotAModelsSaysWhatIsWrong(_ field: String, _ value: Int?, _ message: String) throws {
        let bytes = try ModelFileTests.model(.naiveBayes).serialized()
        let length = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        var header: [UInt8] = Array("[not a header".utf8)
        if !field.isEmpty {
            var json = try #require(try JSONSerialization.jsonObject(with: Data(bytes[12..<(12 + length)])) as? [String: Any])
            json[field] = value
            header = Array(try JSONSerialization.data(withJSONObject: json))
        }
        // The file again around the new header: its length, the sections as they were, a checksum that matches.
        var damaged = Array(bytes[0..<8])
        for i in 0..<4 { damaged.append(UInt8(truncatingIfNeeded: header.count >> (8 * i))) }
        damaged += header + bytes[(12 + length)..<(bytes.count - 4)]
        let crc = damaged.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer($0)) }
        for i in 0..<4 { damaged.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
        do {
            _ = try TextClassifier(serialized: damaged)
            Issue.record("a damaged header was read")
        } catch let error as LearningError {
            #expect(error.description.hasPrefix(message), "\(error)")
            #expect(!error.description.contains("CodingKeys"), "\(error)")
        }
    }

    /// A header that parses and passes the checksum but lies about its sections is still refused.
    @Test func inconsistentSectionsAreRefused() throws {
        var model = try ModelFileTests.model(.naiveBayes)
        model.header.classes.append("extra")
        model.header.training.classCounts.append(9)
        let bytes = try model.serialized()
        #expect(throws: LearningError.self) { try TextClassifier(serialized: bytes) }
    }
}

/// The odds calibration of the harmless class (`ModelHeader.ClassOdds`) and the rows that may calibrate.
struct OddsCalibrationTests {
    /// The odds of the class are raised to 1/T; the others keep their shares of the rest, and the sum is kept.
    @Test func rescalingTheOddsKeepsTheOthersShares() {
        // P = (0.25, 0.5, 0.25): odds of class 0 are 1/3, at T = 0.5 they are 1/9, so P(0) = 0.1 and the rest 0.9
        // splits 2:1.
        var z = [1.0, 2.0, 1.0]
        TextClassifier.rescaleOdds(&z, of: 0, sum: 4, temperature: 0.5)
        let expected = [0.4, 2.4, 1.2]
        for (a, b) in zip(z, expected) { #expect(abs(a - b) < 1e-12, "\(z)") }
        // T = 1 changes nothing; a class at certainty stays there.
        var same = [1.0, 2.0, 1.0]
        TextClassifier.rescaleOdds(&same, of: 1, sum: 4, temperature: 1)
        for (a, b) in zip(same, [1.0, 2.0, 1.0]) { #expect(abs(a - b) < 1e-12) }
        var certain = [0.0, 3.0, 0.0]
        TextClassifier.rescaleOdds(&certain, of: 1, sum: 3, temperature: 0.5)
        #expect(certain == [0, 3, 0])
    }

    /// Scoring applies the fitted odds to P(clear), after the temperature, and P(harm) = 1 − P(clear) moves with it.
    @Test func scoringRescalesTheOddsOfTheHarmlessClass() throws {
        var options = Synthetic.options(.logistic)
        options.oddsLabel = nil
        let (plain, _) = try TextClassifier.train(Synthetic.corpus(classes: ["clear", "spam", "offensive"]), options: options)
        #expect(plain.header.calibration.classOdds == nil)
        var sharpened = plain
        sharpened.header.calibration.classOdds = .init(label: "clear", temperature: 0.5)
        var a = try Scorer(model: plain), b = try Scorer(model: sharpened)
        for text in ["see you at lunch, you idiot", "free lunch tomorrow", "claim your prize, loser"] {
            let p = a.probabilities(text).probabilities, q = b.probabilities(text).probabilities
            let odds = pow(p[0] / (1 - p[0]), 2)
            #expect(abs(q[0] - odds / (1 + odds)) < 1e-9, "\(text)")
            #expect(abs(q[1] / q[2] - p[1] / p[2]) < 1e-9)
            #expect(abs(q.reduce(0, +) - 1) < 1e-12)
        }
    }

    /// Training fits the odds of the named class when the model has more than two classes and at least
    /// `minimumCalibrationRows` held-out rows, and not otherwise; the model file keeps them.
    @Test func trainingFitsTheOddsOfTheNamedClass() throws {
        // 300 rows, 60 held out.
        let three = Synthetic.corpus(classes: ["clear", "spam", "offensive"], perClass: 100)
        let (model, _) = try TextClassifier.train(three, options: Synthetic.options(.logistic))
        let odds = try #require(model.header.calibration.classOdds)
        #expect(odds.label == "clear")
        #expect(odds.temperature.isFinite && odds.temperature > 0 && odds.temperature != 1)
        let loaded = try TextClassifier(serialized: try model.serialized())
        #expect(loaded.header.calibration.classOdds == odds)
        // Two classes: the odds are the one temperature's already.
        #expect(try TextClassifier.train(Synthetic.corpus(), options: Synthetic.options(.logistic)).0.header.calibration.classOdds == nil)
        // 36 held-out rows are too few.
        #expect(try TextClassifier.train(Synthetic.corpus(classes: ["clear", "spam", "offensive"]), options: Synthetic.options(.logistic))
            .0.header.calibration.classOdds == nil)
        // A model without the class.
        var other = Synthetic.options(.logistic)
        other.oddsLabel = "ham"
        #expect(try TextClassifier.train(three, options: other).0.header.calibration.classOdds == nil)
        // A model file naming a class the model lacks is refused.
        var broken = model
        broken.header.calibration.classOdds = .init(label: "ham", temperature: 0.8)
        #expect(throws: LearningError.self) { try TextClassifier(serialized: try broken.serialized()) }
    }

    /// Rows that may not calibrate (reviewers' labels, with their errors) do not set the temperature: with a third of
    /// the rows labelled at random and marked so, the temperature is the one the clean rows give, sharper than the
    /// one fitted on every row.
    @Test func rowsThatMayNotCalibrateDoNotSetTheTemperature() throws {
        let clean = Synthetic.corpus(classes: ["clear", "spam", "offensive"], perClass: 120, seed: 3)
        var rng = SplitMix64(seed: 7)
        let labels = ["clear", "spam", "offensive"]
        let noisy = Synthetic.corpus(classes: labels, perClass: 60, seed: 4).map { row in
            LabelledText(text: row.text, label: labels[Int(rng.next() % 3)], calibrates: false)
        }
        let options = Synthetic.options(.logistic)
        let (marked, _) = try TextClassifier.train(clean + noisy, options: options)
        let (unmarked, _) = try TextClassifier.train(clean + noisy.map { LabelledText(text: $0.text, label: $0.label) }, options: options)
        #expect(marked.header.calibration.temperature < unmarked.header.calibration.temperature - 0.1,
                "\(marked.header.calibration.temperature) vs \(unmarked.header.calibration.temperature)")
    }

    /// Base rows with a fifth of their labels drawn at random (the data's own noise, so they still calibrate), and
    /// `storeRows` per class of cleaner rows marked as not calibrating (the store's labels on retraining).
    static func retrainingRows(baseSeed: UInt64, perClass: Int = 100, storeRows: Int = 300) -> [LabelledText] {
        let labels = ["clear", "spam", "offensive"]
        var rng = SplitMix64(seed: baseSeed &* 31)
        let base = Synthetic.corpus(classes: labels, perClass: perClass, seed: baseSeed).map { row in
            rng.next() % 5 == 0 ? LabelledText(text: row.text, label: labels[Int(rng.next() % 3)]) : row
        }
        let store = Synthetic.corpus(classes: labels, perClass: storeRows, seed: 1000 + baseSeed).map {
            LabelledText(text: $0.text, label: $0.label, calibrates: false)
        }
        return base + store
    }

    /// When the rows that may calibrate are few among rows that do not, the temperatures are fitted on the
    /// out-of-fold scores of all of them, and the model file and card say so; not when every row calibrates, not
    /// when folds are off, and not when the held-out rows that calibrate are enough.
    @Test func fewRowsThatMayCalibrateAreCrossFitted() throws {
        let rows = Self.retrainingRows(baseSeed: 1)
        let (model, _) = try TextClassifier.train(rows, options: Synthetic.options(.logistic))
        #expect(model.header.calibration.crossFit == ModelHeader.CrossFit(folds: 5, rows: 300))
        #expect(model.header.calibration.classOdds != nil)
        #expect(try TextClassifier(serialized: try model.serialized()).header.calibration.crossFit == model.header.calibration.crossFit)
        #expect(ModelCard.render(model.header, file: "m.winnow").contains("on 300 examples' out-of-fold scores (5 folds)"), "\(ModelCard.render(model.header, file: "m.winnow"))")

        var off = Synthetic.options(.logistic)
        off.calibrationFolds = 0
        let (plain, _) = try TextClassifier.train(rows, options: off)
        #expect(plain.header.calibration.crossFit == nil)
        #expect(plain.header.calibration.temperature != model.header.calibration.temperature)
        #expect(ModelCard.render(plain.header, file: "m.winnow").contains("held-out examples"))
        // Every row calibrates: the held-out rows are a sample of everything trained on.
        let all = rows.map { LabelledText(text: $0.text, label: $0.label) }
        #expect(try TextClassifier.train(all, options: Synthetic.options(.logistic)).0.header.calibration.crossFit == nil)
        // 1,020 held-out base rows are enough on their own.
        let large = Self.retrainingRows(baseSeed: 1, perClass: 1700, storeRows: 100)
        #expect(try TextClassifier.train(large, options: Synthetic.options(.logistic)).0.header.calibration.crossFit == nil)
        // Folds must be 0...20.
        var bad = Synthetic.options(.logistic)
        bad.calibrationFolds = 21
        #expect(throws: LearningError.self) { try TextClassifier.train(rows, options: bad) }
    }

    /// What the cross-fit is for: the base rows held out are a small sample, and the odds temperature fitted on it
    /// moved from one base sample to the next; fitted on every base row's out-of-fold score it moves less.
    @Test func crossFittedOddsMoveLessFromOneBaseSampleToTheNext() throws {
        func temperatures(folds: Int) throws -> [Double] {
            try (1...4).map { seed in
                var options = Synthetic.options(.logistic)
                options.calibrationFolds = folds
                let (model, _) = try TextClassifier.train(Self.retrainingRows(baseSeed: UInt64(seed), storeRows: 150), options: options)
                return try #require(model.header.calibration.classOdds).temperature
            }
        }
        func spread(_ t: [Double]) -> Double {
            let mean = t.reduce(0, +) / Double(t.count)
            return (t.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(t.count - 1)).squareRoot()
        }
        let crossFitted = try temperatures(folds: 5), heldOut = try temperatures(folds: 0)
        // Measured: standard deviations 0.03 and 0.10 (four samples; 0.02 and 0.12 over six).
        #expect(spread(crossFitted) < 0.5 * spread(heldOut), "cross-fitted \(crossFitted), held-out \(heldOut)")
    }
}
