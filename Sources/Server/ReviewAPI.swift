import Engine
import Foundation
import Services

/// The JSON bodies of the review routes.
extension API {
    /// `POST /v1/review/claim`: how many tickets (default 1), which tiers (default [1], or the key's own when it may
    /// not work tier 1), what the reviewer reads and knows.
    struct ClaimBody: Decodable {
        var count: Int?
        var tiers: [Int]?
        var languages: [String]?
        var skills: [String]?
        /// Ticket ids not to hand out (ones the reviewer just skipped); at most 100 (`ClaimRequest.checkLimits`).
        var excluding: [Int64]?

        /// - Parameter workable: the tiers the caller's key may work; without `tiers`, tier 1 if it may, else those
        ///   (outside testing: a key of tier 2 alone had to name its tier on every claim).
        func request(reviewer: String, workable: Set<ReviewTier>) throws -> ClaimRequest {
            var tiers: [ReviewTier] = []
            let otherwise = workable.contains(.one) || workable.isEmpty ? [1] : workable.map(\.rawValue).sorted()
            for (i, raw) in (self.tiers ?? otherwise).enumerated() {
                guard let tier = ReviewTier(rawValue: raw) else { throw ValidationError(field: "tiers[\(i)]", "a tier is 1 or 2") }
                tiers.append(tier)
            }
            return ClaimRequest(reviewer: reviewer, count: count ?? 1, tiers: tiers, languages: languages ?? [], skills: skills ?? [],
                                excluding: excluding ?? [])
        }
    }

    /// `POST /v1/review/tickets/{id}/decision`.
    struct DecisionBody: Decodable {
        var label: String
        var action: Action?
        var reasonCode: String
        var note: String?
        var version: Int?
        /// Decide every open copy of the item the same way (the ticket's `wave`).
        var wave: Bool?

        var decision: TicketDecision { TicketDecision(label: label, action: action, reasonCode: reasonCode, note: note, version: version) }
    }

    struct VersionBody: Decodable {
        var version: Int?
    }

    struct EscalateBody: Decodable {
        var note: String
        var version: Int?
    }

    struct AppealBody: Decodable {
        var feed: String?
        var note: String?
    }

    struct ReportBody: Decodable {
        var feed: String?
        var reporter: String
        var at: Date?
    }

    struct GoldBody: Decodable {
        var feed: String?
        var id: String
        var label: String
    }

    struct LeaseBody: Encodable {
        var holder: String
        var until: Date
    }

    /// A ticket as reviewers see it (a gold ticket's known answer is never shown).
    struct TicketSummary: Encodable {
        var id: Int64
        var feed: String
        var itemId: String
        var tier: Int
        var reasons: [String]
        var status: String
        var language: String?
        var skill: String?
        var openedAt: Date
        var dueAt: Date
        /// Negative once overdue.
        var slaSecondsLeft: Double
        var priority: Double
        var version: Int
        var lease: LeaseBody?
        var note: String?
        /// Audit tickets are blind: no scores, no earlier verdicts.
        var blind: Bool

        init(_ t: Ticket, now: Date) {
            id = t.id
            feed = t.feed
            itemId = t.itemID
            tier = t.tier.rawValue
            reasons = TicketReason.allCases.filter(t.reasons.contains).map(\.rawValue)
            // A released gold ticket leaves the queue for good (its stored holder keeps it from them) but shows as a
            // released real ticket does, open and no one's: `decided` with the holder's lease told them it was gold.
            let releasedGold = t.isReleasedGold
            status = releasedGold ? "open" : t.status == .withdrawn ? "decided" : t.status.rawValue
            language = t.language
            skill = t.skill
            openedAt = t.openedAt
            dueAt = t.dueAt
            slaSecondsLeft = (t.dueAt.timeIntervalSince(now) * 10).rounded() / 10
            priority = (t.priority(at: now) * 10_000).rounded() / 10_000
            version = t.version
            // A lease past its end holds nothing (the ticket is anyone's to claim): not shown.
            lease = releasedGold ? nil : t.lease.flatMap { $0.isLive(at: now) ? LeaseBody(holder: $0.holder, until: $0.until) : nil }
            note = t.note
            blind = t.isBlind
        }
    }

    /// A ticket with everything a reviewer needs to decide it.
    struct TicketDetail: Encodable {
        var ticket: TicketSummary
        var item: ItemDetail.Item
        var engagement: EngagementSnapshot?
        /// The model's current answer; absent for blind (audit) tickets.
        var scores: ItemAnswer?
        var history: [HistoryEntry]
        /// The labels a decision may give, and the reason codes it may carry.
        var classes: [String]
        var reasonCodes: [String]
        /// The reason code each label suggests (what the CLI offers on Enter).
        var suggestedReasonCodes: [String: String]
        /// The class that means "nothing wrong": a decision for it allows the item unless it names another action.
        var clearLabel: String
        /// Users' reports of the item not yet judged (POST /v1/items/{id}/reports).
        var pendingReports: Int
        /// Open tickets whose items are copies of this one (absent when there are none): one decision with
        /// `wave: true` settles them all.
        var wave: Wave?

        struct Wave: Encodable {
            var copies: Int
            var tickets: [Int64]
        }

