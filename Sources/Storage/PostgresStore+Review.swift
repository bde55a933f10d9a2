import Engine
import Foundation
import PostgresNIO

/// The review queue on PostgreSQL, shared by every node. A ticket's step takes its item's lock and then the ticket's
/// (`FOR NO KEY UPDATE`), so a ticket is changed by one transaction at a time and decided once; a claim takes only
/// open tickets nobody holds (`SKIP LOCKED`), so reviewers on different nodes never wait on each other and never
/// lease the same ticket. The queue's order and its refresh are SQLite's (see `SQLiteStore`'s review extension).
extension PostgresStore {
    // MARK: Opening

    /// Opens a ticket for the item, or joins `opening`'s reason to its open ticket (`Ticket.joining`). Returns the
    /// ticket's id. The caller holds the item's lock (or has just inserted the item), so openings of one item take
    /// turns; the unique index on open tickets would refuse a second one all the same, and the opening then joins it.
    static func openTicket(_ db: Session, item: Int64, _ opening: TicketOpening) async throws -> Int64 {
        if let id = try await joinOpenTicket(db, item: item, opening) { return id }
        let ticket = Ticket.opened(opening, feed: "", itemID: "")
        if let id = try await insertTicket(db, ticket, priority: StoredPriority(ticket, now: opening.at), item: item,
                                           events: [Ticket.openingEvent(opening)], onlyIfNoneOpen: true) {
            return id
        }
        guard let id = try await joinOpenTicket(db, item: item, opening) else {
            throw StoreError.corruptRow("item \(item): an open ticket refused a new one and then could not be found")
        }
        return id
    }

    /// Opens the tickets of items inserted in this transaction, in the given order: two statements for any number
    /// (the tickets, then their events), where `openTicket` takes three round trips each. A new item has no open
    /// ticket, so each item's openings fold in memory exactly as `openTicket` would apply them one by one: the first
    /// opens (`Ticket.opened`), the others join it (`Ticket.joining`).
    static func openNewTickets(_ db: Session, _ openings: [(item: Int64, openings: [TicketOpening])]) async throws {
        var items: [Int64] = [], tiers: [Int] = [], reasons: [Int] = [], languages: [String] = [], hasLanguage: [Bool] = []
        var skills: [String] = [], hasSkill: [Bool] = [], opened: [Double] = [], due: [Double] = [], bases: [Double] = []
        var priorities: [Double] = [], refreshes: [Double] = [], versions: [Int] = [], audits: [Double] = [], hasAudit: [Bool] = []
        var notes: [String] = [], hasNote: [Bool] = []
        var events: [(item: Int64, events: [TicketEvent])] = []
        for (item, list) in openings {
            guard let first = list.first else { continue }
            var ticket = Ticket.opened(first, feed: "", itemID: "")
            var priority = StoredPriority(ticket, now: first.at)
            var steps = [Ticket.openingEvent(first)]
            for opening in list.dropFirst() {
                guard let change = ticket.joining(opening) else { continue }
                ticket = change.ticket
                priority = change.priority ?? priority
                steps += change.events
            }
            items.append(item)
            tiers.append(ticket.tier.rawValue)
            reasons.append(TicketReason.bits(ticket.reasons))
            languages.append(ticket.language ?? "")
            hasLanguage.append(ticket.language != nil)
            skills.append(ticket.skill ?? "")
            hasSkill.append(ticket.skill != nil)
            opened.append(ticket.openedAt.timeIntervalSince1970)
            due.append(ticket.dueAt.timeIntervalSince1970)
            bases.append(ticket.basePriority)
            priorities.append(priority.value)
            refreshes.append(priority.refreshAt.timeIntervalSince1970)
            versions.append(ticket.version)
            audits.append(ticket.auditProbability ?? 0)
            hasAudit.append(ticket.auditProbability != nil)
            notes.append(ticket.note ?? "")
            hasNote.append(ticket.note != nil)
            events.append((item, steps))
        }
        guard !items.isEmpty else { return }
        // Ids drawn in the given order (as SQLite gives them one insert at a time).
        var ids: [Int64: Int64] = [:]
        for row in try await db.rows("""
            INSERT INTO ticket (id, item, tier, reasons, status, language, skill, opened_at, due_at, base_priority, priority, refresh_at, version,
                                audit_probability, note)
            OVERRIDING SYSTEM VALUE
            SELECT nextval(pg_get_serial_sequence('ticket', 'id')), u.item, u.tier, u.reasons, 'open',
              CASE WHEN u.has_language THEN u.language END, CASE WHEN u.has_skill THEN u.skill END, u.opened_at, u.due_at, u.base_priority,
              u.priority, u.refresh_at, u.version, CASE WHEN u.has_audit THEN u.audit END, CASE WHEN u.has_note THEN u.note END
            FROM unnest(\(items)::int8[], \(tiers)::int4[], \(reasons)::int8[], \(languages)::text[], \(hasLanguage)::bool[], \(skills)::text[],
                        \(hasSkill)::bool[], \(opened)::float8[], \(due)::float8[], \(bases)::float8[], \(priorities)::float8[], \(refreshes)::float8[],
                        \(versions)::int4[], \(audits)::float8[], \(hasAudit)::bool[], \(notes)::text[], \(hasNote)::bool[]) WITH ORDINALITY
              AS u(item, tier, reasons, language, has_language, skill, has_skill, opened_at, due_at, base_priority, priority, refresh_at, version,
                   audit, has_audit, note, has_note, n)
            ORDER BY u.n
            RETURNING id, item
            """) {
            ids[try row["item"]] = try row["id"]
        }
        var eventTickets: [Int64] = [], eventItems: [Int64] = [], times: [Double] = [], kinds: [String] = [], bodies: [String] = []
        for (item, steps) in events {
            guard let id = ids[item] else { throw StoreError.corruptRow("item \(item): its new ticket was not stored") }
            for step in steps {
                var event = step
                event.ticket = id
                eventTickets.append(id)
                eventItems.append(item)
                times.append(event.at.timeIntervalSince1970)
                kinds.append(event.kind.rawValue)
                bodies.append(try Codec.encode(event))
            }
        }
        try await db.execute("""
            INSERT INTO ticket_event (ticket, item, at, kind, body)
            SELECT u.ticket, u.item, u.at, u.kind, u.body
            FROM unnest(\(eventTickets)::int8[], \(eventItems)::int8[], \(times)::float8[], \(kinds)::text[], \(bodies)::text[]) WITH ORDINALITY
              AS u(ticket, item, at, kind, body, n)
            ORDER BY u.n
            """)
    }

