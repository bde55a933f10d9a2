import Engine
import Foundation
import Hummingbird
import Services

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

    struct LabelImportAnswer: Encodable {
        /// The labels stored, with their ids.
        var labels: [LabelRecord]
        /// How many of the request's labels (an item once) the same importer had stored the same way before, and so
        /// were not stored again.
        var alreadyStored: Int
    }

    struct LabelAnswer: Encodable {
        var label: LabelRecord
    }
}

/// `/v1/labels` (role admin): every human judgement, imports, withdrawals and corrections.
struct LabelController {
    let labels: LabelService
    let limits: ServerConfiguration
    /// The most labels one import may carry.
    static let maxLabelsPerImport = 10_000

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1/labels").add(middleware: RequireRole(.admin))
            .get(use: list)
            .post(use: importLabels)
            .post("{id}/withdraw", use: withdraw)
            .post("{id}/correct", use: correct)
    }

    @Sendable func list(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let since = try Query.time(request, "since")
        let after = try Query.integer(request, "after", in: Int64(0)...Int64.max, default: nil)
        let limit = try Query.integer(request, "limit", in: 1...1_000, default: 100)!
        let page = try await labels.list(since: since, after: after, limit: limit)
        return JSON.response(API.LabelPage(labels: page, nextAfter: page.count == limit ? page.last?.id : nil))
    }

    @Sendable func importLabels(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.LabelImport.self, from: request, limit: limits.maxBatchBodyBytes)
        guard body.labels.count <= Self.maxLabelsPerImport else {
            throw APIError(.unprocessableContent, code: "too_many_items", "\(body.labels.count) labels; the limit is \(Self.maxLabelsPerImport) a request.", field: "labels")
        }
        let entries = body.labels.map { LabelService.Entry(feed: $0.feed ?? "default", id: $0.id, label: $0.label, tier: $0.tier ?? 1) }
        let outcome = try await labels.importLabels(entries, by: context.caller.name)
        // Nothing new (every label stood already, as on a retried import): 200, nothing created.
        return JSON.response(API.LabelImportAnswer(labels: outcome.stored, alreadyStored: outcome.alreadyStored),
                             status: outcome.stored.isEmpty ? .ok : .created)
    }

    static func notFound(_ id: Int64) -> APIError {
        APIError(.notFound, code: "not_found", "No label \(id). GET /v1/labels lists them.")
    }

    @Sendable func withdraw(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let id = try context.rowID(of: "label")
        guard let label = try await labels.withdraw(id: id, by: context.caller.name) else { throw Self.notFound(id) }
        return JSON.response(API.LabelAnswer(label: label))
    }

    @Sendable func correct(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let id = try context.rowID(of: "label")
        let body = try await JSON.decode(API.LabelCorrection.self, from: request, limit: limits.maxBodyBytes)
        switch try await labels.correct(id: id, label: body.label, by: context.caller.name) {
        case nil: throw Self.notFound(id)
        case let .corrected(_, new)?: return JSON.response(API.LabelAnswer(label: new), status: .created)
        case let .unchanged(current)?: return JSON.response(API.LabelAnswer(label: current))
        case let .alreadyWithdrawn(old)?:
            let when = old.withdrawnAt.map { " at \(ISOTime.format($0))" } ?? ""
            throw APIError(.conflict, code: "conflict",
                           "Label \(id) was withdrawn\(when)\(old.withdrawnBy.map { " by \($0)" } ?? "") (corrected, withdrawn or taken back), so it has no say any more; correct the label of item '\(old.itemID.prefix(100))' that is live now (GET /v1/labels lists them).")
        }
    }
}
