import ArgumentParser
import Engine
import Foundation
import Learning
import Server
import Services
import Simulation
import Synchronization
import WinnowJSON

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay labelled posts through the whole loop and show that it learns: scoring, review, audits, retraining.",
        discussion: """
            Posts from --data arrive as a stream, round after round, through the real scoring and review services on a \
            real SQLite file (in a temporary directory). A simulated audience views each post and reports harmful \
            ones (some get share bursts); simulated reviewers clear the queue by priority, up to --review-capacity \
            decisions a round, giving the true label except at --reviewer-error; a sample of automatic decisions is \
            audited blind. Between rounds a candidate is trained on the first model's posts plus the store's labels and \
            promoted when it passes the evaluation gate. The first model is trained on --initial-share of the posts, \
            and --gate-share is held out as the gate's test split.

            Each round's figures follow the posts that arrived in it to the end of their lives: the error of automatic \
            decisions at creation, review tickets per 1,000 posts, views harmful posts got before removal, SLA breaches, \
            and the audits' estimate of the precision of automatic removals beside the true precision. The same seed \
            gives the same numbers.

            Examples:
              winnow simulate --data ../shared/datasets/davidson_hate_offensive/train.csv
              winnow simulate --data posts.csv --rounds 5 --review-capacity 100 --json
              winnow simulate --data posts.csv --report simulation.html
              winnow simulate --data tweets.csv --feed-data sms=sms.csv
            """
    )

    @Option(name: .customLong("data"), help: "Labelled posts (CSV id,text,label or JSONL); repeat for more files.")
    var data: [String] = []

    @Option(name: .customLong("label-map"), help: "Rename a label, as FROM=TO; repeatable.")
    var labelMap: [String] = []

    @Option(name: .customLong("feed-data"), help: "Posts of another feed, as FEED=FILE (repeatable): each feed then trains a model of its own beside the shared one, and the report compares them.")
    var feedData: [String] = []

    @Option(help: "Rounds to run (a round is a simulated day).")
    var rounds: Int = 10

    @Option(help: "Posts arriving per round (default: the stream split evenly over the rounds).")
    var itemsPerRound: Int?

    @Option(help: "Seed of the split, the audience and the reviewers.")
    var seed: UInt64 = 42

    @Option(help: "Chance that a simulated reviewer gives a wrong label.")
    var reviewerError: Double = 0.05

    @Option(help: "Decisions the review team makes per round.")
    var reviewCapacity: Int = 1_200

    @Option(help: "Audit rate of automatic decisions far from a cut-off (five times this near one).")
    var auditRate: Double = 0.02

    @Option(help: "Share of the posts the first model is trained on.")
    var initialShare: Double = 0.05

    @Option(help: "Share of the posts held out as the evaluation gate's test split.")
    var gateShare: Double = 0.10

    @Option(help: "Simulated reviewers (at least 2: double reviews need two people).")
    var reviewers: Int = 8

    @Option(name: .customLong("learning-offers"), help: "Learning offers a round: items the model would learn most from, offered to reviewers with capacity left (0: none).")
    var learningOffers: Int = 0

    @Option(help: "Waves: the share of harmful posts posted again as near-copies (reworded, obfuscated) later in their round (0: none).")
    var waves: Double = 0

    @Option(help: "Near-copies in each wave.")
    var copies: Int = 4

    @Flag(help: "Run without banks: reviewers' removals bank nothing and reviewers decide copies one by one.")
    var noBanks = false

    @Option(help: "The feed's policy as JSON (as PUT /v1/policies takes it; default: one rule on P(harm): demote 0.5, review 0.7, remove 0.97).")
    var policy: String?

    @Option(help: "Learning algorithm of the models: nb, complement-nb or logistic.")
    var algorithm: Algorithm = .logistic

    @Option(help: "Logistic: class weights of the models, none, balanced or sqrt-balanced (as winnow train; default balanced).")
    var classWeight: ClassWeight?

    @Option(name: .customLong("c"), help: "Logistic: inverse L2 strength of the models (> 0), as winnow train's --c (default 10).")
    var c: Double?

    @Option(help: "Folds of the retrained models' cross-fitted calibration, as winnow train's (0 or 1: off; default 5).")
    var calibrationFolds: Int = 5

    @OptionGroup var features: FeatureOptions

    @Option(help: "Keep the run's SQLite file and model registry in this directory (default: a temporary one, removed).")
    var keep: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Option(help: "Also write a self-contained HTML report with charts to this file.")
    var report: String?

    @Flag(help: "No progress lines.")
    var quiet = false

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("Please give the labelled posts to replay with --data FILE.") }
        _ = try parseLabelMap(labelMap)
        if let c { guard c.isFinite, c > 0 else { throw ValidationError("Please give --c above 0 (for example 10); got \(c).") } }
        try Train.checkCalibrationFolds(calibrationFolds)
        try Train.refuseOtherAlgorithmsOptions(algorithm, naiveBayes: [:], logistic: [
            "--c": c != nil, "--class-weight": classWeight != nil, "--char-weight": features.charWeight != nil,
        ])
        do { try options().validate() } catch let error as SimulationError { throw ValidationError("Please fix the options: \(error)") }
        // Checked before minutes of simulation, not after them.
        if let report {
            let folder = URL(fileURLWithPath: report).deletingLastPathComponent().path
            guard DataFileReader.isDirectory(folder), FileManager.default.isWritableFile(atPath: folder) else {
                throw ValidationError("--report \(report): the folder \(folder) does not exist or is not writable; create it first.")
            }
        }
        if let keep, FileManager.default.fileExists(atPath: keep) {
            guard DataFileReader.isDirectory(keep) else { throw ValidationError("--keep \(keep) is a file; give a new or empty folder for the run's database.") }
            guard (try? FileManager.default.contentsOfDirectory(atPath: keep))?.isEmpty ?? false else {
                throw ValidationError("--keep \(keep) holds files already (an earlier run's?); give a new or empty folder.")
            }
        }
    }

    func options() throws -> SimulationOptions {
        var o = SimulationOptions()
        o.rounds = rounds
        o.itemsPerRound = itemsPerRound
        o.seed = seed
        o.reviewerError = reviewerError
        o.reviewCapacity = reviewCapacity
        o.auditRate = auditRate
        o.initialShare = initialShare
        o.gateShare = gateShare
        o.reviewers = reviewers
        o.learningOffersPerRound = learningOffers
        o.waveShare = waves
        o.copiesPerWave = copies
        o.banks = !noBanks
        o.training.algorithm = algorithm
        o.training.featurizer = try features.config()
        o.training.naiveBayes = NaiveBayesConfig(complement: algorithm == .complementNaiveBayes)
        if let classWeight { o.training.logistic.classWeight = classWeight }
        if let c { o.training.logistic.c = c }
        o.training.calibrationFolds = calibrationFolds
        return o
    }

    /// The --policy file, read as `winnow policy set` reads one (a policy, or what `policy suggest --json` prints), and
    /// checked against the classes of the posts: an input, so its mistakes exit 65 (they exited 64 or 1).
    func policyFile(classes: [String], clearLabel: String) throws -> Policy? {
        guard let policy else { return nil }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: policy)) } catch {
            throw CommandError.data("Cannot read the policy \(policy) (\(DataFileReader.reason(error, path: policy))); give a JSON file such as "
                                    + "{\"rules\": {\"harm\": {\"review\": 0.7, \"remove\": 0.97}}}.")
        }
        let read = try PolicyCommand.Store.policy(in: data, file: policy).policy
        do { try read.validate() } catch let error as PolicyError { throw CommandError.data("\(policy) is not a usable policy: \(error)") }
        for label in read.rules.keys.sorted() {
            if let problem = Policy.unusableRule(label, classes: classes, clearLabel: clearLabel) { throw CommandError.data("\(policy): \(problem).") }
        }
        return read
    }

    func run() async throws {
        let reader = DataFileReader(labelMap: try parseLabelMap(labelMap))
        var posts: [LabelledPost] = []
        var firstAt: [String: (String, Int)] = [:]
        var read = try Train.read(data, with: reader, firstAt: &firstAt)
        posts += read.map { LabelledPost(id: $0.id, text: $0.text, label: $0.label) }
        var sources = data.map { URL(fileURLWithPath: $0).lastPathComponent }
        for pair in feedData {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, Policy.isValidFeed(parts[0]), parts[0] != "sim" else {
                throw ValidationError("Write --feed-data as FEED=FILE with a feed name of a-z, 0-9, '-' and '_' other than 'sim' (the main feed), e.g. --feed-data sms=sms.csv; got '\(pair)'.")
            }
            let feedRows = try Train.read([parts[1]], with: reader, firstAt: &firstAt)
            read += feedRows
            posts += feedRows.map { LabelledPost(id: $0.id, text: $0.text, label: $0.label, feed: parts[0]) }
            sources.append("\(parts[0])=\(URL(fileURLWithPath: parts[1]).lastPathComponent)")
        }
        try Train.refuseLabelsDifferingInCase(firstAt)
        try DataFileReader.refuseUnusedRenames(reader.labelMap, rows: read, files: data + feedData.compactMap { $0.split(separator: "=", maxSplits: 1).last.map(String.init) })
        if let keep { try FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true) }
        let started = ContinuousClock.now
        let talk = !quiet && !json
        var o = try options()
        if let read = try policyFile(classes: Set(posts.map(\.label)).sorted(), clearLabel: o.engine.clearLabel) { o.policy = read }
        // The run's database lives in a temporary folder unless --keep names one; Ctrl-C or a TERM removes it too
        // (a 2-minute run stopped half-way left its database behind).
        let folder = keep ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("winnow-simulate-\(getpid())-\(UUID().uuidString)")
        let cleanup = keep == nil ? RemovedOnSignal(folder) : nil
        defer { cleanup?.remove() }
        let simulator = LoopSimulator(options: o, directory: folder)
        let result: SimulationReport
        do {
            result = try await simulator.run(posts, sources: sources) { phase, _ in
                guard talk else { return }
                let elapsed = ContinuousClock.now - started
                FileHandle.standardError.write(Data("\(phase) (\(elapsed.components.seconds) s)\n".utf8))
            }
        } catch {
            // Stopped by a signal, whose handler removed the run's folder under it: the run failed for that, and
            // exits as the signal asks, not as the failure would (CI: 1 where 130 was due, by a race).
            cleanup?.exitIfStopped()
            // The options ask for more than the data holds (posts per round × rounds, say): a data error, 65.
            if let error = error as? SimulationError { throw CommandError.data("\(error.description) (--data \(data.joined(separator: ", ")))") }
            throw error
        }
        if let report {
            do {
                try SimulationHTML.render(result).write(toFile: report, atomically: true, encoding: .utf8)
            } catch {
                throw CommandError("Cannot write the report to \(report) (\(DataFileReader.reason(error, path: report))); check that its folder exists and is writable.")
            }
        }
        if json {
            print(try jsonString(result))
            return
        }
        // Rounds are of equal size: the stream's remainder is not posted (outside testing: it went without a word).
        let streamed = result.rounds.map { $0.items - $0.copies }.reduce(0, +)
        let unused = result.posts - result.initialExamples - result.gateExamples - streamed
        let left = unused > 0 ? " \(unused) post\(unused == 1 ? "" : "s") of the stream left unposted (\(result.rounds.count) equal rounds)." : ""
        print("Simulated \(result.rounds.count) rounds of \(result.rounds.first?.items ?? 0) posts from \(data.joined(separator: ", ")) (seed \(seed)); first model trained on \(result.initialExamples) posts, gate split \(result.gateExamples).\(left)")
        print("")
        print(result.table())
        if let report { print("\nHTML report written to \(report)") }
    }
}

