import Engine
import Foundation

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
