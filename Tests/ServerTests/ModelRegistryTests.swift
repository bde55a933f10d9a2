import Engine
import Foundation
import HummingbirdTesting
import Learning
import NIOCore
import Testing
import TestSupport

@testable import Server
@testable import Services

/// The registry over the HTTP API: register, promote, roll back, and a swap under load.
@Suite struct ModelRegistryTests {
    /// The fixture's classes, trained differently: another version with other probabilities.
    static let second: TextClassifier = {
        var rows: [LabelledText] = []
        rows += Fixture.spam.map { LabelledText(text: $0, label: "spam") }
        rows += Fixture.clear.map { LabelledText(text: $0, label: "clear") }
        var options = TrainingOptions()
        options.algorithm = .naiveBayes
        options.naiveBayes = NaiveBayesConfig(alpha: 0.3, complement: false)
        options.featurizer = FeaturizerConfig(bucketBits: 14)
        options.evidenceTarget = 0
        options.minExamplesPerClass = 1
        return try! TextClassifier.train(rows, options: options, modelVersion: "fixture-2").0
    }()

    static let threeClasses: TextClassifier = {
        var rows: [LabelledText] = []
        rows += Fixture.spam.map { LabelledText(text: $0, label: "spam") }
        rows += Fixture.clear.prefix(6).map { LabelledText(text: $0, label: "clear") }
        rows += Fixture.clear.suffix(6).map { LabelledText(text: $0, label: "chat") }
        var options = TrainingOptions()
        options.algorithm = .naiveBayes
        options.featurizer = FeaturizerConfig(bucketBits: 14)
        options.evidenceTarget = 0
        options.minExamplesPerClass = 1
        return try! TextClassifier.train(rows, options: options, modelVersion: "fixture-3").0
    }()

    /// A naive-Bayes model of the fixture's spam and clear texts under the given labels.
    static func relabelled(spam: String, clear: String, version: String) throws -> TextClassifier {
        var rows: [LabelledText] = []
        rows += Fixture.spam.map { LabelledText(text: $0, label: spam) }
        rows += Fixture.clear.map { LabelledText(text: $0, label: clear) }
        var options = TrainingOptions()
        options.algorithm = .naiveBayes
        options.featurizer = FeaturizerConfig(bucketBits: 14)
        options.evidenceTarget = 0
        options.minExamplesPerClass = 1
        return try TextClassifier.train(rows, options: options, modelVersion: version).0
    }

    func harness() async throws -> Harness {
        var configuration = ServerConfiguration()
        configuration.registry = Scratch.path("registry").path
        return try await Harness(configuration: configuration)
    }

