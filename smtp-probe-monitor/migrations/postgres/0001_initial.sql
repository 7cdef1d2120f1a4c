-- smtp-probe-monitor schema, PostgreSQL dialect. The SQLite file beside it has the same tables, columns and
-- keys; only the column types differ (SQLite's INTEGER is PostgreSQL's BIGINT). Times are Unix milliseconds.

-- Monitors ever seen, so history keeps its names after a monitor leaves the configuration.
CREATE TABLE monitors (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    target     TEXT NOT NULL,
    tags       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Every check. Keyed by monitor and start time: one b-tree, and pagination is an index range.
CREATE TABLE check_results (
    monitor_id     TEXT NOT NULL,
    at             BIGINT NOT NULL,
    status         TEXT NOT NULL,
    cause          TEXT,
    recheck        BIGINT NOT NULL,
    maintenance    BIGINT NOT NULL,
    response_ms    BIGINT,
    total_ms       BIGINT NOT NULL,
    phases         TEXT NOT NULL,
    tls_version    TEXT,
    cert_days_left BIGINT,
    reply_codes    TEXT NOT NULL,
    summary        TEXT NOT NULL,
    server_text    TEXT,
    PRIMARY KEY (monitor_id, at)
);

-- Incidents. At most one open per monitor (the partial unique index), whichever instance saw it.
-- notified_* is what people were told: set when "opened" is queued, cleared when "recovered" is.
CREATE TABLE incidents (
    monitor_id        TEXT NOT NULL,
    started_at        BIGINT NOT NULL,
    ended_at          BIGINT,
    severity          TEXT NOT NULL,
    flapping          BIGINT NOT NULL,
    cause             TEXT,
    server_text       TEXT,
    acknowledged_at   BIGINT,
    acknowledged_by   TEXT,
    notified_severity TEXT,
    notified_at       BIGINT,
    reminders         BIGINT NOT NULL,
    opened_by         TEXT NOT NULL,
    PRIMARY KEY (monitor_id, started_at)
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (monitor_id) WHERE ended_at IS NULL;

-- State changes (up, pending, degraded, down, flapping, unknown): a row per change, not per check.
CREATE TABLE state_intervals (
    monitor_id TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    state      TEXT NOT NULL,
    PRIMARY KEY (monitor_id, started_at)
);

-- Hourly rollups: counts per status, milliseconds per state (uptime), a mergeable latency histogram.
CREATE TABLE rollups_hourly (
    monitor_id     TEXT NOT NULL,
    hour           BIGINT NOT NULL,
    up             BIGINT NOT NULL,
    degraded       BIGINT NOT NULL,
    down           BIGINT NOT NULL,
    unknown        BIGINT NOT NULL,
    up_ms          BIGINT NOT NULL,
    degraded_ms    BIGINT NOT NULL,
    down_ms        BIGINT NOT NULL,
    unknown_ms     BIGINT NOT NULL,
    maintenance_ms BIGINT NOT NULL,
    histogram      BYTEA NOT NULL,
    PRIMARY KEY (monitor_id, hour)
);

-- Alerts to deliver, written in the transaction that changed the state. Senders claim a row with a
-- conditional UPDATE (claimed_until in the past), deliver, and record each attempt in alert_deliveries.
CREATE TABLE alert_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedup_key       TEXT NOT NULL UNIQUE,
    monitor_id      TEXT,
    kind            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    channels        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_by      TEXT,
    claimed_until   BIGINT,
    done_at         BIGINT
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE done_at IS NULL;

CREATE TABLE alert_deliveries (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id BIGINT NOT NULL,
    channel   TEXT NOT NULL,
    attempt   BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    status    TEXT NOT NULL,
    detail    TEXT
);
CREATE INDEX alert_deliveries_outbox ON alert_deliveries (outbox_id);

-- Per-monitor alert memory that outlives incidents: the lowest certificate threshold announced.
CREATE TABLE alert_state (
    monitor_id     TEXT PRIMARY KEY NOT NULL,
    cert_threshold BIGINT
);

-- Maintenance as it happened, per monitor (the rules themselves live in the configuration).
CREATE TABLE maintenance_marks (
    monitor_id  TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    window_name TEXT NOT NULL,
    PRIMARY KEY (monitor_id, started_at)
);

-- Which instance checks which monitor (several instances on one database).
CREATE TABLE leases (
    monitor_id TEXT PRIMARY KEY NOT NULL,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