/// The simulation as a self-contained HTML page: the table and one chart per figure.
enum SimulationHTML {
    static func render(_ r: SimulationReport) -> String {
        let escape = HTMLReport.escape
        let f = HTMLReport.f
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Winnow loop simulation</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
            h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
            table{border-collapse:collapse;margin:.5rem 0;font-size:13px}td,th{padding:.25rem .5rem;border-bottom:1px solid #eee;text-align:right}
            th:first-child,td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:1.5rem}figure{margin:0}
            figcaption{color:#555;font-size:.9rem;max-width:460px}svg text{font:11px system-ui,sans-serif;fill:#333}.miss{color:#d62728}
            </style></head><body>
            <h1>Winnow loop simulation</h1>
            <p>\(r.rounds.count) rounds of \(r.rounds.first?.items ?? 0) posts from \(r.data.map { "<code>\(escape($0))</code>" }.joined(separator: ", ")) (\(r.posts) posts, classes \(r.classes.map { "<code>\(escape($0))</code>" }.joined(separator: ", "))), seed \(r.options.seed). First model trained on \(r.initialExamples) posts; the gate's test split has \(r.gateExamples).
            Reviewer error \(f(r.options.reviewerError, 3)), review capacity \(r.options.reviewCapacity) decisions a round, audit rate \(f(r.options.auditRate, 3)).</p>
            <p>Round 1 → \(r.rounds.count): automatic error \(SimulationReport.percent(r.automaticErrorChange)), review load \(SimulationReport.percent(r.reviewLoadChange)), views per harmful post \(SimulationReport.percent(r.harmfulViewsChange)); the audit interval covered the true precision in \(r.covered) of \(r.rounds.count) rounds (\(r.uncorrectedCovered) before the correction for reviewer error\(r.rounds.last?.reviewerError.map { ", estimated at \(f($0.rate, 3)) from \($0.pairs) double reviews" } ?? "")); \(r.gateSummary).</p>
            <h2>Charts</h2>
            <div class="charts">

            """
        let rounds = r.rounds
        html += HTMLReport.figure(chart(rounds, yLabel: "error share", [("automatic error", HTMLReport.palette[1], false, rounds.map { $0.automaticErrorRate })]),
                                  "Error of automatic decisions at creation: harmful posts allowed, clear posts demoted or removed, over all automatic decisions.")
        html += HTMLReport.figure(chart(rounds, yLabel: "tickets per 1,000 posts", [
            ("review tickets", HTMLReport.palette[0], false, rounds.map(\.reviewLoad)),
            ("blind audits", HTMLReport.palette[3], true, rounds.map(\.auditLoad)),
        ]), "Review load: tickets people had to decide for each round's posts, per 1,000 posts; audits are a fixed sampling budget.")
        html += HTMLReport.figure(chart(rounds, yLabel: "views", [("views per harmful post", HTMLReport.palette[4], false, rounds.map(\.viewsPerHarmfulItem))]),
                                  "Views harmful posts got before they were removed (their whole life if never removed), per harmful post.")
        html += HTMLReport.figure(chart(rounds, yLabel: "tickets", [("SLA breaches", HTMLReport.palette[5], false, rounds.map { Double($0.slaBreaches) }),
                                                                  ("backlog at round end", HTMLReport.palette[7], true, rounds.map { Double($0.backlog) })]),
                                  "Tickets settled after their SLA due time (or still open past it), and tickets open when the round ended.")
        html += HTMLReport.figure(precision(rounds), "Precision of automatic removals: the audits' estimate with its 95% interval (bars; grey: before the correction for reviewer error) beside the true precision (dots).")
        html += "</div>\n<h2>Rounds</h2>\n<table><tr><th>round</th><th>posts</th><th>model</th><th>auto decisions</th><th>auto error</th><th>review /1k</th><th>audits</th><th>decisions</th><th>backlog</th><th>SLA breaches</th><th>views per harmful post</th><th>removals</th><th>audit precision [95% CI]</th><th>true precision</th><th>gate</th></tr>\n"
        for x in rounds {
            let estimate = x.precisionEstimate.map { "\(f($0.value, 3)) [\(f($0.low, 3)), \(f($0.high, 3))] n=\($0.audits)" } ?? "–"
            let gate = x.gate.map { $0.passed ? "promoted \(escape($0.candidate))" : "kept: \(escape($0.failures.joined(separator: "; ")))" } ?? "–"
            html += "<tr><td>\(x.round)</td><td>\(x.items)</td><td>\(escape(x.model))</td><td>\(x.automatic)</td><td>\(f(x.automaticErrorRate, 4))</td><td>\(f(x.reviewLoad, 1))</td><td>\(x.auditTickets)</td><td>\(x.decisions)</td><td>\(x.backlog)</td><td>\(x.slaBreaches)</td><td>\(f(x.viewsPerHarmfulItem, 1))</td><td>\(x.removals)</td><td\(x.covered ? "" : " class=\"miss\"")>\(estimate)</td><td>\(x.truePrecision.map { f($0, 3) } ?? "–")</td><td>\(gate)</td></tr>\n"
        }
        html += "</table>\n"
        // The tables the text prints besides the rounds' (they were missing from the page).
        if let copies = r.copiesTable { html += "<h2>Near-copies and banks</h2>\n" + Self.html(copies) }
        if let feeds = r.feedsTable {
            html += "<h2>Feeds: own model against the shared one</h2>\n" + Self.html(feeds) + r.feedSummaries().map { "<p>\(escape($0))</p>\n" }.joined()
        }
        return html + "</body></html>\n"
    }

    /// One of the report's tables as HTML, the text's cells escaped (the page's style aligns them).
    static func html(_ table: SimulationReport.Table) -> String {
        let escape = HTMLReport.escape
        return "<table><tr>" + table.columns.map { "<th>\(escape($0.name))</th>" }.joined() + "</tr>\n"
            + table.rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }.joined() + "</table>\n"
    }

    /// Lines over the rounds, scaled to the largest value.
    static func chart(_ rounds: [RoundReport], yLabel: String, _ series: [(name: String, color: String, dashed: Bool, values: [Double])]) -> String {
        let top = niceMaximum(series.flatMap(\.values).max() ?? 1)
        let plot = HTMLReport.Plot(legendRows: series.count)
        var s = frame(plot, rounds: rounds.count, yLabel: yLabel, yMax: top)
        for line in series {
            let points = line.values.enumerated().map { (position($0.offset, rounds.count), $0.element / top) }
            s += plot.polyline(points, color: line.color, dashed: line.dashed)
            for (px, py) in points { s += "<circle cx=\"\(HTMLReport.f(plot.x(px), 1))\" cy=\"\(HTMLReport.f(plot.y(py), 1))\" r=\"3\" fill=\"\(line.color)\"/>" }
        }
        return s + HTMLReport.legend(series.map { ($0.name, $0.color) }, plot: plot) + "</svg>"
    }

    static func precision(_ rounds: [RoundReport]) -> String {
        let lows = rounds.compactMap { $0.precisionEstimate?.low } + rounds.compactMap { $0.uncorrectedEstimate?.low } + rounds.compactMap(\.truePrecision)
        let bottom = max(0, ((lows.min() ?? 0) * 10).rounded(.down) / 10 - 0.1)
        let plot = HTMLReport.Plot(legendRows: 3)
        func y(_ v: Double) -> Double { plot.y((v - bottom) / (1 - bottom)) }
        var s = frame(plot, rounds: rounds.count, yLabel: "precision of automatic removals", yMax: 1, yMin: bottom)
        for (i, round) in rounds.enumerated() {
            let px = x(plot: plot, i, rounds.count)
            if let e = round.precisionEstimate {
                let color = round.covered ? HTMLReport.palette[0] : HTMLReport.palette[1]
                s += "<line x1=\"\(HTMLReport.f(px, 1))\" y1=\"\(HTMLReport.f(y(e.low), 1))\" x2=\"\(HTMLReport.f(px, 1))\" y2=\"\(HTMLReport.f(y(e.high), 1))\" stroke=\"\(color)\" stroke-width=\"2\"/>"
                s += "<rect x=\"\(HTMLReport.f(px - 5, 1))\" y=\"\(HTMLReport.f(y(e.value) - 1.5, 1))\" width=\"10\" height=\"3\" fill=\"\(color)\"><title>round \(round.round): \(HTMLReport.f(e.value, 3)) [\(HTMLReport.f(e.low, 3)), \(HTMLReport.f(e.high, 3))], \(e.audits) audits</title></rect>"
            }
            if let raw = round.uncorrectedEstimate {
                s += "<line x1=\"\(HTMLReport.f(px - 8, 1))\" y1=\"\(HTMLReport.f(y(raw.low), 1))\" x2=\"\(HTMLReport.f(px - 8, 1))\" y2=\"\(HTMLReport.f(y(raw.high), 1))\" stroke=\"#aaa\" stroke-width=\"2\"><title>round \(round.round) before the correction: \(HTMLReport.f(raw.value, 3)) [\(HTMLReport.f(raw.low, 3)), \(HTMLReport.f(raw.high, 3))]</title></line>"
                s += "<rect x=\"\(HTMLReport.f(px - 12, 1))\" y=\"\(HTMLReport.f(y(raw.value) - 1.5, 1))\" width=\"8\" height=\"3\" fill=\"#aaa\"/>"
            }
            if let truth = round.truePrecision {
                s += "<circle cx=\"\(HTMLReport.f(px + 8, 1))\" cy=\"\(HTMLReport.f(y(truth), 1))\" r=\"3.5\" fill=\"\(HTMLReport.palette[2])\"><title>round \(round.round): true precision \(HTMLReport.f(truth, 3))</title></circle>"
            }
        }
        return s + HTMLReport.legend([("audit estimate, 95% interval", HTMLReport.palette[0]), ("before the reviewer-error correction", "#aaa"), ("true precision", HTMLReport.palette[2])], plot: plot) + "</svg>"
    }

    /// Where round `i` of `count` sits across the plot (0…1).
    static func position(_ i: Int, _ count: Int) -> Double {
        count <= 1 ? 0.5 : 0.04 + 0.92 * Double(i) / Double(count - 1)
    }

    static func x(plot: HTMLReport.Plot, _ i: Int, _ count: Int) -> Double { plot.x(position(i, count)) }

    /// The frame with round numbers on x and `yMin`…`yMax` on y.
    static func frame(_ plot: HTMLReport.Plot, rounds: Int, yLabel: String, yMax: Double, yMin: Double = 0) -> String {
        let span = yMax - yMin
        let yTicks = HTMLReport.ticks(from: yMin, to: yMax).map { (at: ($0.value - yMin) / span, label: $0.label) }
        return plot.frame(xLabel: "round", yLabel: yLabel, xTicks: (0..<rounds).map { (position($0, rounds), "\($0 + 1)") }, yTicks: yTicks)
    }

    /// 1, 2, 2.5 or 5 times a power of ten, at least `v`.
    static func niceMaximum(_ v: Double) -> Double {
        guard v > 0, v.isFinite else { return 1 }
        let power = pow(10, (log10(v)).rounded(.down))
        for m in [1.0, 2, 2.5, 5, 10] where m * power >= v { return m * power }
        return 10 * power
    }
}

/// A temporary folder removed when the command ends, also by SIGINT or SIGTERM (the process then exits 128 + the
/// signal, as the shell's default handling would).
final class RemovedOnSignal: Sendable {
    let path: String
    let signals: StopSignals

    init(_ path: String) {
        self.path = path
        signals = StopSignals { [path] number in
            try? FileManager.default.removeItem(atPath: path)
            exit(128 + number)
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
        signals.restore()
    }

    /// Ends the process as the stop signal does (128 + its number, the folder removed) when one came; nothing
    /// otherwise. `_exit`, since the signal's handler may be exiting on another thread at the same time.
    func exitIfStopped() {
        guard let number = signals.received else { return }
        try? FileManager.default.removeItem(atPath: path)
        _exit(128 + number)
    }
}

/// While it lives (until `restore`), SIGINT and SIGTERM run `action` with the signal's number instead of ending the
/// process.
final class StopSignals: Sendable {
    nonisolated(unsafe) private var sources: [DispatchSourceSignal] = []
    private let last = Mutex<Int32?>(nil)

    /// The signal that came last, if one did.
    var received: Int32? { last.withLock { $0 } }

    init(_ action: @escaping @Sendable (Int32) -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [weak self] in
                self?.last.withLock { $0 = number }
                action(number)
            }
            source.resume()
            sources.append(source)
        }
    }

    func restore() {
        for source in sources { source.cancel() }
        for number in [SIGINT, SIGTERM] { signal(number, SIG_DFL) }
    }
}
