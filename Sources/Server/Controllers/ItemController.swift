import Engine
import Foundation
import Hummingbird
import Services

/// `/v1/items` and `/v1/rank` (role feed): items in, decisions out, engagement, users' reports and appeals, ranking.
struct ItemController {
    let scoring: ScoringService
    let review: ReviewService
    let limits: ServerConfiguration

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1").add(middleware: RequireRole(.feed))
            .post("items", use: create)
            .post("items:batch", use: createBatch)
            .get("items/{id}", use: show)
            .post("items/{id}/engagement", use: engagement)
            .post("items/{id}/reports", use: report)
            .post("items/{id}/appeal", use: appeal)
            .post("rank", use: rank)
    }

    @Sendable func create(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.ItemRequest.self, from: request, limit: limits.media.maxItemBodyBytes)
        // The feed first: a key refused the feed waits for no media to be hashed.
        let feed = try context.feed(body.feed.map { try Query.feed($0) })
        let submission: ItemSubmission
        do {
            submission = try await body.submission(intake: limits.media.intake, feed: feed)
        } catch {
            throw APIError.validation(error)
        }
        switch try await scoring.submit([submission])[0] {
        case let .created(state): return JSON.response(status: .created) { API.ItemAnswer(state).write(&$0) }
        case let .existing(state): return JSON.response(status: .ok) { API.ItemAnswer(state).write(&$0) }
        case let .conflict(state): throw Self.conflict(state)
        case let .invalid(error): throw APIError.validation(error)
        }
    }

    static func conflict(_ state: ItemState) -> APIError {
        let id = state.submission.id, feed = state.submission.feed
        let unreserved = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let path = id.addingPercentEncoding(withAllowedCharacters: unreserved) ?? id
        return APIError(.conflict, code: "conflict",
                        "Item '\(id)' in feed '\(feed)' was stored with different content; an item id cannot be reused. GET /v1/items/\(path)?feed=\(feed) shows the stored item.",
                        field: "id")
    }

    @Sendable func createBatch(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.BatchRequest.self, from: request, limit: limits.maxBatchBodyBytes)
        guard !body.items.isEmpty else { throw APIError(.unprocessableContent, code: "invalid_value", "Send at least one item.", field: "items") }
        guard body.items.count <= limits.maxBatchItems else {
            throw APIError(.unprocessableContent, code: "too_many_items",
                           "\(body.items.count) items in one batch; the limit is \(limits.maxBatchItems). Split the batch.", field: "items")
        }
        // Every item's feed is one the key works, or nothing is stored (a 403 naming the first that is not). A feed
        // name that is not one is that item's own 422, as its other values are.
        var feeds: [String?] = []
        for (index, item) in body.items.enumerated() {
            guard item.feed.map(Policy.isValidFeed) ?? true else { feeds.append(nil); continue }
            do {
                feeds.append(try context.feed(item.feed))
            } catch var error as APIError {
                error.field = "items[\(index)].feed"
                throw error
            }
        }
        // Each item's media is hashed on its own: a bad image fails its item, and the batch stores the rest.
        var outcomes = [ScoringService.Submitted?](repeating: nil, count: body.items.count)
        var submissions: [ItemSubmission] = []
        var positions: [Int] = []
        for (index, item) in body.items.enumerated() {
            guard let feed = feeds[index] else {
                outcomes[index] = .invalid(ValidationError(field: "feed", PolicyError.invalidFeed(item.feed ?? "").description))
                continue
            }
            do {
                submissions.append(try await item.submission(intake: limits.media.intake, feed: feed))
                positions.append(index)
            } catch {
                outcomes[index] = .invalid(error)
            }
        }
        for (position, outcome) in zip(positions, try await scoring.submit(submissions)) { outcomes[position] = outcome }
        var answer = API.BatchAnswer(created: 0, existing: 0, failed: 0, results: [])
        answer.results.reserveCapacity(outcomes.count)
        for (index, outcome) in outcomes.map({ $0! }).enumerated() {
            let id = body.items[index].id
            switch outcome {
            case let .created(state):
                answer.created += 1
                answer.results.append(.init(index: index, id: id, status: 201, item: API.ItemAnswer(state)))
            case let .existing(state):
                answer.existing += 1
                answer.results.append(.init(index: index, id: id, status: 200, item: API.ItemAnswer(state)))
            case let .conflict(state):
                answer.failed += 1
                let error = Self.conflict(state)
                answer.results.append(.init(index: index, id: id, status: 409, error: .init(code: error.code, message: error.message, field: "items[\(index)].id")))
            case let .invalid(validation):
                answer.failed += 1
                let error = APIError.validation(validation)
                answer.results.append(.init(index: index, id: id, status: Int(error.status.code),
                                            error: .init(code: error.code, message: error.message, field: "items[\(index)].\(validation.field)")))
            }
        }
        return JSON.response(capacity: 1_024 * answer.results.count) { answer.write(&$0) }
    }

    /// Feeds (and admins) only: moderators see an item through its ticket, which withholds the model's answer from a
    /// blind audit and earlier verdicts from a gold item.
    @Sendable func show(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let (feed, id) = try context.itemAddress(request)
        guard let (state, history) = try await scoring.item(feed: feed, id: id) else { throw Query.itemNotFound(feed: feed, id: id) }
        let s = state.submission
        return JSON.response(API.ItemDetail(
            item: .init(id: s.id, feed: s.feed, text: s.text, language: s.language, author: s.author, createdAt: state.createdAt, receivedAt: state.receivedAt),
            current: API.ItemAnswer(state), engagement: state.engagement,
            history: try context.caller.role == .admin ? history : API.feedHistory(history)))
    }

    @Sendable func engagement(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.EngagementRequest.self, from: request, limit: limits.maxBodyBytes)
        let (feed, id) = try context.itemAddress(request, bodyFeed: body.feed)
        let snapshot = EngagementSnapshot(at: body.at ?? scoring.clock(), counters: body.counters)
        guard let outcome = try await scoring.engagement(feed: feed, id: id, snapshot: snapshot) else { throw Query.itemNotFound(feed: feed, id: id) }
        let answer = API.EngagementAnswer(rescored: outcome.result != nil, recorded: outcome.recorded, engagement: outcome.state.engagement,
                                          item: API.ItemAnswer(outcome.state))
        return JSON.response { answer.write(&$0) }
    }

    /// One user's report of an item: weighted reports past the bar open (or join) a ticket.
    @Sendable func report(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.ReportBody.self, from: request, limit: limits.maxBodyBytes)
        let (feed, id) = try context.itemAddress(request, bodyFeed: body.feed)
        guard let outcome = try await review.report(feed: feed, id: id, reporter: body.reporter, at: body.at) else { throw Query.itemNotFound(feed: feed, id: id) }
        return JSON.response(API.ReportAnswer(recorded: outcome.recorded, weightedReports: (outcome.weightedReports * 1_000).rounded() / 1_000,
                                              ticket: outcome.ticket.map(API.FeedTicket.init)))
    }

    @Sendable func appeal(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.AppealBody.self, from: request, limit: limits.maxBodyBytes)
        let (feed, id) = try context.itemAddress(request, bodyFeed: body.feed)
        guard let ticket = try await review.appeal(feed: feed, id: id, by: context.caller.name, note: body.note) else {
            throw Query.itemNotFound(feed: feed, id: id)
        }
        return JSON.response(API.FeedTicketAnswer(ticket: API.FeedTicket(ticket)), status: .created)
    }

    @Sendable func rank(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.RankRequest.self, from: request, limit: limits.maxBodyBytes)
        let feed = try context.feed(body.feed.map { try Query.feed($0) })
        guard body.items.count <= limits.maxRankItems else {
            throw APIError(.unprocessableContent, code: "too_many_items", "\(body.items.count) candidates; the limit is \(limits.maxRankItems).", field: "items")
        }
        for (i, id) in body.items.enumerated() { try ValidationError.checkItemID(id, field: "items[\(i)]") }
        let (ranked, excluded) = try await scoring.rank(feed: feed, ids: body.items)
        return JSON.response(API.RankAnswer(feed: feed, profile: scoring.policy(feed: feed).relevance, ranked: ranked, excluded: excluded))
    }
}