    func upload(_ h: Harness, _ bytes: [UInt8], as role: Role = .admin) async throws -> Harness.Answer {
        let key = h.keys[role]!
        return try await h.app.test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .post, headers: [.authorization: "Bearer \(key)", .contentType: "application/octet-stream"],
                                     body: ByteBuffer(bytes: bytes)) { response in
                Harness.Answer(status: response.status, body: String(buffer: response.body), headers: response.headers)
            }
        }
    }

    /// Issue 17: the starting model was not registered until a first promotion, so another file uploaded under its
    /// version name was listed as active and every later promote and rollback answered 409.
    @Test func theStartingModelIsRegisteredAtStartAndItsNameCannotBeTakenByAnotherFile() async throws {
        let h = try await harness()
        #expect(try await ModelRegistry(scoring: h.service, directory: h.configuration.registry).startServing() == nil)
        let listed = try await h.send(.get, "/v1/models")
        let versions = try #require(listed.json["versions"] as? [[String: Any]])
        #expect(versions.map { $0["version"] as? String } == ["fixture-1"])
        #expect(versions.first?["active"] as? Bool == true)
        // Another file, same version name: refused, and the serving model stays the one listed as active.
        let impostor = try Self.relabelled(spam: "spam", clear: "clear", version: "fixture-1")
        let refused = try await upload(h, try impostor.serialized())
        #expect(refused.status == .conflict)
        #expect(refused.error["message"] as? String == "A different model file is registered as 'fixture-1'; train with another --name.")
        // The same file again is the same version: accepted, nothing changes.
        #expect(try await upload(h, try Fixture.model.serialized()).status.code / 100 == 2)
        // Promotion and rollback still work.
        #expect(try await upload(h, try Self.second.serialized()).status == .created)
        #expect(try await h.send(.post, "/v1/models/fixture-2/promote").status == .ok)
        #expect(try await h.send(.post, "/v1/models/rollback").status == .ok)
        #expect(h.service.model.version == "fixture-1")
        // A restart with promotions on record serves the registry's active version and registers nothing.
        #expect(try await ModelRegistry(scoring: h.service, directory: h.configuration.registry).startServing() == nil)
    }

    /// Issue 17: an empty version name answered 500 (and left an orphan `registry/.winnow`), a 10 KB one 500 too.
    @Test(arguments: ["", String(repeating: "v", count: 10_000), "../escape", "name with spaces"])
    func aModelWhoseVersionNameIsNotOneIsRefusedWith422(_ version: String) async throws {
        let h = try await harness()
        let model = try Self.relabelled(spam: "spam", clear: "clear", version: version)
        let answer = try await upload(h, try model.serialized())
        #expect(answer.status == .unprocessableContent)
        #expect(answer.error["field"] as? String == "body")
        #expect((answer.error["message"] as? String)?.contains("version name") == true)
        #expect(!FileManager.default.fileExists(atPath: h.configuration.registry))  // nothing written
    }

    @Test func registerPromoteAndRollBack() async throws {
        let h = try await harness()
        var corrupt = try Self.second.serialized()
        corrupt[corrupt.count / 2] ^= 0xFF
        let refused = try await upload(h, corrupt)
        #expect(refused.status == .unprocessableContent && refused.error["field"] as? String == "body")
        #expect(try await upload(h, try Self.second.serialized(), as: .moderator).status == .forbidden)
        let registered = try await upload(h, try Self.second.serialized())
        #expect(registered.status == .created, "\(registered.body)")
        #expect((registered.json["model"] as? [String: Any])?["version"] as? String == "fixture-2")
        #expect(registered.json["active"] as? String == "fixture-1")
        // The same file again registers nothing: 200 (not 201) with the record as first registered.
        let again = try await upload(h, try Self.second.serialized())
        #expect(again.status == .ok)
        #expect((again.json["model"] as? [String: Any])?["registeredAt"] as? String == (registered.json["model"] as? [String: Any])?["registeredAt"] as? String)

        let promoted = try await h.send(.post, "/v1/models/fixture-2/promote", as: .admin)
        #expect(promoted.status == .ok && promoted.json["active"] as? String == "fixture-2")
        // Promoted again, the active version records nothing: the rollback below still returns to fixture-1.
        #expect(try await h.send(.post, "/v1/models/fixture-2/promote", as: .admin).json["active"] as? String == "fixture-2")
        let item = try await h.post("/v1/items", json(["id": "a", "text": "win a free prize now"]))
        #expect(item.json["modelVersion"] as? String == "fixture-2")
        let list = try await h.send(.get, "/v1/models", as: .admin).json
        #expect((list["versions"] as? [[String: Any]])?.compactMap { $0["version"] as? String }.sorted() == ["fixture-1", "fixture-2"])
        #expect(((list["versions"] as? [[String: Any]]) ?? []).allSatisfy { ($0["card"] as? String)?.hasPrefix("# Model fixture-") == true })

        let back = try await h.send(.post, "/v1/models/rollback", as: .admin)
        #expect(back.json["active"] as? String == "fixture-1")
        #expect(try await h.send(.post, "/v1/models/rollback", as: .admin).json["active"] as? String == "fixture-2")  // undoes the rollback
        let history = try await h.send(.get, "/v1/models", as: .admin).json["history"] as? [[String: Any]] ?? []
        #expect(history.map { $0["kind"] as? String } == ["promote", "rollback", "rollback"])
        #expect(history.map { $0["by"] as? String } == ["test-admin", "test-admin", "test-admin"])

        #expect(try await h.send(.post, "/v1/models/nope/promote", as: .admin).status == .notFound)
        #expect(try await upload(h, try Self.threeClasses.serialized()).status == .created)
        let other = try await h.send(.post, "/v1/models/fixture-3/promote", as: .admin)
        #expect(other.status == .conflict && (other.error["message"] as? String)?.contains("cannot be promoted in place") == true)
        #expect(h.service.model.version == "fixture-2")

        // A restarted server (a new service on the same store, started with the old model) takes the registry's active one.
        let restarted = ScoringService(store: h.store, engine: ScoringEngine(), model: try ActiveModel(model: Fixture.model, source: "restart"))
        #expect(try await ModelRegistry(scoring: restarted, directory: h.configuration.registry).restoreActive() == "fixture-2")
        #expect(restarted.model.version == "fixture-2")
    }

    /// A class named `harm` would be ambiguous in policies (the `harm` rule reads every harmful class together):
    /// the registry refuses such a file with the way out, and so does the server at start.
    @Test func aModelWithAClassNamedHarmIsRefused() async throws {
        let model = try Self.relabelled(spam: "harm", clear: "clear", version: "harm-1")
        let h = try await harness()
        let refused = try await upload(h, try model.serialized())
        #expect(refused.status == .unprocessableContent && refused.error["field"] as? String == "body")
        #expect((refused.error["message"] as? String)?.contains("--label-map harm=NAME") == true)
        #expect(throws: PolicyError.reservedClass("harm")) { try ActiveModel(model: model, source: "test") }
        let versions = try await h.send(.get, "/v1/models", as: .admin).json["versions"] as? [Any]
        #expect(versions?.isEmpty == true)  // nothing was registered
    }

    @Test func promotionAndRollbackUnderLoadScoreEveryRequestWithExactlyOneModel() async throws {
        let h = try await harness()
        _ = try await upload(h, try Self.second.serialized())
        let texts = (0..<200).map { i in i % 2 == 0 ? "free prize call now to claim \(i)" : "see you at the station at \(i)" }
        struct Scored: Sendable { var index: Int; var version: String; var probabilities: [String: Double] }
        let answers = try await withThrowingTaskGroup(of: Scored?.self) { group in
            group.addTask {
                for i in 0..<20 {
                    let path = i % 2 == 0 ? "/v1/models/fixture-2/promote" : "/v1/models/rollback"
                    let status = try await h.send(.post, path, as: .admin).status
                    #expect(status == .ok)
                }
                return nil
            }
            for (i, text) in texts.enumerated() {
                group.addTask {
                    let answer = try await h.post("/v1/items", json(["id": "load-\(i)", "text": text]))
                    #expect(answer.status == .created)
                    return Scored(index: i, version: answer.json["modelVersion"] as? String ?? "", probabilities: answer.json["probabilities"] as? [String: Double] ?? [:])
                }
            }
            var all: [Scored] = []
            for try await answer in group { if let answer { all.append(answer) } }
            return all
        }
        #expect(answers.count == 200)
        // Each answer's probabilities are exactly what the model it names gives its text.
        let models = ["fixture-1": try ActiveModel(model: Fixture.model, source: "1"), "fixture-2": try ActiveModel(model: Self.second, source: "2")]
        var seen = Set<String>()
        for answer in answers {
            seen.insert(answer.version)
            let expected = try #require(models[answer.version]).score(texts[answer.index], reasons: 0)
            for (name, p) in zip(expected.classes, expected.probabilities) { #expect(abs((answer.probabilities[name] ?? -1) - p) < 1e-9) }
        }
        #expect(seen.isSubset(of: ["fixture-1", "fixture-2"]))
    }
}

