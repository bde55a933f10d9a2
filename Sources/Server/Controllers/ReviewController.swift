import Engine
import Foundation
import Hummingbird
import Services

/// `/v1/review` (role moderator): claiming, deciding, releasing, renewing and escalating tickets, the queue and its
/// figures; gold items and `/v1/stats`, the audit estimates (role admin).
struct ReviewController {
    let review: ReviewService
    let limits: ServerConfiguration

    var scoring: ScoringService { review.scoring }

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1/review").add(middleware: RequireRole(.moderator))
            .post("claim", use: claim)
            .get("queue", use: queue)
            .get("stats", use: stats)
            .get("tickets/{id}", use: show)
            .post("tickets/{id}/decision", use: decide)
            .post("tickets/{id}/release", use: release)
            .post("tickets/{id}/renew", use: renew)
            .post("tickets/{id}/escalate", use: escalate)
            .post("tickets/{id}/undo", use: undo)
        router.group("v1").add(middleware: RequireRole(.admin))
            .post("review/gold", use: addGold)
            .get("stats", use: auditStats)
    }

    @Sendable func claim(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.ClaimBody.self, from: request, limit: limits.maxBodyBytes)
        let key = try context.caller
        let views = try await review.claim(body.request(reviewer: key.name, workable: key.workableTiers), allowedTiers: key.workableTiers)
        let now = scoring.clock()
        // Copies this claim holds are part of the waves: deciding one settles them too.
        let waves = try await review.waves(of: views, for: key.name)
        let tickets = zip(views, waves).map { view, wave in detail(now: now, viewer: key.name)(view).with(wave: wave) }
        return JSON.response(API.ClaimAnswer(tickets: tickets))
    }

    func detail(now: Date, viewer: String) -> (TicketView) -> API.TicketDetail {
        let classes = scoring.model.classes, configuration = scoring.engine.configuration
        return { API.TicketDetail($0, now: now, viewer: viewer, classes: classes, configuration: configuration.review, clearLabel: configuration.clearLabel) }
    }

    @Sendable func show(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.caller
        let view = try await review.ticket(id: context.rowID(of: "ticket"), viewer: key.name, allowedTiers: key.workableTiers)
        return JSON.response(detail(now: scoring.clock(), viewer: key.name)(view).with(wave: try await review.wave(of: view, for: key.name)))
    }

    @Sendable func decide(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let id = try context.rowID(of: "ticket")
        let body = try await JSON.decode(API.DecisionBody.self, from: request, limit: limits.maxBodyBytes)
        let (decided, copies) = try await review.decide(ticket: id, reviewer: context.caller.name, decision: body.decision, wave: body.wave ?? false)
        return JSON.response(API.DecisionAnswer(ticket: API.TicketSummary(decided.ticket, now: scoring.clock()), label: body.label,
                                                action: decided.action ?? .allow, reasonCode: body.reasonCode, outcome: decided.outcome.rawValue,
                                                wave: body.wave == true ? .init(copies) : nil))
    }

    @Sendable func release(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let id = try context.rowID(of: "ticket")
        let body = try await JSON.decodeIfPresent(API.VersionBody.self, from: request, limit: limits.maxBodyBytes)
        let ticket = try await review.release(ticket: id, reviewer: context.caller.name, version: body?.version)
        return JSON.response(API.TicketAnswer(ticket: API.TicketSummary(ticket, now: scoring.clock())))
    }

    @Sendable func renew(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let ticket = try await review.renew(ticket: context.rowID(of: "ticket"), reviewer: context.caller.name)
        return JSON.response(API.TicketAnswer(ticket: API.TicketSummary(ticket, now: scoring.clock())))
    }

    @Sendable func escalate(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let id = try context.rowID(of: "ticket")
        let body = try await JSON.decode(API.EscalateBody.self, from: request, limit: limits.maxBodyBytes)
        let ticket = try await review.escalate(ticket: id, reviewer: context.caller.name, version: body.version, note: body.note)
        return JSON.response(API.TicketAnswer(ticket: API.TicketSummary(ticket, now: scoring.clock())))
    }

    /// Takes back the caller's own decision (within `engine.review.undoMinutes`): the ticket, open and leased to them
    /// again, as a claim shows it, and the labels withdrawn.
    @Sendable func undo(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.caller
        let undone = try await review.undo(ticket: context.rowID(of: "ticket"), reviewer: key.name, allowedTiers: key.workableTiers)
        let view = try await review.ticket(id: undone.ticket.id, viewer: key.name, allowedTiers: key.workableTiers)
        return JSON.response(API.UndoAnswer(ticket: detail(now: scoring.clock(), viewer: key.name)(view), withdrawnLabels: undone.labels))
    }

    @Sendable func queue(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let key = try context.caller
        // Without ?tier, the key's first tier, as a claim without tiers takes (a key of tier 2 alone was refused tier 1).
        let tier: ReviewTier
        if let tierText = try Query.string(request, "tier") {
            guard let named = Query.canonicalInteger(tierText, as: Int.self).flatMap(ReviewTier.init(rawValue:)) else {
                throw APIError(.unprocessableContent, code: "invalid_value", "tier is 1 or 2", field: "tier")
            }
            tier = named
        } else {
            tier = key.workableTiers.min { $0.rawValue < $1.rawValue } ?? .one
        }
        let limit = try Query.integer(request, "limit", default: 50)!
        let page = try await review.queue(tier: tier, cursor: try Query.string(request, "cursor"), limit: limit,
                                          reader: key.name, allowedTiers: key.workableTiers)
        let now = scoring.clock()
        return JSON.response(API.QueueAnswer(tier: tier.rawValue, tickets: page.tickets.map { API.TicketSummary($0.ticket, now: now) }, nextCursor: page.next))
    }

    /// The queue's figures; the reviewers' (pace, gold accuracy, agreement) for admin keys only. A moderator read every
    /// colleague's accuracy, and their own gold counts before and after a decision told whether its ticket was gold
    /// (outside review): for them the lists are empty.
    @Sendable func stats(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        var stats = try await review.stats()
        if try context.caller.role != .admin {
            stats.reviewers = []
            stats.agreement = ReviewStats.Agreement(pairs: [])
        }
        return JSON.response(stats)
    }

    @Sendable func addGold(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let body = try await JSON.decode(API.GoldBody.self, from: request, limit: limits.maxBodyBytes)
        let feed = try Query.feed(body.feed ?? "default")
        try ValidationError.checkItemID(body.id, field: "id")
        guard try await review.addGold(feed: feed, id: body.id, label: body.label, by: context.caller.name) else {
            throw Query.itemNotFound(feed: feed, id: body.id)
        }
        return JSON.response(["feed": feed, "id": body.id, "label": body.label], status: .created)
    }

    /// `GET /v1/stats`: the audit estimates of the automatic path, and the review queue's figures.
    /// `since` / `until` (ISO 8601) limit the estimates to automatic decisions made in that period.
    @Sendable func auditStats(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let since = try Query.time(request, "since"), until = try Query.time(request, "until")
        if let since, let until, until < since {
            throw APIError(.unprocessableContent, code: "invalid_value", "until must not be before since", field: "until")
        }
        return JSON.response(API.StatsAnswer(audits: try await review.auditEstimates(since: since, until: until), queue: try await review.stats()))
    }
}
