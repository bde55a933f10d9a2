import ArgumentParser
import Engine
import Foundation
import Learning
import Server
import Services
import WinnowJSON

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work out a feed's moderation policy, and store it on the server.",
        subcommands: [Suggest.self, Store.self])

    struct Suggest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Solve per-class cut-offs from a target precision on labelled data, and show the review rate.",
            discussion: """
                Scores the labelled rows with the model and, for every class but the clear one, finds the lowest \
                removal cut-off whose precision meets the target and the highest allow cut-off below which at most \
                1 − target of the items are that class; between the two, items go to human review. Prints the \
                cut-offs, what they would do on this data, and the policy as JSON.

                Examples:
                  winnow policy suggest --feed news --target-precision 0.98 --data labelled.csv
                  winnow policy suggest --feed news --data labelled.csv --json > news.json
                  winnow policy set --feed news news.json
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
            // Checked before the model is read and the rows scored (outside testing: found after, exit 1).
            guard Policy.isValidFeed(feed) else { throw ValidationError("--feed: \(PolicyError.invalidFeed(feed).description)") }
            _ = try parseLabelMap(labelMap)
        }

        struct Output: Encodable {
            var policy: Policy
            var classes: [ThresholdSuggestion]
            var shares: [String: Double]
        }

        func run() throws {
            let classifier = try ModelIO.load(model)
            // A clear label the model lacks made every class harmful ("remove 0.994 of the rows").
            guard classifier.classes.contains(clearLabel) else {
                let near = StrictDecoder.nearest(clearLabel, among: classifier.classes).map { "; did you mean '\($0)'?" } ?? ""
                throw ValidationError("--clear-label '\(clearLabel)' is not a class of \(model) (\(classifier.classes.joined(separator: ", ")))\(near)")
            }
            var scorer: Scorer
            do { scorer = try Scorer(model: classifier) } catch { throw CommandError.data("\(model): \(error)") }
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
                // A class with no labelled rows has nothing to solve: it keeps the standard rule (a suggestion of
                // "never remove" would turn its removals off when stored).
                rules[label] = s.positives == 0 ? Policy.standard(feed: feed, classes: [label], clearLabel: clearLabel).rules[label]
                    : ClassRule(review: min(s.allowBelow ?? 0, s.remove ?? 1), remove: s.remove)
            }
            let unseen = suggestions.filter { $0.positives == 0 }.map(\.label)
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
            if !unseen.isEmpty {
                print("  (no rows labelled \(unseen.joined(separator: ", ")): \(unseen.count == 1 ? "its" : "their") standard rule is kept, demote 0.5, review 0.7, remove 0.97)")
            }
            print("  " + pad("class", 12) + pad("remove at", 11, right: true) + pad("precision", 11, right: true) + pad("recall", 9, right: true)
                + pad("allow below", 13, right: true) + pad("missed", 9, right: true) + pad("review", 9, right: true))
            for s in suggestions {
                // A class with no rows shows the standard rule it keeps, as the policy below has it (outside testing:
                // the table said "remove at never" beside a policy that removes at 0.97).
                if s.positives == 0, let kept = rules[s.label] {
                    print("  " + pad(s.label, 12) + pad(kept.remove.map { format($0, 4) } ?? "never", 11, right: true) + pad("-", 11, right: true)
                        + pad("-", 9, right: true) + pad((kept.demote ?? kept.review).map { format($0, 4) } ?? "none", 13, right: true)
                        + pad("-", 9, right: true) + pad("-", 9, right: true) + "  (standard rule kept)")
                    continue
                }
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

    /// `winnow policy set`: stores a policy file (as `policy suggest` writes it) through the API, after showing what it
    /// changes.
    struct Store: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Store a feed's policy from a file, after showing how it differs from the current one (admin key).",
            discussion: """
                The file is a policy ({"rules": {...}, ...}) or what 'winnow policy suggest --json' prints (its \
                "policy" is used). Prints each change against the feed's current policy; on a terminal it asks before \
                storing, elsewhere pass --yes. A PUT replaces the whole policy: a class left out of the file loses its \
                rule, and the list says so.

                Examples:
                  winnow policy set --feed news news.json
                  winnow policy set --feed news news.json --yes
                  winnow policy set --feed news news.json --dry-run
                """)

        @OptionGroup var server: ClientOptions
        @Option(help: "The feed whose policy to store.") var feed: String
        @Argument(help: "The policy file (JSON).") var file: String
        @Flag(help: "Store without asking.") var yes = false
        @Flag(help: "Only show the changes.") var dryRun = false

        func validate() throws {
            guard Policy.isValidFeed(feed) else { throw ValidationError("--feed: \(PolicyError.invalidFeed(feed).description)") }
        }

        struct Answer: Decodable {
            var policy: Policy
            var isDefault: Bool
            var replacedVersion: Int?
            var removedRules: [String]?
        }

        /// The policy in `data`: a policy object, or an object whose "policy" is one; without its version (the server
        /// gives the next) and its feed (a policy suggested for another feed, or none, is stored as --feed's). Read as
        /// the API reads a body (a key given twice, an unknown field, a wrong type: named), and the body to send.
        static func policy(in data: Data, file: String) throws -> (policy: Policy, body: Data) {
            let value: JSONValue
            do { value = try JSONParser.parse([UInt8](data), document: file) } catch {
                throw CommandError.data(error.message(in: "\(file) is not a policy"))
            }
            guard case .object(let top) = value else {
                throw CommandError.data("\(file) is not a JSON object; give a policy like {\"rules\": {\"spam\": {\"review\": 0.7, \"remove\": 0.97}}}.")
            }
            var members = top
            if let inner = top.first(where: { $0.key == "policy" })?.value, case .object(let policy) = inner { members = policy }
            guard let rules = members.first(where: { $0.key == "rules" })?.value, case .object = rules else {
                throw CommandError.data("\(file) has no \"rules\" object; give a policy, or what 'winnow policy suggest --json' prints.")
            }
            members.removeAll { $0.key == "version" || $0.key == "feed" }
            let policy: Policy
            do { policy = try StrictDecoder.api.decode(Policy.self, from: .object(members)) } catch {
                throw CommandError.data(error.message(in: "\(file) is not a policy"))
            }
            // The file's own text of the policy (as the API would read it), not the decoded value re-encoded.
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw CommandError.data("\(file) is not a JSON object.") }
            var body = (object["policy"] as? [String: Any]) ?? object
            body.removeValue(forKey: "version")
            body.removeValue(forKey: "feed")
            return (policy, try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]))
        }

        func run() async throws {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw CommandError.data("Cannot read \(file) (\(DataFileReader.reason(error, path: file))); check the path.")
            }
            let (proposed, body) = try Self.policy(in: data, file: file)
            // Checked here too, so that --dry-run does not show an unusable policy as changes (the server checks the
            // classes against its model when storing).
            do { try proposed.validate() } catch let error as PolicyError { throw CommandError.data("\(file) is not a usable policy: \(error)") }
            let client = try server.client()
            let current = try client.decode(Answer.self, try await client.send("GET", "/v1/policies/\(feed)"))
            let changes = proposed.changes(from: current.policy)
            let now = current.isDefault ? "the standard policy (none stored)" : "version \(current.policy.version)"
            if changes.isEmpty {
                print("The file's policy acts as \(feed)'s current one (\(now)) does; nothing to store.")
                return
            }
            print("Changes to feed \(feed)'s policy (now \(now)):")
            for line in changes { print("  " + line) }
            if dryRun { return }
            if !yes {
                guard isatty(0) == 1 else {
                    throw CommandError("Not stored: pass --yes to store without asking (standard input is not a terminal).", code: Winnow.usageError)
                }
                FileHandle.standardOutput.write(Data("Store it? [y/N] ".utf8))
                guard let reply = readLine(), ["y", "yes"].contains(reply.lowercased().trimmingCharacters(in: .whitespaces)) else {
                    print("Not stored.")
                    return
                }
            }
            let stored = try client.decode(Answer.self, try await client.send("PUT", "/v1/policies/\(feed)", data: body, contentType: "application/json"))
            var line = "Stored version \(stored.policy.version) of feed \(feed)'s policy"
            if let replaced = stored.replacedVersion { line += " (it replaced version \(replaced))" }
            print(line + ".")
        }
    }
}
