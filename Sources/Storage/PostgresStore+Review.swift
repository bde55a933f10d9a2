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

    /// Writes what a step of the ticket's life changed (`TicketChange`), deciding nothing, in one statement; returns
    /// the labels stored and the ticket's row as written. The caller holds the item's lock (and the ticket's).
    @discardableResult
    static func write(_ db: Session, _ change: TicketChange, item: Int64) async throws -> (labels: [LabelRecord], ticket: Row) {
        let t = change.ticket
        let verdict = change.verdict
        let priority = change.priority
        // Only a decided ticket keeps a verdict (an undone one opens again without it).
        let decided = t.status == .decided ? "true" : "false"
        var s = Statement()
        let itemID = s.bind(item)
        // One UPDATE of the ticket: the schema ties the status to the verdict's columns.
        var set = """
            tier = \(s.bind(t.tier.rawValue)), reasons = \(s.bind(TicketReason.bits(t.reasons))), status = \(s.bind(t.status.rawValue)),
              language = \(s.bind(t.language)), due_at = \(s.bind(t.dueAt.timeIntervalSince1970)), base_priority = \(s.bind(t.basePriority)),
              note = \(s.bind(t.note)), audit_probability = \(s.bind(t.auditProbability)), lease_holder = \(s.bind(t.lease?.holder)),
              lease_until = \(s.bind(t.lease?.until.timeIntervalSince1970)), version = \(s.bind(t.version)),
              decided_at = CASE WHEN \(decided) THEN coalesce(\(s.bind(verdict?.at.timeIntervalSince1970))::float8, decided_at) END,
              decided_by = CASE WHEN \(decided) THEN coalesce(\(s.bind(verdict?.by))::text, decided_by) END,
              decided_label = CASE WHEN \(decided) THEN coalesce(\(s.bind(verdict?.label))::text, decided_label) END,
              escalated_by = coalesce(\(s.bind(change.escalatedBy))::text, escalated_by),
              priority = coalesce(\(s.bind(priority?.value))::float8, priority),
              refresh_at = coalesce(\(s.bind(priority?.refreshAt.timeIntervalSince1970))::float8, refresh_at)
            """
        if change.clearsFirstReview {
            set += ", first_by = NULL, first_at = NULL, first_label = NULL, first_action = NULL, first_code = NULL, first_note = NULL"
        }
        if let first = change.firstReview {
            set += """
                , first_by = \(s.bind(first.by)), first_at = \(s.bind(first.at.timeIntervalSince1970)), first_label = \(s.bind(first.label)),
                  first_action = \(s.bind(first.action?.rawValue)), first_code = \(s.bind(first.reasonCode)), first_note = \(s.bind(first.note))
                """
        }
        if let second = change.secondReview {
            set += ", second_by = \(s.bind(second.by)), second_label = \(s.bind(second.label))"
        } else if change.undo?.reopened != nil {
            set += ", second_by = NULL, second_label = NULL"
        }
        // The other tables' writes ride along as data-modifying CTEs: each reads the statement's snapshot, none
        // writes a row another one writes.
        var parts = ["changed AS (UPDATE ticket SET \(set) WHERE id = \(s.bind(t.id)) RETURNING *)"]
        if !change.events.isEmpty {
            parts.append("logged AS (\(try eventsInsert(&s, change.events.map { ($0, t.id, item) })))")
        }
        if !change.labels.isEmpty {
            // VALUES rows are inserted in their order: the ids come back ascending in the labels' order.
            let rows = change.labels.map { l in
                """
                (\(s.bind(l.feed)), \(s.bind(l.itemID)), \(s.bind(l.label)), \(s.bind(l.source)), \(s.bind(l.by)), \(s.bind(l.at.timeIntervalSince1970)),
                 \(s.bind(l.tier)), \(s.bind(l.modelLabel)), \(s.bind(l.modelProbability)), \(s.bind(l.modelVersion)), \(s.bind(l.replaces)))
                """
            }
            parts.append("""
                labelled AS (INSERT INTO label (feed, item_id, label, source, "by", at, tier, model_label, model_probability, model_version, replaces)
                             VALUES \(rows.joined(separator: ", ")) RETURNING id)
                """)
        }
        if let (result, reviewed) = change.appendedStage {
            // The next stage from the item's row as this statement reads it, for the stage and the item alike.
            parts.append("next AS MATERIALIZED (SELECT stages + 1 AS seq FROM item WHERE id = \(itemID))")
            parts.append("""
                staged AS (INSERT INTO stage_result (item, seq, stage, scored_at, model_version, policy_version, action, body)
                           SELECT \(itemID), next.seq, \(s.bind(result.stage.rawValue)), \(s.bind(result.scoredAt.timeIntervalSince1970)),
                             \(s.bind(result.modelVersion)), \(s.bind(result.decision.policyVersion)), \(s.bind(result.decision.action.rawValue)),
                             \(s.bind(ByteBuffer(bytes: StageRecord.encode(result))))
                           FROM next)
                """)
            parts.append("reviewed AS (UPDATE item SET stages = next.seq, reviewed = \(s.bind(try reviewed.map(Codec.encode)))::text FROM next WHERE item.id = \(itemID))")
        }
        if let upheld = change.reportsUpheld {
            // The reporters' records read the reports before the outcome below marks them (the statement's snapshot).
            parts.append("""
                judged AS (INSERT INTO reporter (feed, reporter, upheld, rejected)
                           SELECT i.feed, p.reporter, \(s.bind(upheld ? 1 : 0)), \(s.bind(upheld ? 0 : 1)) FROM report p JOIN item i ON i.id = p.item
                           WHERE p.item = \(itemID) AND p.outcome IS NULL
                           ON CONFLICT (feed, reporter) DO UPDATE SET upheld = reporter.upheld + excluded.upheld,
                             rejected = reporter.rejected + excluded.rejected)
                """)
            parts.append("outcomes AS (UPDATE report SET outcome = \(s.bind(upheld ? "upheld" : "rejected")) WHERE item = \(itemID) AND outcome IS NULL)")
        }
        let labelIDs = change.labels.isEmpty ? "" : ", ARRAY(SELECT id FROM labelled ORDER BY id) AS label_ids"
        guard let row = try await db.row(s.query("WITH \(parts.joined(separator: ",\n")) SELECT changed.*\(labelIDs) FROM changed")) else {
            throw TicketError.notFound(t.id)
        }
        var labels = change.labels
        if !labels.isEmpty {
            let ids: [Int64] = try row["label_ids"]
            guard ids.count == labels.count else { throw StoreError.corruptRow("label: \(labels.count) inserted, \(ids.count) ids returned") }
            for n in labels.indices { labels[n].id = ids[n] }
        }
        if let undo = change.undo {
            // The decision's labels are withdrawn (kept, marked), at the time of the undo.
            // With a second review taken back, the first review's label too (hidden again).
            let first = undo.reopened
            labels = try await db.rows("""
                UPDATE label l SET withdrawn_at = \(undo.stage.scoredAt.timeIntervalSince1970), withdrawn_by = \(undo.by) FROM item i
                WHERE i.id = \(item) AND l.feed = i.feed AND l.item_id = i.external_id AND l.withdrawn_at IS NULL
                  AND ((l."by" = \(undo.by) AND l.at = \(undo.at.timeIntervalSince1970))
                       OR (l."by" = \(first?.by) AND l.at = \(first?.at.timeIntervalSince1970)))
                RETURNING l.*
                """).map(Self.label).sorted { ($0.id ?? 0) < ($1.id ?? 0) }
        }
        return (labels, row)
    }

    /// Appends events, each to its ticket, in order (the history reads them by row id), in one statement.
    static func appendEvents(_ db: Session, _ events: [(event: TicketEvent, ticket: Int64)], item: Int64) async throws {
        guard !events.isEmpty else { return }
        var s = Statement()
        let sql = try eventsInsert(&s, events.map { ($0.event, $0.ticket, item) })
        try await db.execute(s.query(sql))
    }

    /// The INSERT of events, each to its ticket and item, in order (their row ids follow it).
    static func eventsInsert(_ s: inout Statement, _ events: [(event: TicketEvent, ticket: Int64, item: Int64)]) throws -> String {
        var tickets: [Int64] = [], items: [Int64] = [], times: [Double] = [], kinds: [String] = [], bodies: [String] = []
        for (event, ticket, item) in events {
            var event = event
            event.ticket = ticket
            tickets.append(ticket)
            items.append(item)
            times.append(event.at.timeIntervalSince1970)
            kinds.append(event.kind.rawValue)
            bodies.append(try Codec.encode(event))
        }
        return """
            INSERT INTO ticket_event (ticket, item, at, kind, body)
            SELECT u.ticket, u.item, u.at, u.kind, u.body
            FROM unnest(\(s.bind(tickets))::int8[], \(s.bind(items))::int8[], \(s.bind(times))::float8[], \(s.bind(kinds))::text[], \(s.bind(bodies))::text[])
              WITH ORDINALITY AS u(ticket, item, at, kind, body, n)
            ORDER BY u.n
            """
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
        let goldPick = gold && request.tiers.contains(.one)
        guard goldPick || (request.count > 0 && !request.routes.isEmpty) else { return [] }
        let claimed = try await transaction { db -> [Int64] in
            // One claim of a reviewer's at a time (two terminals, a double click): the lease statement reads the queue as
            // it is when the statement starts, so two of them at once would each lease `count` tickets, the other's still
            // uncommitted and skipped; after the lock, the second sees the first's leases and renews them instead. It
            // also keeps two claims of theirs from being handed the same gold item.
            try await db.execute("SELECT pg_advisory_xact_lock(\(Self.claimLock), hashtext(\(request.reviewer)))")
            var claimed: [Int64] = []
            if goldPick, let (candidate, itemRow) = try await Self.goldCandidate(db, for: request) {
                let (ticket, priority, events) = workflow.goldTicket(candidate, reviewer: request.reviewer, now: now)
                if let id = try await Self.insertTicket(db, ticket, priority: priority, item: itemRow, events: events) { claimed.append(id) }
            }
            let wanted = request.count - claimed.count
            guard wanted > 0, !request.routes.isEmpty else { return claimed }
            // The gold ticket just made is the reviewer's, and held gold tickets come back (as real ones do): not twice.
            var request = request
            request.excluding += claimed
            if claimed.isEmpty, let prefix = Self.claimedEventPrefix(by: request.reviewer, at: now) {
                // Most claims are this one statement: it leases the tickets and logs their claims, unless a ticket it
                // picks carries a lease: another reviewer's expired one, whose expiry must be logged first, or the
                // reviewer's own, whose renewal is logged as such (then it leases nothing, and the steps below do).
                let rows = try await db.rows(Self.leaseQuery(request, wanted: wanted, now: t, until: until, claimedEventPrefix: prefix))
                if try rows.allSatisfy({ try $0["leased"] as Bool }) { return try rows.map { try $0["id"] } }
            }
            var events: [(event: TicketEvent, ticket: Int64, item: Int64)] = []
            for row in try await db.rows(Self.leaseQuery(request, wanted: wanted, now: t, until: until, claimedEventPrefix: nil)) {
                let id: Int64 = try row["id"], item: Int64 = try row["item"]
                let holder: String? = try row["lease_holder"], leaseUntil: Double? = try row["lease_until"]
                if let holder, holder != request.reviewer, let expired = leaseUntil {
                    events.append((TicketEvent(ticket: id, kind: .expired, at: Date(timeIntervalSince1970: expired), by: holder), id, item))
                }
                // A ticket the reviewer still holds comes back to them with a fresh lease: a renewal, not a second claim.
                let renewed = holder == request.reviewer && (leaseUntil ?? 0) > t
                events.append((TicketEvent(ticket: id, kind: renewed ? .renewed : .claimed, at: now, by: request.reviewer), id, item))
                claimed.append(id)
            }
            if !events.isEmpty {
                var s = Statement()
                let sql = try Self.eventsInsert(&s, events)
                try await db.execute(s.query(sql))
            }
            return claimed
        }
        return try await views(ids: claimed)
    }

    /// The statement that takes a claim's tickets: the best `wanted` of each route (`ClaimRequest.routes`: an index
    /// range each, read from its top) that no other transaction holds (`SKIP LOCKED`), locked, then the best `wanted`
    /// of them all, leased to the reviewer. Returns them best first, with their lease before this one and `leased`.
    ///
    /// Each route's ORDER BY names the route's columns before the priority: they are constant within the range, but a
    /// column fixed by `IS NULL` is not known to the planner as constant, so without them the route index's order
    /// would not serve `priority DESC, id` and the planner would walk the whole tier's queue index instead, skipping
    /// every ticket of other routes at its top.
    ///
    /// With `claimedEventPrefix` (`claimedEventPrefix(by:at:)`), the statement also logs each claim, and leases nothing
    /// (`leased` false) when a ticket carries another reviewer's lease, whose expiry the caller must log before the
    /// claim, in a transaction (without it). Without it, it leases what it picks and logs nothing.
    static func leaseQuery(_ request: ClaimRequest, wanted: Int, now: Double, until: Double, claimedEventPrefix: String?) -> PostgresQuery {
        var s = Statement()
        let reviewer = s.bind(request.reviewer), at = s.bind(now), excluding = s.bind(request.excluding), limit = s.bind(wanted)
        var ranges: [String] = []
        for (n, route) in request.routes.enumerated() {
            var range = "tier = \(s.bind(route.tier.rawValue))", order = "tier"
            switch route.language {
            case .any: break
            case .unspecified: range += " AND language IS NULL"; order += ", language"
            case let .code(code): range += " AND language = \(s.bind(code))"; order += ", language"
            }
            if let skill = route.skill { range += " AND skill = \(s.bind(skill))" } else { range += " AND skill IS NULL" }
            order += ", skill"
            if route.tier == ReviewRules.recusingTier {
                // Four eyes (`ReviewRules.recusingTier`): not a ticket of an item this reviewer judged before.
                range += """
                     AND NOT EXISTS (SELECT 1 FROM ticket p WHERE p.item = ticket.item AND p.gold_label IS NULL
                                       AND \(reviewer) IN (p.decided_by, p.first_by, p.second_by, p.escalated_by))
                    """
            }
            ranges.append("""
                route\(n) AS (
                  SELECT id, priority, lease_holder, lease_until, item FROM ticket
                  WHERE status = 'open' AND \(range)
                    AND (lease_until IS NULL OR lease_until <= \(at) OR lease_holder = \(reviewer))
                    AND (gold_label IS NULL OR (lease_holder = \(reviewer) AND lease_until > \(at)))
                    AND (first_by IS NULL OR first_by <> \(reviewer)) AND id <> ALL(\(excluding)::int8[])
                  ORDER BY \(order), priority DESC, id LIMIT \(limit)
                  FOR NO KEY UPDATE SKIP LOCKED)
                """)
        }
        let candidates = request.routes.indices.map { "SELECT * FROM route\($0)" }.joined(separator: " UNION ALL ")
        ranges.append("chosen AS MATERIALIZED (SELECT * FROM (\(candidates)) c ORDER BY priority DESC, id LIMIT \(limit))")
        // A ticket the reviewer still holds keeps its version (a renewal, as `renew`: same holder, same content), so a
        // decision naming the version they were shown still passes; any other claim is a new version.
        let lease = """
            lease_holder = \(reviewer), lease_until = \(s.bind(until)),
            version = t.version + CASE WHEN t.lease_holder = \(reviewer) AND t.lease_until > \(at) THEN 0 ELSE 1 END
            """
        let sql: String
        if let claimedEventPrefix {
            sql = """
                WITH \(ranges.joined(separator: ",\n")),
                free AS MATERIALIZED (SELECT NOT EXISTS (SELECT 1 FROM chosen WHERE lease_holder IS NOT NULL) AS ok),
                leased AS (UPDATE ticket t SET \(lease) FROM chosen, free WHERE free.ok AND t.id = chosen.id),
                logged AS (INSERT INTO ticket_event (ticket, item, at, kind, body)
                           SELECT c.id, c.item, \(at), \(s.bind(TicketEvent.Kind.claimed.rawValue)), \(s.bind(claimedEventPrefix)) || c.id || '}'
                           FROM chosen c, free WHERE free.ok ORDER BY c.priority DESC, c.id)
                SELECT c.*, free.ok AS leased FROM chosen c, free ORDER BY c.priority DESC, c.id
                """
        } else {
            sql = """
                WITH \(ranges.joined(separator: ",\n")),
                leased AS (UPDATE ticket t SET \(lease) FROM chosen WHERE t.id = chosen.id)
                SELECT c.*, true AS leased FROM chosen c ORDER BY c.priority DESC, c.id
                """
        }
        return s.query(sql)
    }

    /// The body of the claim event of `reviewer` at `now` without its ticket's id and the closing brace: the event's
    /// JSON (`Codec`, keys sorted) ends with its ticket, so a statement can append each ticket's id. Nil if the
    /// encoding does not end so (the caller then logs claims the slow way).
    static func claimedEventPrefix(by reviewer: String, at now: Date) -> String? {
        let suffix = "\"ticket\":0}"
        guard let body = try? Codec.encode(TicketEvent(ticket: 0, kind: .claimed, at: now, by: reviewer)), body.hasSuffix(suffix) else { return nil }
        return String(body.dropLast(2))
    }

    /// The first key of the advisory locks that serialise one reviewer's claims.
    static let claimLock: Int32 = 0x5743_4c4d  // "WCLM"

    public func ticket(id: Int64) async throws -> TicketView? {
        try await views(ids: [id]).first
    }

    public func changeTicket(id: Int64, _ step: @escaping @Sendable (TicketState) throws -> TicketChange) async throws -> DecidedTicket {
        try await transaction { db in
            // The item's lock first, then the ticket's: the order every writer takes them in (a ticket's item never changes).
            guard let itemRow = try await db.row(LockTicketItemStatement(id: id)) else { throw TicketError.notFound(id) }
            let item: Int64 = try itemRow["id"], stages: Int = try itemRow["stages"]
            // The ticket with the item's current stage result: written before the item's lock came to this transaction,
            // so this statement, which starts later, reads it (a join in the locking statement above would read the
            // stages as they were when it started, before any wait for the lock).
            guard let row = try await db.row(LockTicketStatement(id: id, stages: stages)) else { throw TicketError.notFound(id) }
            guard let current: ByteBuffer = try row["current"] else { throw StoreError.corruptRow("item \(item) has no stage \(stages)") }
            var first: FirstReview?
            if let by: String = try row["first_by"] {
                first = FirstReview(by: by, at: Date(timeIntervalSince1970: try row["first_at"]), label: try row["first_label"],
                                    action: (try row["first_action"] as String?).flatMap(Action.init(rawValue:)), reasonCode: try row["first_code"],
                                    note: try row["first_note"])
            }
            var state = try Self.state(itemRow, current: Self.stage(current))
            let feed = state.submission.feed, itemID = state.submission.id
            var verdict: TicketVerdict?
            if let at: Double = try row["decided_at"], let by: String = try row["decided_by"] {
                verdict = TicketVerdict(by: by, at: Date(timeIntervalSince1970: at), label: try row["decided_label"] ?? "")
            }
            let change = try step(TicketState(ticket: try Self.ticket(row, feed: feed, itemID: itemID), firstReview: first,
                                              secondReviewBy: try row["second_by"], item: state, verdict: verdict,
                                              otherOpenTicket: try row["other_open"]))
            let (labels, changed) = try await Self.write(db, change, item: item)
            try await Self.appendDecisionEvents(db, change.decisionEvent.map { [$0] } ?? [])
            if let (result, reviewed) = change.appendedStage {
                state.current = result
                state.reviewed = reviewed
            }
            return DecidedTicket(ticket: try Self.ticket(changed, feed: feed, itemID: itemID), item: state, outcome: change.outcome, labels: labels,
                                 decisionEvent: change.decisionEvent)
        }
    }

    public func doubleReviews() async throws -> [DoubleReview] {
        try await rows("SELECT first_by, first_label, second_by, second_label FROM ticket WHERE second_by IS NOT NULL ORDER BY id").map {
            DoubleReview(firstBy: try $0["first_by"], first: try $0["first_label"], secondBy: try $0["second_by"], second: try $0["second_label"])
        }
    }

    // MARK: Queue and stats

    public func reviewQueue(tier: ReviewTier, after cursor: (priority: Double, id: Int64)?, limit: Int, goldHeldBy: (reviewer: String, at: Date)?) async throws
        -> [(ticket: Ticket, priority: Double)] {
        let reviewer = goldHeldBy?.reviewer, at = goldHeldBy?.at.timeIntervalSince1970
        let rows: [Row]
        if let cursor {
            rows = try await self.rows("""
                SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                WHERE t.status = 'open' AND t.tier = \(tier.rawValue)
                  AND (t.gold_label IS NULL OR (t.lease_holder = \(reviewer)::text AND t.lease_until > \(at)::float8))
                  AND (t.priority < \(cursor.priority) OR (t.priority = \(cursor.priority) AND t.id > \(cursor.id)))
                ORDER BY t.priority DESC, t.id LIMIT \(limit)
                """)
        } else {
            rows = try await self.rows("""
                SELECT t.*, i.feed, i.external_id FROM ticket t JOIN item i ON i.id = t.item
                WHERE t.status = 'open' AND t.tier = \(tier.rawValue)
                  AND (t.gold_label IS NULL OR (t.lease_holder = \(reviewer)::text AND t.lease_until > \(at)::float8))
                ORDER BY t.priority DESC, t.id LIMIT \(limit)
                """)
        }
        return try rows.map { (try Self.ticket($0), try $0["priority"] as Double) }
    }

    public func reviewStats(now: Date) async throws -> ReviewStats {
        let t = now.timeIntervalSince1970
        return try await read { db in
            // Gold tickets count while held, as on SQLite.
            let open = "status = 'open' AND (gold_label IS NULL OR lease_until > \(t))"
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
            // Every judgement counts, as on SQLite: labels (not imports) and first reviews still hidden.
            var judged: [String: (hour: Int, day: Int, hours: Int)] = [:]
            for row in try await db.rows("""
                SELECT name, count(*) FILTER (WHERE at >= \(t - 3600)) AS last_hour, count(*) AS last_day,
                  count(DISTINCT trunc(at / 3600)) AS active_hours
                FROM (SELECT "by" AS name, at FROM label WHERE at >= \(t - 86_400) AND source <> 'import' AND withdrawn_at IS NULL
                      UNION ALL
                      SELECT first_by, first_at FROM ticket
                      WHERE first_by IS NOT NULL AND second_by IS NULL AND status = 'open' AND gold_label IS NULL AND first_at >= \(t - 86_400)) j
                GROUP BY name
                """) {
                judged[try row["name"]] = (try row["last_hour"], try row["last_day"], try row["active_hours"])
            }
            var gold: [String: (seen: Int, correct: Int)] = [:]
            for row in try await db.rows("""
                SELECT decided_by AS name, count(*) AS seen, count(*) FILTER (WHERE gold_label = decided_label) AS correct
                FROM ticket WHERE gold_label IS NOT NULL AND decided_by IS NOT NULL GROUP BY decided_by
                """) {
                gold[try row["name"]] = (try row["seen"], try row["correct"])
            }
            let reviewers = ReviewStats.Reviewer.merge(judged: judged, gold: gold)
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

    public func auditedTexts() async throws -> [AuditedText] {
        try await rows("""
            SELECT i.feed, i.external_id, i.submission->>'text' AS text, t.decided_label, t.audit_probability
            FROM ticket t JOIN item i ON i.id = t.item
            WHERE \(unescaped: Self.decidedAuditSQL)
            ORDER BY t.id
            """).map {
            AuditedText(feed: try $0["feed"], itemID: try $0["external_id"], text: try $0["text"], label: try $0["decided_label"], inclusionProbability: try $0["audit_probability"])
        }
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
            SELECT l.*, e.reasons AS earlier_reasons, e.base_priority AS earlier_base, e.decided_at - e.opened_at AS took FROM (
              SELECT g.item, g.label, i.feed, i.external_id, i.received_at, lower(i.submission->>'language') AS language,
                (SELECT id FROM ticket WHERE item = g.item AND gold_label IS NULL ORDER BY id DESC LIMIT 1) AS earlier
              FROM gold g JOIN item i ON i.id = g.item
              WHERE NOT EXISTS (SELECT 1 FROM ticket t WHERE t.item = g.item AND t.gold_label IS NOT NULL
                                  AND (t.lease_holder = \(request.reviewer) OR t.decided_by = \(request.reviewer)))
                AND NOT EXISTS (SELECT 1 FROM ticket o WHERE o.item = g.item AND o.status = 'open' AND o.gold_label IS NULL)
            ) l LEFT JOIN ticket e ON e.id = l.earlier
            WHERE cardinality(\(languages)::text[]) = 0 OR l.language IS NULL OR l.language = ANY(\(languages)::text[])
            ORDER BY random() LIMIT 1
            """) else { return nil }
        let reasons: Int? = try row["earlier_reasons"]
        let earlier = try reasons.map { (TicketReason.set(bits: $0), try row["earlier_base"] as Double, try row["took"] as Double?) }
        return (GoldCandidate(feed: try row["feed"], itemID: try row["external_id"], label: try row["label"], language: try row["language"],
                              receivedAt: Date(timeIntervalSince1970: try row["received_at"]), earlier: earlier),
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

    /// The tickets with their items and the items' whole histories, in the order of `ids` (those that exist), read
    /// in one statement: one snapshot and one round trip whatever their number. One ticket (the usual claim, a
    /// ticket's page) is read by a prepared statement, whose plan PostgreSQL makes once per connection.
    func views(ids: [Int64]) async throws -> [TicketView] {
        if ids.count == 1 {
            var views: [TicketView] = []
            for try await row in try await client.execute(TicketViewStatement(id: ids[0]), logger: logger) { views.append(try Self.view(Row(row))) }
            return views
        }
        guard !ids.isEmpty else { return [] }
        var byID: [Int64: TicketView] = [:]
        for row in try await rows(PostgresQuery(unsafeSQL: Self.viewSQL(tickets: "t.id = ANY($1)"), binds: Statement.binding(ids))) {
            let view = try Self.view(row)
            byID[view.ticket.id] = view
        }
        return ids.compactMap { byID[$0] }
    }

    /// The statement of `views(ids:)` for the tickets `t` that `tickets` (SQL) picks.
    static func viewSQL(tickets: String) -> String {
        """
        SELECT \(ticketColumns), i.feed, i.external_id, i.submission, i.received_at, i.created_at, i.engagement, i.reviewed, s.body AS current,
          \(historyColumns(item: "t.item")),
          CASE WHEN t.gold_label IS NOT NULL THEN ARRAY(SELECT e.body FROM ticket_event e WHERE e.ticket = t.id ORDER BY e.id) END AS own_events,
          CASE WHEN t.gold_label IS NULL THEN (SELECT count(*) FROM report p WHERE p.item = t.item AND p.outcome IS NULL) ELSE 0 END AS pending_reports
        FROM ticket t JOIN item i ON i.id = t.item LEFT JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
          \(historyJoin(item: "t.item"))
        WHERE \(tickets)
        """
    }

    /// The ticket columns `ticket(_:)` and `changeTicket` read, of a ticket `t`. Prepared statements name their
    /// columns: with `*`, a column added by a later migration (another node's) would make PostgreSQL refuse the
    /// statement prepared before it ("cached plan must not change result type").
    static let ticketColumns = """
        t.id, t.item, t.tier, t.reasons, t.status, t.language, t.skill, t.opened_at, t.due_at, t.base_priority, t.lease_holder, t.lease_until,
          t.version, t.audit_probability, t.gold_label, t.note, t.first_by, t.first_at, t.first_label, t.first_action, t.first_code, t.first_note,
          t.second_by, t.decided_at, t.decided_by, t.decided_label
        """

    /// One ticket's view (`viewSQL`).
    struct TicketViewStatement: PostgresPreparedStatement {
        static let name = "winnow_ticket_view"
        static let sql = PostgresStore.viewSQL(tickets: "t.id = $1")
        var id: Int64
        func makeBindings() -> PostgresBindings { Statement.binding(id) }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// A ticket's item, locked (`changeTicket`).
    struct LockTicketItemStatement: PostgresPreparedStatement {
        static let name = "winnow_lock_ticket_item"
        static let sql = """
            SELECT id, stages, submission, received_at, created_at, engagement, reviewed FROM item WHERE id = (SELECT item FROM ticket WHERE id = $1)
            FOR NO KEY UPDATE
            """
        var id: Int64
        func makeBindings() -> PostgresBindings { Statement.binding(id) }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// A ticket, locked, with its item's stage result `stages` as `current` (`changeTicket`).
    struct LockTicketStatement: PostgresPreparedStatement {
        static let name = "winnow_lock_ticket"
        static let sql = """
            SELECT \(PostgresStore.ticketColumns), (SELECT body FROM stage_result WHERE item = t.item AND seq = $2) AS current,
              (SELECT o.id FROM ticket o WHERE o.item = t.item AND o.status = 'open' AND o.gold_label IS NULL AND o.id <> t.id LIMIT 1) AS other_open
            FROM ticket t WHERE t.id = $1 FOR NO KEY UPDATE
            """
        var id: Int64
        var stages: Int
        func makeBindings() -> PostgresBindings {
            var binds = Statement.binding(id)
            binds.append(stages)
            return binds
        }
        func decodeRow(_ row: PostgresRow) -> PostgresRow { row }
    }

    /// A ticket view from a row of `views(ids:)`.
    static func view(_ row: Row) throws -> TicketView {
        let ticket = try self.ticket(row)
        guard let current: ByteBuffer = try row["current"] else {
            throw StoreError.corruptRow("item \(try row["item"] as Int64) has no current stage result")
        }
        var state = try self.state(row, current: stage(current))
        var history = try self.history(row)
        if ticket.goldLabel != nil {
            let own = try (row["own_events"] as [String]).map { try Codec.decode(TicketEvent.self, $0) }
            (state, history) = ReviewWorkflow.goldView(ticket: ticket, item: state, history: history, ownEvents: own)
        }
        let reports: Int64 = try row["pending_reports"]
        return TicketView(ticket: ticket, item: state, history: history, pendingReports: Int(reports))
    }
}

extension PostgresStore.Session {
    /// The first row of a prepared statement (`PostgresPreparedStatement`), read to the end.
    func row<S: PostgresPreparedStatement>(_ statement: S) async throws -> PostgresStore.Row? where S.Row == PostgresRow {
        var first: PostgresStore.Row?
        for try await row in try await connection.execute(statement, logger: logger) where first == nil { first = PostgresStore.Row(row) }
        return first
    }
}

extension PostgresStore {
    /// A statement put together piece by piece, each value bound as the next parameter ($1, $2, …).
    struct Statement {
        var binds = PostgresBindings()

        /// The placeholder of `value`, bound as the next parameter.
        mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }

        /// The placeholder of `value` or NULL, bound as the next parameter.
        mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }

        func query(_ sql: String) -> PostgresQuery {
            PostgresQuery(unsafeSQL: sql, binds: binds)
        }

        /// Bindings of one value.
        static func binding<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> PostgresBindings {
            var binds = PostgresBindings()
            binds.append(value)
            return binds
        }
    }
}

/// Learning offers, as SQLite finds them.
extension PostgresStore {
    public func learningCandidates(since: Date, limit: Int) async throws -> [ItemState] {
        try await rows("""
            SELECT i.*, s.body AS current FROM (SELECT * FROM item ORDER BY id DESC LIMIT \(limit * 4)) i
            JOIN stage_result s ON s.item = i.id AND s.seq = i.stages
            WHERE i.received_at >= \(since.timeIntervalSince1970) AND NOT EXISTS (SELECT 1 FROM ticket t WHERE t.item = i.id)
              AND NOT EXISTS (SELECT 1 FROM label l WHERE l.feed = i.feed AND l.item_id = i.external_id)
            ORDER BY i.id DESC LIMIT \(limit)
            """).map(Self.state)
    }

    public func ticketsOpened(reason: TicketReason, since: Date) async throws -> Int {
        try await rows("""
            SELECT count(*)::bigint AS n FROM ticket WHERE opened_at >= \(since.timeIntervalSince1970) AND reasons & \(reason.bit) != 0
            """).first.map { Int(try $0["n"] as Int64) } ?? 0
    }
}
