import Foundation

/// A model header as a readable card (Markdown).
public enum ModelCard {
    public static func render(_ h: ModelHeader, file: String) -> String {
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
        let fittedOn = h.calibration.crossFit.map { "\($0.rows) examples' out-of-fold scores (\($0.folds) folds)" }
            ?? "\(h.calibration.heldOutExamples) held-out examples"
        lines.append("- calibration: \(h.calibration.method), T = \(format(h.calibration.temperature, 4)) on \(fittedOn)"
            + (h.calibration.classOdds.map { "; the odds of \($0.label) against the rest, T = \(format($0.temperature, 4))" } ?? ""))
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

    private static func format(_ value: Double, _ digits: Int = 4) -> String {
        String(format: "%.\(digits)f", value)
    }
}
