import Engine
import Foundation
import Storage
import Services
import Hummingbird

extension API {
    struct LabelImport: Decodable {
        struct Entry: Decodable {
            var feed: String?
            var id: String
            var label: String
            var tier: Int?
        }
        var labels: [Entry]
    }

    struct LabelCorrection: Decodable {
        var label: String
    }

    struct LabelPage: Encodable {
        var labels: [LabelRecord]
        /// Pass as `after` for the next page; absent on the last page.
        var nextAfter: Int64?
    }

    struct LabelAnswer: Encodable {
        var label: LabelRecord
    }
}

/// `/v1/labels` (role admin): every human judgement, imports, withdrawals and corrections.
extension Routes {
    static let maxLabelsPerImport = 10_000

    @Sendable func listLabels(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.admin)
        let query = request.uri.queryParameters
        let since = try queryTime(request, "since")
        let after = try query["after"].map { text -> Int64 in
            guard let n = Int64(String(text)), n >= 0 else { throw APIError(.unprocessableContent, code: "invalid_value", "after is a label id", field: "after") }
            return n
        }
        let limit = try query["limit"].map { text -> Int in
            guard let n = Int(String(text)), (1...1_000).contains(n) else {
                throw APIError(.unprocessableContent, code: "invalid_value", "limit is 1 to 1,000", field: "limit")
            }
            return n
        } ?? 100
        let labels = try await service.store.labels(since: since, after: after, limit: limit)
        return JSON.response(API.LabelPage(labels: labels, nextAfter: labels.count == limit ? labels.last?.id : nil))
    }

    @Sendable func importLabels(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.admin)
        let body = try await JSON.decode(API.LabelImport.self, from: request, limit: configuration.maxBatchBodyBytes)
        guard !body.labels.isEmpty else { throw APIError(.unprocessableContent, code: "invalid_value", "Send at least one label.", field: "labels") }
        guard body.labels.count <= Self.maxLabelsPerImport else {
            throw APIError(.unprocessableContent, code: "too_many_items", "\(body.labels.count) labels; the limit is \(Self.maxLabelsPerImport) a request.", field: "labels")
        }
        let classes = service.model.classes
        let now = service.clock()
        var records: [LabelRecord] = []
        for (i, entry) in body.labels.enumerated() {
            try ValidationError.checkItemID(entry.id, field: "labels[\(i)].id")
            guard classes.contains(entry.label) else {
                throw APIError(.unprocessableContent, code: "invalid_value",
                               "'\(entry.label)' is not a class of the model; use one of \(classes.joined(separator: ", "))", field: "labels[\(i)].label")
            }
            guard [1, 2].contains(entry.tier ?? 1) else {
                throw APIError(.unprocessableContent, code: "invalid_value", "tier is 1 or 2", field: "labels[\(i)].tier")
            }
            let feed = entry.feed ?? "default"
            guard Policy.isValidFeed(feed) else {
                throw APIError(.unprocessableContent, code: "invalid_value", PolicyError.invalidFeed(feed).description, field: "labels[\(i)].feed")
            }
            records.append(LabelRecord(feed: feed, itemID: entry.id, label: entry.label, source: "import", by: key.name, at: now, tier: entry.tier ?? 1))
        }
        let stored = try await service.store.addLabels(records)
        await learnOnline(learn: try await withTexts(stored), by: key.name, context: context)
        return JSON.response(API.LabelPage(labels: stored, nextAfter: nil), status: .created)
    }

    func labelID(_ context: WinnowRequestContext) throws -> Int64 {
        let raw = try context.parameters.require("id")
        guard let id = Int64(raw), id > 0 else { throw APIError(.notFound, code: "not_found", "'\(raw)' is not a label id.") }
        return id
    }

    @Sendable func withdrawLabel(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.admin)
        let id = try labelID(context)
        guard let (label, changed) = try await service.store.withdrawLabel(id: id, by: key.name, at: service.clock()) else {
            throw APIError(.notFound, code: "not_found", "No label \(id). GET /v1/labels lists them.")
        }
        if changed { await learnOnline(unlearn: try await withTexts([label]), by: key.name, context: context) }
        return JSON.response(API.LabelAnswer(label: label))
    }

    @Sendable func correctLabel(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.admin)
        let id = try labelID(context)
        let body = try await JSON.decode(API.LabelCorrection.self, from: request, limit: configuration.maxBodyBytes)
        let classes = service.model.classes
        guard classes.contains(body.label) else {
            throw APIError(.unprocessableContent, code: "invalid_value", "'\(body.label)' is not a class of the model; use one of \(classes.joined(separator: ", "))",
                           field: "label")
        }
        guard let (withdrawn, label) = try await service.store.correctLabel(id: id, label: body.label, by: key.name, at: service.clock()) else {
            throw APIError(.notFound, code: "not_found", "No label \(id). GET /v1/labels lists them.")
        }
        await learnOnline(learn: try await withTexts([label]), unlearn: try await withTexts(withdrawn.map { [$0] } ?? []), by: key.name, context: context)
        return JSON.response(API.LabelAnswer(label: label), status: .created)
    }

    /// Labels with their items' texts; labels of items Winnow has not stored are left out (there is no text to learn).
    func withTexts(_ labels: [LabelRecord]) async throws -> [(label: LabelRecord, text: String)] {
        var out: [(label: LabelRecord, text: String)] = []
        for (feed, group) in Dictionary(grouping: labels, by: \.feed) {
            let texts = Dictionary(try await service.store.items(feed: feed, ids: group.map(\.itemID)).map { ($0.submission.id, $0.submission.text) },
                                   uniquingKeysWith: { a, _ in a })
            out += group.compactMap { label in texts[label.itemID].map { (label, $0) } }
        }
        return out.sorted { ($0.label.id ?? 0) < ($1.label.id ?? 0) }
    }

    /// With online learning on, updates the active model; a failure is logged, never the request's (the labels are stored).
    func learnOnline(learn: [(label: LabelRecord, text: String)] = [], unlearn: [(label: LabelRecord, text: String)] = [], by: String,
                     context: WinnowRequestContext) async {
        guard let learner, !learn.isEmpty || !unlearn.isEmpty else { return }
        do {
            if unlearn.isEmpty { try await learner.learn(learn, by: by) } else { try await learner.unlearn(unlearn, learn: learn, by: by) }
        } catch {
            context.logger.error("online learning failed; the labels are stored for batch retraining", metadata: ["error": "\(PostgresStore.describe(error))"])
        }
    }
}
