import GRDB

extension SQLiteStore {
    /// Named migrations, applied in order and recorded in the database; a database from an older Winnow is
    /// brought up to date on open. Never edit a shipped migration: add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-items-stages-policies-keys") { db in
            try db.execute(sql: """
                CREATE TABLE item (
                  id INTEGER PRIMARY KEY,
                  feed TEXT NOT NULL CHECK (length(feed) BETWEEN 1 AND 64),
                  external_id TEXT NOT NULL CHECK (length(external_id) >= 1),
                  digest TEXT NOT NULL,
                  submission TEXT NOT NULL,
                  received_at REAL NOT NULL,
                  created_at REAL NOT NULL,
                  -- the sequence number of the latest stage result: the item's current decision
                  stages INTEGER NOT NULL CHECK (stages >= 1),
                  engagement TEXT,
                  log_velocity REAL,
                  last_engagement_stage_age REAL,
                  next_rescore_at REAL,
                  next_rescore_age REAL CHECK (next_rescore_age > 0),
                  CHECK ((next_rescore_at IS NULL) = (next_rescore_age IS NULL)),
                  UNIQUE (feed, external_id)
                );
                CREATE INDEX item_rescore_due ON item(next_rescore_at) WHERE next_rescore_at IS NOT NULL;
                -- A rowid table (appends at the end) with a small unique index, not WITHOUT ROWID: rows of about 1 KB
                -- made the clustered b-tree split pages on every few inserts.
                CREATE TABLE stage_result (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  seq INTEGER NOT NULL CHECK (seq >= 1),
                  stage TEXT NOT NULL CHECK (stage IN ('creation', 'engagement', 'time')),
                  scored_at REAL NOT NULL,
                  model_version TEXT NOT NULL,
                  policy_version INTEGER NOT NULL CHECK (policy_version >= 0),
                  action TEXT NOT NULL CHECK (action IN ('allow', 'demote', 'review', 'remove')),
                  body TEXT NOT NULL,
                  UNIQUE (item, seq)
                );
                CREATE TABLE engagement_snapshot (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  at REAL NOT NULL,
                  views INTEGER NOT NULL CHECK (views >= 0),
                  likes INTEGER NOT NULL CHECK (likes >= 0),
                  shares INTEGER NOT NULL CHECK (shares >= 0),
                  comments INTEGER NOT NULL CHECK (comments >= 0),
                  reports INTEGER NOT NULL CHECK (reports >= 0),
                  hides INTEGER NOT NULL CHECK (hides >= 0),
                  UNIQUE (item, at, views, likes, shares, comments, reports, hides)
                );
                CREATE TABLE feed_baseline (
                  feed TEXT PRIMARY KEY,
                  items INTEGER NOT NULL CHECK (items >= 0),
                  views INTEGER NOT NULL,
                  reports INTEGER NOT NULL,
                  log_velocity_sum REAL NOT NULL
                );
                CREATE TABLE policy (
                  feed TEXT NOT NULL,
                  version INTEGER NOT NULL CHECK (version >= 1),
                  body TEXT NOT NULL,
                  created_at REAL NOT NULL,
                  created_by TEXT NOT NULL,
                  PRIMARY KEY (feed, version)
                );
                CREATE TABLE api_key (
                  name TEXT PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 64),
                  role TEXT NOT NULL CHECK (role IN ('feed', 'moderator', 'admin')),
                  hash TEXT NOT NULL UNIQUE CHECK (length(hash) = 64),
                  created_at REAL NOT NULL,
                  revoked_at REAL
                );
                CREATE TABLE label (
                  id INTEGER PRIMARY KEY,
                  feed TEXT NOT NULL,
                  item_id TEXT NOT NULL,
                  label TEXT NOT NULL CHECK (length(label) >= 1),
                  source TEXT NOT NULL CHECK (source IN ('review', 'audit', 'appeal', 'import')),
                  by TEXT NOT NULL,
                  at REAL NOT NULL
                );
                CREATE INDEX label_by_item ON label(feed, item_id, id);
                CREATE TABLE engagement_model (
                  version TEXT PRIMARY KEY,
                  body TEXT NOT NULL,
                  created_at REAL NOT NULL
                );
                CREATE TABLE heartbeat (id INTEGER PRIMARY KEY CHECK (id = 1), at REAL NOT NULL);
                """)
        }
        migrator.registerMigration("v2-review-queue") { db in
            // SQLite cannot change a CHECK constraint in place: stage_result is rebuilt to allow the review stage.
            try db.execute(sql: """
                CREATE TABLE stage_result_v2 (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  seq INTEGER NOT NULL CHECK (seq >= 1),
                  stage TEXT NOT NULL CHECK (stage IN ('creation', 'engagement', 'time', 'review')),
                  scored_at REAL NOT NULL,
                  model_version TEXT NOT NULL,
                  policy_version INTEGER NOT NULL CHECK (policy_version >= 0),
                  action TEXT NOT NULL CHECK (action IN ('allow', 'demote', 'review', 'remove')),
                  body TEXT NOT NULL,
                  UNIQUE (item, seq)
                );
                INSERT INTO stage_result_v2 SELECT id, item, seq, stage, scored_at, model_version, policy_version, action, body FROM stage_result;
                DROP TABLE stage_result;
                ALTER TABLE stage_result_v2 RENAME TO stage_result;
                -- The latest decision a person made (JSON), which later automatic stages keep.
                ALTER TABLE item ADD COLUMN reviewed TEXT;
                CREATE TABLE ticket (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  tier INTEGER NOT NULL CHECK (tier IN (1, 2)),
                  -- one bit per reason (TicketReason.bit)
                  reasons INTEGER NOT NULL CHECK (reasons > 0),
                  status TEXT NOT NULL CHECK (status IN ('open', 'decided', 'withdrawn')),
                  language TEXT,
                  skill TEXT,
                  opened_at REAL NOT NULL,
                  due_at REAL NOT NULL CHECK (due_at >= opened_at),
                  base_priority REAL NOT NULL CHECK (base_priority >= 0),
                  -- base × urgency when last refreshed, and when it should next be (TicketPriority.nextRefresh)
                  priority REAL NOT NULL,
                  refresh_at REAL NOT NULL,
                  lease_holder TEXT,
                  lease_until REAL,
                  version INTEGER NOT NULL CHECK (version >= 1),
                  audit_probability REAL CHECK (audit_probability > 0 AND audit_probability <= 1),
                  gold_label TEXT,
                  note TEXT,
                  decided_at REAL,
                  decided_by TEXT,
                  decided_label TEXT,
                  -- a double review: the first reviewer's decision, hidden until a second reviewer has decided
                  first_by TEXT,
                  first_at REAL,
                  first_label TEXT,
                  first_action TEXT,
                  first_code TEXT,
                  first_note TEXT,
                  second_by TEXT,
                  second_label TEXT,
                  CHECK ((lease_holder IS NULL) = (lease_until IS NULL)),
                  CHECK ((status = 'decided') = (decided_at IS NOT NULL))
                );
                -- One open ticket per item (gold tickets are copies handed to one reviewer each).
                CREATE UNIQUE INDEX ticket_open_item ON ticket(item) WHERE status = 'open' AND gold_label IS NULL;
                -- The queue by priority (paging), and by routing key: a claim reads the top of one index range per
                -- (language, skill) the reviewer may take, so tickets nobody present can take never have to be skipped.
                CREATE INDEX ticket_queue ON ticket(tier, priority DESC, id) WHERE status = 'open';
                CREATE INDEX ticket_route_skill ON ticket(tier, skill, priority DESC, id) WHERE status = 'open';
                CREATE INDEX ticket_route ON ticket(tier, language, skill, priority DESC, id) WHERE status = 'open';
                CREATE INDEX ticket_refresh ON ticket(refresh_at) WHERE status = 'open';
                CREATE INDEX ticket_item ON ticket(item);
                CREATE INDEX ticket_gold_lease ON ticket(lease_until) WHERE status = 'open' AND gold_label IS NOT NULL;
                CREATE INDEX ticket_decided ON ticket(decided_at) WHERE decided_at IS NOT NULL;
                CREATE TABLE ticket_event (
                  id INTEGER PRIMARY KEY,
                  ticket INTEGER NOT NULL REFERENCES ticket(id) ON DELETE CASCADE,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  at REAL NOT NULL,
                  kind TEXT NOT NULL,
                  body TEXT NOT NULL
                );
                CREATE INDEX ticket_event_item ON ticket_event(item, id);
                CREATE TABLE report (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  reporter TEXT NOT NULL CHECK (length(reporter) BETWEEN 1 AND 256),
                  at REAL NOT NULL,
                  -- set when a person decides the item: upheld (harmful) or rejected (clear)
                  outcome TEXT CHECK (outcome IN ('upheld', 'rejected')),
                  UNIQUE (item, reporter)
                );
                CREATE TABLE reporter (
                  feed TEXT NOT NULL,
                  reporter TEXT NOT NULL,
                  upheld INTEGER NOT NULL DEFAULT 0 CHECK (upheld >= 0),
                  rejected INTEGER NOT NULL DEFAULT 0 CHECK (rejected >= 0),
                  PRIMARY KEY (feed, reporter)
                );
                -- Labels carry the judge's tier, the model's answer at the time, and their withdrawal or correction.
                ALTER TABLE label ADD COLUMN tier INTEGER NOT NULL DEFAULT 1 CHECK (tier IN (1, 2));
                ALTER TABLE label ADD COLUMN model_label TEXT;
                ALTER TABLE label ADD COLUMN model_probability REAL;
                ALTER TABLE label ADD COLUMN model_version TEXT;
                ALTER TABLE label ADD COLUMN withdrawn_at REAL;
                ALTER TABLE label ADD COLUMN withdrawn_by TEXT;
                ALTER TABLE label ADD COLUMN replaces INTEGER REFERENCES label(id);
                -- the model version an online update first learnt this label into (its counts are in that version's descendants)
                ALTER TABLE label ADD COLUMN learnt_into TEXT;
                CREATE INDEX label_at ON label(at);
                CREATE TABLE model_version (
                  version TEXT PRIMARY KEY CHECK (length(version) >= 1),
                  file TEXT NOT NULL,
                  kind TEXT NOT NULL,
                  classes TEXT NOT NULL,
                  parent TEXT,
                  card TEXT NOT NULL,
                  registered_by TEXT NOT NULL,
                  registered_at REAL NOT NULL
                );
                CREATE TABLE model_promotion (
                  id INTEGER PRIMARY KEY,
                  version TEXT NOT NULL REFERENCES model_version(version),
                  previous TEXT NOT NULL,
                  kind TEXT NOT NULL CHECK (kind IN ('promote', 'rollback')),
                  by TEXT NOT NULL,
                  at REAL NOT NULL
                );
                CREATE TABLE gold (
                  item INTEGER PRIMARY KEY REFERENCES item(id) ON DELETE CASCADE,
                  label TEXT NOT NULL CHECK (length(label) >= 1),
                  added_by TEXT NOT NULL,
                  added_at REAL NOT NULL
                );
                """)
        }
        migrator.registerMigration("v3-checks-without-in-lists") { db in
            // SQLite evaluates `x IN ('a', 'b', …)` in a CHECK by building a temporary b-tree of the list on every
            // insert or update: measured here (SQLite 3.40) a stage_result row cost 12 µs with two such checks and
            // 5.5 µs with the same rules written as `x = 'a' OR x = 'b' …`. The tables written on hot paths are
            // rebuilt with the OR form (the same rules; the rows and the other tables' references are kept).
            try db.execute(sql: """
                CREATE TABLE stage_result_v3 (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  seq INTEGER NOT NULL CHECK (seq >= 1),
                  stage TEXT NOT NULL CHECK (stage = 'creation' OR stage = 'engagement' OR stage = 'time' OR stage = 'review'),
                  scored_at REAL NOT NULL,
                  model_version TEXT NOT NULL,
                  policy_version INTEGER NOT NULL CHECK (policy_version >= 0),
                  action TEXT NOT NULL CHECK (action = 'allow' OR action = 'demote' OR action = 'review' OR action = 'remove'),
                  body TEXT NOT NULL,
                  UNIQUE (item, seq)
                );
                INSERT INTO stage_result_v3 SELECT id, item, seq, stage, scored_at, model_version, policy_version, action, body FROM stage_result;
                DROP TABLE stage_result;
                ALTER TABLE stage_result_v3 RENAME TO stage_result;

                CREATE TABLE ticket_v3 (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  tier INTEGER NOT NULL CHECK (tier = 1 OR tier = 2),
                  -- one bit per reason (TicketReason.bit)
                  reasons INTEGER NOT NULL CHECK (reasons > 0),
                  status TEXT NOT NULL CHECK (status = 'open' OR status = 'decided' OR status = 'withdrawn'),
                  language TEXT,
                  skill TEXT,
                  opened_at REAL NOT NULL,
                  due_at REAL NOT NULL CHECK (due_at >= opened_at),
                  base_priority REAL NOT NULL CHECK (base_priority >= 0),
                  -- base × urgency when last refreshed, and when it should next be (TicketPriority.nextRefresh)
                  priority REAL NOT NULL,
                  refresh_at REAL NOT NULL,
                  lease_holder TEXT,
                  lease_until REAL,
                  version INTEGER NOT NULL CHECK (version >= 1),
                  audit_probability REAL CHECK (audit_probability > 0 AND audit_probability <= 1),
                  gold_label TEXT,
                  note TEXT,
                  decided_at REAL,
                  decided_by TEXT,
                  decided_label TEXT,
                  -- a double review: the first reviewer's decision, hidden until a second reviewer has decided
                  first_by TEXT,
                  first_at REAL,
                  first_label TEXT,
                  first_action TEXT,
                  first_code TEXT,
                  first_note TEXT,
                  second_by TEXT,
                  second_label TEXT,
                  CHECK ((lease_holder IS NULL) = (lease_until IS NULL)),
                  CHECK ((status = 'decided') = (decided_at IS NOT NULL))
                );
                INSERT INTO ticket_v3 SELECT id, item, tier, reasons, status, language, skill, opened_at, due_at, base_priority, priority, refresh_at,
                  lease_holder, lease_until, version, audit_probability, gold_label, note, decided_at, decided_by, decided_label,
                  first_by, first_at, first_label, first_action, first_code, first_note, second_by, second_label FROM ticket;
                DROP TABLE ticket;
                ALTER TABLE ticket_v3 RENAME TO ticket;
                CREATE UNIQUE INDEX ticket_open_item ON ticket(item) WHERE status = 'open' AND gold_label IS NULL;
                CREATE INDEX ticket_queue ON ticket(tier, priority DESC, id) WHERE status = 'open';
                CREATE INDEX ticket_route_skill ON ticket(tier, skill, priority DESC, id) WHERE status = 'open';
                CREATE INDEX ticket_route ON ticket(tier, language, skill, priority DESC, id) WHERE status = 'open';
                CREATE INDEX ticket_refresh ON ticket(refresh_at) WHERE status = 'open';
                CREATE INDEX ticket_item ON ticket(item);
                CREATE INDEX ticket_gold_lease ON ticket(lease_until) WHERE status = 'open' AND gold_label IS NOT NULL;
                CREATE INDEX ticket_decided ON ticket(decided_at) WHERE decided_at IS NOT NULL;

                CREATE TABLE label_v3 (
                  id INTEGER PRIMARY KEY,
                  feed TEXT NOT NULL,
                  item_id TEXT NOT NULL,
                  label TEXT NOT NULL CHECK (length(label) >= 1),
                  source TEXT NOT NULL CHECK (source = 'review' OR source = 'audit' OR source = 'appeal' OR source = 'import'),
                  by TEXT NOT NULL,
                  at REAL NOT NULL,
                  tier INTEGER NOT NULL DEFAULT 1 CHECK (tier = 1 OR tier = 2),
                  model_label TEXT,
                  model_probability REAL,
                  model_version TEXT,
                  withdrawn_at REAL,
                  withdrawn_by TEXT,
                  replaces INTEGER REFERENCES label(id),
                  -- the model version an online update first learnt this label into (its counts are in that version's descendants)
                  learnt_into TEXT
                );
                INSERT INTO label_v3 SELECT id, feed, item_id, label, source, by, at, tier, model_label, model_probability, model_version,
                  withdrawn_at, withdrawn_by, replaces, learnt_into FROM label;
                DROP TABLE label;
                ALTER TABLE label_v3 RENAME TO label;
                CREATE INDEX label_by_item ON label(feed, item_id, id);
                CREATE INDEX label_at ON label(at);

                CREATE TABLE report_v3 (
                  id INTEGER PRIMARY KEY,
                  item INTEGER NOT NULL REFERENCES item(id) ON DELETE CASCADE,
                  reporter TEXT NOT NULL CHECK (length(reporter) BETWEEN 1 AND 256),
                  at REAL NOT NULL,
                  -- set when a person decides the item: upheld (harmful) or rejected (clear)
                  outcome TEXT CHECK (outcome = 'upheld' OR outcome = 'rejected'),
                  UNIQUE (item, reporter)
                );
                INSERT INTO report_v3 SELECT id, item, reporter, at, outcome FROM report;
                DROP TABLE report;
                ALTER TABLE report_v3 RENAME TO report;
                """)
        }
        // Model files live in the database, so every node sharing it can load every registered version.
        migrator.registerMigration("v4-model-files") { db in
            try db.execute(sql: """
                CREATE TABLE model_file (
                  version TEXT PRIMARY KEY REFERENCES model_version(version),
                  bytes BLOB NOT NULL CHECK (length(bytes) >= 1)
                );
                """)
        }
        // Four eyes (issue 18): who sent a ticket to tier 2, so that no one decides at tier 2 an item they judged
        // before; the tiers a key may work (NULL: keys made before this, which worked both and keep doing so).
        migrator.registerMigration("v5-four-eyes") { db in
            try db.execute(sql: """
                ALTER TABLE ticket ADD COLUMN escalated_by TEXT;
                UPDATE ticket SET escalated_by = (
                  SELECT json_extract(e.body, '$.by') FROM ticket_event e WHERE e.ticket = ticket.id AND e.kind = 'escalated' ORDER BY e.id DESC LIMIT 1);
                ALTER TABLE api_key ADD COLUMN tiers TEXT;
                """)
        }
        // Decision events (issue 19): every change of an item's effective decision, written with the change (an outbox);
        // how far each feed's events were pruned; each feed's webhook and where its deliveries stand. AUTOINCREMENT: a
        // sequence number is never used twice, even after the newest events are pruned.
        migrator.registerMigration("v6-decision-events") { db in
            try db.execute(sql: """
                CREATE TABLE decision_event (
                  seq INTEGER PRIMARY KEY AUTOINCREMENT,
                  feed TEXT NOT NULL,
                  item_id TEXT NOT NULL,
                  at REAL NOT NULL,
                  cause TEXT NOT NULL,
                  body TEXT NOT NULL
                );
                CREATE INDEX decision_event_feed ON decision_event (feed, seq);
                CREATE INDEX decision_event_at ON decision_event (at);
                CREATE TABLE event_horizon (
                  feed TEXT PRIMARY KEY,
                  pruned_through INTEGER NOT NULL
                );
                CREATE TABLE webhook (
                  feed TEXT PRIMARY KEY,
                  url TEXT NOT NULL,
                  secret TEXT NOT NULL,
                  causes TEXT,
                  endpoint_id TEXT NOT NULL,
                  created_by TEXT NOT NULL,
                  created_at REAL NOT NULL,
                  delivered_seq INTEGER NOT NULL,
                  batch_through INTEGER,
                  attempts INTEGER NOT NULL DEFAULT 0,
                  next_attempt_at REAL NOT NULL DEFAULT 0,
                  failing_since REAL,
                  last_error TEXT,
                  last_attempt_at REAL,
                  last_success_at REAL,
                  delivered INTEGER NOT NULL DEFAULT 0,
                  failed INTEGER NOT NULL DEFAULT 0,
                  lease_holder TEXT,
                  lease_until REAL
                );
                """)
        }
        // The retraining loop's log (issue 20), and models per feed: a promotion names its feed (NULL: the global model).
        migrator.registerMigration("v7-retraining") { db in
            try db.execute(sql: """
                CREATE TABLE retrain_pass (
                  id INTEGER PRIMARY KEY,
                  feed TEXT,
                  state TEXT NOT NULL,
                  started_at REAL NOT NULL,
                  body TEXT NOT NULL
                );
                ALTER TABLE model_promotion ADD COLUMN feed TEXT;
                ALTER TABLE model_promotion ADD COLUMN to_shared INTEGER NOT NULL DEFAULT 0;
                """)
        }
        // Banks of signatures (issue 21). An entry is never deleted while its bank lives: a removal stamps
        // `removed_at` and a new revision, which is how other nodes' indexes learn of it.
        migrator.registerMigration("v8-banks") { db in
            try db.execute(sql: """
                CREATE TABLE bank (
                  name TEXT PRIMARY KEY,
                  label TEXT NOT NULL,
                  action TEXT NOT NULL CHECK (action IN ('allow', 'demote', 'review', 'remove')),
                  feeds TEXT,
                  description TEXT,
                  version INTEGER NOT NULL,
                  entries INTEGER NOT NULL DEFAULT 0,
                  created_by TEXT NOT NULL,
                  created_at REAL NOT NULL,
                  updated_at REAL NOT NULL
                );
                CREATE TABLE bank_entry (
                  id INTEGER PRIMARY KEY AUTOINCREMENT,
                  bank TEXT NOT NULL,
                  kind TEXT NOT NULL CHECK (kind IN ('text', 'image', 'video')),
                  value TEXT NOT NULL,
                  digest TEXT NOT NULL,
                  quality INTEGER,
                  note TEXT,
                  feed TEXT,
                  item_id TEXT,
                  ticket_id INTEGER,
                  label_id INTEGER,
                  added_by TEXT NOT NULL,
                  added_at REAL NOT NULL,
                  removed_at REAL,
                  revision INTEGER NOT NULL
                );
                CREATE INDEX bank_entry_by_revision ON bank_entry (revision);
                CREATE INDEX bank_entry_by_bank ON bank_entry (bank, id) WHERE removed_at IS NULL;
                CREATE INDEX bank_entry_by_digest ON bank_entry (bank, digest) WHERE removed_at IS NULL;
                CREATE INDEX bank_entry_by_label ON bank_entry (label_id) WHERE label_id IS NOT NULL AND removed_at IS NULL;
                """)
        }
        // Feed keys scoped to feeds (outside testing: any feed key read and changed every feed's items). NULL: every
        // feed, as keys made before this worked.
        migrator.registerMigration("v9-key-feeds") { db in
            try db.execute(sql: "ALTER TABLE api_key ADD COLUMN feeds TEXT")
        }
        return migrator
    }
}
