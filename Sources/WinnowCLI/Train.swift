import ArgumentParser
import Foundation
import Services
import WinnowJSON
import Storage
import Learning

/// Feature options shared by the commands that build featurizers.
struct FeatureOptions: ParsableArguments {
    @Option(help: "Hash buckets as a power of two (10-24).")
    var bucketBits: Int = 20

    @Option(help: "Highest word n-gram order (1-3).")
    var wordNgrams: Int = 2

    @Option(help: "Character n-gram orders inside words, as MIN-MAX, or 0 for none.")
    var charNgrams: String = "2-5"

    @Option(help: "Hash seed (changing it changes every bucket).")
    var hashSeed: UInt32 = 0x5749_4E4E

    @Option(help: "Logistic: weight of the character n-gram block against the word block (default 0.55).")
    var charWeight: Double?

    func config() throws -> FeaturizerConfig {
        var config = FeaturizerConfig(seed: hashSeed, bucketBits: bucketBits, wordNgramMax: wordNgrams)
        if let charWeight { config.charWeight = charWeight }
        if charNgrams == "0" {
            config.charNgramMin = 0
            config.charNgramMax = 0
        } else {
            let parts = charNgrams.split(separator: "-").map { Int($0) }
            guard parts.count == 2, let low = parts[0], let high = parts[1] else {
                throw ValidationError("Please write --char-ngrams as MIN-MAX (for example 2-5) or 0; got '\(charNgrams)'.")
            }
            config.charNgramMin = low
            config.charNgramMax = high
        }
        do { try config.validate() } catch { throw Self.optionError(error) }
        return config
    }

    /// The command-line flags of the training parameters that `FeaturizerConfig` and `TrainingOptions` check.
    static let flags = [
        "alpha": "--alpha", "bucketBits": "--bucket-bits", "c": "--c", "calibrationFolds": "--calibration-folds", "charNgrams": "--char-ngrams",
        "charWeight": "--char-weight",
        "evidenceTarget": "--evidence-target", "holdout": "--holdout", "maxIterations": "--max-iterations", "minDocumentFrequency": "--min-df",
        "minExamplesPerClass": "--min-class-examples", "tolerance": "--tolerance", "wordNgramMax": "--word-ngrams",
    ]

    /// A training parameter's error as a usage error naming its flag (outside testing: "Invalid value 0 for
    /// 'minDocumentFrequency'", a name of the JSON configuration, under the root command's usage line).
    static func optionError(_ error: any Error) -> ValidationError {
        if case let LearningError.invalidParameter(name, value, expected) = error, let flag = flags[name] {
            return ValidationError("\(flag) \(value) cannot be used: expected \(expected).")
        }
        return ValidationError("Please fix the options: \(error)")
    }
}

enum TrainingStage: String, ExpressibleByArgument, CaseIterable {
    case text, engagement
}

struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a text classifier from labelled CSV or JSON Lines.",
        discussion: """
            Classes are the distinct labels in the data. A stratified share of each class (--holdout) is held out to \
            calibrate probabilities and report held-out metrics; the model is then trained again on all rows.

            Examples:
              winnow train --data datasets/demo/train.csv --out models/demo.winnow
              winnow train --data a.csv --data b.jsonl --label-map ham=clear --out m.winnow
              winnow train --from-store --data base.csv --out models/new.winnow

            --stage engagement trains the small model stages 2 and 3 use (text log-odds plus engagement and author \
            features) from the labelled items with engagement in the server's database, and stores it there; the \
            running server picks it up on its next scheduler pass:
              winnow train --stage engagement --database winnow.sqlite
            """)

    @Option(help: "text (a text classifier from --data files) or engagement (the stage 2/3 model, from the database).")
    var stage: TrainingStage = .text

    @Option(help: "With --stage engagement or --from-store: the SQLite file or postgres:// URL (WINNOW_DATABASE; default ./winnow.sqlite).")
    var database: String?

    @Option(help: "With --stage engagement: the text model whose log-odds feed it (WINNOW_MODEL; default models/default.winnow).")
    var model: String?

    @Option(help: "With --stage engagement: the class that means 'nothing wrong'.")
    var clearLabel = "clear"

    @Option(help: "With --stage engagement: L2 penalty on the standardised weights (> 0).")
    var l2 = 1.0

    @Option(help: "With --stage engagement: the server's JSON configuration file (WINNOW_CONFIG), for its engine settings.")
    var config: String?

    @Option(name: .customLong("data"), help: "Labelled data (CSV with header id,text,label, or JSONL); repeat for more files.")
    var data: [String] = []

    @Flag(help: "Also train on the labels in the server's database (--database): each stored item's label that counts.")
    var fromStore = false

    @Option(help: "nb, complement-nb or logistic.")
    var algorithm: Algorithm = .logistic

    @Option(help: "Where to write the model (.winnow).")
    var out: String?

    @Option(name: .customLong("label-map"), help: "Rename a label, as FROM=TO; repeatable (e.g. ham=clear).")
    var labelMap: [String] = []

    @OptionGroup var features: FeatureOptions

    // The options of one algorithm are optional (their defaults applied in `options()`), so that one given with the
    // other algorithm is refused instead of recorded in the model's header and ignored.
    @Option(help: "Naive Bayes (nb, complement-nb): smoothing (> 0; default 1).")
    var alpha: Double?

    @Option(name: .customLong("c"), help: "Logistic: inverse L2 strength (> 0), as scikit-learn's C (default 10).")
    var c: Double?

    @Option(help: "Logistic: class weights, none, balanced or sqrt-balanced (default balanced).")
    var classWeight: ClassWeight?

    @Option(help: "Logistic: features seen in fewer training rows than this get no weight (default 1).")
    var minDf: Int?

    @Option(help: "Logistic: most L-BFGS iterations (default 300).")
    var maxIterations: Int?

    @Option(help: "Logistic: L-BFGS stops when the largest gradient component is below this (default 1e-5).")
    var tolerance: Double?

    @Option(help: "Share of each class held out for calibration and held-out metrics (0-0.5).")
    var holdout: Double = 0.1

    @Option(help: "Seed of the held-out split.")
    var seed: UInt64 = 42

    @Option(help: ArgumentHelp(
        "Folds of the cross-fitted calibration (0 or 1: off, at most 20).",
        discussion: "With --from-store, the store's labels do not calibrate (reviewers' labels are the unsure and reported items, with their errors): the temperatures are fitted on the base data's held-out rows, or, when fewer than 1,000 of them, on every base row's out-of-fold score from this many extra fits."))
    var calibrationFolds: Int = 5

    @Option(help: "The model refuses to score while a class has fewer training examples than this.")
    var minClassExamples: Int = 5

    @Flag(help: "Train even when a class has fewer than --min-class-examples rows (the model will refuse to score until it has more).")
    var allowRareClasses = false

    @Flag(help: "Fit per-class decision offsets on the held-out rows to maximise macro-F1.")
    var decisionOffsets = false

    @Option(help: "Known word features a text needs for full evidence; below it probabilities shrink toward the prior (0 turns this off).")
    var evidenceTarget: Double = 2

    @Option(help: "Model version to record (default: the output's name and the training time).")
    var name: String?

    @Option(help: "The version this model was derived from, recorded in its header.")
    var parent: String?

    @Flag(help: "Print the summary as JSON.")
    var json = false

    @Flag(help: "No progress bar.")
    var quiet = false

    func validate() throws {
        if stage == .engagement {
            guard l2 > 0 else { throw ValidationError("--l2 must be > 0.") }
            return
        }
        guard let out else { throw ValidationError("Please say where to write the model with --out models/NAME.winnow.") }
        try Self.checkCalibrationFolds(calibrationFolds)
        guard !data.isEmpty || fromStore else { throw ValidationError("Please give at least one --data FILE with labelled rows, or --from-store.") }
        guard out.hasSuffix(".winnow") else { throw ValidationError("Please name the model file with the .winnow extension; got '\(out)'.") }
        if let reason = ModelIO.unwritableReason(out) { throw ValidationError("--out \(out) cannot be written: \(reason).") }
        // Checked before training: the registry refuses such a name only when the model is registered.
        if let name, !ModelRegistry.isVersionName(name) {
            throw ValidationError("--name '\(name.prefix(40))\(name.utf8.count > 40 ? "…" : "")' (\(name.utf8.count) bytes) cannot name a model version: use 1-\(ModelRegistry.maximumVersionBytes) letters, digits and ._@:+- starting with a letter or digit.")
        }
        _ = try parseLabelMap(labelMap)
        try Self.refuseOtherAlgorithmsOptions(algorithm, naiveBayes: ["--alpha": alpha != nil], logistic: [
            "--c": c != nil, "--class-weight": classWeight != nil, "--min-df": minDf != nil, "--max-iterations": maxIterations != nil,
            "--tolerance": tolerance != nil, "--char-weight": features.charWeight != nil,
        ])
        // Every parameter's range, checked here so that the usage line is train's (checked in run(), it was the root's).
        _ = try options()
    }

    /// Refuses --calibration-folds outside `TrainingOptions.calibrationFoldsRange` (train's and simulate's).
    static func checkCalibrationFolds(_ folds: Int) throws {
        let range = TrainingOptions.calibrationFoldsRange
        guard range.contains(folds) else {
            throw ValidationError("--calibration-folds must be \(range.lowerBound)-\(range.upperBound) (0 or 1 turns cross-fitting off); got \(folds).")
        }
    }

    /// Refuses options given (true) that belong to the algorithm not chosen: they would be recorded and ignored.
    static func refuseOtherAlgorithmsOptions(_ algorithm: Algorithm, naiveBayes: [String: Bool], logistic: [String: Bool]) throws {
        let ignored = (algorithm == .logistic ? naiveBayes : logistic).filter(\.value).keys.sorted()
        guard !ignored.isEmpty else { return }
        let owner = algorithm == .logistic ? "naive Bayes (--algorithm nb or complement-nb)" : "--algorithm logistic"
        let one = ignored.count == 1
        throw ValidationError("\(ignored.joined(separator: ", ")) \(one ? "is an option" : "are options") of \(owner), not of \(algorithm.rawValue); drop \(one ? "it" : "them") or change --algorithm.")
    }

    func options() throws -> TrainingOptions {
        var options = TrainingOptions()
        options.algorithm = algorithm
        options.featurizer = try features.config()
        let standard = LogisticConfig()
        options.naiveBayes = NaiveBayesConfig(alpha: alpha ?? NaiveBayesConfig().alpha, complement: algorithm == .complementNaiveBayes)
        options.logistic = LogisticConfig(
            c: c ?? standard.c, maxIterations: maxIterations ?? standard.maxIterations, tolerance: tolerance ?? standard.tolerance,
            classWeight: classWeight ?? standard.classWeight, minDocumentFrequency: minDf ?? standard.minDocumentFrequency)
        options.holdoutFraction = holdout
        options.seed = seed
        options.calibrationFolds = calibrationFolds
        options.minExamplesPerClass = minClassExamples
        options.evidenceTarget = evidenceTarget
        options.fitClassOffsets = decisionOffsets
        do { try options.validate() } catch { throw FeatureOptions.optionError(error) }
        return options
    }

    func run() async throws {
        if stage == .engagement {
            try await trainEngagement()
            return
        }
        let out = self.out ?? ""
        let map = try parseLabelMap(labelMap)
        let reader = DataFileReader(labelMap: map)
        var firstFile: [String: (String, Int)] = [:]
        var rows = try Self.read(data, with: reader, firstAt: &firstFile)
        var sources = data.map { URL(fileURLWithPath: $0).lastPathComponent }
        // The files' rows calibrate the model; the store's labels (reviewers' decisions) only train it, as in retraining.
        let fileRows = rows.count
        if fromStore {
            let path = database ?? ProcessInfo.processInfo.environment["WINNOW_DATABASE"] ?? "winnow.sqlite"
            let stored = try await Self.storeRows(path: path, labelMap: map)
            for row in stored where firstFile[row.label] == nil { firstFile[row.label] = (path, row.line) }
            rows += stored
            sources.append("store:\(URL(fileURLWithPath: path).lastPathComponent) (\(stored.count) labels)")
            if !quiet && !json { FileHandle.standardError.write(Data("Read \(stored.count) labelled items from \(path).\n".utf8)) }
        }
        if rows.isEmpty {
            // Only --from-store reads nothing at all (a data file with no rows is refused as it is read).
            throw DataFileError(file: database ?? ProcessInfo.processInfo.environment["WINNOW_DATABASE"] ?? "winnow.sqlite", line: nil,
                                message: "holds no label of an item it stores (a label of an item Winnow never saw has no text to train on). Submit the items, or give --data files.")
        }
        if firstFile.count < 2, let only = firstFile.first {
            throw DataFileError(
                file: data.joined(separator: ", "), line: nil,
                message: "every row has the label '\(only.key)' (first at \(only.value.0):\(only.value.1)). Training needs at least two classes: add examples of another class, or check --label-map.")
        }
        try Self.refuseLabelsDifferingInCase(firstFile)
        try DataFileReader.refuseUnusedRenames(map, rows: rows, files: data + (fromStore ? [database ?? "the store"] : []))
        let options = try options()
        if !allowRareClasses { try Self.refuseRareClasses(rows, minimum: options.minExamplesPerClass, firstAt: firstFile) }
        let version = name ?? Self.defaultVersion(out: out)
        var bar = ProgressBar(enabled: !quiet && !json)
        let (model, summary) = try TextClassifier.train(
            rows.enumerated().map { LabelledText(text: $1.text, label: $1.label, calibrates: $0 < fileRows) }, options: options, modelVersion: version,
            parentVersion: parent, sources: sources, labelMap: map
        ) { bar.update($0.phase, $0.fraction) }
        bar.finish()
        let size = try ModelIO.save(model, to: out)
        if json {
            print(try jsonString(TrainOutput(model: out, bytes: size, header: model.header)))
            return
        }
        print(Self.describe(model: model, summary: summary, path: out, size: size))
    }

    /// The rows of `files`, noting in `firstAt` the file and line where each label first appears (for the messages
    /// of `refuseLabelsDifferingInCase` and `refuseRareClasses`).
    static func read(_ files: [String], with reader: DataFileReader, firstAt: inout [String: (String, Int)]) throws -> [DataRow] {
        var rows: [DataRow] = []
        for file in files {
            let fileRows = try reader.read(file)
            for row in fileRows where firstAt[row.label] == nil { firstAt[row.label] = (file, row.line) }
            rows += fileRows
        }
        return rows
    }

    /// Refuses labels that differ only in case (`spam`, `SPAM`, `Spam`): each would train as a class of its own
    /// (outside testing: six classes from two, macro-F1 0.25, and no word of it), as `evaluate` and `labels import`
    /// already refuse them. Names the spellings, where each first appears, and the --label-map that joins them.
    static func refuseLabelsDifferingInCase(_ firstAt: [String: (String, Int)]) throws {
        let groups = Dictionary(grouping: firstAt.keys, by: { $0.lowercased() }).values.filter { $0.count > 1 }.map { $0.sorted() }.sorted { $0[0] < $1[0] }
        guard let first = groups.first else { return }
        let described = groups.map { spellings in
            spellings.map { label in "'\(label)'" + (firstAt[label].map { " (first at \($0.0):\($0.1))" } ?? "") }.joined(separator: ", ")
        }
        let keep = first.contains(first[0].lowercased()) ? first[0].lowercased() : first[0]
        let maps = first.filter { $0 != keep }.map { "--label-map \($0)=\(keep)" }.joined(separator: " ")
        throw DataFileError(
            file: firstAt[first[0]]?.0 ?? "the data", line: nil,
            message: "labels differ only in case: \(described.joined(separator: "; ")); each would be a class of its own. Write each label one way, or join them (\(maps)).")
    }

    /// Refuses a class with fewer than `minimum` rows (a typo such as `hamm` makes one): the model would print
    /// perfect held-out figures for it and then refuse to score. Names each such label, its count, where it first
    /// appears and the nearest label that has enough rows.
    static func refuseRareClasses(_ rows: [DataRow], minimum: Int, firstAt: [String: (String, Int)]) throws {
        let counts = Dictionary(grouping: rows, by: \.label).mapValues(\.count)
        let rare = counts.filter { $0.value < minimum }.sorted { $0.key < $1.key }
        guard let first = rare.first else { return }
        let common = counts.filter { $0.value >= minimum }.keys.sorted()
        let described = rare.map { label, count in
            var text = "'\(label)' has \(count) row\(count == 1 ? "" : "s")"
            if let (file, line) = firstAt[label] { text += " (first at \(file):\(line))" }
            if let near = StrictDecoder.nearest(label, among: common) { text += "; did you mean '\(near)'?" }
            return text
        }
        throw DataFileError(
            file: firstAt[first.key]?.0 ?? "the data", line: nil,
            message: "\(described.joined(separator: "; "))\(described.last?.hasSuffix("?") == true ? "" : ".") A class needs at least \(minimum) rows (--min-class-examples) or the model refuses to score: fix the label (--label-map FROM=TO renames one), add rows, or pass --allow-rare-classes.")
    }

    /// The store's stored items with the label that counts for each (`LabelResolution`), as training rows.
    static func storeRows(path: String, labelMap: [String: String]) async throws -> [DataRow] {
        return try await Keys.DatabaseOption.open(path: path).resolvedLabels(since: nil).enumerated().compactMap { index, resolved in
            guard let text = resolved.trainingText else { return nil }
            var row = DataRow(id: resolved.label.itemID, text: text, label: labelMap[resolved.label.label] ?? resolved.label.label, line: index + 1)
            if labelMap[resolved.label.label] != nil { row.mappedFrom = resolved.label.label }
            return row
        }
    }

    /// The output's name and the training time, as a version name the registry takes: a character it does not
    /// (a space, say) becomes '-', a name not starting with a letter or digit gets "model-" before it.
    static func defaultVersion(out: String) -> String {
        // The registry's own rule, scalar by scalar (a non-ASCII one is one '-').
        var base = String(URL(fileURLWithPath: out).deletingPathExtension().lastPathComponent.unicodeScalars.map { scalar in
            scalar.isASCII && ModelRegistry.mayAppearInVersion(UInt8(scalar.value)) ? Character(scalar) : "-"
        }.prefix(100))
        if !(base.utf8.first.map(ModelRegistry.mayStartVersion) ?? false) { base = "model-" + base }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "\(base)@\(formatter.string(from: Date()))"
    }

    static func describe(model: TextClassifier, summary: TrainingSummary, path: String, size: Int) -> String {
        let h = model.header
        var lines: [String] = []
        lines.append("Trained \(h.kind.rawValue) model → \(path) (\(ByteCountFormatter.string(fromByteCount: Int64(size), countStyle: .file)))")
        lines.append("  version      \(h.modelVersion)")
        let counts = zip(h.classes, h.training.classCounts).map { "\($0) \($1)" }.joined(separator: ", ")
        lines.append("  examples     \(h.training.examples) (\(counts))")
        let f = h.featurizer
        let chars = f.charNgramMax > 0 ? ", char \(f.charNgramMin)-\(f.charNgramMax) grams" : ""
        lines.append("  features     word 1-\(f.wordNgramMax) grams\(chars), 2^\(f.bucketBits) buckets")
        var time = "  time         \(format(summary.seconds, 2)) s"
        if let o = summary.optimization {
            time += " (L-BFGS \(o.iterations) iterations, \(o.converged ? "converged" : "stopped at the iteration limit") with max |gradient| \(String(format: "%.1e", o.gradientMaxNorm)))"
        }
        lines.append(time)
        lines.append("  calibration  temperature \(format(summary.temperature, 3)) fitted on \(h.calibration.heldOutExamples) held-out examples")
        if let report = summary.heldOut {
            lines.append("")
            lines.append("Held-out metrics (\(report.count) examples, model trained on the rest):")
            lines.append(contentsOf: ReportText.summary(report))
        }
        if !summary.undertrained.isEmpty {
            lines.append("")
            lines.append("Warning: \(summary.undertrained.joined(separator: ", ")) has fewer than \(h.minExamplesPerClass) examples; this model will refuse to score until it is retrained with more.")
        }
        return lines.joined(separator: "\n")
    }
}

