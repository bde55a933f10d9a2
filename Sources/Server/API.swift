import Engine
import Foundation
import WinnowJSON
import Services
import Learning

/// The JSON bodies of the API: what feeds send and what they get back.
enum API {
    /// `POST /v1/items` and each element of a batch. Only `id` and `text` are required.
    struct ItemRequest: Decodable, Equatable {
        var id: String
        var feed: String?
        /// Left out only by an item that is only media; when given, not blank.
        var text: String?
        var language: String?
        var author: Author?
        /// An RFC 3339 time, read by `submission`: in a batch, a time that is not one is its item's own 422 (as the
        /// item's other values are), not the whole batch's.
        var createdAt: String?
        /// Images and videos: a file's bytes in base64 (`data`), hashed and dropped, or an image's PDQ hash.
        var media: [MediaBody]?

        /// The submission, its media hashed.
        /// - Throws: `ValidationError` naming the field (`createdAt`, `media[i]`, `media[i].data`) and the problem.
        func submission(intake: MediaIntake, feed: String) async throws(ValidationError) -> ItemSubmission {
            if let text, text.isBlank {
                throw ValidationError(field: "text", "the text is blank; send the item's text, or leave text out for an item that is only media")
            }
            var created: Date?
            if let createdAt {
                guard let date = ISOTime.parse(createdAt) else {
                    throw ValidationError(field: "createdAt", "'\(createdAt.prefix(64))' is not a time; send an ISO 8601 time such as 2026-11-26T09:30:00Z")
                }
                created = date
            }
            // An empty list with no text was refused naming `text` (outside testing); the list the caller sent is
            // what is short of something.
            if let media, media.isEmpty, text == nil {
                throw ValidationError(field: "media", "media is an empty list and there is no text; list the item's images and videos, or send its text")
            }
            var signatures: [MediaSignature] = []
            if let media, !media.isEmpty {
                var inputs: [MediaInput] = []
                for (i, body) in media.enumerated() { inputs.append(try body.input(field: "media[\(i)]")) }
                signatures = try await intake.hash(inputs, owner: feed)
            }
            return ItemSubmission(id: id, feed: feed, text: text ?? "", language: language, author: author, createdAt: created, media: signatures)
        }
    }

    /// One medium of an item: `{type: image|video, data: base64}` or `{type: image, pdq: hex, quality}`.
    struct MediaBody: Decodable, Equatable {
        /// Standard base64's alphabet and padding, and the white space MIME puts between lines.
        static let base64Bytes: [Bool] = {
            var table = [Bool](repeating: false, count: 256)
            for byte in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \r\n\t".utf8 { table[Int(byte)] = true }
            return table
        }()

        var type: String
        var data: String?
        var pdq: String?
        var quality: Int?

        func input(field: String) throws(ValidationError) -> MediaInput {
            guard type == "image" || type == "video" else {
                throw ValidationError(field: "\(field).type", "'\(type)' is not a media type: send image or video")
            }
            switch (data, pdq) {
            case let (data?, nil):
                guard quality == nil else { throw ValidationError(field: "\(field).quality", "quality goes with a pdq hash, not with data") }
                // Line breaks and spaces (MIME wraps base64) are skipped; any other character outside the standard
                // alphabet is refused (outside testing: "!!!*** ###" inside the data was skipped and the rest hashed).
                if let stray = data.utf8.firstIndex(where: { !Self.base64Bytes[Int($0)] }) {
                    let offset = data.utf8.distance(from: data.utf8.startIndex, to: stray)
                    throw ValidationError(field: "\(field).data", "not base64: character \(offset + 1) is outside the standard alphabet (A-Z, a-z, 0-9, +, /, =); send the file's bytes in standard base64")
                }
                guard let bytes = Data(base64Encoded: data, options: .ignoreUnknownCharacters), !bytes.isEmpty || data.isEmpty else {
                    throw ValidationError(field: "\(field).data", "not base64: send the file's bytes in standard base64")
                }
                return type == "image" ? .image(bytes: [UInt8](bytes)) : .video(bytes: [UInt8](bytes))
            case let (nil, pdq?):
                guard type == "image" else {
                    throw ValidationError(field: "\(field).pdq", "a precomputed hash is for images; send a video's bytes in data")
                }
                guard let hash = PDQHash(hex: pdq) else { throw ValidationError(field: "\(field).pdq", "a PDQ hash is 64 hex digits, bit 255 first") }
                guard let quality else { throw ValidationError(field: "\(field).quality", "send the hash's quality (0-100) with it") }
                return .imageHash(hash, quality: quality)
            case (nil, nil):
                throw ValidationError(field: "\(field).data", "send the file's bytes in data (base64), or an image's hash in pdq with its quality")
            case (_?, _?):
                throw ValidationError(field: "\(field).pdq", "send data or pdq, not both")
            }
        }
    }

