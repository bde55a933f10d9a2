import Engine
import Foundation
import Server
import Services
import Storage

extension Train {
    /// `--stage engagement`: fits `EngagementModel` on the database's labelled items that have engagement.
    func trainEngagement() async throws {
        let environment = ProcessInfo.processInfo.environment
        let databasePath = database ?? environment["WINNOW_DATABASE"] ?? "winnow.sqlite"
        let modelPath = model ?? Evaluate.configuredModelPath
        let store = try await Keys.DatabaseOption.open(path: databasePath)
        let text: ActiveModel
        do {
            text = try ActiveModel(path: modelPath)
        } catch {
            throw CommandError("\(error)")
        }
        guard text.classes.contains(clearLabel) else {
            throw CommandError("The model \(modelPath) has no class '\(clearLabel)'; pass --clear-label with the class that means 'nothing wrong'.")
        }
        var engineConfiguration: EngineConfiguration
        do {
            engineConfiguration = try ServerConfiguration.load(file: config ?? environment["WINNOW_CONFIG"], environment: [:]).engine
        } catch let error as ConfigurationError {
            throw CommandError(error.description)
        }
        engineConfiguration.clearLabel = clearLabel
        // The server's engine computes the features, so they are what it will serve.
        let engine = ScoringEngine(configuration: engineConfiguration)
        let rows = try await store.labelledItemsWithEngagement()
        let examples = rows.compactMap { row -> EngagementExample? in
            guard let snapshot = row.state.engagement else { return nil }
            let features = engine.engagementFeatures(text: text.score(row.state.submission.text, reasons: 0), state: row.state,
                                                     counters: snapshot.counters, asOf: snapshot.at, baseline: row.baseline)
            return EngagementExample(features: features, harmful: row.label != clearLabel)
        }
        let version = "engagement@\(Train.defaultVersion(out: "x.winnow").split(separator: "@").last ?? "")"
        let fitted: EngagementModel
        do {
            fitted = try EngagementModel.train(examples, l2: l2, version: version)
        } catch let error as EngagementModelError {
            throw CommandError(error.description)
        }
        try await store.saveEngagementModel(fitted, at: Date())
        if json {
            print(try jsonString(fitted))
            return
        }
        var lines = [
            "Trained the engagement model \(fitted.version) → \(databasePath)",
            "  examples     \(fitted.examples) labelled items with engagement (\(fitted.harmful) harmful)",
            "  log loss     \(format(fitted.trainingLogLoss)) on the training items (Newton, \(fitted.iterations) iterations, L2 \(fitted.l2))",
            "  weights (per standard deviation of each feature):",
        ]
        for (name, weight) in zip(fitted.featureNames, fitted.weights) {
            lines.append("    \(pad(name, 22)) \(String(format: "%+.3f", weight))")
        }
        lines.append("The running server uses it from its next scheduler pass.")
        print(lines.joined(separator: "\n"))
    }
}
