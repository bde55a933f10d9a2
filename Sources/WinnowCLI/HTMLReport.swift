import Foundation
import Learning

/// A self-contained HTML evaluation report: tables plus inline SVG charts (no scripts, no external files).
enum HTMLReport {
    /// The threshold sweep's recall and review-share lines: outside `palette`, which colours the classes.
    static let recallColour = "#222222", reviewShareColour = "#999999"
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func f(_ v: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", v) }

    static func render(_ r: ClassificationReport, model: ModelHeader, data: [String], mistakes: [Mistake] = []) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Winnow evaluation: \(escape(model.modelVersion))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
            h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
            table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}
            th:first-child,td:first-child{text-align:left}.cards{display:flex;gap:1rem;flex-wrap:wrap}
            .card{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}.card b{display:block;font-size:1.4rem}
            .charts{display:flex;flex-wrap:wrap;gap:1.5rem}figure{margin:0}figcaption{color:#555;font-size:.9rem;max-width:460px}
            svg text{font:11px system-ui,sans-serif;fill:#333}
            </style></head><body>
            <h1>Evaluation of <code>\(escape(model.modelVersion))</code></h1>
            <p>\(escape(model.kind.rawValue)) model with classes \(r.labels.map { "<code>\(escape($0))</code>" }.joined(separator: ", ")), on \(r.count) labelled examples from \(data.map { "<code>\(escape($0))</code>" }.joined(separator: ", ")).</p>
            <div class="cards">
            <div class="card">accuracy<b>\(f(r.accuracy))</b></div>
            <div class="card">macro-F1<b>\(f(r.macroF1))</b></div>
            <div class="card">weighted-F1<b>\(f(r.weightedF1))</b></div>
            <div class="card">calibration error (ECE)<b>\(f(r.expectedCalibrationError))</b></div>
            <div class="card">log-loss<b>\(f(r.logLoss))</b></div>
            </div>
            <h2>Per class (one-vs-rest)</h2>
            <table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>ROC-AUC</th><th>PR-AUC</th><th>support</th></tr>

            """
        for c in r.classes {
            html += "<tr><td>\(escape(c.label))</td><td>\(f(c.precision))</td><td>\(f(c.recall))</td><td>\(f(c.f1))</td>"
                + "<td>\(c.rocAUC.map { f($0) } ?? "–")</td><td>\(c.prAUC.map { f($0) } ?? "–")</td><td>\(c.support)</td></tr>\n"
        }
        html += "</table>\n<h2>Charts</h2>\n<div class=\"charts\">\n"
        html += figure(confusion(r), "Confusion matrix: rows are true classes, columns predicted; shading is the share of the row.")
        html += figure(precisionRecall(r), "Precision–recall curve of each class (one-vs-rest); PR-AUC in the legend.")
        html += figure(reliability(r), "Reliability: accuracy of the predicted class against its probability, in 10 bins (bar width ∝ rows); the diagonal is perfect calibration.")
        for (i, sweep) in r.thresholdSweep.enumerated() {
            html += figure(thresholdSweep(sweep, color: palette[i % palette.count]),
                "Threshold sweep for \(escape(sweep.label)): at cut-off t, act when P ≥ t and send 1−t ≤ P < t to review.")
        }
        html += "</div>\n<h2>Threshold sweep</h2>\n"
        for sweep in r.thresholdSweep {
            html += "<h3>\(escape(sweep.label))</h3><table><tr><th>cut-off</th><th>precision</th><th>recall</th><th>acted on</th><th>review share</th></tr>\n"
            for p in sweep.points {
                html += "<tr><td>\(f(p.threshold, 2))</td><td>\(f(p.precision, 3))</td><td>\(f(p.recall, 3))</td><td>\(f(p.actedShare, 3))</td><td>\(f(p.reviewShare, 3))</td></tr>\n"
            }
            html += "</table>\n"
        }
        if !mistakes.isEmpty {
            html += "<h2>Most confident mistakes</h2>\n<table><tr><th>row</th><th>true</th><th>predicted</th><th>p</th><th>why</th><th>text</th></tr>\n"
            for m in mistakes {
                let why = m.reasons.map { "\(escape($0.feature)) +\(f($0.contribution, 2))" }.joined(separator: ", ")
                html += "<tr><td>\(m.row + 1)</td><td>\(escape(m.truth))</td><td>\(escape(m.predicted))</td><td>\(f(m.probability, 3))</td><td>\(why)</td><td>\(escape(String(m.text.prefix(300))))</td></tr>\n"
            }
            html += "</table>\n"
        }
        html += "<p style=\"color:#777\">Written by <code>winnow evaluate</code>. Model created \(escape(model.created)); training data digest \(escape(model.training.digest)).</p>\n</body></html>\n"
        return html
    }

    static func figure(_ svg: String, _ caption: String) -> String {
        "<figure>\(svg)<figcaption>\(caption)</figcaption></figure>\n"
    }

    /// A unit-square chart: maps data in 0…1 to pixels and draws its frame, ticks and axis labels.
    struct Plot {
        let width = 460.0, height = 320.0, left = 48.0, right = 16.0, top = 16.0, bottom = 40.0
        /// Rows of legend under the plot (never over the data).
        var legendRows = 0
        var legendHeight: Double { legendRows > 0 ? 6 + 15 * Double(legendRows) : 0 }
        func x(_ v: Double) -> Double { left + v * (width - left - right) }
        func y(_ v: Double) -> Double { height - bottom - v * (height - top - bottom) }

        func frame(xLabel: String, yLabel: String, xTick: (Double) -> Double = { $0 }) -> String {
            let ticks = Array(stride(from: 0.0, through: 1.0, by: 0.2))
            return frame(xLabel: xLabel, yLabel: yLabel, xTicks: ticks.map { ($0, f(xTick($0), 1)) }, yTicks: ticks.map { ($0, f($0, 1)) })
        }

        /// The frame with ticks at the given places (0…1) and labels.
        func frame(xLabel: String, yLabel: String, xTicks: [(at: Double, label: String)], yTicks: [(at: Double, label: String)]) -> String {
            let total = Int(height + legendHeight)
            var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(total)\" viewBox=\"0 0 \(Int(width)) \(total)\">"
            s += "<rect x=\"\(x(0))\" y=\"\(y(1))\" width=\"\(x(1) - x(0))\" height=\"\(y(0) - y(1))\" fill=\"#fafafa\" stroke=\"#999\"/>"
            for (t, label) in xTicks {
                s += "<line x1=\"\(x(t))\" y1=\"\(y(0))\" x2=\"\(x(t))\" y2=\"\(y(0) + 4)\" stroke=\"#999\"/>"
                s += "<text x=\"\(x(t))\" y=\"\(y(0) + 16)\" text-anchor=\"middle\">\(label)</text>"
            }
            for (t, label) in yTicks {
                s += "<line x1=\"\(x(0) - 4)\" y1=\"\(y(t))\" x2=\"\(x(0))\" y2=\"\(y(t))\" stroke=\"#999\"/>"
                s += "<text x=\"\(x(0) - 7)\" y=\"\(y(t) + 4)\" text-anchor=\"end\">\(label)</text>"
            }
            s += "<text x=\"\((x(0) + x(1)) / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
            // The y axis's title above the plot, not turned along its left edge, where wide tick labels ran into it.
            s += "<text x=\"\(x(0))\" y=\"\(top - 5)\" text-anchor=\"start\">\(escape(yLabel))</text>"
            return s
        }

        func polyline(_ points: [(Double, Double)], color: String, dashed: Bool = false) -> String {
            let coords = points.map { "\(f(x($0.0), 1)),\(f(y($0.1), 1))" }.joined(separator: " ")
            return "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"5 4\"" : "") points=\"\(coords)\"/>"
        }
    }

    /// The legend under the plot's axis label, one row per item (`Plot.legendRows` makes the room), so it never covers
    /// data.
    static func legend(_ items: [(String, String)], plot: Plot) -> String {
        var s = ""
        for (i, item) in items.enumerated() {
            let y = plot.height + 12 + Double(i) * 15
            s += "<rect x=\"\(plot.x(0))\" y=\"\(y - 6)\" width=\"12\" height=\"4\" fill=\"\(item.1)\"/>"
            s += "<text x=\"\(plot.x(0) + 18)\" y=\"\(y)\">\(escape(item.0))</text>"
        }
        return s
    }

    /// Ticks from `low` to `high` every 1, 2, 2.5 or 5 times a power of ten (4 or 5 intervals), each labelled with
    /// the digits its value needs: a label never reads as another value (ticks at 0.0125 labelled 0.01 did).
    static func ticks(from low: Double, to high: Double) -> [(value: Double, label: String)] {
        let span = high - low
        guard span > 0, span.isFinite else { return [(low, "\(low)")] }
        let raw = span / 4
        let power = pow(10, log10(raw).rounded(.down))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * power }.first { $0 >= raw * 0.999 } ?? 10 * power
        var decimals = 0
        while decimals < 8, abs((step * pow(10, Double(decimals))).rounded() - step * pow(10, Double(decimals))) > 1e-6 { decimals += 1 }
        var lowDecimals = 0
        while lowDecimals < 8, abs((low * pow(10, Double(lowDecimals))).rounded() - low * pow(10, Double(lowDecimals))) > 1e-6 { lowDecimals += 1 }
        let digits = max(decimals, lowDecimals)
        var out: [(value: Double, label: String)] = []
        var i = 0.0
        while low + i * step <= high + step * 1e-6 {
            let value = low + i * step
            out.append((value, f(value, digits)))
            i += 1
        }
        return out
    }

    static func confusion(_ r: ClassificationReport) -> String {
        let k = r.labels.count
        let cell = max(36.0, min(90.0, 360.0 / Double(max(k, 1))))
        let left = 110.0, top = 40.0
        let width = left + cell * Double(k) + 20, height = top + cell * Double(k) + 30
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">"
        s += "<text x=\"\(left + cell * Double(k) / 2)\" y=\"14\" text-anchor=\"middle\">predicted</text>"
        for (j, label) in r.labels.enumerated() {
            s += "<text x=\"\(left + cell * (Double(j) + 0.5))\" y=\"\(top - 8)\" text-anchor=\"middle\">\(escape(label))</text>"
        }
        for (i, row) in r.confusionMatrix.enumerated() {
            let total = max(1, row.reduce(0, +))
            s += "<text x=\"\(left - 8)\" y=\"\(top + cell * (Double(i) + 0.5) + 4)\" text-anchor=\"end\">\(escape(r.labels[i]))</text>"
            for (j, count) in row.enumerated() {
                let share = Double(count) / Double(total)
                let shade = Int(255 - share * 200)
                s += "<rect x=\"\(left + cell * Double(j))\" y=\"\(top + cell * Double(i))\" width=\"\(cell)\" height=\"\(cell)\" fill=\"rgb(\(shade),\(shade + Int(share * 30)),255)\" stroke=\"#fff\"/>"
                s += "<text x=\"\(left + cell * (Double(j) + 0.5))\" y=\"\(top + cell * (Double(i) + 0.5) + 4)\" text-anchor=\"middle\" style=\"fill:\(share > 0.6 ? "#fff" : "#222")\">\(count)</text>"
            }
        }
        s += "<text transform=\"translate(12 \(top + cell * Double(k) / 2)) rotate(-90)\" text-anchor=\"middle\">true</text></svg>"
        return s
    }

    static func precisionRecall(_ r: ClassificationReport) -> String {
        let plot = Plot(legendRows: r.precisionRecallCurves.filter { !$0.points.isEmpty }.count)
        var s = plot.frame(xLabel: "recall", yLabel: "precision")
        var items: [(String, String)] = []
        for (i, curve) in r.precisionRecallCurves.enumerated() where !curve.points.isEmpty {
            let color = palette[i % palette.count]
            s += plot.polyline(curve.points.map { ($0.x, $0.y) }, color: color)
            items.append(("\(curve.label) (PR-AUC \(r.classes[i].prAUC.map { f($0, 3) } ?? "–"))", color))
        }
        return s + legend(items, plot: plot) + "</svg>"
    }

    static func reliability(_ r: ClassificationReport) -> String {
        let plot = Plot(legendRows: 2)
        var s = plot.frame(xLabel: "predicted probability of the chosen class", yLabel: "observed accuracy")
        s += plot.polyline([(0, 0), (1, 1)], color: "#999", dashed: true)
        let most = Double(r.reliability.map(\.count).max() ?? 1)
        for bin in r.reliability where bin.count > 0 {
            let w = (plot.x(bin.upper) - plot.x(bin.lower)) * max(0.15, Double(bin.count) / most) * 0.9
            let cx = (plot.x(bin.lower) + plot.x(bin.upper)) / 2
            s += "<rect x=\"\(f(cx - w / 2, 1))\" y=\"\(f(plot.y(bin.accuracy), 1))\" width=\"\(f(w, 1))\" height=\"\(f(plot.y(0) - plot.y(bin.accuracy), 1))\" fill=\"#1f77b4\" fill-opacity=\"0.7\"><title>\(bin.count) rows, mean confidence \(f(bin.meanConfidence, 3)), accuracy \(f(bin.accuracy, 3))</title></rect>"
            s += "<circle cx=\"\(f(plot.x(bin.meanConfidence), 1))\" cy=\"\(f(plot.y(bin.accuracy), 1))\" r=\"3\" fill=\"#d62728\"/>"
        }
        return s + legend([("accuracy per bin", "#1f77b4"), ("at mean confidence", "#d62728")], plot: plot) + "</svg>"
    }

    static func thresholdSweep(_ sweep: ClassSweep, color: String) -> String {
        let plot = Plot(legendRows: 3)
        // x runs over the cut-offs 0.5…1.
        func tx(_ t: Double) -> Double { (t - 0.5) * 2 }
        var s = plot.frame(xLabel: "cut-off", yLabel: "share", xTick: { 0.5 + $0 / 2 })
        s += plot.polyline(sweep.points.map { (tx($0.threshold), $0.precision) }, color: color)
        // Recall and review share in black and grey, never one of the classes' colours (the third class's precision
        // was drawn in recall's green).
        s += plot.polyline(sweep.points.map { (tx($0.threshold), $0.recall) }, color: Self.recallColour, dashed: true)
        s += plot.polyline(sweep.points.map { (tx($0.threshold), $0.reviewShare) }, color: Self.reviewShareColour, dashed: true)
        return s + legend([("precision of \(sweep.label)", color), ("recall", Self.recallColour), ("review share", Self.reviewShareColour)], plot: plot) + "</svg>"
    }
}