        /// `viewer`: the reviewer it is shown to. Another reviewer's lease steps on this ticket (claimed, renewed,
        /// released) are left out: on a ticket drawn for two reviews they told the second reviewer that a first had
        /// judged it, and who (outside testing).
        init(_ view: TicketView, now: Date, viewer: String, classes: [String], configuration: ReviewConfiguration, clearLabel: String) {
            let s = view.item.submission
            ticket = TicketSummary(view.ticket, now: now)
            item = .init(id: s.id, feed: s.feed, text: s.text, language: s.language, author: s.author, createdAt: view.item.createdAt,
                         receivedAt: view.item.receivedAt)
            engagement = view.item.engagement
            if view.ticket.isBlind {
                scores = nil
                // No stage (the model's answers, earlier decisions) and no step of another ticket (an earlier ticket's
                // decision carries its label: outside review, a blind audit showed it).
                history = view.history.filter {
                    switch $0 {
                    case .stage: false
                    case .engagement: true
                    case let .ticket(event): event.ticket == view.ticket.id
                    }
                }
            } else {
                scores = ItemAnswer(view.item)
                history = view.history
            }
            let leaseSteps: Set<TicketEvent.Kind> = [.claimed, .renewed, .released]
            history = history.filter {
                guard case let .ticket(event) = $0, event.ticket == view.ticket.id, leaseSteps.contains(event.kind) else { return true }
                return event.by == viewer
            }
            self.classes = classes
            reasonCodes = configuration.reasonCodes
            var suggested: [String: String] = [:]
            for label in classes { suggested[label] = configuration.suggestedReasonCode(label: label, clearLabel: clearLabel) }
            suggestedReasonCodes = suggested
            self.clearLabel = clearLabel
            pendingReports = view.pendingReports
        }

        func with(wave copies: [Ticket]) -> TicketDetail {
            var detail = self
            detail.wave = copies.isEmpty ? nil : Wave(copies: copies.count, tickets: copies.map(\.id))
            return detail
        }
    }

    struct UndoAnswer: Encodable {
        /// The ticket, open and leased to the reviewer again.
        var ticket: TicketDetail
        /// The labels of the decision, now withdrawn.
        var withdrawnLabels: [LabelRecord]
    }

    struct ClaimAnswer: Encodable {
        var tickets: [TicketDetail]
    }

    struct TicketAnswer: Encodable {
        var ticket: TicketSummary
    }

    struct DecisionAnswer: Encodable {
        var ticket: TicketSummary
        var label: String
        var action: Action
        var reasonCode: String
        /// decided; awaiting_second_review (one of two independent reviews: the ticket goes to someone else);
        /// escalated_on_disagreement (the second review disagreed with the first: tier 2 decides).
        var outcome: String
        /// With `wave: true`: the copies judged the same way.
        var wave: WaveOutcome?

        struct WaveOutcome: Encodable {
            /// How many copies are decided now (a copy drawn for two reviews got a first review: it waits for its second).
            var decided: Int
            /// Every copy judged with this decision (what an undo of them takes back).
            var tickets: [Int64]
            /// The copies that got a first review and wait for a second reviewer; absent when none.
            var awaitingSecondReview: [Int64]?

            init(_ copies: [DecidedTicket]) {
                decided = copies.filter { $0.outcome == .decided }.count
                tickets = copies.map(\.ticket.id)
                let waiting = copies.filter { $0.outcome == .awaitingSecondReview }.map(\.ticket.id)
                awaitingSecondReview = waiting.isEmpty ? nil : waiting
            }
        }
    }

    struct QueueAnswer: Encodable {
        var tier: Int
        var tickets: [TicketSummary]
        /// Pass as `cursor` for the next page; absent on the last page.
        var nextCursor: String?
    }

    struct ReportAnswer: Encodable {
        var recorded: Bool
        var weightedReports: Double
        var ticket: FeedTicket?
    }

    /// A ticket as the feed that reported or appealed sees it: that it is open or decided, its tier and when it is
    /// due. What belongs to the review team (who holds it, the escalating reviewer's note, priority, whether it is a
    /// blind audit or a learning offer) is left out (outside review: a report's answer showed all of it).
    struct FeedTicket: Encodable {
        var id: Int64
        var feed: String
        var itemId: String
        var tier: Int
        var reasons: [String]
        var status: String
        var openedAt: Date
        var dueAt: Date

        /// The reasons a feed may read: what the item, its users or the feed did.
        static let visibleReasons: [TicketReason] = [.reviewBand, .reports, .viral, .appeal, .escalation]

        init(_ t: Ticket) {
            id = t.id
            feed = t.feed
            itemId = t.itemID
            tier = t.tier.rawValue
            reasons = Self.visibleReasons.filter(t.reasons.contains).map(\.rawValue)
            status = t.status == .withdrawn ? "decided" : t.status.rawValue
            openedAt = t.openedAt
            dueAt = t.dueAt
        }
    }

    struct FeedTicketAnswer: Encodable {
        var ticket: FeedTicket
    }

    /// An item's history as a feed reads it: the steps of its tickets without who took them or their notes (the
    /// reviewers' names and words are the review team's; outside review: every feed read them).
    static func feedHistory(_ history: [HistoryEntry]) -> [HistoryEntry] {
        history.map { entry in
            guard case var .ticket(event) = entry else { return entry }
            event.by = nil
            event.note = nil
            return .ticket(event)
        }
    }

    struct StatsAnswer: Encodable {
        var audits: AuditEstimates
        var queue: ReviewStats
    }
}
