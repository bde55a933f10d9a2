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
        return migrator
    }
}
