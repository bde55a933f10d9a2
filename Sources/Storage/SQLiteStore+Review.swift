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

    /// Opens a ticket for the item, or joins `opening`'s reason to its open ticket (`Ticket.joining`). Returns the
    /// ticket's id.
    static func openTicket(_ db: Database, item: Int64, _ opening: TicketOpening) throws -> Int64 {
        if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM ticket WHERE item = ? AND status = 'open' AND gold_label IS NULL"),
                                      arguments: [item]) {
            let open = try Self.ticket(row)
            if let change = open.joining(opening) { try write(db, change, item: item) }
            return open.id
        }
        let ticket = Ticket.opened(opening, feed: "", itemID: "")
        return try insertTicket(db, ticket, priority: StoredPriority(ticket, now: opening.at), item: item, events: [Ticket.openingEvent(opening)])
    }

    /// Inserts a new ticket with its first events; returns its id.
    static func insertTicket(_ db: Database, _ ticket: Ticket, priority: StoredPriority, item: Int64, events: [TicketEvent]) throws -> Int64 {
        try db.cachedStatement(sql: """
            INSERT INTO ticket (item, tier, reasons, status, language, skill, opened_at, due_at, base_priority, priority, refresh_at, version,
                                audit_probability, note, gold_label, lease_holder, lease_until)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [item, ticket.tier.rawValue, TicketReason.bits(ticket.reasons), ticket.status.rawValue, ticket.language, ticket.skill,
                                     ticket.openedAt.timeIntervalSince1970, ticket.dueAt.timeIntervalSince1970, ticket.basePriority, priority.value,
                                     priority.refreshAt.timeIntervalSince1970, ticket.version, ticket.auditProbability, ticket.note, ticket.goldLabel,
                                     ticket.lease?.holder, ticket.lease?.until.timeIntervalSince1970])
        let id = db.lastInsertedRowID
        for event in events { try appendEvent(db, event, ticket: id, item: item) }
        return id
    }

    /// Writes what a step of the ticket's life changed (`TicketChange`), deciding nothing; returns the labels stored.
    @discardableResult
    static func write(_ db: Database, _ change: TicketChange, item: Int64) throws -> [LabelRecord] {
        let t = change.ticket
        let verdict = change.verdict
        // Only a decided ticket keeps a verdict (an undone one opens again without it).
        let decided = t.status == .decided
        // One statement: the schema ties the status to the verdict's columns.
        try db.cachedStatement(sql: """
            UPDATE ticket SET tier = ?, reasons = ?, status = ?, language = ?, due_at = ?, base_priority = ?, note = ?, audit_probability = ?,
              lease_holder = ?, lease_until = ?, version = ?,
              decided_at = CASE WHEN ? THEN coalesce(?, decided_at) END, decided_by = CASE WHEN ? THEN coalesce(?, decided_by) END,
              decided_label = CASE WHEN ? THEN coalesce(?, decided_label) END,
              escalated_by = coalesce(?, escalated_by)
            WHERE id = ?
            """).execute(arguments: [t.tier.rawValue, TicketReason.bits(t.reasons), t.status.rawValue, t.language, t.dueAt.timeIntervalSince1970,
                                     t.basePriority, t.note, t.auditProbability, t.lease?.holder, t.lease?.until.timeIntervalSince1970, t.version,
                                     decided, verdict?.at.timeIntervalSince1970, decided, verdict?.by, decided, verdict?.label, change.escalatedBy, t.id])
        if let priority = change.priority {
            try db.cachedStatement(sql: "UPDATE ticket SET priority = ?, refresh_at = ? WHERE id = ?")
                .execute(arguments: [priority.value, priority.refreshAt.timeIntervalSince1970, t.id])
        }
        if change.clearsFirstReview {
            try db.execute(sql: """
                UPDATE ticket SET first_by = NULL, first_at = NULL, first_label = NULL, first_action = NULL, first_code = NULL, first_note = NULL WHERE id = ?
                """, arguments: [t.id])
        }
        if let first = change.firstReview {
            try db.execute(sql: """
                UPDATE ticket SET first_by = ?, first_at = ?, first_label = ?, first_action = ?, first_code = ?, first_note = ? WHERE id = ?
                """, arguments: [first.by, first.at.timeIntervalSince1970, first.label, first.action?.rawValue, first.reasonCode, first.note, t.id])
        }
        if let second = change.secondReview {
            try db.execute(sql: "UPDATE ticket SET second_by = ?, second_label = ? WHERE id = ?", arguments: [second.by, second.label, t.id])
        }
        for event in change.events { try appendEvent(db, event, ticket: t.id, item: item) }
        var labels = try change.labels.map { try insertLabel(db, $0) }
        if let undo = change.undo {
            // The decision's labels are withdrawn (kept, marked), at the time of the undo; with a second review taken
            // back, the first review's too, and the ticket waits for its second review again.
            let first = undo.reopened
            labels = try Row.fetchAll(db, sql: """
                UPDATE label SET withdrawn_at = ?, withdrawn_by = ?
                WHERE (feed, item_id) = (SELECT feed, external_id FROM item WHERE id = ?) AND withdrawn_at IS NULL
                  AND ((by = ? AND at = ?) OR (by = ? AND at = ?))
                RETURNING *
                """, arguments: [undo.stage.scoredAt.timeIntervalSince1970, undo.by, item, undo.by, undo.at.timeIntervalSince1970,
                                 first?.by, first?.at.timeIntervalSince1970])
                .map(Self.label).sorted { ($0.id ?? 0) < ($1.id ?? 0) }
            if first != nil { try db.execute(sql: "UPDATE ticket SET second_by = NULL, second_label = NULL WHERE id = ?", arguments: [t.id]) }
        }
        if let (result, reviewed) = change.appendedStage { try appendReviewedStage(db, item: item, result, reviewed: reviewed) }
        try appendDecisionEvent(db, change.decisionEvent)
        if let upheld = change.reportsUpheld {
            try db.execute(sql: """
                INSERT INTO reporter (feed, reporter, upheld, rejected)
                SELECT i.feed, p.reporter, ?, ? FROM report p JOIN item i ON i.id = p.item WHERE p.item = ? AND p.outcome IS NULL
                ON CONFLICT (feed, reporter) DO UPDATE SET upheld = upheld + excluded.upheld, rejected = rejected + excluded.rejected
                """, arguments: [upheld ? 1 : 0, upheld ? 0 : 1, item])
            try db.execute(sql: "UPDATE report SET outcome = ? WHERE item = ? AND outcome IS NULL", arguments: [upheld ? "upheld" : "rejected", item])
        }
        return labels
    }

    /// Appends a stage that a person's decision (or its undo, or a label's correction or withdrawal) makes, with the item's reviewed decision
    /// after it.
    static func appendReviewedStage(_ db: Database, item: Int64, _ result: StageResult, reviewed: HumanDecision?) throws {
        let seq = try Int.fetchOne(db, sql: "SELECT stages FROM item WHERE id = ?", arguments: [item])! + 1
        try insertStage(db, item: item, seq: seq, result: result)
        try db.execute(sql: "UPDATE item SET stages = ?, reviewed = ? WHERE id = ?", arguments: [seq, try reviewed.map(Codec.encode), item])
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

    public func claim(_ request: ClaimRequest, now: Date, workflow: ReviewWorkflow, gold: Bool) async throws -> [TicketView] {
        let t = now.timeIntervalSince1970
        let until = t + workflow.rules.configuration.leaseSeconds
        let ids = try await commits.run { db -> [Int64] in
            var claimed: [Int64] = []
            if gold, request.tiers.contains(.one), let (candidate, itemRow) = try Self.goldCandidate(db, for: request) {
                let (ticket, priority, events) = workflow.goldTicket(candidate, reviewer: request.reviewer, now: now)
                claimed.append(try Self.insertTicket(db, ticket, priority: priority, item: itemRow, events: events))
            }
            // The best candidates of each route (`ClaimRequest.routes`: an index range each), then the best of them.
            var candidates: [(priority: Double, id: Int64, holder: String?, leaseUntil: Double?, item: Int64)] = []
            let wanted = request.count - claimed.count
            // The gold ticket just made is the reviewer's, and held gold tickets come back (as real ones do): not twice.
            let excluding = request.excluding + claimed
            if wanted > 0 {
                var exclusion = ""
                if !excluding.isEmpty {
                    exclusion = " AND id NOT IN (\(Array(repeating: "?", count: excluding.count).joined(separator: ", ")))"
                }
                for route in request.routes {
                    var arguments: [(any DatabaseValueConvertible)?] = [route.tier.rawValue]
                    var range = ""
                    switch route.language {
                    case .any: break
                    case .unspecified: range += " AND language IS NULL"
                    case let .code(code): range += " AND language = ?"; arguments.append(code)
                    }
                    range += route.skill == nil ? " AND skill IS NULL" : " AND skill = ?"
                    if let skill = route.skill { arguments.append(skill) }
                    arguments += [t, request.reviewer, request.reviewer, t, request.reviewer]
                    // Four eyes (`ReviewRules.recusingTier`): not a ticket of an item this reviewer judged before.
                    var recusal = ""
                    if route.tier == ReviewRules.recusingTier {
                        recusal = """
                             AND NOT EXISTS (SELECT 1 FROM ticket p WHERE p.item = ticket.item AND p.gold_label IS NULL
                                               AND (p.decided_by = ? OR p.first_by = ? OR p.second_by = ? OR p.escalated_by = ?))
                            """
                        arguments += Array(repeating: request.reviewer, count: 4)
                    }
                    arguments += excluding.map { $0 as (any DatabaseValueConvertible)? }
                    arguments.append(wanted)
                    let rows = try Row.fetchAll(db.cachedStatement(sql: """
                        SELECT id, priority, lease_holder, lease_until, item FROM ticket
                        WHERE status = 'open' AND tier = ?\(range)
                          AND (lease_until IS NULL OR lease_until <= ? OR lease_holder = ?)
                          AND (gold_label IS NULL OR (lease_holder = ? AND lease_until > ?))
                          AND (first_by IS NULL OR first_by != ?)\(recusal)\(exclusion)
                        ORDER BY priority DESC, id LIMIT ?
                        """), arguments: StatementArguments(arguments))
                    candidates += rows.map { ($0["priority"], $0["id"], $0["lease_holder"], $0["lease_until"], $0["item"]) }
                }
                candidates.sort { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }
            }
            for candidate in candidates.prefix(wanted) {
                if let holder = candidate.holder, holder != request.reviewer, let expired = candidate.leaseUntil {
                    try Self.appendEvent(db, TicketEvent(ticket: candidate.id, kind: .expired, at: Date(timeIntervalSince1970: expired), by: holder),
                                         ticket: candidate.id, item: candidate.item)
                }
                // A ticket the reviewer still holds comes back to them with a fresh lease: a renewal, not a second claim,
                // which keeps its version (as `renew`: same holder, same content); any other claim is a new version.
                let renewed = candidate.holder == request.reviewer && (candidate.leaseUntil ?? 0) > t
                try db.cachedStatement(sql: "UPDATE ticket SET lease_holder = ?, lease_until = ?, version = version + ? WHERE id = ?")
                    .execute(arguments: [request.reviewer, until, renewed ? 0 : 1, candidate.id])
                try Self.appendEvent(db, TicketEvent(ticket: candidate.id, kind: renewed ? .renewed : .claimed, at: now, by: request.reviewer),
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

    public func changeTicket(id: Int64, _ step: @escaping @Sendable (TicketState) throws -> TicketChange) async throws -> DecidedTicket {
        try await commits.run { db in
            guard let row = try Self.ticketRow(db, id: id) else { throw TicketError.notFound(id) }
            let item: Int64 = row["item"]
            var first: FirstReview?
            if let by: String = row["first_by"] {
                first = FirstReview(by: by, at: Date(timeIntervalSince1970: row["first_at"]), label: row["first_label"],
                                    action: (row["first_action"] as String?).flatMap(Action.init(rawValue:)), reasonCode: row["first_code"],
                                    note: row["first_note"])
            }
            var state = try Self.state(Self.itemRow(db, rowID: item))
            var verdict: TicketVerdict?
            if let at: Double = row["decided_at"], let by: String = row["decided_by"] {
                verdict = TicketVerdict(by: by, at: Date(timeIntervalSince1970: at), label: row["decided_label"] ?? "")
            }
            // Only a decided ticket's step (an undo) asks for another open ticket of the item: no lookup on the steps of
            // an open one (decide, release, renew).
            let other = (row["status"] as String) == TicketStatus.decided.rawValue
                ? try Int64.fetchOne(db, sql: "SELECT id FROM ticket WHERE item = ? AND status = 'open' AND gold_label IS NULL AND id <> ? LIMIT 1",
                                     arguments: [item, id])
                : nil
            let change = try step(TicketState(ticket: try Self.ticket(row), firstReview: first, secondReviewBy: row["second_by"], item: state,
                                              verdict: verdict, otherOpenTicket: other))
            let labels = try Self.write(db, change, item: item)
            if let (result, reviewed) = change.appendedStage {
                state.current = result
                state.reviewed = reviewed
            }
            return DecidedTicket(ticket: try Self.ticket(Self.ticketRow(db, id: id)!), item: state, outcome: change.outcome, labels: labels,
                                 decisionEvent: change.decisionEvent)
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

    public func reviewQueue(tier: ReviewTier, after cursor: (priority: Double, id: Int64)?, limit: Int, goldHeldBy: (reviewer: String, at: Date)?) async throws
        -> [(ticket: Ticket, priority: Double)] {
        try await writer.read { db in
            let gold: [(any DatabaseValueConvertible)?] = [goldHeldBy?.reviewer, goldHeldBy?.at.timeIntervalSince1970]
            let rows: [Row]
            if let cursor {
                rows = try Row.fetchAll(db, sql: """
                    SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                    WHERE t.status = 'open' AND t.tier = ? AND (t.gold_label IS NULL OR (t.lease_holder = ? AND t.lease_until > ?))
                      AND (t.priority < ? OR (t.priority = ? AND t.id > ?))
                    ORDER BY t.priority DESC, t.id LIMIT ?
                    """, arguments: StatementArguments([tier.rawValue] + gold + [cursor.priority, cursor.priority, cursor.id, limit]))
            } else {
                rows = try Row.fetchAll(db, sql: """
                    SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                    WHERE t.status = 'open' AND t.tier = ? AND (t.gold_label IS NULL OR (t.lease_holder = ? AND t.lease_until > ?))
                    ORDER BY t.priority DESC, t.id LIMIT ?
                    """, arguments: StatementArguments([tier.rawValue] + gold + [limit]))
            }
            return try rows.map { (try Self.ticket($0), $0["priority"] as Double) }
        }
    }

    public func reviewStats(now: Date) async throws -> ReviewStats {
        let t = now.timeIntervalSince1970
        return try await writer.read { db in
            // Gold tickets count while held, as any claimed ticket does (left out, they told their holder which they were).
            let open = "status = 'open' AND (gold_label IS NULL OR lease_until > \(t))"
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
            // Every judgement that stands counts, not only the one that settled a ticket: live labels (first and second
            // reviews, audits, appeals, tier 2; imports are not judgements made here; one taken back or withdrawn does
            // not count), and first reviews still hidden.
            var judged: [String: (hour: Int, day: Int, hours: Int)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT name, coalesce(sum(at >= ?1), 0) AS last_hour, count(*) AS last_day, count(DISTINCT CAST(at / 3600 AS INTEGER)) AS active_hours
                FROM (SELECT by AS name, at FROM label WHERE at >= ?2 AND source <> 'import' AND withdrawn_at IS NULL
                      UNION ALL
                      SELECT first_by, first_at FROM ticket
                      WHERE first_by IS NOT NULL AND second_by IS NULL AND status = 'open' AND gold_label IS NULL AND first_at >= ?2)
                GROUP BY name
                """, arguments: [t - 3600, t - 86_400]) {
                judged[row["name"]] = (row["last_hour"], row["last_day"], row["active_hours"])
            }
            var gold: [String: (seen: Int, correct: Int)] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT decided_by AS name, count(*) AS seen, coalesce(sum(gold_label = decided_label), 0) AS correct
                FROM ticket WHERE gold_label IS NOT NULL AND decided_by IS NOT NULL GROUP BY decided_by
                """) {
                gold[row["name"]] = (row["seen"], row["correct"])
            }
            let reviewers = ReviewStats.Reviewer.merge(judged: judged, gold: gold)
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

    public func auditedTexts() async throws -> [AuditedText] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT i.feed, i.external_id, json_extract(i.submission, '$.text') AS text, t.decided_label, t.audit_probability
                FROM ticket t JOIN item i ON i.id = t.item
                WHERE \(Self.decidedAuditSQL)
                ORDER BY t.id
                """, arguments: [TicketReason.audit.bit]).map {
                AuditedText(feed: $0["feed"], itemID: $0["external_id"], text: $0["text"], label: $0["decided_label"], inclusionProbability: $0["audit_probability"])
            }
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
    /// language they read, whose item has no open ticket of its own (its copy would stand beside it: two tickets of one
    /// item, the gold one showing the scores a blind audit withholds; outside testing), with the item's row id.
    static func goldCandidate(_ db: Database, for request: ClaimRequest) throws -> (GoldCandidate, row: Int64)? {
        var language = ""
        var arguments: [any DatabaseValueConvertible] = [request.reviewer, request.reviewer]
        if !request.languages.isEmpty {
            language = " AND (l.language IS NULL OR l.language IN (\(Array(repeating: "?", count: request.languages.count).joined(separator: ", "))))"
            arguments += request.languages.map { $0.lowercased() }
        }
        guard let row = try Row.fetchOne(db, sql: """
            SELECT l.*, e.reasons AS earlier_reasons, e.base_priority AS earlier_base, e.decided_at - e.opened_at AS took FROM (
              SELECT g.item, g.label, i.feed, i.external_id, i.received_at, lower(json_extract(i.submission, '$.language')) AS language,
                (SELECT id FROM ticket WHERE item = g.item AND gold_label IS NULL ORDER BY id DESC LIMIT 1) AS earlier
              FROM gold g JOIN item i ON i.id = g.item
              WHERE NOT EXISTS (SELECT 1 FROM ticket t WHERE t.item = g.item AND t.gold_label IS NOT NULL AND (t.lease_holder = ? OR t.decided_by = ?))
                AND NOT EXISTS (SELECT 1 FROM ticket o WHERE o.item = g.item AND o.status = 'open' AND o.gold_label IS NULL)
            ) l LEFT JOIN ticket e ON e.id = l.earlier WHERE 1\(language)
            ORDER BY random() LIMIT 1
            """, arguments: StatementArguments(arguments)) else { return nil }
        let reasons: Int? = row["earlier_reasons"]
        return (GoldCandidate(feed: row["feed"], itemID: row["external_id"], label: row["label"], language: row["language"],
                              receivedAt: Date(timeIntervalSince1970: row["received_at"]),
                              earlier: reasons.map { (TicketReason.set(bits: $0), row["earlier_base"], row["took"]) }),
                row["item"])
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
        if ticket.goldLabel != nil {
            let own = try Row.fetchAll(db, sql: "SELECT body FROM ticket_event WHERE ticket = ? ORDER BY id", arguments: [ticket.id])
                .map { try Codec.decode(TicketEvent.self, $0["body"]) }
            (state, history) = ReviewWorkflow.goldView(ticket: ticket, item: state, history: history, ownEvents: own)
            return TicketView(ticket: ticket, item: state, history: history)
        }
        let reports = try Int.fetchOne(db, sql: "SELECT count(*) FROM report WHERE item = ? AND outcome IS NULL", arguments: [item]) ?? 0
        return TicketView(ticket: ticket, item: state, history: history, pendingReports: reports)
    }
}

/// Learning offers: recent items nobody looked at, and how many offers were opened.
extension SQLiteStore {
    public func learningCandidates(since: Date, limit: Int) async throws -> [ItemState] {
        try await writer.read { db in
            // Only the newest rows are read (four times the limit): offers are about recent items, and the scan stays
            // short however large the table grows.
            try Row.fetchAll(db, sql: """
                SELECT i.*, s.body AS current FROM (SELECT * FROM item ORDER BY id DESC LIMIT ?) i
                JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
                WHERE i.received_at >= ? AND NOT EXISTS (SELECT 1 FROM ticket t WHERE t.item = i.id)
                  AND NOT EXISTS (SELECT 1 FROM label l WHERE l.feed = i.feed AND l.item_id = i.external_id)
                ORDER BY i.id DESC LIMIT ?
                """, arguments: [limit * 4, since.timeIntervalSince1970, limit]).map(Self.state)
        }
    }

    public func ticketsOpened(reason: TicketReason, since: Date) async throws -> Int {
        try await writer.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM ticket WHERE opened_at >= ? AND reasons & ? != 0",
                             arguments: [since.timeIntervalSince1970, reason.bit]) ?? 0
        }
    }
}
