import Foundation
import PostgresNIO

extension PostgresStore {
    /// A named step of the schema: single statements (postgres-nio sends each as one prepared statement).
    struct Migration {
        var name: String
        var statements: [String]
    }

    /// Named migrations, applied in order and recorded in `winnow_migration`; never edit a shipped one: add a new one.
    ///
    /// The first is SQLite's schema after its own v1 to v3: the same tables, columns, CHECK and UNIQUE constraints,
    /// foreign keys and partial indexes, in PostgreSQL's types (times as `double precision` seconds since 1970, ids
    /// as identity columns, stage records as `bytea`, the submission as `json`). What differs, and why:
    /// - `feed_baseline.views` and `reports` are `numeric`: SQLite turns an integer sum past Int64 into a REAL, where
    ///   `bigint` would fail the update;
    /// - `engagement_model.saved` orders saves (SQLite's rowid did, a replaced row taking a new one);
    /// - `ticket_event(ticket)` is indexed: PostgreSQL does not index foreign keys, and a gold ticket's view and a
    ///   ticket's deletion look its events up by ticket;
    /// - `by`, a reserved word in PostgreSQL, is quoted.
    static let migrations: [Migration] = [
        Migration(name: "v1-schema", statements: [
            """
            CREATE TABLE item (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              feed text NOT NULL CHECK (length(feed) BETWEEN 1 AND 64),
              external_id text NOT NULL CHECK (length(external_id) >= 1),
              digest text NOT NULL,
              submission json NOT NULL,
              received_at double precision NOT NULL,
              created_at double precision NOT NULL,
              -- the sequence number of the latest stage result: the item's current decision
              stages integer NOT NULL CHECK (stages >= 1),
              engagement text,
              log_velocity double precision,
              last_engagement_stage_age double precision,
              next_rescore_at double precision,
              next_rescore_age double precision CHECK (next_rescore_age > 0),
              -- the latest decision a person made (JSON), which later automatic stages keep
              reviewed text,
              CHECK ((next_rescore_at IS NULL) = (next_rescore_age IS NULL)),
              UNIQUE (feed, external_id)
            )
            """,
            "CREATE INDEX item_rescore_due ON item(next_rescore_at) WHERE next_rescore_at IS NOT NULL",
            """
            CREATE TABLE stage_result (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              item bigint NOT NULL REFERENCES item(id) ON DELETE CASCADE,
              seq integer NOT NULL CHECK (seq >= 1),
              stage text NOT NULL CHECK (stage IN ('creation', 'engagement', 'time', 'review')),
              scored_at double precision NOT NULL,
              model_version text NOT NULL,
              policy_version integer NOT NULL CHECK (policy_version >= 0),
              action text NOT NULL CHECK (action IN ('allow', 'demote', 'review', 'remove')),
              -- a StageRecord
              body bytea NOT NULL,
              UNIQUE (item, seq)
            )
            """,
            """
            CREATE TABLE engagement_snapshot (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              item bigint NOT NULL REFERENCES item(id) ON DELETE CASCADE,
              at double precision NOT NULL,
              views bigint NOT NULL CHECK (views >= 0),
              likes bigint NOT NULL CHECK (likes >= 0),
              shares bigint NOT NULL CHECK (shares >= 0),
              comments bigint NOT NULL CHECK (comments >= 0),
              reports bigint NOT NULL CHECK (reports >= 0),
              hides bigint NOT NULL CHECK (hides >= 0),
              UNIQUE (item, at, views, likes, shares, comments, reports, hides)
            )
            """,
            """
            CREATE TABLE feed_baseline (
              feed text PRIMARY KEY,
              items bigint NOT NULL CHECK (items >= 0),
              views numeric NOT NULL,
              reports numeric NOT NULL,
              log_velocity_sum double precision NOT NULL
            )
            """,
            """
            CREATE TABLE policy (
              feed text NOT NULL,
              version integer NOT NULL CHECK (version >= 1),
              body text NOT NULL,
              created_at double precision NOT NULL,
              created_by text NOT NULL,
              PRIMARY KEY (feed, version)
            )
            """,
            """
            CREATE TABLE api_key (
              name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
              role text NOT NULL CHECK (role IN ('feed', 'moderator', 'admin')),
              hash text NOT NULL UNIQUE CHECK (length(hash) = 64),
              created_at double precision NOT NULL,
              revoked_at double precision
            )
            """,
            """
            CREATE TABLE label (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              feed text NOT NULL,
              item_id text NOT NULL,
              label text NOT NULL CHECK (length(label) >= 1),
              source text NOT NULL CHECK (source IN ('review', 'audit', 'appeal', 'import')),
              "by" text NOT NULL,
              at double precision NOT NULL,
              tier integer NOT NULL DEFAULT 1 CHECK (tier IN (1, 2)),
              model_label text,
              model_probability double precision,
              model_version text,
              withdrawn_at double precision,
              withdrawn_by text,
              replaces bigint REFERENCES label(id),
              -- the model version an online update first learnt this label into (its counts are in that version's descendants)
              learnt_into text
            )
            """,
            "CREATE INDEX label_by_item ON label(feed, item_id, id)",
            "CREATE INDEX label_at ON label(at)",
            """
            CREATE TABLE engagement_model (
              version text PRIMARY KEY,
              body text NOT NULL,
              created_at double precision NOT NULL,
              saved bigint GENERATED ALWAYS AS IDENTITY
            )
            """,
            "CREATE TABLE heartbeat (id integer PRIMARY KEY CHECK (id = 1), at double precision NOT NULL)",
            """
            CREATE TABLE ticket (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              item bigint NOT NULL REFERENCES item(id) ON DELETE CASCADE,
              tier integer NOT NULL CHECK (tier IN (1, 2)),
              -- one bit per reason (TicketReason.bit)
              reasons integer NOT NULL CHECK (reasons > 0),
              status text NOT NULL CHECK (status IN ('open', 'decided', 'withdrawn')),
              language text,
              skill text,
              opened_at double precision NOT NULL,
              due_at double precision NOT NULL CHECK (due_at >= opened_at),
              base_priority double precision NOT NULL CHECK (base_priority >= 0),
              -- base × urgency when last refreshed, and when it should next be (TicketPriority.nextRefresh)
              priority double precision NOT NULL,
              refresh_at double precision NOT NULL,
              lease_holder text,
              lease_until double precision,
              version integer NOT NULL CHECK (version >= 1),
              audit_probability double precision CHECK (audit_probability > 0 AND audit_probability <= 1),
              gold_label text,
              note text,
              decided_at double precision,
              decided_by text,
              decided_label text,
              -- a double review: the first reviewer's decision, hidden until a second reviewer has decided
              first_by text,
              first_at double precision,
              first_label text,
              first_action text,
              first_code text,
              first_note text,
              second_by text,
              second_label text,
              CHECK ((lease_holder IS NULL) = (lease_until IS NULL)),
              CHECK ((status = 'decided') = (decided_at IS NOT NULL))
            )
            """,
            // One open ticket per item (gold tickets are copies handed to one reviewer each).
            "CREATE UNIQUE INDEX ticket_open_item ON ticket(item) WHERE status = 'open' AND gold_label IS NULL",
            // The queue by priority (paging), and by routing key: a claim reads the top of one index range per
            // (language, skill) the reviewer may take.
            "CREATE INDEX ticket_queue ON ticket(tier, priority DESC, id) WHERE status = 'open'",
            "CREATE INDEX ticket_route_skill ON ticket(tier, skill, priority DESC, id) WHERE status = 'open'",
            "CREATE INDEX ticket_route ON ticket(tier, language, skill, priority DESC, id) WHERE status = 'open'",
            "CREATE INDEX ticket_refresh ON ticket(refresh_at) WHERE status = 'open'",
            "CREATE INDEX ticket_item ON ticket(item)",
            "CREATE INDEX ticket_gold_lease ON ticket(lease_until) WHERE status = 'open' AND gold_label IS NOT NULL",
            "CREATE INDEX ticket_decided ON ticket(decided_at) WHERE decided_at IS NOT NULL",
            """
            CREATE TABLE ticket_event (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              ticket bigint NOT NULL REFERENCES ticket(id) ON DELETE CASCADE,
              item bigint NOT NULL REFERENCES item(id) ON DELETE CASCADE,
              at double precision NOT NULL,
              kind text NOT NULL,
              body text NOT NULL
            )
            """,
            "CREATE INDEX ticket_event_item ON ticket_event(item, id)",
            "CREATE INDEX ticket_event_ticket ON ticket_event(ticket, id)",
            """
            CREATE TABLE report (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              item bigint NOT NULL REFERENCES item(id) ON DELETE CASCADE,
              reporter text NOT NULL CHECK (length(reporter) BETWEEN 1 AND 256),
              at double precision NOT NULL,
              -- set when a person decides the item: upheld (harmful) or rejected (clear)
              outcome text CHECK (outcome IN ('upheld', 'rejected')),
              UNIQUE (item, reporter)
            )
            """,
            """
            CREATE TABLE reporter (
              feed text NOT NULL,
              reporter text NOT NULL,
              upheld bigint NOT NULL DEFAULT 0 CHECK (upheld >= 0),
              rejected bigint NOT NULL DEFAULT 0 CHECK (rejected >= 0),
              PRIMARY KEY (feed, reporter)
            )
            """,
            """
            CREATE TABLE model_version (
              version text PRIMARY KEY CHECK (length(version) >= 1),
              file text NOT NULL,
              kind text NOT NULL,
              classes text NOT NULL,
              parent text,
              card text NOT NULL,
              registered_by text NOT NULL,
              registered_at double precision NOT NULL
            )
            """,
            """
            CREATE TABLE model_promotion (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              version text NOT NULL REFERENCES model_version(version),
              previous text NOT NULL,
              kind text NOT NULL CHECK (kind IN ('promote', 'rollback')),
              "by" text NOT NULL,
              at double precision NOT NULL
            )
            """,
            """
            CREATE TABLE gold (
              item bigint PRIMARY KEY REFERENCES item(id) ON DELETE CASCADE,
              label text NOT NULL CHECK (length(label) >= 1),
              added_by text NOT NULL,
              added_at double precision NOT NULL
            )
            """,
        ]),
        // Model files live in the database, so every node can load every registered version (as SQLite's v4).
        Migration(name: "v2-model-files", statements: [
            """
            CREATE TABLE model_file (
              version text PRIMARY KEY REFERENCES model_version(version),
              bytes bytea NOT NULL CHECK (length(bytes) >= 1)
            )
            """,
        ]),
        // A feed's baseline in 16 rows that add up (an item's updates go to row id % 16): one row was a lock every
        // engagement update of the feed took until its commit, so a feed's updates ran one at a time across all nodes.
        Migration(name: "v3-baseline-shards", statements: [
            "ALTER TABLE feed_baseline ADD COLUMN shard integer NOT NULL DEFAULT 0 CHECK (shard BETWEEN 0 AND 15)",
            "ALTER TABLE feed_baseline DROP CONSTRAINT feed_baseline_pkey",
            "ALTER TABLE feed_baseline ADD PRIMARY KEY (feed, shard)",
        ]),
        // Updates in place (HOT: the new row version on the same page, no new entry in any index, so fewer pages
        // written and logged): a claim's lease (lease_holder, lease_until, version) changes no indexed column once
        // open gold tickets are indexed by id instead of their lease's end (a few, one per reviewer at most); an
        // item's stages, review and engagement are not indexed. New pages of both tables keep 10% free for them (a
        // page filled by a bulk load has no room for a second version).
        Migration(name: "v4-hot-updates", statements: [
            "CREATE INDEX ticket_gold_open ON ticket(id) WHERE status = 'open' AND gold_label IS NOT NULL",
            "DROP INDEX ticket_gold_lease",
            "ALTER TABLE ticket SET (fillfactor = 90)",
            "ALTER TABLE item SET (fillfactor = 90)",
        ]),
        // Four eyes (issue 18): who sent a ticket to tier 2, so that no one decides at tier 2 an item they judged
        // before; the tiers a key may work (NULL: keys made before this, which worked both and keep doing so).
        Migration(name: "v5-four-eyes", statements: [
            "ALTER TABLE ticket ADD COLUMN escalated_by text",
            """
            UPDATE ticket SET escalated_by = (
              SELECT e.body::jsonb ->> 'by' FROM ticket_event e WHERE e.ticket = ticket.id AND e.kind = 'escalated' ORDER BY e.id DESC LIMIT 1)
            WHERE EXISTS (SELECT 1 FROM ticket_event e WHERE e.ticket = ticket.id AND e.kind = 'escalated')
            """,
            "ALTER TABLE api_key ADD COLUMN tiers text",
        ]),
        // Decision events (issue 19), as SQLite's v6. Sequence numbers come from one counter row, taken as the last
        // write of a transaction that changes a decision: its lock, held to commit, makes the numbers follow the order
        // of commits, so a reader that has seen event n never later finds an event below n appear.
        Migration(name: "v6-decision-events", statements: [
            """
            CREATE TABLE decision_event (
              seq bigint PRIMARY KEY,
              feed text NOT NULL,
              item_id text NOT NULL,
              at double precision NOT NULL,
              cause text NOT NULL,
              body text NOT NULL
            )
            """,
            "CREATE INDEX decision_event_feed ON decision_event (feed, seq)",
            "CREATE INDEX decision_event_at ON decision_event (at)",
            "CREATE TABLE decision_event_counter (id int PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL)",
            "INSERT INTO decision_event_counter (id, seq) VALUES (1, 0)",
            "CREATE TABLE event_horizon (feed text PRIMARY KEY, pruned_through bigint NOT NULL)",
            """
            CREATE TABLE webhook (
              feed text PRIMARY KEY,
              url text NOT NULL,
              secret text NOT NULL,
              causes text,
              endpoint_id text NOT NULL,
              created_by text NOT NULL,
              created_at double precision NOT NULL,
              delivered_seq bigint NOT NULL,
              batch_through bigint,
              attempts int NOT NULL DEFAULT 0,
              next_attempt_at double precision NOT NULL DEFAULT 0,
              failing_since double precision,
              last_error text,
              last_attempt_at double precision,
              last_success_at double precision,
              delivered bigint NOT NULL DEFAULT 0,
              failed bigint NOT NULL DEFAULT 0,
              lease_holder text,
              lease_until double precision
            )
            """,
        ]),
        // The retraining loop's log (issue 20), and models per feed, as SQLite's v7.
        Migration(name: "v7-retraining", statements: [
            """
            CREATE TABLE retrain_pass (
              id bigint PRIMARY KEY,
              feed text,
              state text NOT NULL,
              started_at double precision NOT NULL,
              body text NOT NULL
            )
            """,
            "ALTER TABLE model_promotion ADD COLUMN feed text",
            "ALTER TABLE model_promotion ADD COLUMN to_shared integer NOT NULL DEFAULT 0",
        ]),
        // Banks of signatures (issue 21), as SQLite's v8. Revisions come from one counter row, taken first by every
        // bank write and held to its commit, so revisions become visible in order (a reader past 8 never misses 7).
        Migration(name: "v8-banks", statements: [
            """
            CREATE TABLE bank (
              name text PRIMARY KEY,
              label text NOT NULL,
              action text NOT NULL CHECK (action IN ('allow', 'demote', 'review', 'remove')),
              feeds text,
              description text,
              version bigint NOT NULL,
              entries bigint NOT NULL DEFAULT 0,
              created_by text NOT NULL,
              created_at double precision NOT NULL,
              updated_at double precision NOT NULL
            )
            """,
            """
            CREATE TABLE bank_entry (
              id bigserial PRIMARY KEY,
              bank text NOT NULL,
              kind text NOT NULL CHECK (kind IN ('text', 'image', 'video')),
              value text NOT NULL,
              digest text NOT NULL,
              quality integer,
              note text,
              feed text,
              item_id text,
              ticket_id bigint,
              label_id bigint,
              added_by text NOT NULL,
              added_at double precision NOT NULL,
              removed_at double precision,
              revision bigint NOT NULL
            )
            """,
            "CREATE INDEX bank_entry_by_revision ON bank_entry (revision)",
            "CREATE INDEX bank_entry_by_bank ON bank_entry (bank, id) WHERE removed_at IS NULL",
            "CREATE INDEX bank_entry_by_digest ON bank_entry (bank, digest) WHERE removed_at IS NULL",
            "CREATE INDEX bank_entry_by_label ON bank_entry (label_id) WHERE label_id IS NOT NULL AND removed_at IS NULL",
            "CREATE TABLE bank_revision (id integer PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL)",
            "INSERT INTO bank_revision (id, revision) VALUES (1, 0)",
        ]),
        // Feed keys scoped to feeds, as SQLite's v9 (NULL: every feed).
        Migration(name: "v9-key-feeds", statements: [
            "ALTER TABLE api_key ADD COLUMN feeds text",
        ]),
    ]

