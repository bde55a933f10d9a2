import Foundation

// The review queue's rules (issue 5 builds the queue, its storage, routes and CLI on these). Pure: no I/O.

/// Why a ticket exists. One open ticket per item: a new reason joins the open ticket.
public enum TicketReason: String, Codable, CaseIterable, Sendable {
    /// The policy put the item in its review band.
    case reviewBand = "review_band"
    /// Weighted reports passed the threshold.
    case reports
    /// Viral and uncertain.
    case viral
    /// A blind audit of an automatic decision.
    case audit
    /// The feed appealed a decision.
    case appeal
    /// A reviewer escalated to tier 2.
    case escalation
    /// Offered when the queue was empty: an automatic decision the model would learn most from (`learningOffersPerDay`).
    case learning
}

/// The review desk's settings: SLAs per reason, severity per class, leases, reason codes, report weighting, seeded
/// gold items, audit sampling and routing. Every field has a documented default.
public struct ReviewConfiguration: Codable, Equatable, Sendable {
    /// Minutes from opening to the SLA due time, per reason; reasons not listed use `defaultSLAMinutes`.
    public var slaMinutes: [String: Double]
    public var defaultSLAMinutes: Double
    /// Severity per class (how much harm a wrong decision does); classes not listed weigh 1; the clear class 0.5
    /// (a wrongly removed clear item is harm too, but less).
    public var severity: [String: Double]
    /// Seconds a claim holds a ticket before it returns to the queue.
    public var leaseSeconds: Double
    /// The reason codes a decision may carry.
    public var reasonCodes: [String]
    /// Weighted reports (see `ReporterWeight`) that open a ticket, and the factor on that bar once a person has
    /// cleared the item.
    public var reportThreshold: Double
    public var reopenFactor: Double
    /// The share of claims answered with a seeded gold ticket (an item whose answer is known), unannounced.
    public var goldRate: Double
    /// The probability that an automatic decision is sampled for a blind audit, per bucket: the action ("allow",
    /// "demote", "remove"), or the action with ".near" for decisions whose deciding probability lies within
    /// `auditNearMargin` of the cut-off that decided them (near misses are where the model errs, so they are audited more).
    public var auditRates: [String: Double]
    public var auditNearMargin: Double
    /// The skill a reviewer needs for tickets whose most probable class is the key (classes not listed: anyone).
    public var skills: [String: String]
    /// The most tickets one claim may lease.
    public var maxClaim: Int
    /// The share of tier-1 tickets decided twice, independently (the second reviewer does not see the first
    /// decision); agreement is reported as Cohen's kappa, and a disagreement goes to tier 2.
    public var doubleReviewRate: Double
    /// Minutes during which reviewers may take back their own decision (`POST …/undo`, `u` in the terminal).
    public var undoMinutes: Double
    /// Items a reviewer who finds the queue empty may be offered instead, across the desk per rolling day: automatic
    /// decisions of the last `learningWindowHours` the model would learn most from (`ReviewRules.learningValue`),
    /// never ticketed or labelled, marked with the reason `learning`. Audits stay uniformly random. 0 offers none.
    /// Default 0.
    public var learningOffersPerDay: Int
    public var learningWindowHours: Double

    public init(slaMinutes: [String: Double] = ["viral": 15, "appeal": 60, "escalation": 120, "audit": 24 * 60, "reports": 60],
                defaultSLAMinutes: Double = 240, severity: [String: Double] = ["clear": 0.5, "spam": 1, "offensive": 2, "abusive": 3],
                leaseSeconds: Double = 300,
                reasonCodes: [String] = ["not_violating", "spam", "scam", "harassment", "hate", "sexual", "violence", "self_harm", "misinformation", "other"],
                reportThreshold: Double = 3, reopenFactor: Double = 3, goldRate: Double = 0.02,
                auditRates: [String: Double] = ["allow": 0.002, "allow.near": 0.02, "demote": 0.02, "remove": 0.01, "remove.near": 0.05],
                auditNearMargin: Double = 0.15,
                skills: [String: String] = [:], maxClaim: Int = 10, doubleReviewRate: Double = 0.05, undoMinutes: Double = 10,
                learningOffersPerDay: Int = 0, learningWindowHours: Double = 24) {
        self.learningOffersPerDay = learningOffersPerDay
        self.learningWindowHours = learningWindowHours
        self.slaMinutes = slaMinutes
        self.defaultSLAMinutes = defaultSLAMinutes
        self.severity = severity
        self.leaseSeconds = leaseSeconds
        self.reasonCodes = reasonCodes
        self.reportThreshold = reportThreshold
        self.reopenFactor = reopenFactor
        self.goldRate = goldRate
        self.auditRates = auditRates
        self.auditNearMargin = auditNearMargin
        self.skills = skills
        self.maxClaim = maxClaim
        self.doubleReviewRate = doubleReviewRate
        self.undoMinutes = undoMinutes
    }

    /// The shortest SLA among `reasons`, in minutes.
    public func sla(for reasons: Set<TicketReason>) -> Double {
        reasons.map { slaMinutes[$0.rawValue] ?? defaultSLAMinutes }.min() ?? defaultSLAMinutes
    }

    /// The reason code a decision of `label` suggests: "not_violating" for the clear class, the label itself when
    /// it is a code, else "other" (or the first code).
    public func suggestedReasonCode(label: String, clearLabel: String) -> String {
        if label == clearLabel, reasonCodes.contains("not_violating") { return "not_violating" }
        if reasonCodes.contains(label) { return label }
        return reasonCodes.contains("other") ? "other" : (reasonCodes.first ?? "other")
    }
}