    struct BatchRequest: Decodable, Equatable {
        var items: [ItemRequest]
    }

    /// `PUT /v1/policies/{feed}`: a policy, and whether the body named a feed (which must be the path's).
    struct PolicyBody: Decodable {
        var policy: Policy
        var feed: String?

        enum CodingKeys: String, CodingKey { case feed }

        init(from decoder: any Decoder) throws {
            policy = try Policy(from: decoder)
            feed = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .feed)
        }
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
        /// The bank entry the item matched, when it did.
        var match: BankMatch?

        /// The answer as JSON, written by hand (the hot path); `ServerTests` checks it equals the `Encodable` form.
        func write(_ w: inout JSONWriter) {
            w.object { w in
                w.field("changed", ifPresent: changed)
                w.field("createdAt", createdAt)
                w.object("decision") { w in
                    w.field("action", decision.action.rawValue)
                    w.field("label", ifPresent: decision.label)
                    w.field("policyVersion", decision.policyVersion)
                    w.field("priority", ifPresent: decision.priority?.rawValue)
                    w.field("probability", ifPresent: decision.probability)
                    w.field("reason", decision.reason)
                }
                w.field("evidence", evidence)
                w.field("feed", feed)
                w.field("id", id)
                w.field("label", label)
                if let match {
                    w.object("match") { w in
                        w.field("action", match.action.rawValue)
                        w.field("bank", match.bank)
                        w.field("bankVersion", match.bankVersion)
                        w.field("distance", ifPresent: match.distance)
                        w.field("entry", Int(match.entry))
                        w.field("kind", match.kind.rawValue)
                        w.field("label", match.label)
                        w.field("media", ifPresent: match.media)
                        w.field("orientation", ifPresent: match.orientation?.name)
                        w.field("similarity", ifPresent: match.similarity)
                        w.field("ticketID", ifPresent: match.ticketID.map(Int.init))
                    }
                }
                w.field("modelVersion", modelVersion)
                w.field("policyVersion", policyVersion)
                w.object("probabilities") { w in
                    for (name, p) in probabilities.sorted(by: { $0.key < $1.key }) { w.field(name, p) }
                }
                w.array("reasons") { w in
                    for reason in reasons {
                        w.object { w in
                            w.field("contribution", reason.contribution)
                            w.field("feature", reason.feature)
                            w.field("kind", reason.kind.rawValue)
                            w.field("label", reason.label)
                        }
                    }
                }
                w.field("relevance", relevance)
                w.object("relevanceFactors") { w in
                    w.field("engagement", relevanceFactors.engagement)
                    w.field("freshness", relevanceFactors.freshness)
                    w.field("quality", relevanceFactors.quality)
                    w.field("relevance", relevanceFactors.relevance)
                }
                w.field("scoredAt", scoredAt)
                w.field("stage", stage.rawValue)
                w.field("trigger", trigger)
            }
        }

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
            match = r.match
        }
    }

    struct BatchResult: Encodable {
        /// Written by `JSONWriter` on the hot path; the same keys as the `Encodable` form.
        func write(_ w: inout JSONWriter) {
            w.object { w in
                if let error {
                    w.object("error") { w in
                        w.field("code", error.code)
                        w.field("field", ifPresent: error.field)
                        w.field("message", error.message)
                    }
                }
                w.field("id", id)
                w.field("index", index)
                if let item { w.key("item"); item.write(&w) }
                w.field("status", status)
            }
        }

        var index: Int
        var id: String
        /// 201 stored now, 200 stored before (the stored answer), 409 conflict, 422 invalid.
        var status: Int
        var item: ItemAnswer?
        var error: APIError.Body.Detail?
    }

    struct BatchAnswer: Encodable {
        var created: Int
        var existing: Int
        var failed: Int
        var results: [BatchResult]

        func write(_ w: inout JSONWriter) {
            w.object { w in
                w.field("created", created)
                w.field("existing", existing)
                w.field("failed", failed)
                w.array("results") { w in for result in results { result.write(&w) } }
            }
        }
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
        func write(_ w: inout JSONWriter) {
            w.object { w in
                if let engagement {
                    w.object("engagement") { w in
                        w.field("at", engagement.at)
                        w.key("counters")
                        engagement.counters.write(&w)
                    }
                }
                w.key("item")
                item.write(&w)
                w.field("recorded", recorded)
                w.field("rescored", rescored)
            }
        }

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
        /// On a change: the version it replaced, and the classes whose rules it removed (a PUT replaces the whole
        /// policy, so a rule left out is a rule removed).
        var replacedVersion: Int?
        var removedRules: [String]?
    }
}