    /// Joins `opening` to the item's open ticket, locking it; nil when the item has none.
    static func joinOpenTicket(_ db: Session, item: Int64, _ opening: TicketOpening) async throws -> Int64? {
        guard let row = try await db.row("""
            SELECT * FROM ticket WHERE item = \(item) AND status = 'open' AND gold_label IS NULL FOR NO KEY UPDATE
            """) else { return nil }
        let open = try ticket(row)
        if let change = open.joining(opening) { try await write(db, change, item: item) }
        return open.id
    }

    /// Inserts a new ticket with its first events; returns its id. With `onlyIfNoneOpen`, nil (inserting nothing) when
    /// the item has an open ticket already.
    static func insertTicket(_ db: Session, _ ticket: Ticket, priority: StoredPriority, item: Int64, events: [TicketEvent],
                             onlyIfNoneOpen: Bool = false) async throws -> Int64? {
        let guarded = onlyIfNoneOpen ? "ON CONFLICT (item) WHERE status = 'open' AND gold_label IS NULL DO NOTHING" : ""
        guard let row = try await db.row("""
            INSERT INTO ticket (item, tier, reasons, status, language, skill, opened_at, due_at, base_priority, priority, refresh_at, version,
                                audit_probability, note, gold_label, lease_holder, lease_until)
            VALUES (\(item), \(ticket.tier.rawValue), \(TicketReason.bits(ticket.reasons)), \(ticket.status.rawValue), \(ticket.language), \(ticket.skill),
                    \(ticket.openedAt.timeIntervalSince1970), \(ticket.dueAt.timeIntervalSince1970), \(ticket.basePriority), \(priority.value),
                    \(priority.refreshAt.timeIntervalSince1970), \(ticket.version), \(ticket.auditProbability), \(ticket.note), \(ticket.goldLabel),
                    \(ticket.lease?.holder), \(ticket.lease?.until.timeIntervalSince1970))
            \(unescaped: guarded)
            RETURNING id
            """) else { return nil }
        let id: Int64 = try row["id"]
        try await appendEvents(db, events.map { ($0, id) }, item: item)
        return id
    }

