import Engine
import Foundation
import Hummingbird
import Services

/// Decisions that change, told to the feeds: `GET /v1/changes` (role feed, one feed; admin, any or every feed), a
/// long-polled page of decision events; `/v1/feeds/{feed}/webhook` (role admin), the feed's Standard Webhooks endpoint:
/// set, shown, tested, removed; `GET /v1/webhooks` (admin), every feed's.
struct EventController {
    let changes: ChangesFeed
    let webhooks: WebhookService
    let limits: ServerConfiguration

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1/changes").add(middleware: RequireRole(.feed, .admin))
            .get(use: changesPage)
        router.group("v1/feeds").add(middleware: RequireRole(.admin))
            .put("{feed}/webhook", use: setWebhook)
            .get("{feed}/webhook", use: showWebhook)
            .delete("{feed}/webhook", use: removeWebhook)
            .post("{feed}/webhook/test", use: testWebhook)
        router.group("v1/webhooks").add(middleware: RequireRole(.admin))
            .get(use: listWebhooks)
    }

    struct ChangesAnswer: Encodable {
        var events: [ChangeEvent]
        /// Pass as `after` for the next page.
        var next: Int64
        var more: Bool
    }

    @Sendable func changesPage(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        var feed = try Query.string(request, "feed").map(Query.feed)
        let key = try context.caller
        if feed == nil, key.role != .admin {
            // A key of one feed reads that feed's changes without naming it.
            guard let own = key.feeds, own.count == 1 else {
                throw APIError(.unprocessableContent, code: "missing_field", "Name the feed whose changes to read: ?feed=NAME (only an admin key reads every feed at once).",
                               field: "feed")
            }
            feed = key.defaultFeed
        }
        if let named = feed { _ = try context.feed(named) }
        let after = try Query.integer(request, "after", in: 0...Int64.max, default: 0)!
        let limit = try Query.integer(request, "limit", in: 1...ChangesFeed.maxLimit, default: 100)!
        var wait = 0.0
        if let text = try Query.string(request, "wait") {
            // Decimal digits with an optional fraction, as the API writes numbers ("0x2" and "0x1p1" read as 2, "2e0"
            // too: outside testing).
            let decimal = !text.isEmpty && text.allSatisfy { $0.isASCIIDigitCharacter || $0 == "." } && text.filter { $0 == "." }.count <= 1
                && text.first != "." && text.last != "."
            guard decimal, let seconds = Double(String(text)), seconds.isFinite, (0...ChangesFeed.maxWaitSeconds).contains(seconds) else {
                throw APIError(.unprocessableContent, code: "invalid_value",
                               "wait is a number of seconds from 0 to \(Int(ChangesFeed.maxWaitSeconds)) to hold the request open for new events", field: "wait")
            }
            wait = seconds
        }
        do {
            let retraining = try Query.bool(request, "retraining") ?? false
            let page = try await changes.read(feed: feed, after: after, limit: limit, wait: wait, retraining: retraining)
            return JSON.response(ChangesAnswer(events: page.events, next: page.next, more: page.more))
        } catch let error as CursorExpiredError {
            throw APIError(.gone, code: "cursor_expired", error.description, field: "after")
        }
    }

    // MARK: Webhooks

    struct WebhookBody: Decodable {
        var url: String
        var secret: String?
        var events: [String]?
    }

    @Sendable func setWebhook(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        let body = try await JSON.decode(WebhookBody.self, from: request, limit: limits.maxBodyBytes)
        let (status, secret, replaced) = try await webhooks.set(feed: feed, url: body.url, secret: body.secret, events: body.events,
                                                                by: context.caller.name)
        return JSON.response(WebhookView(status, secret: secret, replaced: replaced), status: replaced ? .ok : .created)
    }

    @Sendable func showWebhook(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        guard let status = try await webhooks.show(feed: feed) else { throw Self.noWebhook(feed) }
        return JSON.response(WebhookView(status))
    }

    @Sendable func removeWebhook(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        guard try await webhooks.remove(feed: feed) else { throw Self.noWebhook(feed) }
        return JSON.response(Removed(feed: feed, removed: true))
    }

    struct Removed: Encodable {
        var feed: String
        var removed: Bool
    }

    @Sendable func testWebhook(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        do {
            return JSON.response(try await webhooks.test(feed: feed))
        } catch let error as WebhookError where error.kind == .notFound {
            throw Self.noWebhook(feed)
        }
    }

    struct WebhookList: Encodable {
        var webhooks: [WebhookView]
    }

    @Sendable func listWebhooks(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        JSON.response(WebhookList(webhooks: try await webhooks.list().map { WebhookView($0) }))
    }

    static func noWebhook(_ feed: String) -> APIError {
        APIError(.notFound, code: "not_found", "Feed '\(feed)' has no webhook. Set one with PUT /v1/feeds/\(feed)/webhook {\"url\": \"https://…\"}.")
    }
}
