import Engine
import Foundation
import Hummingbird
import Services
import WinnowJSON

/// `/v1/policies/{feed}` (role admin): each feed's thresholds, rules and relevance profile. PUT replaces the whole
/// policy; PATCH changes part of it (a JSON merge patch: `{"rules": {"spam": {"remove": 0.9}}}` changes one cut-off,
/// `{"rules": {"spam": null}}` removes one class's rule). Each answer names the version it replaced and the rules it
/// removed.
struct PolicyController {
    let scoring: ScoringService
    let limits: ServerConfiguration

    func addRoutes(to router: Router<WinnowRequestContext>) {
        router.group("v1/policies").add(middleware: RequireRole(.admin))
            .get("{feed}", use: show)
            .put("{feed}", use: replace)
            .patch("{feed}", use: update)
    }

    @Sendable func show(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        return JSON.response(API.PolicyAnswer(policy: scoring.policy(feed: feed), isDefault: scoring.isDefaultPolicy(feed: feed)))
    }

    @Sendable func replace(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        let body = try await JSON.decode(API.PolicyBody.self, from: request, limit: limits.maxBodyBytes)
        try Self.check(body, feed: feed)
        return try await save(feed: feed, context: context) { _ in body.policy }
    }

    /// A JSON merge patch (RFC 7396) applied to the feed's newest policy, then checked as a whole policy is. Applied
    /// as a compare-and-set (`ScoringService.updatePolicy`): two patches at once both apply, one after the other.
    @Sendable func update(_ request: Request, _ context: WinnowRequestContext) async throws -> Response {
        let feed = try Query.feed(context.parameters.require("feed"))
        let patch = try await JSON.mergePatch(from: request, limit: limits.maxBodyBytes)
        return try await save(feed: feed, context: context) { before in
            let current = try JSONParser.parse(Array(JSON.encoder.encode(before)))
            // A null removing a member the policy does not have is a typo ("rulse": null) or a rule that is not there:
            // RFC 7396 ignores it; a strict API names it. Decoded with the nulls kept, a known optional field passes.
            let idle = current.idleNulls(in: patch)
            if !idle.isEmpty {
                var probe = StrictDecoder.api
                probe.nullMeansNone = true
                do {
                    _ = try probe.decode(API.PolicyBody.self, from: current.merged(with: patch, keepingIdleNulls: true))
                } catch let error as JSONError where error.kind == .unknownField {
                    throw JSON.apiError(error)
                } catch let error as JSONError where error.field.map(idle.contains) == true {
                    let field = error.field!
                    throw APIError(.unprocessableContent, code: "invalid_value",
                                   "'\(field)' is not in feed \(feed)'s policy, so there is nothing to remove; GET /v1/policies/\(feed) shows it.", field: field)
                } catch {
                    // Anything else is the merged policy's own problem, named by the decode below.
                }
            }
            let body = try JSON.decode(API.PolicyBody.self, from: current.merged(with: patch))
            try Self.check(body, feed: feed)
            var unchanged = body.policy
            unchanged.feed = feed
            unchanged.version = before.version
            // Nothing changes: no new version (a retried or empty patch must not bump it).
            return unchanged == before ? nil : body.policy
        }
    }

    /// The body may name its feed (a policy printed by `winnow policy suggest --json` does): the path's, or a 422.
    static func check(_ body: API.PolicyBody, feed: String) throws {
        if let named = body.feed, named != feed {
            throw APIError(.unprocessableContent, code: "invalid_value",
                           "The body is the policy of feed '\(named.prefix(64))', the path names '\(feed)'; they must agree (or leave feed out).", field: "feed")
        }
    }

    /// Stores what `change` makes of the feed's newest policy; the answer names the version it replaced and the rules
    /// it removed (none of either when nothing changed).
    func save(feed: String, context: WinnowRequestContext, _ change: (Policy) throws -> Policy?) async throws -> Response {
        let update: (saved: Policy, replaced: Policy)?
        do {
            update = try await scoring.updatePolicy(feed: feed, by: context.caller.name, change)
        } catch let error as PolicyContention {
            throw APIError(.conflict, code: "conflict", error.description)
        }
        guard let (saved, replaced) = update else {
            return JSON.response(API.PolicyAnswer(policy: scoring.policy(feed: feed), isDefault: scoring.isDefaultPolicy(feed: feed), replacedVersion: nil, removedRules: nil))
        }
        return JSON.response(API.PolicyAnswer(policy: saved, isDefault: false, replacedVersion: replaced.version,
                                              removedRules: replaced.rules.keys.filter { saved.rules[$0] == nil }.sorted()))
    }
}