    /// Writes what a step of the ticket's life changed (`TicketChange`), deciding nothing; returns the labels stored.
    @discardableResult
    static func write(_ db: Session, _ change: TicketChange, item: Int64) async throws -> [LabelRecord] {
        let t = change.ticket
        let verdict = change.verdict
        let priority = change.priority
        let first = change.firstReview
        let second = change.secondReview
        // One statement: the schema ties the status to the verdict's columns.
        try await db.execute("""
            UPDATE ticket SET tier = \(t.tier.rawValue), reasons = \(TicketReason.bits(t.reasons)), status = \(t.status.rawValue), language = \(t.language),
              due_at = \(t.dueAt.timeIntervalSince1970), base_priority = \(t.basePriority), note = \(t.note), audit_probability = \(t.auditProbability),
              lease_holder = \(t.lease?.holder), lease_until = \(t.lease?.until.timeIntervalSince1970), version = \(t.version),
              decided_at = coalesce(\(verdict?.at.timeIntervalSince1970)::float8, decided_at), decided_by = coalesce(\(verdict?.by)::text, decided_by),
              decided_label = coalesce(\(verdict?.label)::text, decided_label),
              priority = coalesce(\(priority?.value)::float8, priority), refresh_at = coalesce(\(priority?.refreshAt.timeIntervalSince1970)::float8, refresh_at)
            WHERE id = \(t.id)
            """)
        if let first {
            try await db.execute("""
                UPDATE ticket SET first_by = \(first.by), first_at = \(first.at.timeIntervalSince1970), first_label = \(first.label),
                  first_action = \(first.action?.rawValue), first_code = \(first.reasonCode), first_note = \(first.note) WHERE id = \(t.id)
                """)
        }
        if let second {
            try await db.execute("UPDATE ticket SET second_by = \(second.by), second_label = \(second.label) WHERE id = \(t.id)")
        }
        try await appendEvents(db, change.events.map { ($0, t.id) }, item: item)
        var labels: [LabelRecord] = []
        for label in change.labels { labels.append(try await insertLabel(db, label)) }
        if let (result, human) = change.decision {
            guard let stages: Int = try await db.row("SELECT stages FROM item WHERE id = \(item)")?["stages"] else {
                throw StoreError.corruptRow("no item with row id \(item)")
            }
            try await insertStages(db, items: [item], seqs: [stages + 1], results: [result])
            try await db.execute("UPDATE item SET stages = \(stages + 1), reviewed = \(try Codec.encode(human)) WHERE id = \(item)")
        }
        if let upheld = change.reportsUpheld {
            try await db.execute("""
                INSERT INTO reporter (feed, reporter, upheld, rejected)
                SELECT i.feed, p.reporter, \(upheld ? 1 : 0), \(upheld ? 0 : 1) FROM report p JOIN item i ON i.id = p.item
                WHERE p.item = \(item) AND p.outcome IS NULL
                ON CONFLICT (feed, reporter) DO UPDATE SET upheld = reporter.upheld + excluded.upheld, rejected = reporter.rejected + excluded.rejected
                """)
            try await db.execute("UPDATE report SET outcome = \(upheld ? "upheld" : "rejected") WHERE item = \(item) AND outcome IS NULL")
        }
        return labels
    }

    /// Appends events, each to its ticket, in order (the history reads them by row id), in one statement.
    static func appendEvents(_ db: Session, _ events: [(event: TicketEvent, ticket: Int64)], item: Int64) async throws {
        guard !events.isEmpty else { return }
        var tickets: [Int64] = [], times: [Double] = [], kinds: [String] = [], bodies: [String] = []
        for (event, ticket) in events {
            var event = event
            event.ticket = ticket
            tickets.append(ticket)
            times.append(event.at.timeIntervalSince1970)
            kinds.append(event.kind.rawValue)
            bodies.append(try Codec.encode(event))
        }
        try await db.execute("""
            INSERT INTO ticket_event (ticket, item, at, kind, body)
            SELECT u.ticket, \(item), u.at, u.kind, u.body
            FROM unnest(\(tickets)::int8[], \(times)::float8[], \(kinds)::text[], \(bodies)::text[]) WITH ORDINALITY AS u(ticket, at, kind, body, n)
            ORDER BY u.n
            """)
    }

