import Engine
import Foundation
import WinnowJSON

/// The JSON columns written on the hot path, by hand with `JSONWriter` (`JSONEncoder` was most of the cost of a
/// stored item). The shape is exactly what the types' `Codable` conformances read, with dates as seconds since
/// 1970; `StorageTests` round-trips every field through `JSONDecoder`. (Stage results are binary: `StageRecord`.)
enum StoredJSON {
    static func submission(_ s: ItemSubmission) -> String {
        var w = JSONWriter(capacity: 256 + s.text.utf8.count)
        w.object { w in
            if let a = s.author { w.key("author"); a.write(&w) }
            w.field("createdAt", ifPresent: s.createdAt?.timeIntervalSince1970)
            w.field("feed", s.feed)
            w.field("id", s.id)
            w.field("language", ifPresent: s.language)
            if !s.media.isEmpty {
                w.array("media") { w in
                    for medium in s.media {
                        w.object { w in
                            switch medium {
                            case let .image(image):
                                w.field("pdq", image.hash.hex)
                                w.field("quality", image.quality)
                                w.field("type", "image")
                            case let .video(frames):
                                w.field("frames", BankSignature.video(frames).value)
                                w.field("type", "video")
                            }
                        }
                    }
                }
            }
            w.field("text", s.text)
        }
        return w.string
    }

    static func snapshot(_ s: EngagementSnapshot) -> String {
        var w = JSONWriter(capacity: 128)
        w.object { w in
            w.field("at", s.at.timeIntervalSince1970)
            w.key("counters")
            s.counters.write(&w)
        }
        return w.string
    }
}

extension Engagement {
    /// The counters as a JSON object (the `Codable` keys, sorted).
    public func write(_ w: inout JSONWriter) {
        w.object { w in
            w.field("comments", comments)
            w.field("hides", hides)
            w.field("likes", likes)
            w.field("reports", reports)
            w.field("shares", shares)
            w.field("views", views)
        }
    }
}

extension Author {
    /// The author as a JSON object (the `Codable` keys, sorted; missing facts left out).
    public func write(_ w: inout JSONWriter) {
        w.object { w in
            w.field("accountAgeDays", ifPresent: accountAgeDays)
            w.field("followers", ifPresent: followers)
            w.field("id", id)
            w.field("priorRemovals", ifPresent: priorRemovals)
        }
    }
}

/// The `decision_event` rows both stores write: one mapping from an event to its columns.
enum EventRows {
    /// The feed column of an event that belongs to every feed (a step of the shared model's retraining); no feed name
    /// can be it (`Policy.isValidFeed`).
    static let everyFeed = "*"

    /// An event's columns; its number is the store's to give.
    struct Columns {
        var feed: String
        var itemID: String
        var at: Double
        var cause: String
        var body: String
    }

    /// A decision event's body is the event alone (no `type`: `ChangeEvent` reads a body without one as a decision).
    static func columns(_ event: DecisionEvent) throws -> Columns {
        Columns(feed: event.feed, itemID: event.itemID, at: event.at.timeIntervalSince1970, cause: event.cause.kind.rawValue,
                body: try Codec.encode(event))
    }

    static func columns(_ event: RetrainingEvent) throws -> Columns {
        Columns(feed: event.feed ?? everyFeed, itemID: "", at: event.at.timeIntervalSince1970, cause: "retraining",
                body: try Codec.encode(ChangeEvent.retraining(event)))
    }
}