/// Online learning: each human label updates the active naive-Bayes model at once; a withdrawn label is unlearnt exactly.
@Suite struct OnlineLearningTests {
    @Test func aDecisionIsLearntAtOnceAndItsWithdrawalUnlearntExactly() async throws {
        var configuration = ServerConfiguration()
        configuration.registry = Scratch.path("online").path
        configuration.onlineLearning = true
        configuration.engine.review.goldRate = 0
        configuration.engine.review.doubleReviewRate = 0
        configuration.engine.review.auditRates = [:]
        let h = try await Harness(configuration: configuration)
        #expect(try await h.send(.put, "/v1/policies/default", body: json(["rules": ["spam": ["review": 0]]])).status == .ok)
        let text = "meet me at the station for the prize draw"
        #expect(try await h.post("/v1/items", json(["id": "a", "text": text])).status == .created)
        let id = ((try await h.post("/v1/review/claim", as: .moderator, "{}").json["tickets"] as? [[String: Any]])?.first?["ticket"] as? [String: Any])?["id"] as? Int
        let ticket = try #require(id)
        #expect(try await h.post("/v1/review/tickets/\(ticket)/decision", as: .moderator, json(["label": "spam", "reasonCode": "spam"])).status == .ok)

        // The active model is the fixture plus this one label, exactly: the same as learning it offline.
        let learnt = h.service.model.version
        #expect(learnt.hasPrefix("fixture-1+online."))
        let expected = try ActiveModel(model: try Fixture.model.partialFit([LabelledText(text: text, label: "spam")]), source: "offline")
        #expect(h.service.model.score(text, reasons: 0).probabilities == expected.score(text, reasons: 0).probabilities)
        let label = try #require(try await h.store.labels(since: nil, after: nil, limit: 10).first)
        #expect(label.learntInto == learnt)
        #expect(h.service.model.textModel.header.parentVersion == "fixture-1")

        // Withdrawing it unlearns it: the counts, and so the probabilities, are the fixture's again.
        #expect(try await h.send(.post, "/v1/labels/\(label.id!)/withdraw", as: .admin).status == .ok)
        #expect(h.service.model.version != learnt)
        let original = try ActiveModel(model: Fixture.model, source: "fixture")
        #expect(h.service.model.score(text, reasons: 0).probabilities == original.score(text, reasons: 0).probabilities)
        // A label that never reached the model (imported for an item Winnow has not stored) changes nothing when withdrawn.
        let versionBefore = h.service.model.version
        let imported = try await h.send(.post, "/v1/labels", as: .admin, body: json(["labels": [["id": "unknown-item", "label": "spam"]]]))
        #expect(imported.status == .created)
        #expect(h.service.model.version == versionBefore)
        let history = try await h.send(.get, "/v1/models", as: .admin).json["history"] as? [[String: Any]] ?? []
        #expect(history.count == 2)
    }
}

