import Engine
import Foundation
import Learning

/// The JSON bodies of the API: what feeds send and what they get back.
enum API {
    /// `POST /v1/items` and each element of a batch. Only `id` and `text` are required.
    struct ItemRequest: Decodable {
        var id: String
        var feed: String?
        var text: String
        var language: String?
        var author: Author?
        var createdAt: Date?

        var submission: ItemSubmission {
            ItemSubmission(id: id, feed: feed ?? "default", text: text, language: language, author: author, createdAt: createdAt)
        }
    }

    struct BatchRequest: Decodable {
        var items: [ItemRequest]
    }

    /// An item's decision at its latest stage.
    struct Decision: Encodable {
        var action: Action
        var label: String?
        var probability: Double?
        var reason: String
        var policyVersion: Int
        var priority: ReviewPriority?
    }

    /// The answer for one item: where it stands after its latest stage.
    struct ItemAnswer: Encodable {
        var id: String
        var feed: String
        var stage: Stage
        var trigger: String
        var probabilities: [String: Double]
        var label: String
        var evidence: Double
        var decision: Decision
        var reasons: [Reason]
        var relevance: Double
        var relevanceFactors: RelevanceScore
        var modelVersion: String
        var policyVersion: Int
        var scoredAt: Date
        var createdAt: Date
        var changed: String?

        init(_ state: ItemState) {
            let r = state.current
            id = state.submission.id
            feed = state.submission.feed
            stage = r.stage
            trigger = r.inputs.trigger
            probabilities = r.probabilities
            label = r.label
            evidence = r.evidence
            decision = Decision(action: r.decision.action, label: r.decision.label, probability: r.decision.probability, reason: r.decision.reason,
                                policyVersion: r.decision.policyVersion, priority: r.priority)
            reasons = r.reasons
            relevance = r.relevance.relevance
            relevanceFactors = r.relevance
            modelVersion = r.modelVersion
            policyVersion = r.decision.policyVersion
            scoredAt = r.scoredAt
            createdAt = state.createdAt
            changed = r.changed
        }
    }

    struct BatchResult: Encodable {
        var index: Int
        var id: String
        /// 201 stored now, 200 stored before (the stored answer), 409 conflict, 413/422 invalid.
        var status: Int
        var item: ItemAnswer?
        var error: APIError.Body.Detail?
    }

    struct BatchAnswer: Encodable {
        var created: Int
        var existing: Int
        var failed: Int
        var results: [BatchResult]
    }

    /// `POST /v1/items/{id}/engagement`: cumulative counters (missing ones are 0) at `at` (default: now).
    struct EngagementRequest: Decodable {
        var feed: String?
        var at: Date?
        var views: Int?
        var likes: Int?
        var shares: Int?
        var comments: Int?
        var reports: Int?
        var hides: Int?

        var counters: Engagement {
            Engagement(views: views ?? 0, likes: likes ?? 0, shares: shares ?? 0, comments: comments ?? 0, reports: reports ?? 0, hides: hides ?? 0)
        }
    }

    struct EngagementAnswer: Encodable {
        /// Whether stage 2 ran on this update.
        var rescored: Bool
        /// False when this exact snapshot was recorded before.
        var recorded: Bool
        var engagement: EngagementSnapshot?
        var item: ItemAnswer
    }

    struct ItemDetail: Encodable {
        struct Item: Encodable {
            var id: String
            var feed: String
            var text: String
            var language: String?
            var author: Author?
            var createdAt: Date
            var receivedAt: Date
        }
        var item: Item
        var current: ItemAnswer
        var engagement: EngagementSnapshot?
        var history: [HistoryEntry]
    }

    struct RankRequest: Decodable {
        var feed: String?
        var items: [String]
    }

    struct RankAnswer: Encodable {
        var feed: String
        var profile: RelevanceProfile
        var ranked: [ScoringService.Ranked]
        var excluded: [ScoringService.Excluded]
    }

    struct PolicyAnswer: Encodable {
        var policy: Policy
        /// True when the feed has no stored policy and the standard one applies.
        var isDefault: Bool
    }
}
