import Engine
import Foundation
import Services
import Hummingbird
import NIOCore

/// One route of the API, as served and as documented in `/openapi.yaml`.
public struct RouteSpec: Hashable, Sendable, CustomStringConvertible {
    public var method: String
    /// OpenAPI style: `/v1/items/{id}`.
    public var path: String
    public var description: String { "\(method) \(path)" }
}

/// The HTTP API: every route registers through `add`, so the list of routes is the router itself (and a test
/// checks each against the OpenAPI document).
public struct Routes: Sendable {
    let service: ScoringService
    let review: ReviewService
    let registry: ModelRegistry
    /// Set when `onlineLearning` is on.
    let learner: OnlineLearner?
    let configuration: ServerConfiguration

    public init(service: ScoringService, configuration: ServerConfiguration, review: ReviewService? = nil) {
        self.service = service
        self.review = review ?? ReviewService(scoring: service)
        self.registry = ModelRegistry(scoring: service, directory: configuration.registry)
        self.learner = configuration.onlineLearning ? OnlineLearner(registry: registry) : nil
        self.configuration = configuration
    }

    /// Builds the router with its middleware: metrics, JSON errors, API keys.
    public func router() -> (router: Router<WinnowRequestContext>, routes: [RouteSpec]) {
        let router = Router(context: WinnowRequestContext.self)
        let table = RouteTable()
        router.add(middleware: MetricsMiddleware(metrics: service.metrics))
        router.add(middleware: ErrorMiddleware(routes: table))
        router.add(middleware: AuthMiddleware(store: service.store, cacheSeconds: configuration.keyCacheSeconds, clock: service.clock))
        func add(_ method: HTTPRequest.Method, _ path: String,
                 _ handler: @escaping @Sendable (Request, WinnowRequestContext) async throws -> Response) {
            table.add(RouteSpec(method: method.rawValue, path: path))
            router.on(RouterPath(path), method: method, use: handler)
        }
        add(.get, "/health", health)
        add(.get, "/ready", ready)
        add(.get, "/metrics", metrics)
        add(.get, "/openapi.yaml", openAPI)
        add(.post, "/v1/items", createItem)
        add(.post, "/v1/items:batch", createBatch)
        add(.get, "/v1/items/{id}", getItem)
        add(.post, "/v1/items/{id}/engagement", engagement)
        add(.post, "/v1/items/{id}/reports", report)
        add(.post, "/v1/items/{id}/appeal", appeal)
        add(.post, "/v1/rank", rank)
        add(.post, "/v1/review/claim", claim)
        add(.get, "/v1/review/queue", queue)
        add(.get, "/v1/review/stats", reviewStats)
        add(.post, "/v1/review/gold", addGold)
        add(.get, "/v1/stats", auditStats)
        add(.get, "/v1/models", listModels)
        add(.post, "/v1/models", registerModel)
        add(.post, "/v1/models/{version}/promote", promoteModel)
        add(.post, "/v1/models/rollback", rollbackModel)
        add(.post, "/v1/models/{version}/shadow", shadowModel)
        add(.delete, "/v1/models/shadow", stopShadow)
        add(.get, "/v1/labels", listLabels)
        add(.post, "/v1/labels", importLabels)
        add(.post, "/v1/labels/{id}/withdraw", withdrawLabel)
        add(.post, "/v1/labels/{id}/correct", correctLabel)
        add(.get, "/v1/review/tickets/{id}", getTicket)
        add(.post, "/v1/review/tickets/{id}/decision", decide)
        add(.post, "/v1/review/tickets/{id}/release", release)
        add(.post, "/v1/review/tickets/{id}/renew", renew)
        add(.post, "/v1/review/tickets/{id}/escalate", escalate)
        add(.get, "/v1/policies/{feed}", getPolicy)
        add(.put, "/v1/policies/{feed}", putPolicy)
        return (router, table.all)
    }

    // MARK: Operations

    @Sendable func health(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        JSON.response(["status": "ok"])
    }

    @Sendable func ready(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        do {
            try await service.store.checkWritable()
        } catch {
            return JSON.response(["status": "not ready", "reason": "the database is not writable: \(error)"], status: .serviceUnavailable)
        }
        return JSON.response(["status": "ready", "model": service.model.version, "database": "writable"])
    }