    /// The item's ticket events, oldest first; gold tickets (probes of a reviewer) are not part of its history.
    ///
    /// Both sides are looked up by the item (not SQLite's join on the ticket): with a join, a planner that misjudges
    /// how many tickets are not gold (statistics lag a bulk load) reads every ticket for each history.
    static func ticketEvents(_ db: Session, item: Int64) async throws -> [TicketEvent] {
        try await db.rows("""
            SELECT body FROM ticket_event
            WHERE item = \(item) AND ticket NOT IN (SELECT id FROM ticket WHERE item = \(item) AND gold_label IS NOT NULL)
            ORDER BY id
            """).map { try Codec.decode(TicketEvent.self, $0["body"]) }
    }

    public func openTicket(feed: String, id: String, _ opening: @escaping @Sendable (ItemState) -> TicketOpening) async throws -> Ticket? {
        try await transaction { db -> Ticket? in
            guard let item = try await Self.lockItem(db, feed: feed, id: id) else { return nil }
            let ticketID = try await Self.openTicket(db, item: item.id, opening(item.state))
            return try await Self.ticketRow(db, id: ticketID).map(Self.ticket)
        }
    }

    public func recordReport(feed: String, id: String, reporter: String, at: Date,
                             decide: @escaping @Sendable (ReportContext) -> (weighted: Double, ticket: TicketOpening?)) async throws -> ReportOutcome? {
        try await transaction { db -> ReportOutcome? in
            // The item's lock: reports on one item take turns, each seeing the ones before it.
            guard let item = try await Self.lockItem(db, feed: feed, id: id) else { return nil }
            let recorded = try await !db.rows("""
                INSERT INTO report (item, reporter, at) VALUES (\(item.id), \(reporter), \(at.timeIntervalSince1970))
                ON CONFLICT (item, reporter) DO NOTHING RETURNING 1
                """).isEmpty
            let records = try await db.rows("""
                SELECT coalesce(r.upheld, 0) AS upheld, coalesce(r.rejected, 0) AS rejected FROM report p
                LEFT JOIN reporter r ON r.feed = \(feed) AND r.reporter = p.reporter
                WHERE p.item = \(item.id) AND p.outcome IS NULL
                ORDER BY p.id
                """).map { (upheld: try $0["upheld"] as Int, rejected: try $0["rejected"] as Int) }
            let open: Int64? = try await db.row("SELECT id FROM ticket WHERE item = \(item.id) AND status = 'open' AND gold_label IS NULL")?["id"]
            let (weighted, opening) = decide(ReportContext(state: item.state, reporters: records, hasOpenTicket: open != nil))
            var ticket: Ticket?
            if recorded, let opening {
                ticket = try await Self.ticketRow(db, id: Self.openTicket(db, item: item.id, opening)).map(Self.ticket)
            } else if let open {
                ticket = try await Self.ticketRow(db, id: open).map(Self.ticket)
            }
            return ReportOutcome(recorded: recorded, weightedReports: weighted, ticket: ticket)
        }
    }

    // MARK: Claims and leases

