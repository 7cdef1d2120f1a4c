-- smtp-probe-monitor schema, SQLite dialect. The PostgreSQL file beside it has the same tables, columns and
-- keys; only the column types differ (SQLite's INTEGER is PostgreSQL's BIGINT). Times are Unix milliseconds.

-- Monitors ever seen, so history keeps its names after a monitor leaves the configuration.
CREATE TABLE monitors (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    target     TEXT NOT NULL,
    tags       TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Every check. Keyed by monitor and start time: one b-tree, and pagination is an index range.
CREATE TABLE check_results (
    monitor_id     TEXT NOT NULL,
    at             INTEGER NOT NULL,
    status         TEXT NOT NULL,
    cause          TEXT,
    recheck        INTEGER NOT NULL,
    maintenance    INTEGER NOT NULL,
    response_ms    INTEGER,
    total_ms       INTEGER NOT NULL,
    phases         TEXT NOT NULL,
    tls_version    TEXT,
    cert_days_left INTEGER,
    reply_codes    TEXT NOT NULL,
    summary        TEXT NOT NULL,
    server_text    TEXT,
    PRIMARY KEY (monitor_id, at)
) WITHOUT ROWID;

-- Incidents. At most one open per monitor (the partial unique index), whichever instance saw it.
-- notified_* is what people were told: set when "opened" is queued, cleared when "recovered" is.
CREATE TABLE incidents (
    monitor_id        TEXT NOT NULL,
    started_at        INTEGER NOT NULL,
    ended_at          INTEGER,
    severity          TEXT NOT NULL,
    flapping          INTEGER NOT NULL,
    cause             TEXT,
    server_text       TEXT,
    acknowledged_at   INTEGER,
    acknowledged_by   TEXT,
    notified_severity TEXT,
    notified_at       INTEGER,
    reminders         INTEGER NOT NULL,
    opened_by         TEXT NOT NULL,
    PRIMARY KEY (monitor_id, started_at)
) WITHOUT ROWID;
CREATE UNIQUE INDEX incidents_one_open ON incidents (monitor_id) WHERE ended_at IS NULL;

-- State changes (up, pending, degraded, down, flapping, unknown): a row per change, not per check.
CREATE TABLE state_intervals (
    monitor_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (monitor_id, started_at)
) WITHOUT ROWID;

-- Hourly rollups: counts per status, milliseconds per state (uptime), a mergeable latency histogram.
CREATE TABLE rollups_hourly (
    monitor_id     TEXT NOT NULL,
    hour           INTEGER NOT NULL,
    up             INTEGER NOT NULL,
    degraded       INTEGER NOT NULL,
    down           INTEGER NOT NULL,
    unknown        INTEGER NOT NULL,
    up_ms          INTEGER NOT NULL,
    degraded_ms    INTEGER NOT NULL,
    down_ms        INTEGER NOT NULL,
    unknown_ms     INTEGER NOT NULL,
    maintenance_ms INTEGER NOT NULL,
    histogram      BLOB NOT NULL,
    PRIMARY KEY (monitor_id, hour)
) WITHOUT ROWID;

-- Alerts to deliver, written in the transaction that changed the state. Senders claim a row with a
-- conditional UPDATE (claimed_until in the past), deliver, and record each attempt in alert_deliveries.
CREATE TABLE alert_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT NOT NULL UNIQUE,
    monitor_id      TEXT,
    kind            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    channels        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    claimed_until   INTEGER,
    done_at         INTEGER
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE done_at IS NULL;

CREATE TABLE alert_deliveries (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id INTEGER NOT NULL,
    channel   TEXT NOT NULL,
    attempt   INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    status    TEXT NOT NULL,
    detail    TEXT
);
CREATE INDEX alert_deliveries_outbox ON alert_deliveries (outbox_id);

-- Per-monitor alert memory that outlives incidents: the lowest certificate threshold announced.
CREATE TABLE alert_state (
    monitor_id     TEXT PRIMARY KEY NOT NULL,
    cert_threshold INTEGER
) WITHOUT ROWID;

-- Maintenance as it happened, per monitor (the rules themselves live in the configuration).
CREATE TABLE maintenance_marks (
    monitor_id  TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    window_name TEXT NOT NULL,
    PRIMARY KEY (monitor_id, started_at)
) WITHOUT ROWID;

-- Which instance checks which monitor (several instances on one database).
CREATE TABLE leases (
    monitor_id TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