/// Review priority: uncertainty × expected reach × severity, raised as the ticket nears its SLA due time.
///
///     uncertainty = 1 − |2p − 1|                  (1 at p = 0.5, 0 at p = 0 or 1; p = P(harm))
///     reach       = log10(10 + expected views)    (1 for an item nobody will see, 2 at 90 views, 3 at 990)
///     severity    = the configured severity of the most probable harmful class
///     urgency     = 1 + 3 · min(1, waited / sla)² (then + 1 for each SLA period overdue)
///     priority    = max(uncertainty, 0.05) × reach × severity × urgency
///
/// The floor on uncertainty keeps confident-but-reported items (and audits, where the model's answer is the thing
/// under test) in the queue's order instead of at zero. Urgency reaches 4 at the due time: a ticket near its SLA
/// climbs past fresher ones of up to four times its base priority.
public enum TicketPriority {
    public static func uncertainty(_ pHarm: Double) -> Double {
        1 - abs(2 * min(1, max(0, pHarm)) - 1)
    }

    public static func reach(expectedViews: Double) -> Double {
        log10(10 + max(0, expectedViews))
    }

    public static func urgency(waitedMinutes: Double, slaMinutes: Double) -> Double {
        guard slaMinutes > 0 else { return 4 }
        let fraction = max(0, waitedMinutes) / slaMinutes
        let overdue = fraction > 1 ? (fraction - 1).rounded(.up) : 0
        return 1 + 3 * min(1, fraction) * min(1, fraction) + overdue
    }

    /// Stored priorities are refreshed when urgency has grown by this fraction: the queue's order is exact to
    /// within 10% without rewriting every ticket all the time.
    public static let refreshStep = 0.1

    /// When the stored priority of a ticket opened at `openedAt` and due at `dueAt` should next be refreshed: when
    /// its urgency has grown by `refreshStep`, or at the next step of the overdue count. Urgency 1 + 3f² (f = waited /
    /// SLA) reaches u·(1 + step) at f = √((u·(1 + step) − 1) / 3); past the due time it rises by one at each whole SLA
    /// period. A millisecond past each boundary, so that the refresh sees the new value.
    public static func nextRefresh(openedAt: Date, dueAt: Date, after now: Date) -> Date {
        let sla = max(dueAt.timeIntervalSince(openedAt), 1)
        let f = max(0, now.timeIntervalSince(openedAt)) / sla
        if f < 1 {
            let target = (1 + 3 * f * f) * (1 + refreshStep)
            let fNext = target >= 4 ? 1 : ((target - 1) / 3).squareRoot()
            return openedAt.addingTimeInterval(fNext * sla + 0.001)
        }
        return openedAt.addingTimeInterval((f.rounded(.down) + 1) * sla + 0.001)
    }

    /// The priority without urgency: max(uncertainty, 0.05) × reach × severity.
    public static func base(pHarm: Double, expectedViews: Double, severity: Double) -> Double {
        max(uncertainty(pHarm), 0.05) * reach(expectedViews: expectedViews) * max(0, severity)
    }

    /// The priority at `now` of a ticket with `base` priority, opened at `openedAt` and due at `dueAt`.
    public static func current(base: Double, openedAt: Date, dueAt: Date, now: Date) -> Double {
        base * urgency(waitedMinutes: now.timeIntervalSince(openedAt) / 60, slaMinutes: dueAt.timeIntervalSince(openedAt) / 60)
    }

    public static func score(pHarm: Double, expectedViews: Double, severity: Double, waitedMinutes: Double, slaMinutes: Double) -> Double {
        base(pHarm: pHarm, expectedViews: expectedViews, severity: severity) * urgency(waitedMinutes: waitedMinutes, slaMinutes: slaMinutes)
    }
}

/// A reporter's weight from their track record: reports that humans upheld raise it, rejected ones lower it.
/// weight = 2 · (upheld + 1) / (upheld + rejected + 2) — a new reporter weighs 1, one always right approaches 2, one
/// always wrong approaches 0 (a Beta(1, 1) prior on the share of upheld reports, doubled).
public enum ReporterWeight {
    public static func weight(upheld: Int, rejected: Int) -> Double {
        2 * Double(max(0, upheld) + 1) / Double(max(0, upheld) + max(0, rejected) + 2)
    }

    /// Whether weighted reports open (or reopen) a ticket: the bar is `threshold`, multiplied by `reopenFactor`
    /// once a person has cleared the item, so a flood of reports cannot bury the queue with the same item. Reports of
    /// an item that stands removed open none: they can only agree with the removal (a person's or the model's; an
    /// appeal is how a removal is questioned).
    public static func opensTicket(weightedReports: Double, threshold: Double = 3, clearedByPerson: Bool, reopenFactor: Double = 3,
                                   removed: Bool = false) -> Bool {
        !removed && weightedReports >= threshold * (clearedByPerson ? reopenFactor : 1)
    }
}

/// A claim on a ticket: who holds it and until when.
public struct Lease: Codable, Equatable, Sendable {
    public var holder: String
    public var until: Date

    public init(holder: String, until: Date) {
        self.holder = holder
        self.until = until
    }

    /// An expired lease returns the ticket to the queue.
    public func isLive(at now: Date) -> Bool { now < until }

    /// Whether `reviewer` may decide at `now`: only the holder, only while the lease lives.
    public func allows(_ reviewer: String, at now: Date) -> Bool { holder == reviewer && isLive(at: now) }
}