    public func claim(_ request: ClaimRequest, now: Date, workflow: ReviewWorkflow, gold: Bool) async throws -> [TicketView] {
        let t = now.timeIntervalSince1970
        let until = t + workflow.rules.configuration.leaseSeconds
        let ids = try await transaction { db -> [Int64] in
            var claimed: [Int64] = []
            if gold, request.tiers.contains(.one) {
                // One gold pick per reviewer at a time, so that two claims of theirs cannot be handed the same gold item.
                try await db.execute("SELECT pg_advisory_xact_lock(\(Self.goldLock), hashtext(\(request.reviewer)))")
                if let (candidate, itemRow) = try await Self.goldCandidate(db, for: request) {
                    let (ticket, priority, events) = workflow.goldTicket(feed: candidate.feed, itemID: candidate.itemID, label: candidate.label,
                                                                         language: candidate.language, basePriority: candidate.basePriority,
                                                                         reviewer: request.reviewer, now: now)
                    if let id = try await Self.insertTicket(db, ticket, priority: priority, item: itemRow, events: events) { claimed.append(id) }
                }
            }
            // The best candidates of each route (`ClaimRequest.routes`: an index range each), locked unless another transaction
            // holds them, then the best of them.
            var candidates: [(priority: Double, id: Int64, holder: String?, leaseUntil: Double?, item: Int64)] = []
            let wanted = request.count - claimed.count
            if wanted > 0 {
                for claimRoute in request.routes {
                    var binds = PostgresBindings()
                    binds.append(claimRoute.tier.rawValue)
                    var route = ""
                    switch claimRoute.language {
                    case .any: break
                    case .unspecified: route += " AND language IS NULL"
                    case let .code(code): binds.append(code); route += " AND language = $\(binds.count)"
                    }
                    if let skill = claimRoute.skill { binds.append(skill); route += " AND skill = $\(binds.count)" } else { route += " AND skill IS NULL" }
                    binds.append(t)
                    let now = "$\(binds.count)"
                    binds.append(request.reviewer)
                    let reviewer = "$\(binds.count)"
                    binds.append(request.excluding)
                    let excluding = "$\(binds.count)"
                    binds.append(wanted)
                    let limit = "$\(binds.count)"
                    for row in try await db.rows(PostgresQuery(unsafeSQL: """
                        SELECT id, priority, lease_holder, lease_until, item FROM ticket
                        WHERE status = 'open' AND tier = $1\(route)
                          AND (lease_until IS NULL OR lease_until <= \(now) OR lease_holder = \(reviewer)) AND gold_label IS NULL
                          AND (first_by IS NULL OR first_by <> \(reviewer)) AND id <> ALL(\(excluding)::int8[])
                        ORDER BY priority DESC, id LIMIT \(limit)
                        FOR NO KEY UPDATE SKIP LOCKED
                        """, binds: binds)) {
                        candidates.append((try row["priority"], try row["id"], try row["lease_holder"], try row["lease_until"], try row["item"]))
                    }
                }
                candidates.sort { $0.priority != $1.priority ? $0.priority > $1.priority : $0.id < $1.id }
            }
            let chosen = Array(candidates.prefix(max(0, wanted)))
            guard !chosen.isEmpty else { return claimed }
            try await db.execute("""
                UPDATE ticket SET lease_holder = \(request.reviewer), lease_until = \(until), version = version + 1 WHERE id = ANY(\(chosen.map(\.id)))
                """)
            for candidate in chosen {
                var events: [(event: TicketEvent, ticket: Int64)] = []
                // A ticket the reviewer already holds comes back to them with a fresh lease.
                if let holder = candidate.holder, holder != request.reviewer, let expired = candidate.leaseUntil {
                    events.append((TicketEvent(ticket: candidate.id, kind: .expired, at: Date(timeIntervalSince1970: expired), by: holder), candidate.id))
                }
                events.append((TicketEvent(ticket: candidate.id, kind: .claimed, at: now, by: request.reviewer), candidate.id))
                try await Self.appendEvents(db, events, item: candidate.item)
                claimed.append(candidate.id)
            }
            return claimed
        }
        guard !ids.isEmpty else { return [] }
        return try await read { db in
            var views: [TicketView] = []
            for id in ids { if let view = try await Self.view(db, id: id) { views.append(view) } }
            return views
        }
    }

    /// The first key of the advisory locks that serialise one reviewer's gold picks.
    static let goldLock: Int32 = 0x5747_4c44  // "WGLD"

    public func ticket(id: Int64) async throws -> TicketView? {
        try await read { db in try await Self.view(db, id: id) }
    }

    public func changeTicket(id: Int64, _ step: @escaping @Sendable (TicketState) throws -> TicketChange) async throws -> DecidedTicket {
        try await transaction { db in
            // The item's lock first, then the ticket's: the order every writer takes them in (a ticket's item never changes).
            guard let item = try await Self.lockedItems(db, """
                SELECT * FROM item WHERE id = (SELECT item FROM ticket WHERE id = \(id)) FOR NO KEY UPDATE
                """).first else { throw TicketError.notFound(id) }
            let itemRow = item.id
            guard let row = try await db.row("SELECT * FROM ticket WHERE id = \(id) FOR NO KEY UPDATE") else { throw TicketError.notFound(id) }
            var first: FirstReview?
            if let by: String = try row["first_by"] {
                first = FirstReview(by: by, at: Date(timeIntervalSince1970: try row["first_at"]), label: try row["first_label"],
                                    action: (try row["first_action"] as String?).flatMap(Action.init(rawValue:)), reasonCode: try row["first_code"],
                                    note: try row["first_note"])
            }
            var state = item.state
            let feed = state.submission.feed, itemID = state.submission.id
            let change = try step(TicketState(ticket: try Self.ticket(row, feed: feed, itemID: itemID), firstReview: first,
                                              secondReviewBy: try row["second_by"], item: state))
            let labels = try await Self.write(db, change, item: itemRow)
            if let (result, human) = change.decision {
                state.current = result
                state.reviewed = human
            }
            guard let changed = try await db.row("SELECT * FROM ticket WHERE id = \(id)") else { throw TicketError.notFound(id) }
            return DecidedTicket(ticket: try Self.ticket(changed, feed: feed, itemID: itemID), item: state, outcome: change.outcome, labels: labels)
        }
    }