struct TrainOutput: Encodable {
    var model: String
    var bytes: Int
    var header: ModelHeader
}

/// Plain-text tables of a classification report.
enum ReportText {
    static func summary(_ r: ClassificationReport) -> [String] {
        var lines = ["  accuracy \(format(r.accuracy))   macro-F1 \(format(r.macroF1))   weighted-F1 \(format(r.weightedF1))   ECE \(format(r.expectedCalibrationError))   log-loss \(format(r.logLoss))"]
        let width = max(8, (r.labels.map(\.count).max() ?? 5) + 2)
        lines.append("  " + pad("class", width) + pad("precision", 11, right: true) + pad("recall", 9, right: true) + pad("F1", 9, right: true)
            + pad("ROC-AUC", 10, right: true) + pad("PR-AUC", 9, right: true) + pad("support", 10, right: true))
        for c in r.classes {
            lines.append("  " + pad(c.label, width) + pad(format(c.precision), 11, right: true) + pad(format(c.recall), 9, right: true)
                + pad(format(c.f1), 9, right: true) + pad(c.rocAUC.map { format($0) } ?? "-", 10, right: true)
                + pad(c.prAUC.map { format($0) } ?? "-", 9, right: true) + pad("\(c.support)", 10, right: true))
        }
        return lines
    }

    static func full(_ r: ClassificationReport) -> [String] {
        var lines = summary(r)
        lines.append("")
        lines.append("Confusion matrix (rows: true class, columns: predicted):")
        let width = max(9, (r.labels.map(\.count).max() ?? 5) + 2)
        lines.append("  " + pad("", width) + r.labels.map { pad($0, width, right: true) }.joined())
        for (i, row) in r.confusionMatrix.enumerated() {
            lines.append("  " + pad(r.labels[i], width) + row.map { pad("\($0)", width, right: true) }.joined())
        }
        lines.append("")
        lines.append("Threshold sweep (at cut-off t: act when P ≥ t, review when 1-t ≤ P < t):")
        for sweep in r.thresholdSweep {
            lines.append("  \(sweep.label):   t  precision  recall  review share")
            for p in sweep.points where [0.5, 0.7, 0.8, 0.9, 0.95, 0.99].contains(p.threshold) {
                lines.append("    " + pad(format(p.threshold, 2), 8, right: true) + pad(format(p.precision, 3), 11, right: true)
                    + pad(format(p.recall, 3), 8, right: true) + pad(format(p.reviewShare, 3), 14, right: true))
            }
        }
        return lines
    }
}
