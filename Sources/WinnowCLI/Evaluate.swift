import ArgumentParser
import Foundation
import Learning

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model on labelled data: a table, JSON, or an HTML report with charts.",
        discussion: """
            Reports accuracy, macro-F1, per-class precision / recall / F1, ROC-AUC and PR-AUC (one-vs-rest), the
            confusion matrix, expected calibration error and a threshold sweep.

            Examples:
              winnow evaluate --model models/default.winnow --data test.csv
              winnow evaluate --model models/default.winnow --data test.csv --json
              winnow evaluate --model models/default.winnow --data test.csv --report report.html
            """)

    @Option(help: "The model file (.winnow).")
    var model: String

    @Option(name: .customLong("data"), help: "Labelled data (CSV or JSONL); repeat for more files.")
    var data: [String] = []

    @Option(name: .customLong("label-map"), help: "Rename a label, as FROM=TO; repeatable.")
    var labelMap: [String] = []

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write a self-contained HTML report with SVG charts to this file.")
    var report: String?

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("Please give at least one --data FILE with labelled rows.") }
        _ = try parseLabelMap(labelMap)
    }

    func run() throws {
        let classifier = try ModelIO.load(model)
        do { try classifier.checkTrained() } catch { throw CommandError("\(model): \(error)") }
        let reader = DataFileReader(labelMap: try parseLabelMap(labelMap), allowedLabels: classifier.classes)
        var rows: [LabelledText] = []
        for file in data { rows += try reader.read(file).map { LabelledText(text: $0.text, label: $0.label) } }
        let result = try classifier.evaluate(rows)
        if let report {
            let html = HTMLReport.render(result, model: classifier.header, data: data)
            do { try html.write(toFile: report, atomically: true, encoding: .utf8) } catch {
                throw CommandError("Cannot write the report to \(report) (\(error.localizedDescription)). Check that the folder exists and is writable.")
            }
        }
        if json {
            print(try Self.json(result, model: classifier.header, modelPath: model, data: data))
            return
        }
        print("Model \(classifier.header.modelVersion) (\(classifier.kind.rawValue)) on \(data.joined(separator: ", ")): \(result.count) examples")
        print(ReportText.full(result).joined(separator: "\n"))
        if let report { print("\nHTML report written to \(report)") }
    }

    /// The report's fields at the top level, plus the model and data it describes.
    static func json(_ report: ClassificationReport, model: ModelHeader, modelPath: String, data: [String]) throws -> String {
        let encoded = try JSONEncoder().encode(report)
        guard var object = try JSONSerialization.jsonObject(with: encoded) as? [String: Any] else { return "{}" }
        object["model"] = ["path": modelPath, "version": model.modelVersion, "kind": model.kind.rawValue]
        object["data"] = data
        let out = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: out, as: UTF8.self)
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at model files.",
        subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a model file's header as a model card.",
            discussion: "Example:\n  winnow models inspect models/default.winnow")

        @Argument(help: "The model file (.winnow).")
        var file: String

        @Flag(help: "Print the header as JSON.")
        var json = false

        func run() throws {
            let model = try ModelIO.load(file)
            if json {
                print(try jsonString(model.header, pretty: true))
                return
            }
            print(ModelCard.render(model.header, file: file))
        }
    }
}

/// A model header as a readable card (Markdown).
enum ModelCard {
    static func render(_ h: ModelHeader, file: String) -> String {
        var lines: [String] = []
        lines.append("# Model \(h.modelVersion)")
        lines.append("")
        lines.append("- file: \(file)")
        lines.append("- kind: \(h.kind.rawValue)")
        lines.append("- created: \(h.created)")
        lines.append("- parent: \(h.parentVersion ?? "none")")
        lines.append("- classes: \(zip(h.classes, h.training.classCounts).map { "\($0) (\($1) examples)" }.joined(separator: ", "))")
        lines.append("- scores only when every class has at least \(h.minExamplesPerClass) examples")
        let f = h.featurizer
        lines.append("- features: featurizer v\(f.version), word 1-\(f.wordNgramMax) grams, "
            + (f.charNgramMax > 0 ? "char \(f.charNgramMin)-\(f.charNgramMax) grams, " : "")
            + "2^\(f.bucketBits) buckets, seed \(f.seed), repeats capped at \(f.maxRepeat)")
        if let nb = h.naiveBayes { lines.append("- naive Bayes: alpha \(nb.alpha)\(nb.complement ? ", complement" : "")") }
        if let lr = h.logistic {
            lines.append("- logistic: C \(lr.c), class weights \(lr.classWeight.rawValue), tolerance \(lr.tolerance), at most \(lr.maxIterations) iterations")
        }
        lines.append("- calibration: \(h.calibration.method), T = \(format(h.calibration.temperature, 4)) on \(h.calibration.heldOutExamples) held-out examples")
        lines.append("- evidence: full at \(h.evidenceTarget) known word features; probabilities shrink toward the prior below it")
        lines.append("")
        lines.append("## Training data")
        lines.append("- sources: \(h.training.sources.joined(separator: ", "))")
        lines.append("- examples: \(h.training.examples); digest (FNV-1a 64): \(h.training.digest)")
        if !h.training.labelMap.isEmpty {
            lines.append("- label map: \(h.training.labelMap.sorted { $0.key < $1.key }.map { "\($0.key)→\($0.value)" }.joined(separator: ", "))")
        }
        lines.append("- held-out fraction \(h.training.holdoutFraction), seed \(h.training.seed); training took \(format(h.training.seconds, 2)) s"
            + (h.training.iterations.map { ", \($0) L-BFGS iterations" } ?? "")
            + (h.training.converged.map { $0 ? " (converged)" : " (iteration limit)" } ?? ""))
        if let m = h.heldOutMetrics {
            lines.append("")
            lines.append("## Held-out metrics (\(m.examples) examples)")
            lines.append("- accuracy \(format(m.accuracy)), macro-F1 \(format(m.macroF1)), ECE \(format(m.expectedCalibrationError)), log-loss \(format(m.logLoss))")
            lines.append("- F1 per class: \(m.f1.sorted { $0.key < $1.key }.map { "\($0.key) \(format($0.value))" }.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n")
    }
}
