import Engine
import Foundation
import Services
import Hummingbird
import NIOCore

extension API {
    struct ModelVersion: Encodable {
        var version: String
        var kind: String
        var classes: [String]
        var parent: String?
        var registeredBy: String
        var registeredAt: Date
        /// Whether it is the shared model (every feed without a model of its own uses it).
        var active: Bool
        /// The feeds whose own model it is; nil for none.
        var activeFeeds: [String]?
        var card: String

        init(_ r: ModelVersionRecord, active: String, feeds: [String: String] = [:]) {
            version = r.version; kind = r.kind; classes = r.classes; parent = r.parent; registeredBy = r.registeredBy
            registeredAt = r.registeredAt; self.active = r.version == active; card = r.card
            let own = feeds.filter { $0.value == r.version }.keys.sorted()
            activeFeeds = own.isEmpty ? nil : own
        }
    }

    struct ModelList: Encodable {
        var active: String
        /// Feeds with a model of their own, and its version (every other feed uses `active`).
        var feeds: [String: String]
        var versions: [ModelVersion]
        var history: [ModelPromotion]
        /// The candidate running in shadow mode and how it differs, if one runs.
        var shadow: ShadowReport?
    }

    struct RetrainLog: Encodable {
        /// Whether this node runs the loop by itself (`retrain.enabled`).
        var scheduled: Bool
        var passes: [RetrainPass]
    }

    struct RetrainStarted: Encodable {
        var started: Bool
        var message: String
    }

    struct ShadowAnswer: Encodable {
        var shadow: ShadowReport?
    }

    struct ModelAnswer: Encodable {
        /// The version now serving: the shared model, or with `feed` that feed's items.
        var active: String
        var feed: String?
        var model: ModelVersion

        init(_ record: ModelVersionRecord, active: String, feed: String? = nil) {
            self.active = active
            self.feed = feed
            model = ModelVersion(record, active: active)
        }
    }
}

/// `/v1/models` (role admin): the registry, promotion, rollback and shadow mode.
struct ModelController {
    let registry: ModelRegistry
    let retrainer: Retrainer
    static let maxModelBytes = 256 << 20