    @Sendable func metrics(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.feed, .moderator, .admin)
        try? await service.updateSchedulerGauges()
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                        body: .init(byteBuffer: ByteBuffer(string: service.metrics.render())))
    }

    /// The API's contract, public (as /health and /ready): what a client may send and will get back is no secret.
    @Sendable func openAPI(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }

    // MARK: Items

    @Sendable func createItem(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.feed)
        let body = try await JSON.decode(API.ItemRequest.self, from: request, limit: configuration.maxBodyBytes)
        switch try await service.submit([body.submission])[0] {
        case let .created(state): return JSON.response(status: .created) { API.ItemAnswer(state).write(&$0) }
        case let .existing(state): return JSON.response(status: .ok) { API.ItemAnswer(state).write(&$0) }
        case let .conflict(state): throw conflict(state)
        case let .invalid(error): throw APIError.validation(error)
        }
    }

    func conflict(_ state: ItemState) -> APIError {
        let id = state.submission.id, feed = state.submission.feed
        let unreserved = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let path = id.addingPercentEncoding(withAllowedCharacters: unreserved) ?? id
        return APIError(.conflict, code: "conflict",
                        "Item '\(id)' in feed '\(feed)' was stored with different content; an item id cannot be reused. GET /v1/items/\(path)?feed=\(feed) shows the stored item.",
                        field: "id")
    }

    @Sendable func createBatch(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.feed)
        let body = try await JSON.decode(API.BatchRequest.self, from: request, limit: configuration.maxBatchBodyBytes)
        guard !body.items.isEmpty else { throw APIError(.unprocessableContent, code: "invalid_value", "Send at least one item.", field: "items") }
        guard body.items.count <= configuration.maxBatchItems else {
            throw APIError(.unprocessableContent, code: "too_many_items",
                           "\(body.items.count) items in one batch; the limit is \(configuration.maxBatchItems). Split the batch.", field: "items")
        }
        let outcomes = try await service.submit(body.items.map(\.submission))
        var answer = API.BatchAnswer(created: 0, existing: 0, failed: 0, results: [])
        answer.results.reserveCapacity(outcomes.count)
        for (index, outcome) in outcomes.enumerated() {
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
                let error = conflict(state)
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

    /// The item id from the path and the feed from the query (default "default").
    func address(_ request: Request, _ context: WinnowRequestContext, bodyFeed: String? = nil) throws -> (feed: String, id: String) {
        let raw = try context.parameters.require("id")
        let id = raw.removingPercentEncoding ?? raw
        let query = try request.uri.queryParameters["feed"].map { try checkedFeed(String($0)) }
        if let bodyFeed {
            guard Policy.isValidFeed(bodyFeed) else {
                throw APIError(.unprocessableContent, code: "invalid_value", PolicyError.invalidFeed(bodyFeed).description, field: "feed")
            }
            if let query, query != bodyFeed {
                throw APIError(.unprocessableContent, code: "invalid_value",
                               "The body names feed '\(bodyFeed)' and the query '\(query)'; name one, or the same in both.", field: "feed")
            }
        }
        return (query ?? bodyFeed ?? "default", id)
    }

    /// `feed` when it is a valid feed name, else a 422 naming `feed`.
    func checkedFeed(_ feed: String) throws -> String {
        guard Policy.isValidFeed(feed) else {
            throw APIError(.unprocessableContent, code: "invalid_value", PolicyError.invalidFeed(feed).description, field: "feed")
        }
        return feed
    }

    /// The ISO 8601 time in the query parameter `name`, nil when absent.
    /// - Throws: 422 naming the parameter when it is not a time.
    func queryTime(_ request: Request, _ name: String) throws -> Date? {
        guard let text = request.uri.queryParameters[name[...]].map(String.init) else { return nil }
        guard let date = ISOTime.parse(text) else {
            throw APIError(.unprocessableContent, code: "invalid_value", "\(name) is an ISO 8601 time such as 2026-11-26T00:00:00Z", field: name)
        }
        return date
    }

    func notFound(feed: String, id: String) -> APIError {
        APIError(.notFound, code: "not_found", "No item '\(id)' in feed '\(feed)'. Submit it with POST /v1/items, or pass ?feed=NAME if it is in another feed.")
    }

    /// Feeds (and admins) only: moderators see an item through its ticket, which withholds the model's answer from a
    /// blind audit and earlier verdicts from a gold item.
    @Sendable func getItem(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.feed)
        let (feed, id) = try address(request, context)
        guard let (state, history) = try await service.store.itemWithHistory(feed: feed, id: id) else { throw notFound(feed: feed, id: id) }
        let s = state.submission
        return JSON.response(API.ItemDetail(
            item: .init(id: s.id, feed: s.feed, text: s.text, language: s.language, author: s.author, createdAt: state.createdAt, receivedAt: state.receivedAt),
            current: API.ItemAnswer(state), engagement: state.engagement, history: history))
    }

    @Sendable func engagement(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.feed)
        let body = try await JSON.decode(API.EngagementRequest.self, from: request, limit: configuration.maxBodyBytes)
        let (feed, id) = try address(request, context, bodyFeed: body.feed)
        let snapshot = EngagementSnapshot(at: body.at ?? service.clock(), counters: body.counters)
        guard let outcome = try await service.engagement(feed: feed, id: id, snapshot: snapshot) else { throw notFound(feed: feed, id: id) }
        let answer = API.EngagementAnswer(rescored: outcome.result != nil, recorded: outcome.recorded, engagement: outcome.state.engagement,
                                          item: API.ItemAnswer(outcome.state))
        return JSON.response { answer.write(&$0) }
    }

    @Sendable func rank(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.feed)
        let body = try await JSON.decode(API.RankRequest.self, from: request, limit: configuration.maxBodyBytes)
        let feed = try checkedFeed(body.feed ?? "default")
        guard body.items.count <= configuration.maxRankItems else {
            throw APIError(.unprocessableContent, code: "too_many_items", "\(body.items.count) candidates; the limit is \(configuration.maxRankItems).", field: "items")
        }
        for (i, id) in body.items.enumerated() { try ValidationError.checkItemID(id, field: "items[\(i)]") }
        let (ranked, excluded) = try await service.rank(feed: feed, ids: body.items)
        return JSON.response(API.RankAnswer(feed: feed, profile: service.policy(feed: feed).relevance, ranked: ranked, excluded: excluded))
    }

    // MARK: Policies

    @Sendable func getPolicy(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.admin)
        let feed = try checkedFeed(context.parameters.require("feed"))
        return JSON.response(API.PolicyAnswer(policy: service.policy(feed: feed), isDefault: service.isDefaultPolicy(feed: feed)))
    }

    @Sendable func putPolicy(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.admin)
        let feed = try checkedFeed(context.parameters.require("feed"))
        let body = try await JSON.decode(API.PolicyBody.self, from: request, limit: configuration.maxBodyBytes)
        // The body may name its feed (a policy printed by `winnow policy suggest --json` does): the path's, or a 422.
        if let named = body.feed, named != feed {
            throw APIError(.unprocessableContent, code: "invalid_value",
                           "The body is the policy of feed '\(named.prefix(64))', the path names '\(feed)'; they must agree (or leave feed out).", field: "feed")
        }
        var policy = body.policy
        policy.feed = feed
        // A ValidationError becomes its 422 in ErrorMiddleware, as for every route.
        let saved = try await service.savePolicy(policy, by: key.name)
        return JSON.response(API.PolicyAnswer(policy: saved, isDefault: false))
    }

    // MARK: Review

    @Sendable func report(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.feed)
        let body = try await JSON.decode(API.ReportBody.self, from: request, limit: configuration.maxBodyBytes)
        let (feed, id) = try address(request, context, bodyFeed: body.feed)
        guard let outcome = try await review.report(feed: feed, id: id, reporter: body.reporter, at: body.at) else { throw notFound(feed: feed, id: id) }
        let now = service.clock()
        return JSON.response(API.ReportAnswer(recorded: outcome.recorded, weightedReports: (outcome.weightedReports * 1_000).rounded() / 1_000,
                                              ticket: outcome.ticket.map { API.TicketSummary($0, now: now) }))
    }

    @Sendable func appeal(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.feed)
        let body = try await JSON.decode(API.AppealBody.self, from: request, limit: configuration.maxBodyBytes)
        let (feed, id) = try address(request, context, bodyFeed: body.feed)
        guard let ticket = try await review.appeal(feed: feed, id: id, by: key.name, note: body.note) else { throw notFound(feed: feed, id: id) }
        return JSON.response(API.TicketAnswer(ticket: API.TicketSummary(ticket, now: service.clock())), status: .created)
    }

    @Sendable func claim(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.moderator)
        let body = try await JSON.decode(API.ClaimBody.self, from: request, limit: configuration.maxBodyBytes)
        let views = try await review.claim(body.request(reviewer: key.name))
        let now = service.clock()
        return JSON.response(API.ClaimAnswer(tickets: views.map(detail(now: now))))
    }

    func detail(now: Date) -> (TicketView) -> API.TicketDetail {
        let classes = service.model.classes, configuration = service.engine.configuration
        return { API.TicketDetail($0, now: now, classes: classes, configuration: configuration.review, clearLabel: configuration.clearLabel) }
    }

    /// The ticket id from the path.
    func ticketID(_ context: WinnowRequestContext) throws -> Int64 {
        let raw = try context.parameters.require("id")
        guard let id = Int64(raw), id > 0 else {
            throw APIError(.notFound, code: "not_found", "'\(raw)' is not a ticket id; ticket ids are positive whole numbers.")
        }
        return id
    }

    @Sendable func getTicket(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.moderator)
        let id = try ticketID(context)
        guard let view = try await service.store.ticket(id: id), view.ticket.goldLabel == nil || view.ticket.lease?.holder == context.key?.name else {
            throw TicketError.notFound(id)
        }
        return JSON.response(detail(now: service.clock())(view))
    }

    @Sendable func decide(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.moderator)
        let id = try ticketID(context)
        let body = try await JSON.decode(API.DecisionBody.self, from: request, limit: configuration.maxBodyBytes)
        let decided = try await review.decide(ticket: id, reviewer: key.name, decision: body.decision)
        await learnOnline(learn: decided.labels.map { ($0, decided.item.submission.text) }, by: key.name, context: context)
        let action = body.action ?? (body.label == service.engine.configuration.clearLabel ? .allow : .remove)
        return JSON.response(API.DecisionAnswer(ticket: API.TicketSummary(decided.ticket, now: service.clock()), label: body.label, action: action,
                                                reasonCode: body.reasonCode, outcome: decided.outcome.rawValue))
    }

    @Sendable func release(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.moderator)
        let id = try ticketID(context)
        let body = try await JSON.decodeIfPresent(API.VersionBody.self, from: request, limit: configuration.maxBodyBytes)
        let ticket = try await review.release(ticket: id, reviewer: key.name, version: body?.version)
        return JSON.response(API.TicketAnswer(ticket: API.TicketSummary(ticket, now: service.clock())))
    }

    @Sendable func renew(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.moderator)
        let ticket = try await review.renew(ticket: ticketID(context), reviewer: key.name)
        return JSON.response(API.TicketAnswer(ticket: API.TicketSummary(ticket, now: service.clock())))
    }

    @Sendable func escalate(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.moderator)
        let id = try ticketID(context)
        let body = try await JSON.decode(API.EscalateBody.self, from: request, limit: configuration.maxBodyBytes)
        let ticket = try await review.escalate(ticket: id, reviewer: key.name, version: body.version, note: body.note)
        return JSON.response(API.TicketAnswer(ticket: API.TicketSummary(ticket, now: service.clock())))
    }

    @Sendable func queue(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.moderator)
        let query = request.uri.queryParameters
        let tierText = query["tier"].map(String.init) ?? "1"
        guard let tier = Int(tierText).flatMap(ReviewTier.init(rawValue:)) else {
            throw APIError(.unprocessableContent, code: "invalid_value", "tier is 1 or 2", field: "tier")
        }
        let limitText = query["limit"].map(String.init) ?? "50"
        guard let limit = Int(limitText) else { throw APIError(.unprocessableContent, code: "invalid_value", "limit is a whole number", field: "limit") }
        let page = try await review.queue(tier: tier, cursor: query["cursor"].map(String.init), limit: limit)
        let now = service.clock()
        return JSON.response(API.QueueAnswer(tier: tier.rawValue, tickets: page.tickets.map { API.TicketSummary($0.ticket, now: now) }, nextCursor: page.next))
    }

    @Sendable func reviewStats(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.moderator)
        return JSON.response(try await review.stats())
    }

    @Sendable func addGold(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.require(.admin)
        let body = try await JSON.decode(API.GoldBody.self, from: request, limit: configuration.maxBodyBytes)
        let feed = try checkedFeed(body.feed ?? "default")
        try ValidationError.checkItemID(body.id, field: "id")
        guard try await review.addGold(feed: feed, id: body.id, label: body.label, by: key.name) else { throw notFound(feed: feed, id: body.id) }
        return JSON.response(["feed": feed, "id": body.id, "label": body.label], status: .created)
    }

    /// `GET /v1/stats`: the audit estimates of the automatic path, and the review queue's figures.
    /// `since` / `until` (ISO 8601) limit the estimates to automatic decisions made in that period.
    @Sendable func auditStats(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        try context.require(.admin)
        let since = try queryTime(request, "since"), until = try queryTime(request, "until")
        if let since, let until, until < since {
            throw APIError(.unprocessableContent, code: "invalid_value", "until must not be before since", field: "until")
        }
        return JSON.response(API.StatsAnswer(audits: try await review.auditEstimates(since: since, until: until), queue: try await review.stats()))
    }
}