    public func doubleReviews() async throws -> [DoubleReview] {
        try await rows("SELECT first_by, first_label, second_by, second_label FROM ticket WHERE second_by IS NOT NULL ORDER BY id").map {
            DoubleReview(firstBy: try $0["first_by"], first: try $0["first_label"], secondBy: try $0["second_by"], second: try $0["second_label"])
        }
    }

    // MARK: Queue and stats

    public func reviewQueue(tier: ReviewTier, after cursor: (priority: Double, id: Int64)?, limit: Int) async throws -> [(ticket: Ticket, priority: Double)] {
        let rows: [Row]
        if let cursor {
            rows = try await self.rows("""
                SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                WHERE t.status = 'open' AND t.tier = \(tier.rawValue) AND t.gold_label IS NULL
                  AND (t.priority < \(cursor.priority) OR (t.priority = \(cursor.priority) AND t.id > \(cursor.id)))
                ORDER BY t.priority DESC, t.id LIMIT \(limit)
                """)
        } else {
            rows = try await self.rows("""
                SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                WHERE t.status = 'open' AND t.tier = \(tier.rawValue) AND t.gold_label IS NULL ORDER BY t.priority DESC, t.id LIMIT \(limit)
                """)
        }
        return try rows.map { (try Self.ticket($0), try $0["priority"] as Double) }
    }

    public func reviewStats(now: Date) async throws -> ReviewStats {
        let t = now.timeIntervalSince1970
        return try await read { db in
            let open = "status = 'open' AND gold_label IS NULL"
            guard let counts = try await db.row("""
                SELECT count(*) AS open, count(*) FILTER (WHERE lease_until > \(t)) AS claimed, min(opened_at) AS oldest,
                  count(*) FILTER (WHERE due_at < \(t)) AS overdue
                FROM ticket WHERE \(unescaped: open)
                """) else { throw StoreError.corruptRow("the ticket counts returned no row") }
            var byTier: [String: Int] = [:]
            for row in try await db.rows("SELECT tier, count(*) AS n FROM ticket WHERE \(unescaped: open) GROUP BY tier") {
                byTier["tier\(try row["tier"] as Int)"] = try row["n"]
            }
            var byLanguage: [String: Int] = [:]
            for row in try await db.rows("SELECT coalesce(language, 'any') AS language, count(*) AS n FROM ticket WHERE \(unescaped: open) GROUP BY 1") {
                byLanguage[try row["language"]] = try row["n"]
            }
            var byReason: [String: Int] = [:]
            for row in try await db.rows("SELECT reasons, count(*) AS n FROM ticket WHERE \(unescaped: open) GROUP BY reasons") {
                let n: Int = try row["n"]
                for reason in TicketReason.set(bits: try row["reasons"]) { byReason[reason.rawValue, default: 0] += n }
            }
            let breached: Int = try await db.row("""
                SELECT count(*) AS n FROM ticket WHERE decided_at >= \(t - 86_400) AND decided_at > due_at AND gold_label IS NULL
                """)?["n"] ?? 0
            var reviewers: [ReviewStats.Reviewer] = []
            for row in try await db.rows("""
                SELECT decided_by AS name,
                  count(*) FILTER (WHERE decided_at >= \(t - 3600) AND gold_label IS NULL) AS last_hour,
                  count(*) FILTER (WHERE decided_at >= \(t - 86_400) AND gold_label IS NULL) AS last_day,
                  count(DISTINCT trunc(decided_at / 3600)) FILTER (WHERE decided_at >= \(t - 86_400) AND gold_label IS NULL) AS active_hours,
                  count(*) FILTER (WHERE gold_label IS NOT NULL) AS gold_seen,
                  count(*) FILTER (WHERE gold_label IS NOT NULL AND gold_label = decided_label) AS gold_correct
                FROM ticket WHERE decided_by IS NOT NULL GROUP BY decided_by ORDER BY decided_by COLLATE "C"
                """) {
                let lastDay: Int = try row["last_day"], hours: Int = try row["active_hours"]
                reviewers.append(ReviewStats.Reviewer(name: try row["name"], decisionsLastHour: try row["last_hour"], decisionsLast24Hours: lastDay,
                                                      perActiveHour: hours > 0 ? Double(lastDay) / Double(hours) : 0,
                                                      goldSeen: try row["gold_seen"], goldCorrect: try row["gold_correct"]))
            }
            let oldest: Double? = try counts["oldest"]
            return ReviewStats(open: try counts["open"], claimed: try counts["claimed"], byTier: byTier, byReason: byReason, byLanguage: byLanguage,
                               oldestAgeSeconds: oldest.map { max(0, t - $0) }, overdue: try counts["overdue"], breachedLast24Hours: breached,
                               reviewers: reviewers)
        }
    }