@Suite struct ShadowModeTests {
    /// The fixture's texts with their labels swapped: same classes, opposite answers.
    static let flipped = try! ModelRegistryTests.relabelled(spam: "clear", clear: "spam", version: "flipped")

    @Test func aShadowCandidateScoresLiveItemsAndReportsDisagreementWithoutActing() async throws {
        var configuration = ServerConfiguration()
        configuration.registry = Scratch.path("shadow").path
        let h = try await Harness(configuration: configuration)
        #expect(try await h.send(.delete, "/v1/models/shadow", as: .admin).status == .notFound)
        #expect(try await h.send(.post, "/v1/models/flipped/shadow", as: .admin).status == .notFound)  // not registered yet
        _ = try await ModelRegistryTests().upload(h, try Self.flipped.serialized())
        #expect(try await h.send(.post, "/v1/models/flipped/shadow", as: .admin).status == .ok)
        let texts = Fixture.spam.prefix(5) + Fixture.clear.prefix(5) + ["hello", "prize lunch", "call me later about the cash"]
        let engine = ScoringEngine()
        let policy = h.service.policy(feed: "default")
        var labels = 0, actions = 0
        for (i, text) in texts.enumerated() {
            let answer = try await h.post("/v1/items", json(["id": "s\(i)", "text": text]))
            #expect(answer.json["modelVersion"] as? String == "fixture-1")  // the active model still decides
            let item = ItemSubmission(id: "s\(i)", text: text)
            let now = h.clock.now()
            let active = engine.creation(item, text: h.service.model.score(text, reasons: 0), policy: policy, receivedAt: now)
            let candidate = engine.creation(item, text: try ActiveModel(model: Self.flipped, source: "c").score(text, reasons: 0),
                                            policy: policy, receivedAt: now)
            if active.label != candidate.label { labels += 1 }
            if active.decision.action != candidate.decision.action { actions += 1 }
        }
        let shadow = try #require(try await h.send(.get, "/v1/models", as: .admin).json["shadow"] as? [String: Any])
        #expect(shadow["candidate"] as? String == "flipped" && shadow["feed"] == nil)
        #expect(shadow["items"] as? Int == texts.count)
        #expect(shadow["labelDisagreements"] as? Int == labels)
        #expect(shadow["actionDisagreements"] as? Int == actions)
        #expect(labels + actions > 0)  // the two models differ on these texts: the check is not vacuous
        let stopped = try await h.send(.delete, "/v1/models/shadow", as: .admin).json["shadow"] as? [String: Any]
        #expect(stopped?["items"] as? Int == texts.count)
        _ = try await h.post("/v1/items", json(["id": "after", "text": "one more"]))
        #expect(try await h.send(.get, "/v1/models", as: .admin).json["shadow"] == nil)
        // A feed's shadow says whose model the candidate would replace (outside testing: it did not).
        let forFeed = try await h.send(.post, "/v1/models/flipped/shadow?feed=sms", as: .admin)
        #expect(forFeed.status == .ok && (forFeed.json["shadow"] as? [String: Any])?["feed"] as? String == "sms", "\(forFeed.body)")
        #expect((try await h.send(.get, "/v1/models", as: .admin).json["shadow"] as? [String: Any])?["feed"] as? String == "sms")
    }
}

