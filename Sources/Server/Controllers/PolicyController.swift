import Engine
import Foundation
import Hummingbird
import Services

/// `/v1/policies/{feed}` (role admin): each feed's thresholds, rules and relevance profile.
struct PolicyController {
    let scoring: ScoringService
    let limits: ServerConfiguration

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1/policies").add(middleware: RequireRole(.admin))
            .get("{feed}", use: show)
            .put("{feed}", use: replace)
    }

    @Sendable func show(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        return JSON.response(API.PolicyAnswer(policy: scoring.policy(feed: feed), isDefault: scoring.isDefaultPolicy(feed: feed)))
    }

    @Sendable func replace(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        let body = try await JSON.decode(API.PolicyBody.self, from: request, limit: limits.maxBodyBytes)
        // The body may name its feed (a policy printed by `winnow policy suggest --json` does): the path's, or a 422.
        if let named = body.feed, named != feed {
            throw APIError(.unprocessableContent, code: "invalid_value",
                           "The body is the policy of feed '\(named.prefix(64))', the path names '\(feed)'; they must agree (or leave feed out).", field: "feed")
        }
        var policy = body.policy
        policy.feed = feed
        let saved = try await scoring.savePolicy(policy, by: context.caller.name)
        return JSON.response(API.PolicyAnswer(policy: saved, isDefault: false))
    }
}