    public func refreshTicketPriorities(now: Date, limit: Int) async throws -> Int {
        let t = now.timeIntervalSince1970
        return try await transaction { db in
            // A gold ticket whose lease ran out leaves the queue (nobody else may be handed it); one being decided is left
            // to its decision.
            try await db.execute("""
                UPDATE ticket SET status = 'withdrawn' WHERE id IN (
                  SELECT id FROM ticket WHERE status = 'open' AND gold_label IS NOT NULL AND lease_until <= \(t) FOR NO KEY UPDATE SKIP LOCKED)
                """)
            let rows = try await db.rows("""
                SELECT id, opened_at, due_at, base_priority FROM ticket WHERE status = 'open' AND refresh_at <= \(t)
                ORDER BY refresh_at LIMIT \(limit) FOR NO KEY UPDATE SKIP LOCKED
                """)
            guard !rows.isEmpty else { return 0 }
            var ids: [Int64] = [], priorities: [Double] = [], refreshes: [Double] = []
            for row in rows {
                let opened = Date(timeIntervalSince1970: try row["opened_at"]), due = Date(timeIntervalSince1970: try row["due_at"])
                ids.append(try row["id"])
                priorities.append(TicketPriority.current(base: try row["base_priority"], openedAt: opened, dueAt: due, now: now))
                refreshes.append(TicketPriority.nextRefresh(openedAt: opened, dueAt: due, after: now).timeIntervalSince1970)
            }
            try await db.execute("""
                UPDATE ticket SET priority = u.priority, refresh_at = u.refresh_at
                FROM unnest(\(ids)::int8[], \(priorities)::float8[], \(refreshes)::float8[]) AS u(id, priority, refresh_at) WHERE ticket.id = u.id
                """)
            return rows.count
        }
    }

    /// Decided audit tickets `t` (not gold); `TicketReason.audit.bit` is written into it (a constant).
    static let decidedAuditSQL = "t.status = 'decided' AND t.gold_label IS NULL AND t.audit_probability IS NOT NULL AND t.reasons & \(TicketReason.audit.bit) <> 0"

    public func auditSamples(since: Date?, until: Date?) async throws -> [AuditSample] {
        // NULL bounds leave the period open.
        try await rows("""
            SELECT s.action, s.body, t.decided_label, t.audit_probability, s.scored_at
            FROM ticket t JOIN stage_result s ON s.item = t.item AND s.seq = 1
            WHERE \(unescaped: Self.decidedAuditSQL)
              AND (\(since?.timeIntervalSince1970)::float8 IS NULL OR s.scored_at >= \(since?.timeIntervalSince1970)::float8)
              AND (\(until?.timeIntervalSince1970)::float8 IS NULL OR s.scored_at < \(until?.timeIntervalSince1970)::float8)
            ORDER BY t.id
            """).compactMap { row in
            guard let action = Action(rawValue: try row["action"]) else { return nil }
            return AuditSample(action: action, autoLabel: try Self.stage(row["body"]).decision.label, trueLabel: try row["decided_label"],
                               inclusionProbability: try row["audit_probability"], decidedAt: Date(timeIntervalSince1970: try row["scored_at"]))
        }
    }

    public func auditedTexts() async throws -> [(text: String, label: String, inclusionProbability: Double)] {
        try await rows("""
            SELECT i.submission->>'text' AS text, t.decided_label, t.audit_probability
            FROM ticket t JOIN item i ON i.id = t.item
            WHERE \(unescaped: Self.decidedAuditSQL)
            ORDER BY t.id
            """).map { (try $0["text"], try $0["decided_label"], try $0["audit_probability"]) }
    }

