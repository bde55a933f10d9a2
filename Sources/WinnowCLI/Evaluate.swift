import ArgumentParser
import Engine
import Foundation
import Services
import Learning
import Storage
import WinnowJSON

struct Evaluate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model on labelled data: a table, JSON, or an HTML report with charts.",
        discussion: """
            Reports accuracy, macro-F1, per-class precision / recall / F1, ROC-AUC and PR-AUC (one-vs-rest), the \
            confusion matrix, expected calibration error and a threshold sweep.

            Examples:
              winnow evaluate --model models/default.winnow --data test.csv
              winnow evaluate --model models/default.winnow --data test.csv --json
              winnow evaluate --model models/default.winnow --data test.csv --report r.html

            With --candidate, two models are measured on the same rows and the candidate must pass the evaluation gate \
            (macro-F1 may fall by at most --max-macro-f1-drop, each class's recall by at most --max-recall-drop or its \
            own --recall-drop); the command exits 2 when it does not:
              winnow evaluate --candidate models/new.winnow --against active --data test.csv
            """)

    @Option(help: "The model file (.winnow).")
    var model: String?

    @Option(help: "A candidate model to compare with --against on the same data, through the evaluation gate.")
    var candidate: String?

    @Option(help: "With --candidate: the model it would replace; 'active' is the server's: with --database, the registry's active version there, else WINNOW_MODEL, else models/default.winnow.")
    var against: String?

    @Option(help: "With --candidate: the most macro-F1 may fall.")
    var maxMacroF1Drop = 0.01

    @Option(help: "With --candidate: the most any class's recall may fall.")
    var maxRecallDrop = 0.02

    @Option(name: .customLong("recall-drop"), help: "With --candidate: a class's own margin, as CLASS=DROP (repeatable).")
    var recallDrops: [String] = []

    @Option(help: "With --candidate: paired (a drop beyond its margin fails only when its bootstrap interval lies below zero) or threshold (any drop beyond its margin fails).")
    var gateMethod: EvaluationGate.Method = .paired

    @Option(help: "With --candidate and the paired method: the intervals' two-sided confidence (0.5-0.999).")
    var confidence = 0.95

    @Option(help: "With --candidate: the fewest rows (test rows, or blind audits) a comparison needs to be judged (the server's retrain.gate.minimumRows).")
    var minRows = EvaluationGate().minimumRows

    @Option(help: "With --candidate: also compare on the blind audits in this database, each weighted by 1/π (the gate must pass on both).")
    var database: String?

    @Option(name: .customLong("data"), help: "Labelled data (CSV or JSONL); repeat for more files.")
    var data: [String] = []

    @Option(name: .customLong("label-map"), help: "Rename a label, as FROM=TO; repeatable.")
    var labelMap: [String] = []

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "The most confident mistakes to show per class, with their texts and reasons (0 for none).")
    var mistakes = 3

    @Option(help: "Also write a self-contained HTML report with SVG charts to this file.")
    var report: String?

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("Please give at least one --data FILE with labelled rows.") }
        guard mistakes >= 0 else { throw ValidationError("Please give --mistakes 0 or more (0 shows none); got \(mistakes).") }
        _ = try parseLabelMap(labelMap)
        if candidate != nil {
            guard model == nil else { throw ValidationError("Give either --model, or --candidate with --against.") }
            guard against != nil else { throw ValidationError("--candidate needs --against MODEL (or --against active).") }
            // Accepted and then ignored, they read as if they had done something.
            guard report == nil else {
                throw ValidationError("--report writes one model's report; with --candidate the gate's table is the result (--json for it). Evaluate each model with --model --report for their reports.")
            }
            _ = try gate()
        } else {
            guard model != nil else { throw ValidationError("Please give --model FILE (or --candidate FILE --against active).") }
            let gateOptions = [("--recall-drop", !recallDrops.isEmpty), ("--database", database != nil)]
            if let named = gateOptions.first(where: \.1) {
                throw ValidationError("\(named.0) is an option of the gate, which runs with --candidate and --against; without them it does nothing.")
            }
        }
    }

    func gate() throws -> EvaluationGate {
        var drops: [String: Double] = [:]
        for pair in recallDrops {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let drop = Double(parts[1]), drop >= 0 else { throw ValidationError("--recall-drop \(pair): write it as CLASS=DROP, e.g. spam=0.05.") }
            drops[parts[0]] = drop
        }
        let gate = EvaluationGate(maxMacroF1Drop: maxMacroF1Drop, maxRecallDrop: maxRecallDrop, recallDrops: drops, method: gateMethod, confidence: confidence,
                                  minimumRows: minRows)
        do { try gate.validate() } catch { throw ValidationError("The gate's settings: \(error)") }
        return gate
    }

    func run() async throws {
        if let candidate, let against {
            try await compare(candidate: candidate, against: try await activeModel(against))
            return
        }
        let model = self.model ?? ""
        let classifier = try ModelIO.load(model)
        do { try classifier.checkTrained() } catch { throw CommandError.data("\(model): \(error)") }
        let reader = DataFileReader(labelMap: try parseLabelMap(labelMap), allowedLabels: classifier.classes)
        var rows: [LabelledText] = []
        for file in data { rows += try reader.read(file).map { LabelledText(text: $0.text, label: $0.label) } }
        let result = try classifier.evaluate(rows)
        let wrong = try classifier.confidentMistakes(rows, perClass: max(0, mistakes))
        if let report {
            let html = HTMLReport.render(result, model: classifier.header, data: data, mistakes: wrong)
            do { try html.write(toFile: report, atomically: true, encoding: .utf8) } catch {
                throw CommandError("Cannot write the report to \(report) (\(DataFileReader.reason(error, path: report))). Check that the folder exists and is writable.")
            }
        }
        if json {
            print(try Self.json(result, model: classifier.header, modelPath: model, data: data, mistakes: wrong))
            return
        }
        print("Model \(classifier.header.modelVersion) (\(classifier.kind.rawValue)) on \(data.joined(separator: ", ")): \(result.count) examples")
        print(ReportText.full(result).joined(separator: "\n"))
        if !wrong.isEmpty { print("\n" + Self.describe(wrong).joined(separator: "\n")) }
        if let report { print("\nHTML report written to \(report)") }
    }

    /// Both models on the same rows, then the gate; exits 2 when the candidate fails it.
    /// The model `against` names: a file, or `active`, the server's: with --database, the version the registry there
    /// made active (outside testing: 'active' read WINNOW_MODEL, the file a server started with, long after promotions
    /// had replaced it), else WINNOW_MODEL, else models/default.winnow.
    func activeModel(_ against: String) async throws -> (model: TextClassifier, path: String) {
        if against == "active", let database {
            let store = try await Keys.DatabaseOption.open(path: database)
            if let registered = try await Self.registryModel(in: store, database: database) { return (registered, "\(database) (the registry's active version)") }
        }
        let path = against == "active" ? Self.configuredModelPath : against
        return (try ModelIO.load(path), path)
    }

    /// The model file a server started here would use: WINNOW_MODEL, else the bundled default.
    static var configuredModelPath: String { ProcessInfo.processInfo.environment["WINNOW_MODEL"] ?? "models/default.winnow" }

    /// The registry's active version in `store` (`database`), when one has been promoted: what the servers judge with.
    static func registryModel(in store: any Store, database: String) async throws -> TextClassifier? {
        do { return try await ModelRegistry.active(in: store) } catch { throw CommandError("\(database): \(error)") }
    }

    func compare(candidate: String, against active: (model: TextClassifier, path: String)) async throws {
        let models = try [(try ModelIO.load(candidate), candidate), active].map { model, path -> TextClassifier in
            do { try model.checkTrained() } catch { throw CommandError.data("\(path): \(error)") }
            return model
        }
        let reader = DataFileReader(labelMap: try parseLabelMap(labelMap), allowedLabels: Array(Set(models[0].classes).union(models[1].classes)))
        var rows: [LabelledText] = []
        for file in data { rows += try reader.read(file).map { LabelledText(text: $0.text, label: $0.label) } }
        // Both models on the rows of the classes the active model knows; a class the candidate does not know fails.
        let gate = try gate()
        // A misspelt class in --recall-drop would leave that class at the default margin without a word.
        let known = Array(Set(models[0].classes).union(models[1].classes)).sorted()
        for label in gate.recallDrops.keys.sorted() where !known.contains(label) {
            let near = StrictDecoder.nearest(label, among: known).map { "; did you mean '\($0)'?" } ?? "; the classes are \(known.joined(separator: ", "))."
            throw ValidationError("--recall-drop names '\(label)', which neither model has\(near)")
        }
        let scored: EvaluationGate.Verdict?
        do { scored = try gate.compare(candidate: models[0], active: models[1], rows: rows.map { (text: $0.text, label: $0.label, weight: 1) }) } catch {
            throw CommandError("A model refused to score: \(error)")
        }
        guard let verdict = scored else {
            let known = rows.filter { models[1].classes.contains($0.label) }.count
            if known > 0 {
                throw CommandError("Only \(known) row\(known == 1 ? "" : "s") of \(data.joined(separator: ", ")) \(known == 1 ? "has" : "have") a class of \(models[1].header.modelVersion): too few for the gate, which needs \(gate.minimumRows) (--min-rows).", code: Winnow.dataError)
            }
            throw CommandError("No row of \(data.joined(separator: ", ")) has a class of \(models[1].header.modelVersion) (\(models[1].classes.joined(separator: ", "))); give test data with those labels (--label-map FROM=TO renames).")
        }
        var audits: (count: Int, verdict: EvaluationGate.Verdict)?
        var tooFewAudits = 0
        if let database {
            let audited = try await Keys.DatabaseOption.open(path: database).auditedTexts()
                .filter { !$0.text.isBlank }
                .map { (text: $0.text, label: $0.label, inclusionProbability: $0.inclusionProbability) }
            if let onAudits = try gate.check(candidate: models[0], active: models[1], audits: audited) { audits = (audited.count, onAudits) } else { tooFewAudits = audited.count }
        }
        let passed = verdict.passed && (audits?.verdict.passed ?? true)
        if json {
            let object = GateOutput(candidate: models[0].header.modelVersion, active: models[1].header.modelVersion, data: data, examples: rows.count,
                                    passed: passed, checks: verdict.checks, audits: audits?.count, auditChecks: audits?.verdict.checks)
            print(try jsonString(object))
        } else {
            print("Candidate \(models[0].header.modelVersion) against \(models[1].header.modelVersion) on \(data.joined(separator: ", ")) (\(rows.count) examples):")
            Self.printChecks(verdict)
            if let audits {
                print("\nOn \(audits.count) blind audits from \(database ?? ""), each weighted by 1/π:")
                Self.printChecks(audits.verdict)
            } else if tooFewAudits > 0 {
                print("\n\(tooFewAudits) decided audit\(tooFewAudits == 1 ? "" : "s") in \(database ?? ""): too few to judge on (--min-rows \(gate.minimumRows)); the gate used the test data only.")
            } else if database != nil {
                print("\nNo decided audits in \(database ?? "") yet: the gate used the test data only.")
            }
            let failures = verdict.failures + (audits?.verdict.failures.map { "on audits, \($0)" } ?? [])
            print(passed ? "The candidate passes the gate." : "The candidate fails the gate: " + failures.joined(separator: "; ") + ".")
        }
        if !passed { throw ExitCode(2) }
    }

    static func printChecks(_ verdict: EvaluationGate.Verdict) {
        let paired = verdict.checks.contains { $0.interval != nil }
        print("  " + pad("check", 24) + pad("candidate", 11, right: true) + pad("active", 9, right: true) + pad("may fall", 10, right: true)
              + (paired ? pad("change [interval]", 29, right: true) : "") + "  verdict")
        for check in verdict.checks {
            let change = check.interval.map { String(format: "%+.4f [%+.4f, %+.4f]", check.change ?? 0, $0.low, $0.high) } ?? "-"
            print("  " + pad(check.name, 24) + pad(check.candidate.map { format($0) } ?? "-", 11, right: true) + pad(format(check.active), 9, right: true)
                  + pad(format(check.allowedDrop), 10, right: true) + (paired ? pad(change, 29, right: true) : "") + "  "
                  + (check.passed ? (check.withinNoise ? "ok (noise)" : "ok") : "FAIL"))
        }
    }

    struct GateOutput: Encodable {
        var candidate: String
        var active: String
        var data: [String]
        var examples: Int
        var passed: Bool
        var checks: [EvaluationGate.Check]
        var audits: Int?
        var auditChecks: [EvaluationGate.Check]?
    }

    /// The report's fields at the top level, plus the model and data it describes.
    /// The most confident mistakes per true class, one block each: the text (control characters made visible, cut
    /// to two lines), what the model said, and why.
    static func describe(_ mistakes: [Mistake]) -> [String] {
        var lines = ["Most confident mistakes (per true class; row numbers count data rows from 1):"]
        for (truth, group) in Dictionary(grouping: mistakes, by: \.truth).sorted(by: { $0.key < $1.key }) {
            lines.append("  \(Terminal.visible(truth)):")
            for m in group {
                let why = m.reasons.map { "\"\(Terminal.visible($0.feature))\" +\(format($0.contribution, 2))" }.joined(separator: ", ")
                lines.append("    row \(m.row + 1): \(Terminal.visible(m.predicted)) \(format(m.probability, 3))\(why.isEmpty ? "" : " · why: " + why)")
                let text = Terminal.wrap(Terminal.visible(m.text), width: 72)
                lines += text.prefix(2).map { "      " + $0 }
                if text.count > 2 { lines.append("      …") }
            }
        }
        return lines
    }

    static func json(_ report: ClassificationReport, model: ModelHeader, modelPath: String, data: [String], mistakes: [Mistake] = []) throws -> String {
        let encoded = try JSONEncoder().encode(report)
        guard var object = try JSONSerialization.jsonObject(with: encoded) as? [String: Any] else { return "{}" }
        // Rows counted from 1, as the table and the HTML report count them (the JSON said 511 for the table's 512).
        object["mistakes"] = try JSONSerialization.jsonObject(with: JSONEncoder().encode(mistakes.map { m -> Mistake in
            var shown = m
            shown.row += 1
            return shown
        }))
        object["model"] = ["path": modelPath, "version": model.modelVersion, "kind": model.kind.rawValue]
        object["data"] = data
        let out = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: out, as: UTF8.self)
    }
}

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at model files, and manage the running server's model registry (admin key).",
        discussion: """
              winnow models inspect models/default.winnow
              winnow models register models/new.winnow --url http://127.0.0.1:8080
              winnow models promote candidate@20261126T090000Z
              winnow models rollback
              winnow models list
            """,
        subcommands: [Inspect.self, ListVersions.self, Register.self, Promote.self, Rollback.self])

    struct Answer: Decodable {
        struct Version: Decodable {
            var version: String
            var kind: String
            var parent: String?
            var registeredAt: Date
            var active: Bool
        }
        var active: String
        var model: Version
    }

    struct ListVersions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The registered versions; the shared model is marked *, a feed's own model names its feed.",
                                                        discussion: "  winnow models list [--json]")
        @OptionGroup var server: ClientOptions
        @Flag(help: "Print the server's JSON.") var json = false

        struct Page: Decodable {
            var active: String
            var feeds: [String: String]?
            var versions: [Answer.Version]
        }

        func run() async throws {
            let client = try server.client()
            let data = try await client.send("GET", "/v1/models")
            if json { print(String(decoding: data, as: UTF8.self)); return }
            let page = try client.decode(Page.self, data)
            print("Active: \(Terminal.visible(page.active))")
            for (feed, version) in (page.feeds ?? [:]).sorted(by: { $0.key < $1.key }) {
                print("Feed \(Terminal.visible(feed)) has its own: \(Terminal.visible(version))")
            }
            for v in page.versions {
                let own = (page.feeds ?? [:]).filter { $0.value == v.version }.keys.sorted()
                print("\(v.active ? "*" : " ") \(pad(Terminal.visible(v.version), 40)) \(pad(v.kind, 14)) parent \(Terminal.visible(v.parent ?? "-"))"
                      + (own.isEmpty ? "" : "  (feed \(own.map { Terminal.visible($0) }.joined(separator: ", ")))"))
            }
        }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Upload a model file into the server's registry (it is checked first).",
                                                        discussion: "  winnow models register models/candidate.winnow")
        @OptionGroup var server: ClientOptions
        @Argument(help: "The model file (.winnow).") var file: String

        func run() async throws {
            guard !DataFileReader.isDirectory(file), let data = FileManager.default.contents(atPath: file) else {
                throw CommandError.data(DataFileReader.isDirectory(file) ? "\(file) is a directory; give the model file (NAME.winnow)." : "Cannot read \(file); check the path.")
            }
            let client = try server.client()
            let answer = try client.decode(Answer.self, try await client.send("POST", "/v1/models", data: data, contentType: "application/octet-stream"))
            print("Registered \(Terminal.visible(answer.model.version)) (active: \(Terminal.visible(answer.active))). Promote it with 'winnow models promote \(answer.model.version)'.")
        }
    }

    struct Promote: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a registered version the server's active model (or one feed's own), without stopping it.",
                                                        discussion: """
                                                              winnow models promote candidate@20261126T090000Z
                                                              winnow models promote sms-model@20261126T090000Z --feed sms
                                                            """)
        @OptionGroup var server: ClientOptions
        @Argument(help: "The version (see 'winnow models list').") var version: String
        @Option(help: "Make it this feed's own model (the feed stops using the shared one).") var feed: String?

        func run() async throws {
            let client = try server.client()
            let path = version.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? version
            let answer = try client.decode(Answer.self, try await client.send("POST", "/v1/models/\(path)/promote" + Models.feedQuery(feed)))
            print("Active model\(feed.map { " of feed \(Terminal.visible($0))" } ?? ""): \(Terminal.visible(answer.active)).")
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return to the model active before the last promotion or rollback (of the shared model, or one feed's).",
                                                        discussion: """
                                                              winnow models rollback
                                                              winnow models rollback --feed sms
                                                            """)
        @OptionGroup var server: ClientOptions
        @Option(help: "Roll back this feed's own model (its first one, rolled back, returns the feed to the shared model).") var feed: String?

        func run() async throws {
            let client = try server.client()
            let answer = try client.decode(Answer.self, try await client.send("POST", "/v1/models/rollback" + Models.feedQuery(feed)))
            print("Active model\(feed.map { " of feed \(Terminal.visible($0))" } ?? ""): \(Terminal.visible(answer.active)).")
        }
    }

    /// `?feed=F`, percent-encoded, or "" without a feed.
    static func feedQuery(_ feed: String?) -> String {
        feed.map { "?feed=" + ($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? $0) } ?? ""
    }

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
