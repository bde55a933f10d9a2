import ArgumentParser
import Engine
import Foundation
import Learning

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work out a feed's moderation policy.",
        subcommands: [Suggest.self])

    struct Suggest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Solve per-class cut-offs from a target precision on labelled data, and show the review rate.",
            discussion: """
                Scores the labelled rows with the model and, for every class but the clear one, finds the lowest \
                removal cut-off whose precision meets the target and the highest allow cut-off below which at most \
                1 − target of the items are that class; between the two, items go to human review. Prints the \
                cut-offs, what they would do on this data, and the policy as JSON.

                Example:
                  winnow policy suggest --feed news --target-precision 0.98 --data labelled.csv
                """)

        @Option(help: "The feed the policy is for.")
        var feed: String = "default"

        @Option(help: "Precision that automatic removal (and automatic allowing) must reach, in (0, 1).")
        var targetPrecision: Double = 0.98

        @Option(name: .customLong("data"), help: "Labelled rows (CSV or JSONL); repeatable.")
        var data: [String] = []

        @Option(help: "The model that scores the feed's items.")
        var model: String = "models/default.winnow"

        @Option(help: "The class that never acts.")
        var clearLabel: String = "clear"

        @Option(name: .customLong("label-map"), help: "Rename a label, as FROM=TO; repeatable.")
        var labelMap: [String] = []

        @Flag(help: "Print the suggestion as JSON.")
        var json = false

        func validate() throws {
            guard !data.isEmpty else { throw ValidationError("Please give at least one --data FILE with labelled rows.") }
            guard targetPrecision > 0, targetPrecision < 1 else {
                throw ValidationError("Please give --target-precision between 0 and 1 (for example 0.98); got \(targetPrecision).")
            }
            _ = try parseLabelMap(labelMap)
        }

        struct Output: Encodable {
            var policy: Policy
            var classes: [ThresholdSuggestion]
            var shares: [String: Double]
        }

        func run() throws {
            let classifier = try ModelIO.load(model)
            var scorer: Scorer
            do { scorer = try Scorer(model: classifier) } catch { throw CommandError("\(model): \(error)") }
            let reader = DataFileReader(labelMap: try parseLabelMap(labelMap), allowedLabels: classifier.classes)
            var rows: [DataRow] = []
            for file in data { rows += try reader.read(file) }
            var probabilities: [[Double]] = []
            var evidence: [Double] = []
            for row in rows {
                let (p, e) = scorer.probabilities(row.text)
                probabilities.append(p)
                evidence.append(e)
            }
            var suggestions: [ThresholdSuggestion] = []
            var rules: [String: ClassRule] = [:]
            for (c, label) in classifier.classes.enumerated() where label != clearLabel {
                let s = ThresholdSuggestion.solve(
                    label: label, scores: probabilities.map { $0[c] }, positive: rows.map { $0.label == label }, targetPrecision: targetPrecision)
                suggestions.append(s)
                rules[label] = ClassRule(review: min(s.allowBelow ?? 0, s.remove ?? 1), remove: s.remove)
            }
            let policy = Policy(feed: feed, rules: rules)
            do { try policy.validate() } catch { throw CommandError("\(error)") }
            var counts: [Action: Int] = [:]
            for (p, e) in zip(probabilities, evidence) {
                counts[policy.decide(classes: classifier.classes, probabilities: p, evidence: e).action, default: 0] += 1
            }
            let shares = Dictionary(uniqueKeysWithValues: Action.allCases.map { ($0.rawValue, Double(counts[$0] ?? 0) / Double(max(rows.count, 1))) })
            if json {
                print(try jsonString(Output(policy: policy, classes: suggestions, shares: shares), pretty: true))
                return
            }
            print("Suggested cut-offs for feed '\(feed)' at precision \(format(targetPrecision, 3)), from \(rows.count) labelled rows scored by \(classifier.header.modelVersion):")
            print("  " + pad("class", 12) + pad("remove at", 11, right: true) + pad("precision", 11, right: true) + pad("recall", 9, right: true)
                + pad("allow below", 13, right: true) + pad("missed", 9, right: true) + pad("review", 9, right: true))
            for s in suggestions {
                print("  " + pad(s.label, 12) + pad(s.remove.map { format($0, 4) } ?? "never", 11, right: true)
                    + pad(s.precision.map { format($0, 3) } ?? "-", 11, right: true) + pad(s.recall.map { format($0, 3) } ?? "-", 9, right: true)
                    + pad(s.allowBelow.map { format($0, 4) } ?? "none", 13, right: true) + pad(s.missRate.map { format($0, 3) } ?? "-", 9, right: true)
                    + pad(format(s.reviewShare, 3), 9, right: true))
            }
            print("With all of them together: " + Action.allCases.map { "\($0.rawValue) \(format(shares[$0.rawValue] ?? 0, 3))" }.joined(separator: ", ")
                + " of the rows (thin-evidence removals go to review).")
            print("\nThe policy, ready to store:\n" + (try jsonString(policy, pretty: true)))
        }
    }
}
