import ArgumentParser
import Engine
import Foundation
import Learning
import Server
import Services
import WinnowJSON

/// `winnow retrain`: one look at the retraining loop, for cron (or to see its log), with the server's configuration.
struct Retrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one step of the retraining loop: a pass when one is due (or --now), or move a pass in shadow or waiting on.",
        discussion: """
            Reads the server's configuration (--config / WINNOW_CONFIG, section "retrain": base and test data, training \
            options, the gate, shadow hours, promotion auto or approve). A pass trains a candidate on the base data and \
            the database's resolved labels, runs the evaluation gate against the active model (test data and blind \
            audits, paired), then puts it in shadow or promotes it (or leaves it for an admin). Every step is written to \
            the registry's retraining log, which --log prints. Servers on the same database take a promotion over within \
            syncIntervalSeconds. A shadow runs inside servers (their items are what it is measured on): the run after its \
            shadow time has passed leaves the candidate waiting for an admin (winnow models promote VERSION) with what \
            the serving nodes saw, unless this process scored items in it. Exit code 0 when a pass ran or moved on (or nothing was due), 2 when \
            its candidate was refused or it failed, 3 when --now could not start one (another pass is running).
              winnow retrain --config winnow.json --now
              winnow retrain --config winnow.json --now --feed sms
              winnow retrain --database postgres://winnow@db/winnow --log
              winnow retrain --database postgres://winnow@db/winnow --log --feed sms
            """)

    @OptionGroup var server: StoreOptions

    @Flag(help: "Start a pass now, whether or not one is due (not while another is training or in shadow).")
    var now = false

    @Option(help: "Retrain this feed's own model (a feed listed in retrain.feeds) instead of the shared one; with --log, list its passes only.")
    var feed: String?

    @Flag(help: "Print the retraining log (the newest passes first) and change nothing.")
    var log = false

    @Flag(help: "Print JSON: the pass that ran or moved on (null when nothing did); with --log, the list of passes.")
    var json = false

    func validate() throws {
        if let feed, !Policy.isValidFeed(feed) { throw ValidationError("--feed: \(PolicyError.invalidFeed(feed).description)") }
    }

    func run() async throws {
        let configuration = try server.load()
        if log {
            // The log is in the database: no model is loaded to read it.
            let store = try await Keys.DatabaseOption.open(path: configuration.database, poolSize: 1)
            let passes = try await store.retrainPasses(feed.map { .model(feed: $0) } ?? .all, limit: 50)
            if json { print(try jsonString(passes)) } else if passes.isEmpty {
                print(feed.map { "No retraining pass of feed \($0)'s own model has run yet." } ?? "No retraining pass has run yet.")
            } else {
                for pass in passes { print(Self.describe(pass)) }
            }
            return
        }
        do { try configuration.retrain.checkFiles() } catch let error as ConfigurationError { throw CommandError.data(error.description) }
        let service = try await server.service(configuration, createDatabase: false)
        let registry = ModelRegistry(scoring: service, directory: configuration.registry)
        let retrainer = Retrainer(registry: registry, configuration: configuration.retrain, node: "winnow retrain")
        let pass: RetrainPass?
        // SIGINT or SIGTERM mid-pass records the pass as failed before the command ends (it stayed `training`, holding
        // the loop of every node for its lease: two hours, outside testing); the command then exits 128 + the signal.
        let feed = self.feed, now = self.now
        // One look, as a server's check: the target that waited longest first; --now or --feed name the target.
        let work = Task { now || feed != nil ? try await retrainer.tick(feed: feed, force: now) : try await retrainer.check() }
        let signals = StopSignals { _ in work.cancel() }
        defer { signals.restore() }
        do {
            pass = try await work.value
            if let number = signals.received {
                if let pass { print(Self.describe(pass)) }
                throw ExitCode(128 + number)
            }
        } catch let error where signals.received != nil && !(error is ExitCode) {
            // Stopped before a pass began (a store read cancelled): nothing to record, the signal's exit code.
            throw ExitCode(128 + (signals.received ?? SIGTERM))
        } catch let error as DataFileError {
            throw CommandError.data("\(error)")
        } catch let error as Engine.ValidationError {
            // The API's words for a field (`feed: …`); here the field is an option, and the message names it.
            let message = APIError.sentence(error.message)
            throw CommandError(message.hasSuffix(".") ? message : message + ".", code: Winnow.usageError)
        }
        guard let pass else {
            let latest = try await retrainer.passes(.all, limit: 1).first
            // Nothing ran: JSON says so (an earlier pass printed here would read as one that just ran).
            if json { print("null") } else if let latest, !latest.state.isFinal {
                print("Nothing to do: pass \(latest.id) is \(latest.state.rawValue) (\(latest.message)).")
            } else {
                print("No pass is due (retrain.everyHours \(configuration.retrain.everyHours), retrain.afterLabels \(configuration.retrain.afterLabels)); --now starts one.")
            }
            // --now asked for a pass and none could start: "nothing to do" (3), not a success cron would take for one.
            if now { throw ExitCode(3) }
            return
        }
        if json { print(try jsonString(pass)) } else { print(Self.describe(pass)) }
        if pass.state == .refused || pass.state == .failed { throw ExitCode(2) }
    }

    static func describe(_ pass: RetrainPass) -> String {
        let target = pass.feed.map { ", feed \($0)" } ?? ""
        var lines = ["Pass \(pass.id) (\(pass.trigger)\(target), by \(pass.by), \(ISOTime.format(pass.startedAt))): \(pass.state.rawValue): \(pass.message)"]
        if pass.candidate != nil {
            lines.append("  trained on \(pass.baseExamples) base and \(pass.storeExamples) stored labels" + (pass.trainingSeconds.map { String(format: " in %.1f s", $0) } ?? ""))
        }
        for result in pass.gate {
            lines.append("  gate on \(result.count) \(result.rows): \(result.passed ? "passed" : "failed")")
            // Which column is which (outside testing: the figures came without names).
            lines.append("    " + pad("check", 24) + pad("candidate", 10, right: true) + pad("active", 8, right: true)
                         + pad("change [interval]", 29, right: true))
            for check in result.checks {
                let change = check.change.map { c in String(format: "%+.4f [%+.4f, %+.4f]", c, check.interval?.low ?? 0, check.interval?.high ?? 0) } ?? "-"
                lines.append("    " + pad(check.name, 24) + pad(check.candidate.map { String(format: "%.4f", $0) } ?? "-", 10, right: true)
                             + pad(String(format: "%.4f", check.active), 8, right: true) + pad(change, 29, right: true) + "  "
                             + (check.passed ? (check.withinNoise ? "ok (noise)" : "ok") : "FAIL"))
            }
        }
        if let shadow = pass.shadowReport {
            lines.append(String(format: "  shadow: %d items, %d decisions changed (%.1f%%)", shadow.items, shadow.actionDisagreements, shadow.actionChangeShare * 100))
        }
        return lines.joined(separator: "\n")
    }
}
