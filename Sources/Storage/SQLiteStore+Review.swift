import Engine
import Foundation
import GRDB

/// The review queue on SQLite. Claims, decisions and every other change run inside the single writer's
/// transaction, so two reviewers can never lease the same ticket and a ticket is decided once; a PostgreSQL store
/// does the same with `SELECT … FOR UPDATE SKIP LOCKED`.
///
/// The queue's order: `priority` holds base × urgency as of the ticket's last refresh and `refresh_at` when urgency
/// will have grown by `TicketPriority.refreshStep`; a claim walks the index on (tier, priority) and takes the first
/// tickets the reviewer may have, so it stays fast with a million open tickets. `refreshTicketPriorities` (the
/// scheduler runs it) keeps the stored priorities within 10% of the formula.
extension SQLiteStore {
    // MARK: Opening

    /// Opens a ticket for the item, or joins `opening`'s reason to its open ticket (the earlier due time, the higher
    /// tier and base priority win). Returns the ticket's id.
    static func openTicket(_ db: Database, item: Int64, _ opening: TicketOpening) throws -> Int64 {
        let now = opening.at
        let sla = opening.slaMinutes * 60
        let event = TicketEvent(ticket: 0, kind: .opened, at: now, by: opening.by, reason: opening.reason, tier: opening.tier, note: opening.note)
        if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM ticket WHERE item = ? AND status = 'open' AND gold_label IS NULL"),
                                      arguments: [item]) {
            let before = try Self.ticket(row)
            var ticket = before
            let id = ticket.id
            ticket.reasons.insert(opening.reason)
            if opening.tier == .two { ticket.tier = .two }
            ticket.dueAt = max(ticket.openedAt, min(ticket.dueAt, now.addingTimeInterval(sla)))
            ticket.basePriority = max(ticket.basePriority, opening.basePriority)
            if let language = opening.language { ticket.language = language }
            if opening.note != nil { ticket.note = opening.note }
            if opening.auditProbability != nil, ticket.auditProbability == nil { ticket.auditProbability = opening.auditProbability }
            guard ticket != before else { return id }  // a repeated reason with nothing new (the review band at each stage, say)
            // A new reason, tier or note changes what the reviewer must judge: a step in the history and a new version
            // (a decision naming the old one is refused). A higher reach or an earlier due time only moves the ticket.
            let changed = ticket.reasons != before.reasons || ticket.tier != before.tier || opening.note != nil
            // Moving to tier 2 takes the ticket from a tier-1 holder.
            let raised = ticket.tier != before.tier
            try db.execute(sql: """
                UPDATE ticket SET reasons = ?, tier = ?, due_at = ?, base_priority = ?, language = ?, note = ?, audit_probability = ?,
                  priority = ?, refresh_at = ?, version = version + ?,
                  lease_holder = CASE WHEN ? THEN NULL ELSE lease_holder END, lease_until = CASE WHEN ? THEN NULL ELSE lease_until END
                WHERE id = ?
                """, arguments: [TicketReason.bits(ticket.reasons), ticket.tier.rawValue, ticket.dueAt.timeIntervalSince1970, ticket.basePriority,
                                 ticket.language, ticket.note, ticket.auditProbability, ticket.priority(at: now),
                                 TicketPriority.nextRefresh(openedAt: ticket.openedAt, dueAt: ticket.dueAt, after: now).timeIntervalSince1970,
                                 changed ? 1 : 0, raised, raised, id])
            if changed {
                var joined = event
                joined.kind = raised ? .escalated : .joined
                try appendEvent(db, joined, ticket: id, item: item)
            }
            return id
        }
        let due = now.addingTimeInterval(sla)
        let base = opening.basePriority
        try db.cachedStatement(sql: """
            INSERT INTO ticket (item, tier, reasons, status, language, skill, opened_at, due_at, base_priority, priority, refresh_at, version,
                                audit_probability, note)
            VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
            """).execute(arguments: [item, opening.tier.rawValue, opening.reason.bit, opening.language, opening.skill, now.timeIntervalSince1970,
                                     due.timeIntervalSince1970, base, base,
                                     TicketPriority.nextRefresh(openedAt: now, dueAt: due, after: now).timeIntervalSince1970,
                                     opening.auditProbability, opening.note])
        let id = db.lastInsertedRowID
        try appendEvent(db, event, ticket: id, item: item)
        return id
    }

    static func appendEvent(_ db: Database, _ event: TicketEvent, ticket: Int64, item: Int64) throws {
        var event = event
        event.ticket = ticket
        try db.cachedStatement(sql: "INSERT INTO ticket_event (ticket, item, at, kind, body) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [ticket, item, event.at.timeIntervalSince1970, event.kind.rawValue, try Codec.encode(event)])
    }

    /// The item's ticket events, oldest first; gold tickets (probes of a reviewer) are not part of its history.
    static func ticketEvents(_ db: Database, item: Int64) throws -> [TicketEvent] {
        try Row.fetchAll(db, sql: """
            SELECT e.body FROM ticket_event e JOIN ticket t ON t.id = e.ticket WHERE e.item = ? AND t.gold_label IS NULL ORDER BY e.id
            """, arguments: [item]).map { try Codec.decode(TicketEvent.self, $0["body"]) }
    }

    public func openTicket(feed: String, id: String, _ opening: @escaping @Sendable (ItemState) -> TicketOpening) async throws -> Ticket? {
        try await commits.run { db -> Ticket? in
            guard let row = try Self.itemRow(db, feed: feed, id: id) else { return nil }
            let ticketID = try Self.openTicket(db, item: row["id"], opening(try Self.state(row)))
            return try Self.ticketRow(db, id: ticketID).map(Self.ticket)
        }
    }

    public func recordReport(feed: String, id: String, reporter: String, at: Date,
                             decide: @escaping @Sendable (ReportContext) -> (weighted: Double, ticket: TicketOpening?)) async throws -> ReportOutcome? {
        try await commits.run { db -> ReportOutcome? in
            guard let row = try Self.itemRow(db, feed: feed, id: id) else { return nil }
            let item: Int64 = row["id"]
            try db.execute(sql: "INSERT OR IGNORE INTO report (item, reporter, at) VALUES (?, ?, ?)", arguments: [item, reporter, at.timeIntervalSince1970])
            let recorded = db.changesCount > 0
            let records = try Row.fetchAll(db, sql: """
                SELECT coalesce(r.upheld, 0) AS upheld, coalesce(r.rejected, 0) AS rejected FROM report p
                LEFT JOIN reporter r ON r.feed = ? AND r.reporter = p.reporter
                WHERE p.item = ? AND p.outcome IS NULL
                """, arguments: [feed, item]).map { (upheld: $0["upheld"] as Int, rejected: $0["rejected"] as Int) }
            let open = try Row.fetchOne(db, sql: "SELECT id FROM ticket WHERE item = ? AND status = 'open' AND gold_label IS NULL", arguments: [item])
            let (weighted, opening) = decide(ReportContext(state: try Self.state(row), reporters: records, hasOpenTicket: open != nil))
            var ticket: Ticket?
            if recorded, let opening {
                ticket = try Self.ticketRow(db, id: Self.openTicket(db, item: item, opening)).map(Self.ticket)
            } else if let open {
                ticket = try Self.ticketRow(db, id: open["id"]).map(Self.ticket)
            }
            return ReportOutcome(recorded: recorded, weightedReports: weighted, ticket: ticket)
        }
    }

    // MARK: Claims and leases

    public func claim(_ request: ClaimRequest, now: Date, leaseSeconds: Double, gold: Bool) async throws -> [TicketView] {
        let t = now.timeIntervalSince1970
        let until = t + leaseSeconds
        let ids = try await commits.run { db -> [Int64] in
            var claimed: [Int64] = []
            if gold, request.tiers.contains(.one), let goldRow = try Self.goldCandidate(db, for: request) {
                // It looks like a review-band ticket (with the priority the item had, if it was in the queue before),
                // opened and claimed like any other.
                let due = t + 240 * 60
                let base: Double = goldRow["base"]
                try db.execute(sql: """
                    INSERT INTO ticket (item, tier, reasons, status, language, opened_at, due_at, base_priority, priority, refresh_at, version,
                                        gold_label, lease_holder, lease_until)
                    VALUES (?, 1, ?, 'open', ?, ?, ?, ?, ?, ?, 2, ?, ?, ?)
                    """, arguments: [goldRow["item"], TicketReason.reviewBand.bit, goldRow["language"], t, due, base, base, due, goldRow["label"],
                                     request.reviewer, until])
                let id = db.lastInsertedRowID
                try Self.appendEvent(db, TicketEvent(ticket: id, kind: .opened, at: now, reason: .reviewBand, tier: .one), ticket: id, item: goldRow["item"])
                try Self.appendEvent(db, TicketEvent(ticket: id, kind: .claimed, at: now, by: request.reviewer), ticket: id, item: goldRow["item"])
                claimed.append(id)
            }
            // The best candidates of each index range the reviewer may take (tier × language × skill; a ticket without a
            // language or skill is anyone's), then the best of them.
            var candidates: [(priority: Double, id: Int64, holder: String?, leaseUntil: Double?, item: Int64)] = []
            let wanted = request.count - claimed.count
            if wanted > 0 {
                var exclusion = ""
                if !request.excluding.isEmpty {
                    exclusion = " AND id NOT IN (\(Array(repeating: "?", count: request.excluding.count).joined(separator: ", ")))"
                }
                let skills: [String?] = [nil] + Array(Set(request.skills)).sorted().map(Optional.some)
                let languages: [String?]? = request.languages.isEmpty ? nil : [nil] + Array(Set(request.languages.map { $0.lowercased() })).sorted().map(Optional.some)
                for tier in Set(request.tiers) {
                    for skill in skills {
                        for language in languages ?? [nil] {
                            let route = languages == nil ? "skill IS ?" : "language IS ? AND skill IS ?"
                            var arguments: [(any DatabaseValueConvertible)?] = [tier.rawValue]
                            if languages != nil { arguments.append(language) }
                            arguments += [skill, t, request.reviewer, request.reviewer]
                            arguments += request.excluding.map { $0 as (any DatabaseValueConvertible)? }
                            arguments.append(wanted)
                            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                                SELECT id, priority, lease_holder, lease_until, item FROM ticket
                                WHERE status = 'open' AND tier = ? AND \(route)
                                  AND (lease_until IS NULL OR lease_until <= ? OR lease_holder = ?) AND gold_label IS NULL
                                  AND (first_by IS NULL OR first_by != ?)\(exclusion)
                                ORDER BY priority DESC, id LIMIT ?
                                """), arguments: StatementArguments(arguments))
                            candidates += rows.map { ($0["priority"], $0["id"], $0["lease_holder"], $0["lease_until"], $0["item"]) }
                        }
                    }
                }
                candidates.sort { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }
            }
            for candidate in candidates.prefix(wanted) {
                // A ticket the reviewer already holds comes back to them with a fresh lease.
                if let holder = candidate.holder, holder != request.reviewer, let expired = candidate.leaseUntil {
                    try Self.appendEvent(db, TicketEvent(ticket: candidate.id, kind: .expired, at: Date(timeIntervalSince1970: expired), by: holder),
                                         ticket: candidate.id, item: candidate.item)
                }
                try db.cachedStatement(sql: "UPDATE ticket SET lease_holder = ?, lease_until = ?, version = version + 1 WHERE id = ?")
                    .execute(arguments: [request.reviewer, until, candidate.id])
                try Self.appendEvent(db, TicketEvent(ticket: candidate.id, kind: .claimed, at: now, by: request.reviewer),
                                     ticket: candidate.id, item: candidate.item)
                claimed.append(candidate.id)
            }
            return claimed
        }
        return try await writer.read { db in try ids.compactMap { try Self.view(db, id: $0) } }
    }

    public func ticket(id: Int64) async throws -> TicketView? {
        try await writer.read { db in try Self.view(db, id: id) }
    }

    /// The ticket row, checked: it exists, is open, the reviewer holds its live lease, and (when given) the version matches.
    static func heldTicket(_ db: Database, id: Int64, reviewer: String, version: Int?, now: Date) throws -> (Row, Ticket) {
        guard let row = try ticketRow(db, id: id) else { throw TicketError.notFound(id) }
        let ticket = try self.ticket(row)
        guard ticket.status == .open else { throw TicketError.alreadyDecided(id) }
        guard let lease = ticket.lease, lease.allows(reviewer, at: now) else {
            let holder = ticket.lease.flatMap { $0.isLive(at: now) ? $0.holder : nil }
            throw TicketError.leaseLost(ticket: id, holder: holder, expired: ticket.lease?.holder == reviewer)
        }
        if let version, version != ticket.version { throw TicketError.versionMismatch(ticket: id, expected: version, current: ticket.version) }
        return (row, ticket)
    }

    public func renew(ticket id: Int64, reviewer: String, now: Date, leaseSeconds: Double) async throws -> Ticket {
        try await commits.run { db in
            let (row, _) = try Self.heldTicket(db, id: id, reviewer: reviewer, version: nil, now: now)
            // Same holder, same content: the version stays, so a decision naming it still passes.
            try db.execute(sql: "UPDATE ticket SET lease_until = ? WHERE id = ?", arguments: [now.timeIntervalSince1970 + leaseSeconds, id])
            try Self.appendEvent(db, TicketEvent(ticket: id, kind: .renewed, at: now, by: reviewer), ticket: id, item: row["item"])
            return try Self.ticket(Self.ticketRow(db, id: id)!)
        }
    }

    public func release(ticket id: Int64, reviewer: String, version: Int?, now: Date) async throws -> Ticket {
        try await commits.run { db in
            let (row, ticket) = try Self.heldTicket(db, id: id, reviewer: reviewer, version: version, now: now)
            if ticket.goldLabel == nil {
                try db.execute(sql: "UPDATE ticket SET lease_holder = NULL, lease_until = NULL, version = version + 1 WHERE id = ?", arguments: [id])
            } else {
                // A released gold ticket leaves for good; its holder stays recorded, so it is never handed to them again.
                try db.execute(sql: "UPDATE ticket SET status = 'withdrawn', version = version + 1 WHERE id = ?", arguments: [id])
            }
            try Self.appendEvent(db, TicketEvent(ticket: id, kind: .released, at: now, by: reviewer), ticket: id, item: row["item"])
            return try Self.ticket(Self.ticketRow(db, id: id)!)
        }
    }

    public func escalate(ticket id: Int64, reviewer: String, version: Int?, note: String, now: Date, slaMinutes: Double) async throws -> Ticket {
        try await commits.run { db in
            let (row, ticket) = try Self.heldTicket(db, id: id, reviewer: reviewer, version: version, now: now)
            guard ticket.goldLabel == nil else {
                // A gold ticket escalated counts as a miss for the reviewer and leaves the queue.
                try db.execute(sql: """
                    UPDATE ticket SET status = 'decided', decided_at = ?, decided_by = ?, decided_label = '', lease_holder = NULL, lease_until = NULL,
                      version = version + 1 WHERE id = ?
                    """, arguments: [now.timeIntervalSince1970, reviewer, id])
                return try Self.ticket(Self.ticketRow(db, id: id)!)
            }
            try Self.moveToTierTwo(db, ticket, item: row["item"], note: note, by: reviewer, now: now, slaMinutes: slaMinutes)
            return try Self.ticket(Self.ticketRow(db, id: id)!)
        }
    }

    /// Sends a ticket to tier 2 with `note` (a reviewer's escalation, or the engine's after a disagreement): the
    /// escalation reason, due within `slaMinutes` (or sooner if it was), the lease dropped, and a step in the history.
    static func moveToTierTwo(_ db: Database, _ ticket: Ticket, item: Int64, note: String, by: String?, now: Date, slaMinutes: Double) throws {
        var updated = ticket
        updated.tier = .two
        updated.reasons.insert(.escalation)
        updated.dueAt = max(ticket.openedAt, min(ticket.dueAt, now.addingTimeInterval(slaMinutes * 60)))
        try db.execute(sql: """
            UPDATE ticket SET tier = 2, reasons = ?, due_at = ?, note = ?, lease_holder = NULL, lease_until = NULL, priority = ?, refresh_at = ?,
              version = version + 1 WHERE id = ?
            """, arguments: [TicketReason.bits(updated.reasons), updated.dueAt.timeIntervalSince1970, note, updated.priority(at: now),
                             TicketPriority.nextRefresh(openedAt: updated.openedAt, dueAt: updated.dueAt, after: now).timeIntervalSince1970, ticket.id])
        try appendEvent(db, TicketEvent(ticket: ticket.id, kind: .escalated, at: now, by: by, reason: .escalation, tier: .two, note: note),
                        ticket: ticket.id, item: item)
    }

    /// Stores a person's judgement of the item as a label, with the model's answer at the time.
    static func insertJudgement(_ db: Database, _ state: ItemState, label: String, source: String, by: String, at: Date, tier: Int) throws -> LabelRecord {
        let model = state.current
        return try insertLabel(db, LabelRecord(feed: state.submission.feed, itemID: state.submission.id, label: label, source: source, by: by, at: at,
                                               tier: tier, modelLabel: model.label, modelProbability: model.probabilities[model.label],
                                               modelVersion: model.modelVersion))
    }

    public func decide(ticket id: Int64, reviewer: String, decision: TicketDecision, action: Action, now: Date, secondReview: Bool,
                       escalationSLAMinutes: Double, apply: @escaping @Sendable (ItemState, HumanDecision) -> StageResult) async throws -> DecidedTicket {
        try await commits.run { db in
            let (row, ticket) = try Self.heldTicket(db, id: id, reviewer: reviewer, version: decision.version, now: now)
            let item: Int64 = row["item"]
            let firstBy: String? = row["first_by"]
            var written: [LabelRecord] = []
            if ticket.goldLabel == nil, ticket.tier == .one, secondReview, firstBy == nil {
                // The first of two independent reviews: kept on the ticket, out of every view, until the second.
                try db.execute(sql: """
                    UPDATE ticket SET first_by = ?, first_at = ?, first_label = ?, first_action = ?, first_code = ?, first_note = ?,
                      lease_holder = NULL, lease_until = NULL, version = version + 1 WHERE id = ?
                    """, arguments: [reviewer, now.timeIntervalSince1970, decision.label, action.rawValue, decision.reasonCode, decision.note, id])
                return DecidedTicket(ticket: try Self.ticket(Self.ticketRow(db, id: id)!), item: try Self.state(Self.itemRow(db, rowID: item)),
                                     outcome: .awaitingSecondReview)
            }
            if let firstBy, let firstLabel: String = row["first_label"], (row["second_by"] as String?) == nil {
                // The second review: now the first becomes part of the history and a label, at its own time.
                let firstAt = Date(timeIntervalSince1970: row["first_at"])
                let state = try Self.state(Self.itemRow(db, rowID: item))
                try Self.appendEvent(db, TicketEvent(ticket: id, kind: .decided, at: firstAt, by: firstBy, tier: .one, label: firstLabel,
                                                     action: (row["first_action"] as String?).flatMap(Action.init(rawValue:)), reasonCode: row["first_code"],
                                                     note: row["first_note"]), ticket: id, item: item)
                written.append(try Self.insertJudgement(db, state, label: firstLabel, source: "review", by: firstBy, at: firstAt, tier: 1))
                try db.execute(sql: "UPDATE ticket SET second_by = ?, second_label = ? WHERE id = ?", arguments: [reviewer, decision.label, id])
                if firstLabel != decision.label {
                    // They disagree: both judgements are labels, and tier 2 settles it with both in the history.
                    try Self.appendEvent(db, TicketEvent(ticket: id, kind: .decided, at: now, by: reviewer, tier: .one, label: decision.label, action: action,
                                                         reasonCode: decision.reasonCode, note: decision.note), ticket: id, item: item)
                    written.append(try Self.insertJudgement(db, state, label: decision.label, source: "review", by: reviewer, at: now, tier: 1))
                    try Self.moveToTierTwo(db, ticket, item: item, note: "two reviewers disagreed: \(firstBy) said \(firstLabel), \(reviewer) said \(decision.label)",
                                           by: nil, now: now, slaMinutes: escalationSLAMinutes)
                    return DecidedTicket(ticket: try Self.ticket(Self.ticketRow(db, id: id)!), item: state, outcome: .escalatedOnDisagreement, labels: written)
                }
            }
            try db.execute(sql: """
                UPDATE ticket SET status = 'decided', decided_at = ?, decided_by = ?, decided_label = ?, lease_holder = NULL, lease_until = NULL,
                  version = version + 1 WHERE id = ?
                """, arguments: [now.timeIntervalSince1970, reviewer, decision.label, id])
            try Self.appendEvent(db, TicketEvent(ticket: id, kind: .decided, at: now, by: reviewer, tier: ticket.tier, label: decision.label,
                                                 action: action, reasonCode: decision.reasonCode, note: decision.note), ticket: id, item: item)
            let itemRow = try Self.itemRow(db, rowID: item)
            var state = try Self.state(itemRow)
            let decided = try Self.ticket(Self.ticketRow(db, id: id)!)
            // A gold ticket probes the reviewer: the item, its labels and its reports are untouched.
            guard ticket.goldLabel == nil else { return DecidedTicket(ticket: decided, item: state) }
            let human = HumanDecision(label: decision.label, action: action, reasonCode: decision.reasonCode, by: reviewer, at: now, ticket: id, tier: ticket.tier)
            let result = apply(state, human)
            let seq = (itemRow["stages"] as Int) + 1
            try Self.insertStage(db, item: item, seq: seq, result: result)
            try db.execute(sql: "UPDATE item SET stages = ?, reviewed = ? WHERE id = ?", arguments: [seq, try Codec.encode(human), item])
            let source = ticket.reasons.contains(.appeal) ? "appeal" : ticket.reasons == [.audit] ? "audit" : "review"
            written.append(try Self.insertJudgement(db, state, label: decision.label, source: source, by: reviewer, at: now, tier: ticket.tier.rawValue))
            // Pending reports are judged with the item: upheld when it was harmful, rejected when it was cleared.
            let upheld = action != .allow
            try db.execute(sql: """
                INSERT INTO reporter (feed, reporter, upheld, rejected)
                SELECT ?, reporter, ?, ? FROM report WHERE item = ? AND outcome IS NULL
                ON CONFLICT (feed, reporter) DO UPDATE SET upheld = upheld + excluded.upheld, rejected = rejected + excluded.rejected
                """, arguments: [state.submission.feed, upheld ? 1 : 0, upheld ? 0 : 1, item])
            try db.execute(sql: "UPDATE report SET outcome = ? WHERE item = ? AND outcome IS NULL", arguments: [upheld ? "upheld" : "rejected", item])
            state.current = result
            state.reviewed = human
            return DecidedTicket(ticket: decided, item: state, labels: written)
        }
    }

    public func doubleReviews() async throws -> [DoubleReview] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT first_by, first_label, second_by, second_label FROM ticket WHERE second_by IS NOT NULL ORDER BY id
                """).map { DoubleReview(firstBy: $0["first_by"], first: $0["first_label"], secondBy: $0["second_by"], second: $0["second_label"]) }
        }
    }

    // MARK: Queue and stats

    public func reviewQueue(tier: ReviewTier, after cursor: (priority: Double, id: Int64)?, limit: Int) async throws -> [(ticket: Ticket, priority: Double)] {
        try await writer.read { db in
            let rows: [Row]
            if let cursor {
                rows = try Row.fetchAll(db, sql: """
                    SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                    WHERE t.status = 'open' AND t.tier = ? AND t.gold_label IS NULL AND (t.priority < ? OR (t.priority = ? AND t.id > ?))
                    ORDER BY t.priority DESC, t.id LIMIT ?
                    """, arguments: [tier.rawValue, cursor.priority, cursor.priority, cursor.id, limit])
            } else {
                rows = try Row.fetchAll(db, sql: """
                    SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                    WHERE t.status = 'open' AND t.tier = ? AND t.gold_label IS NULL ORDER BY t.priority DESC, t.id LIMIT ?
                    """, arguments: [tier.rawValue, limit])
            }
            return try rows.map { (try Self.ticket($0), $0["priority"] as Double) }
        }
    }

    public func reviewStats(now: Date) async throws -> ReviewStats {
        let t = now.timeIntervalSince1970
        return try await writer.read { db in
            let open = "status = 'open' AND gold_label IS NULL"
            let counts = try Row.fetchOne(db, sql: """
                SELECT count(*) AS open, coalesce(sum(lease_until > ?), 0) AS claimed, min(opened_at) AS oldest, coalesce(sum(due_at < ?), 0) AS overdue
                FROM ticket WHERE \(open)
                """, arguments: [t, t])!
            var byTier: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT tier, count(*) AS n FROM ticket WHERE \(open) GROUP BY tier") {
                byTier["tier\(row["tier"] as Int)"] = row["n"]
            }
            var byLanguage: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT coalesce(language, 'any') AS language, count(*) AS n FROM ticket WHERE \(open) GROUP BY 1") {
                byLanguage[row["language"]] = row["n"]
            }
            var byReason: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT reasons, count(*) AS n FROM ticket WHERE \(open) GROUP BY reasons") {
                for reason in TicketReason.set(bits: row["reasons"]) { byReason[reason.rawValue, default: 0] += row["n"] as Int }
            }
            let breached = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM ticket WHERE decided_at >= ? AND decided_at > due_at AND gold_label IS NULL
                """, arguments: [t - 86_400]) ?? 0
            var reviewers: [ReviewStats.Reviewer] = []
            for row in try Row.fetchAll(db, sql: """
                SELECT decided_by AS name,
                  coalesce(sum(decided_at >= ? AND gold_label IS NULL), 0) AS last_hour,
                  coalesce(sum(decided_at >= ? AND gold_label IS NULL), 0) AS last_day,
                  count(DISTINCT CASE WHEN decided_at >= ? AND gold_label IS NULL THEN CAST(decided_at / 3600 AS INTEGER) END) AS active_hours,
                  coalesce(sum(gold_label IS NOT NULL), 0) AS gold_seen,
                  coalesce(sum(gold_label IS NOT NULL AND gold_label = decided_label), 0) AS gold_correct
                FROM ticket WHERE decided_by IS NOT NULL GROUP BY decided_by ORDER BY decided_by
                """, arguments: [t - 3600, t - 86_400, t - 86_400]) {
                let lastDay: Int = row["last_day"], hours: Int = row["active_hours"]
                reviewers.append(ReviewStats.Reviewer(name: row["name"], decisionsLastHour: row["last_hour"], decisionsLast24Hours: lastDay,
                                                      perActiveHour: hours > 0 ? Double(lastDay) / Double(hours) : 0,
                                                      goldSeen: row["gold_seen"], goldCorrect: row["gold_correct"]))
            }
            let oldest: Double? = counts["oldest"]
            return ReviewStats(open: counts["open"], claimed: counts["claimed"], byTier: byTier, byReason: byReason, byLanguage: byLanguage,
                               oldestAgeSeconds: oldest.map { max(0, t - $0) }, overdue: counts["overdue"], breachedLast24Hours: breached,
                               reviewers: reviewers)
        }
    }

    public func refreshTicketPriorities(now: Date, limit: Int) async throws -> Int {
        try await commits.run { db in
            // A gold ticket whose lease ran out leaves the queue (nobody else may be handed it).
            try db.execute(sql: "UPDATE ticket SET status = 'withdrawn' WHERE status = 'open' AND gold_label IS NOT NULL AND lease_until <= ?",
                           arguments: [now.timeIntervalSince1970])
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, opened_at, due_at, base_priority FROM ticket WHERE status = 'open' AND refresh_at <= ? ORDER BY refresh_at LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit])
            let update = try db.cachedStatement(sql: "UPDATE ticket SET priority = ?, refresh_at = ? WHERE id = ?")
            for row in rows {
                let opened = Date(timeIntervalSince1970: row["opened_at"]), due = Date(timeIntervalSince1970: row["due_at"])
                let priority = TicketPriority.current(base: row["base_priority"], openedAt: opened, dueAt: due, now: now)
                try update.execute(arguments: [priority, TicketPriority.nextRefresh(openedAt: opened, dueAt: due, after: now).timeIntervalSince1970,
                                               row["id"]])
            }
            return rows.count
        }
    }

    /// Decided audit tickets `t` (not gold); one argument: `TicketReason.audit.bit`.
    static let decidedAuditSQL = "t.status = 'decided' AND t.gold_label IS NULL AND t.audit_probability IS NOT NULL AND t.reasons & ? != 0"

    public func auditSamples(since: Date?, until: Date?) async throws -> [AuditSample] {
        var period = ""
        var arguments: StatementArguments = [TicketReason.audit.bit]
        if let since { period += " AND s.scored_at >= ?"; arguments += [since.timeIntervalSince1970] }
        if let until { period += " AND s.scored_at < ?"; arguments += [until.timeIntervalSince1970] }
        return try await writer.read { [period, arguments] db in
            try Row.fetchAll(db, sql: """
                SELECT s.action, s.body, t.decided_label, t.audit_probability, s.scored_at
                FROM ticket t JOIN stage_result s ON s.item = t.item AND s.seq = 1
                WHERE \(Self.decidedAuditSQL)\(period)
                ORDER BY t.id
                """, arguments: arguments).compactMap { row in
                guard let action = Action(rawValue: row["action"]) else { return nil }
                return AuditSample(action: action, autoLabel: try StageRecord.decode(row["body"]).decision.label, trueLabel: row["decided_label"],
                                   inclusionProbability: row["audit_probability"],
                                   decidedAt: Date(timeIntervalSince1970: row["scored_at"]))
            }
        }
    }

    public func auditedTexts() async throws -> [(text: String, label: String, inclusionProbability: Double)] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT json_extract(i.submission, '$.text') AS text, t.decided_label, t.audit_probability
                FROM ticket t JOIN item i ON i.id = t.item
                WHERE \(Self.decidedAuditSQL)
                ORDER BY t.id
                """, arguments: [TicketReason.audit.bit]).map { ($0["text"], $0["decided_label"], $0["audit_probability"]) }
        }
    }

    public func addGold(feed: String, id: String, label: String, by: String, at: Date) async throws -> Bool {
        try await commits.run { db in
            guard let row = try Self.itemRow(db, feed: feed, id: id) else { return false }
            try db.execute(sql: """
                INSERT INTO gold (item, label, added_by, added_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (item) DO UPDATE SET label = excluded.label, added_by = excluded.added_by, added_at = excluded.added_at
                """, arguments: [row["id"], label, by, at.timeIntervalSince1970])
            return true
        }
    }

    /// A gold item the reviewer has never been handed (a withdrawn gold ticket keeps its holder for this), in a
    /// language they read.
    static func goldCandidate(_ db: Database, for request: ClaimRequest) throws -> Row? {
        var language = ""
        var arguments: [any DatabaseValueConvertible] = [request.reviewer, request.reviewer]
        if !request.languages.isEmpty {
            language = " AND (l.language IS NULL OR l.language IN (\(Array(repeating: "?", count: request.languages.count).joined(separator: ", "))))"
            arguments += request.languages.map { $0.lowercased() }
        }
        return try Row.fetchOne(db, sql: """
            SELECT * FROM (
              SELECT g.item, g.label, lower(json_extract(i.submission, '$.language')) AS language,
                coalesce((SELECT base_priority FROM ticket WHERE item = g.item AND gold_label IS NULL ORDER BY id DESC LIMIT 1), 1) AS base
              FROM gold g JOIN item i ON i.id = g.item
              WHERE NOT EXISTS (SELECT 1 FROM ticket t WHERE t.item = g.item AND t.gold_label IS NOT NULL AND (t.lease_holder = ? OR t.decided_by = ?))
            ) l WHERE 1\(language)
            ORDER BY random() LIMIT 1
            """, arguments: StatementArguments(arguments))
    }

    // MARK: Rows

    static func ticketRow(_ db: Database, id: Int64) throws -> Row? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item WHERE t.id = ?"),
                         arguments: [id])
    }

    static func ticket(_ row: Row) throws -> Ticket {
        let holder: String? = row["lease_holder"], until: Double? = row["lease_until"]
        guard let tier = ReviewTier(rawValue: row["tier"]), let status = TicketStatus(rawValue: row["status"]) else {
            throw StoreError.corruptRow("ticket \(row["id"] as Int64? ?? 0)")
        }
        return Ticket(id: row["id"], feed: row["feed"] ?? "", itemID: row["external_id"] ?? "", tier: tier, reasons: TicketReason.set(bits: row["reasons"]),
                      status: status, language: row["language"], skill: row["skill"],
                      openedAt: Date(timeIntervalSince1970: row["opened_at"]), dueAt: Date(timeIntervalSince1970: row["due_at"]),
                      basePriority: row["base_priority"],
                      lease: holder.flatMap { h in until.map { Lease(holder: h, until: Date(timeIntervalSince1970: $0)) } },
                      version: row["version"], auditProbability: row["audit_probability"], goldLabel: row["gold_label"], note: row["note"])
    }

    /// The ticket with its item and the item's whole history.
    static func view(_ db: Database, id: Int64) throws -> TicketView? {
        guard let row = try ticketRow(db, id: id) else { return nil }
        let ticket = try self.ticket(row)
        let item: Int64 = row["item"]
        var state = try state(itemRow(db, rowID: item))
        var history = try history(db, item: item)
        if let id = ticket.goldLabel.map({ _ in ticket.id }) {
            // A gold ticket must look like any other: a person's verdict on the item, and the later stages that kept
            // it, would give the answer away. It shows the item up to its first review, with its own steps.
            let firstReview = history.firstIndex { if case let .stage(result) = $0 { result.stage == .review } else { false } }
            history = history.enumerated().filter { index, entry in
                switch entry {
                case .ticket: return false
                case .stage: return firstReview.map { index < $0 } ?? true
                case .engagement: return true
                }
            }.map(\.element)
            for case let .stage(result) in history { state.current = result }
            state.reviewed = nil
            history += try Row.fetchAll(db, sql: "SELECT body FROM ticket_event WHERE ticket = ? ORDER BY id", arguments: [id])
                .map { .ticket(try Codec.decode(TicketEvent.self, $0["body"])) }
        }
        return TicketView(ticket: ticket, item: state, history: history)
    }
}
