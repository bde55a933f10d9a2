import Engine
import Foundation
import Learning

/// The JSON columns written on the hot path, by hand with `JSONWriter` (`JSONEncoder` was most of the cost of a
/// stored item). The shape is exactly what the types' `Codable` conformances read, with dates as seconds since
/// 1970; `StorageTests` round-trips every field through `JSONDecoder`.
enum StoredJSON {
    static func stageResult(_ r: StageResult) -> String {
        var w = JSONWriter(capacity: 1_024)
        w.object { w in
            w.field("changed", ifPresent: r.changed)
            w.object("decision") { w in
                w.field("action", r.decision.action.rawValue)
                w.field("label", ifPresent: r.decision.label)
                w.field("policyVersion", r.decision.policyVersion)
                w.field("probability", ifPresent: r.decision.probability)
                w.field("reason", r.decision.reason)
            }
            w.field("evidence", r.evidence)
            w.object("inputs") { w in
                let i = r.inputs
                w.field("ageHours", i.ageHours)
                if let a = i.author { w.key("author"); a.write(&w) }
                w.field("baselineReportRate", ifPresent: i.baselineReportRate)
                w.field("baselineVelocity", ifPresent: i.baselineVelocity)
                if let e = i.engagement { w.key("engagement"); e.write(&w) }
                w.field("engagementModel", ifPresent: i.engagementModel)
                w.field("engagementOddsRatio", ifPresent: i.engagementOddsRatio)
                w.field("trigger", i.trigger)
                w.field("velocity", ifPresent: i.velocity)
                w.field("viral", i.viral)
            }
            w.field("label", r.label)
            w.field("modelVersion", r.modelVersion)
            w.field("priority", ifPresent: r.priority?.rawValue)
            w.object("probabilities") { w in
                for (name, p) in r.probabilities.sorted(by: { $0.key < $1.key }) { w.field(name, p) }
            }
            w.array("reasons") { w in
                for reason in r.reasons {
                    w.object { w in
                        w.field("contribution", reason.contribution)
                        w.field("feature", reason.feature)
                        w.field("kind", reason.kind.rawValue)
                        w.field("label", reason.label)
                    }
                }
            }
            w.object("relevance") { w in
                w.field("engagement", r.relevance.engagement)
                w.field("freshness", r.relevance.freshness)
                w.field("quality", r.relevance.quality)
                w.field("relevance", r.relevance.relevance)
            }
            w.field("scoredAt", r.scoredAt.timeIntervalSince1970)
            w.field("stage", r.stage.rawValue)
        }
        return w.string
    }

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