    public func addGold(feed: String, id: String, label: String, by: String, at: Date) async throws -> Bool {
        try await !rows("""
            INSERT INTO gold (item, label, added_by, added_at)
            SELECT id, \(label), \(by), \(at.timeIntervalSince1970) FROM item WHERE feed = \(feed) AND external_id = \(id)
            ON CONFLICT (item) DO UPDATE SET label = excluded.label, added_by = excluded.added_by, added_at = excluded.added_at
            RETURNING 1
            """).isEmpty
    }

    /// A gold item the reviewer has never been handed (a withdrawn gold ticket keeps its holder for this), in a
    /// language they read, with the item's row id.
    static func goldCandidate(_ db: Session, for request: ClaimRequest) async throws -> (GoldCandidate, row: Int64)? {
        let languages = request.languages.map { $0.lowercased() }
        guard let row = try await db.row("""
            SELECT * FROM (
              SELECT g.item, g.label, i.feed, i.external_id, lower(i.submission->>'language') AS language,
                coalesce((SELECT base_priority FROM ticket WHERE item = g.item AND gold_label IS NULL ORDER BY id DESC LIMIT 1), 1) AS base
              FROM gold g JOIN item i ON i.id = g.item
              WHERE NOT EXISTS (SELECT 1 FROM ticket t WHERE t.item = g.item AND t.gold_label IS NOT NULL
                                  AND (t.lease_holder = \(request.reviewer) OR t.decided_by = \(request.reviewer)))
            ) l WHERE cardinality(\(languages)::text[]) = 0 OR l.language IS NULL OR l.language = ANY(\(languages)::text[])
            ORDER BY random() LIMIT 1
            """) else { return nil }
        return (GoldCandidate(feed: try row["feed"], itemID: try row["external_id"], label: try row["label"], language: try row["language"],
                              basePriority: try row["base"]),
                try row["item"])
    }

    // MARK: Rows

    static func ticketRow(_ db: Session, id: Int64) async throws -> Row? {
        try await db.row("SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item WHERE t.id = \(id)")
    }

    /// A ticket from its row, with its item's feed and id from the row (`ticketRow`'s join) or given.
    static func ticket(_ row: Row) throws -> Ticket {
        try ticket(row, feed: row.cells.contains("feed") ? row["feed"] : "", itemID: row.cells.contains("external_id") ? row["external_id"] : "")
    }

    static func ticket(_ row: Row, feed: String, itemID: String) throws -> Ticket {
        let holder: String? = try row["lease_holder"], until: Double? = try row["lease_until"]
        let id: Int64 = try row["id"]
        guard let tier = ReviewTier(rawValue: try row["tier"]), let status = TicketStatus(rawValue: try row["status"]) else {
            throw StoreError.corruptRow("ticket \(id)")
        }
        return Ticket(id: id, feed: feed, itemID: itemID, tier: tier, reasons: TicketReason.set(bits: try row["reasons"]),
                      status: status, language: try row["language"], skill: try row["skill"],
                      openedAt: Date(timeIntervalSince1970: try row["opened_at"]), dueAt: Date(timeIntervalSince1970: try row["due_at"]),
                      basePriority: try row["base_priority"],
                      lease: holder.flatMap { h in until.map { Lease(holder: h, until: Date(timeIntervalSince1970: $0)) } },
                      version: try row["version"], auditProbability: try row["audit_probability"], goldLabel: try row["gold_label"], note: try row["note"])
    }

    /// The ticket with its item and the item's whole history.
    static func view(_ db: Session, id: Int64) async throws -> TicketView? {
        guard let row = try await ticketRow(db, id: id) else { return nil }
        let ticket = try self.ticket(row)
        let item: Int64 = try row["item"]
        guard let itemRow = try await db.row("""
            SELECT i.*, s.body AS current FROM item i JOIN stage_result s ON s.item = i.id AND s.seq = i.stages WHERE i.id = \(item)
            """) else { throw StoreError.corruptRow("no item with row id \(item)") }
        var state = try self.state(itemRow)
        var history = try await self.history(db, item: item)
        if ticket.goldLabel != nil {
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
            history += try await db.rows("SELECT body FROM ticket_event WHERE ticket = \(ticket.id) ORDER BY id")
                .map { .ticket(try Codec.decode(TicketEvent.self, $0["body"])) }
        }
        return TicketView(ticket: ticket, item: state, history: history)
    }
}