    var scoring: ScoringService { registry.scoring }

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1/models").add(middleware: RequireRole(.admin))
            .get(use: list)
            .post(use: register)
            .get("retraining", use: retraining)
            .post("retraining", use: retrainNow)
            .post("{version}/promote", use: promote)
            .post("rollback", use: rollback)
            .post("{version}/shadow", use: shadow)
            .delete("shadow", use: stopShadow)
    }

    func registryError(_ error: RegistryError) -> APIError {
        switch error {
        case .unknownVersion: return APIError(.notFound, code: "not_found", error.description)
        case .classesDiffer, .nothingToRollBack, .versionTaken: return APIError(.conflict, code: "conflict", error.description)
        }
    }

    func registryCall<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as RegistryError { throw registryError(error) }
    }

    /// `GET /v1/models/retraining`: the retraining log, newest pass first (`limit`, default 50, at most 500); with
    /// `feed`, that feed's own model's passes only.
    @Sendable func retraining(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let limit = try Query.integer(request, "limit", in: 1...500, default: 50) ?? 50
        let selection: RetrainPass.Selection = try feed(request).map { .model(feed: $0) } ?? .all
        return JSON.response(API.RetrainLog(scheduled: retrainer.configuration.enabled, passes: try await retrainer.passes(selection, limit: limit)))
    }

    /// `POST /v1/models/retraining`: starts a pass now, in the background (202); 409 while one is training or in shadow.
    @Sendable func retrainNow(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        // The caller's mistakes first: a bad feed is a 422 whether or not a pass is running.
        let feed = try feed(request)
        if let feed, retrainer.feedData[feed] == nil {
            throw APIError(.unprocessableContent, code: "invalid_value", "feed '\(feed)' is not listed in retrain.feeds, so the loop does not retrain a model of its own for it; list it there", field: "feed")
        }
        if let latest = try await retrainer.passes(.all, limit: 1).first, [.training, .shadow, .promoting].contains(latest.state) {
            // Whose pass, and when a training one's lease runs out (a node killed mid-training holds the loop until then).
            let whose = latest.feed.map { " (feed \($0)'s model)" } ?? ""
            let until = latest.state == .training ? " or its lease ends (\(ISOTime.format(latest.leaseUntil)))" : ""
            throw APIError(.conflict, code: "conflict",
                           "Pass \(latest.id)\(whose) is \(latest.state.rawValue) (\(latest.message)); a new pass can start when it ends\(until). GET /v1/models/retraining shows it.")
        }
        // The pass trains in the background; the answer waits only until its row is written, so that 202 means a
        // pass really started (two requests at once: one starts it, the other is told it lost).
        let retrainer = self.retrainer
        let (outcome, report) = AsyncStream.makeStream(of: Result<RetrainPass?, any Error>.self)
        Task.detached(priority: .utility) {
            do {
                let pass = try await retrainer.tick(feed: feed, force: true) { report.yield(.success($0)) }
                report.yield(.success(nil))  // ignored when the start was reported
                report.finish()
                if let pass { retrainer.logger.info("retraining: \(pass.message)", metadata: ["pass": "\(pass.id)"]) }
            } catch {
                report.yield(.failure(error))
                report.finish()
                retrainer.logger.error("a retraining pass asked for by an admin failed", metadata: ["error": "\(error)"])
            }
        }
        var first: Result<RetrainPass?, any Error> = .success(nil)
        for await result in outcome {
            first = result
            break
        }
        guard let started = try first.get() else {
            let latest = try await retrainer.passes(.all, limit: 1).first
            throw APIError(.conflict, code: "conflict",
                           "No pass started: " + (latest.map { "pass \($0.id) is \($0.state.rawValue) (\($0.message))" } ?? "another request or node came first")
                           + ". GET /v1/models/retraining shows the log.")
        }
        return JSON.response(API.RetrainStarted(started: true, message: "Pass \(started.id) is training; GET /v1/models/retraining follows it."), status: .accepted)
    }

    @Sendable func list(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let active = scoring.model.version, feeds = scoring.feedModelVersions
        return JSON.response(API.ModelList(active: active, feeds: feeds, versions: try await registry.versions().map { API.ModelVersion($0, active: active, feeds: feeds) },
                                           history: try await registry.history(), shadow: scoring.shadowReport))
    }

    /// The body is the model file itself (`application/octet-stream`): 201 when registered, 200 when that very file
    /// was registered before.
    @Sendable func register(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        var request = request
        let buffer: ByteBuffer
        let tooLarge = APIError(.contentTooLarge, code: "body_too_large", "A model file is at most \(Self.maxModelBytes >> 20) MiB.")
        if let declared = JSON.declaredLength(request.headers), declared > Self.maxModelBytes { throw tooLarge }
        do {
            buffer = try await request.collectBody(upTo: Self.maxModelBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        guard buffer.readableBytes > 0 else {
            throw APIError(.unprocessableContent, code: "invalid_value", "The body is empty; send the model file (.winnow) as the body.", field: "body")
        }
        let (record, isNew) = try await registryCall { try await registry.register(Array(buffer.readableBytesView), by: context.caller.name) }
        // The same file again registers nothing: 200 with the version as it was registered.
        return JSON.response(API.ModelAnswer(record, active: scoring.model.version), status: isNew ? .created : .ok)
    }

    /// `?feed=F`: the operation is on that feed's own model; absent, on the shared one.
    func feed(_ request: Request) throws -> String? {
        try Query.string(request, "feed").map(Query.feed)
    }

    @Sendable func promote(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let version = try context.parameters.require("version")
        let feed = try feed(request)
        let record = try await registryCall { try await registry.promote(Query.percentDecoded(version) ?? version, by: context.caller.name, feed: feed) }
        return JSON.response(API.ModelAnswer(record, active: (feed.map(scoring.model(for:)) ?? scoring.model).version, feed: feed))
    }

    @Sendable func rollback(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try feed(request)
        let record = try await registryCall { try await registry.rollback(by: context.caller.name, feed: feed) }
        return JSON.response(API.ModelAnswer(record, active: (feed.map(scoring.model(for:)) ?? scoring.model).version, feed: feed))
    }

    @Sendable func shadow(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let version = try context.parameters.require("version")
        let feed = try feed(request)
        // A retraining pass's shadow holds the shadow slot: the loop would put its candidate back within a second.
        if let pass = try await retrainer.passInShadow(), let candidate = pass.candidate, candidate != (Query.percentDecoded(version) ?? version) {
            throw APIError(.conflict, code: "conflict",
                           "Retraining pass \(pass.id)\(pass.feed.map { " (feed \($0))" } ?? "") has \(candidate) in shadow until \(pass.shadowUntil.map(ISOTime.format) ?? "its end"); wait for it, or end it with DELETE /v1/models/shadow (the pass then ends, not promoted).")
        }
        _ = try await registryCall { try await registry.shadow(Query.percentDecoded(version) ?? version, feed: feed) }
        return JSON.response(API.ShadowAnswer(shadow: scoring.shadowReport))
    }

    /// Stops shadow mode and answers with what the candidate would have done differently.
    /// A retraining pass's shadow ends with its pass (refused: not promoted).
    @Sendable func stopShadow(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let ended = try await retrainer.endShadow(by: context.caller.name)
        let report = scoring.stopShadow()
        guard report != nil || ended != nil else {
            throw APIError(.notFound, code: "not_found", "No model runs in shadow mode; start one with POST /v1/models/VERSION/shadow.")
        }
        return JSON.response(API.ShadowAnswer(shadow: report))
    }
}