/// Outside testing: `winnow_active_model_info` kept a series at 1 for every version ever active.
@Suite struct ActiveModelMetricTests {
    @Test func onlyTheVersionInUseHasASeries() {
        let metrics = ServerMetrics()
        metrics.activeModel(version: "a-1")
        metrics.activeModel(version: "a-2")
        metrics.activeModel(version: "a-2")
        let text = metrics.registry.emitToString()
        #expect(text.contains(#"winnow_active_model_info{version="a-2"} 1"#), "\(text)")
        #expect(!text.contains(#"version="a-1""#), "\(text)")
    }
}

/// Outside testing: a removed webhook's lag series stayed at its last value until a restart.
@Suite struct WebhookLagMetricTests {
    @Test func aRemovedWebhooksLagSeriesGoes() {
        let metrics = ServerMetrics()
        metrics.deliveryLag(feed: "news", seconds: 12)
        metrics.deliveryLag(feed: "sms", seconds: 3)
        metrics.webhookRemoved(feed: "news")
        let text = metrics.render()
        #expect(!text.contains(#"winnow_webhook_lag_seconds{feed="news"}"#), "\(text)")
        #expect(text.contains(#"winnow_webhook_lag_seconds{feed="sms"} 3"#), "\(text)")
        // Set again later (the webhook set again), the series is back.
        metrics.deliveryLag(feed: "news", seconds: 1)
        #expect(metrics.render().contains(#"winnow_webhook_lag_seconds{feed="news"} 1"#))
    }
}

/// Outside testing: /metrics named the shared model only, not a feed's own.
@Suite struct FeedModelMetricTests {
    @Test func eachFeedsOwnModelHasOneSeriesUntilItReturnsToTheShared() {
        let metrics = ServerMetrics()
        metrics.feedModel(feed: "sms", version: "m-1")
        metrics.feedModel(feed: "sms", version: "m-2")
        metrics.feedModel(feed: "news", version: "m-1")
        var text = metrics.render()
        #expect(text.contains(#"winnow_feed_model_info{feed="sms",version="m-2"} 1"#) && !text.contains(#"feed="sms",version="m-1""#), "\(text)")
        #expect(text.contains(#"winnow_feed_model_info{feed="news",version="m-1"} 1"#))
        metrics.feedModel(feed: "sms", version: nil)
        text = metrics.render()
        #expect(!text.contains(#"feed="sms""#) && text.contains(#"feed="news""#), "\(text)")
    }
}