    /// The key of the advisory lock migrators take: one node migrates at a time, the others then find nothing to do.
    static let migrationLock: Int64 = 0x5749_4e4e_4f57_4d47  // "WINNOWMG"

    /// Applies the migrations not yet recorded, in order, in one transaction (PostgreSQL's DDL is transactional: a
    /// failed migration leaves the schema as it was).
    /// - Parameter create: whether an empty database may get the schema (`serve`, `keys create`); a command that only
    ///   reads refuses one instead, as it refuses a missing SQLite file (a misspelt database name got 26 tables).
    /// - Throws: `SchemaRefusal` for a database without Winnow's schema (`create` false), one that holds other tables,
    ///   or one a newer build migrated (its migrations are unknown here: this build would misread its rows).
    func migrate(create: Bool = true) async throws {
        try await transaction { db in
            try await db.execute("SELECT pg_advisory_xact_lock(\(Self.migrationLock))")
            // Created only when missing: a database user without the right to create tables can run an up-to-date schema.
            let exists: Bool = try await db.row("SELECT to_regclass('winnow_migration') IS NOT NULL AS present")?["present"] ?? false
            if !exists {
                guard create else { throw SchemaRefusal.none }
                let others = try await db.rows(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename COLLATE \"C\" LIMIT 4"
                ).map { try $0["tablename"] as String }
                guard others.isEmpty else { throw SchemaRefusal.otherTables(others) }
                try await db.execute("CREATE TABLE winnow_migration (name text PRIMARY KEY, applied_at double precision NOT NULL)")
            }
            var applied = Set<String>()
            for row in try await db.rows("SELECT name FROM winnow_migration") { applied.insert(try row["name"]) }
            let unknown = applied.subtracting(Self.migrations.map(\.name)).sorted()
            guard unknown.isEmpty else { throw SchemaRefusal.newer(unknown) }
            for migration in Self.migrations where !applied.contains(migration.name) {
                for statement in migration.statements { try await db.execute(PostgresQuery(unsafeSQL: statement)) }
                try await db.execute("INSERT INTO winnow_migration (name, applied_at) VALUES (\(migration.name), \(Date().timeIntervalSince1970))")
            }
        }
    }

    /// The names of the migrations applied, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await rows("SELECT name FROM winnow_migration ORDER BY applied_at, name COLLATE \"C\"").map { try $0["name"] }
    }
}

/// Why a database is not one this build may use or set up.
enum SchemaRefusal: Error, CustomStringConvertible {
    /// No Winnow schema, and the command only reads.
    case none
    /// No Winnow schema, and tables of something else.
    case otherTables([String])
    /// Migrations this build does not know: a newer Winnow's.
    case newer([String])

    var description: String {
        switch self {
        case .none:
            return "it has no Winnow schema, so it is not the database 'winnow serve' uses. Check the URL's database name; "
                + "'winnow serve' (or 'winnow keys create') sets up a new one."
        case let .otherTables(names):
            return "it holds tables that are not Winnow's (\(names.joined(separator: ", "))…). Use an empty database of its own, "
                + "e.g. createdb winnow."
        case let .newer(names):
            return "a newer Winnow has changed its schema (migrations \(names.joined(separator: ", ")) are unknown to this build), "
                + "so this build would misread it. Run the newer build on every node."
        }
    }
}
