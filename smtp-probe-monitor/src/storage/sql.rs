//! [`SqlStore`]: the [`Store`] over sqlx's `Any` driver, so one implementation and one set of statements
//! serve SQLite and PostgreSQL. The statements use only what both speak (`$n` parameters, `ON CONFLICT`,
//! `RETURNING`, partial indexes); the dialects differ only in the migrations' column types.

use std::borrow::Cow;
use std::path::Path;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Row};

use super::{
    AlertQuery, Batch, ClaimedAlert, DAY_MS, DailyTime, DeliveryCounts, DeliveryRecord, IncidentChange, IncidentRecord,
    MaintenanceMark, MonitorRow, OutboxRecord, ResumeState, RollupDelta, RollupRow, StatusCounts, Store, StoreError,
};
use crate::alert::{Alert, Notified};
use crate::check::{CheckOutcome, PhaseTiming, Status};
use crate::clock::Timestamp;
use crate::config::StorageConfig;
use crate::histogram::Histogram;
use crate::id::MonitorId;
use crate::incident::{OpenIncident, Severity, State};
use crate::uptime::StateTime;

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../migrations/sqlite/0001_initial.sql")),
    (2, "roundtrip", include_str!("../../migrations/sqlite/0002_roundtrip.sql")),
    (3, "published", include_str!("../../migrations/sqlite/0003_published.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../../migrations/postgres/0001_initial.sql")),
    (2, "roundtrip", include_str!("../../migrations/postgres/0002_roundtrip.sql")),
    (3, "published", include_str!("../../migrations/postgres/0003_published.sql")),
];

/// The migrations compiled into the binary (sqlx's migrator applies them, with its checksums and, on
/// PostgreSQL, its advisory lock, so instances starting together migrate once).
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> futures_core::future::BoxFuture<'static, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// SQLite or PostgreSQL behind one [`Store`].
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: &'static str,
}

impl SqlStore {
    /// Opens (creating the SQLite file and its directory if needed) and migrates.
    pub async fn connect(config: &StorageConfig) -> Result<SqlStore, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend, max) = match config {
            StorageConfig::Sqlite { path } => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                (sqlite_url(path), "sqlite", 4)
            }
            StorageConfig::Postgres { url, max_connections } => (url.expose().to_owned(), "postgres", *max_connections),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == "sqlite" {
                        // WAL: readers never block the writer; NORMAL sync is durable across process crashes.
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 2000",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options(&url)?)
            .await?;
        let migrations = if backend == "sqlite" { SQLITE_MIGRATIONS } else { POSTGRES_MIGRATIONS };
        Migrator::new(Embedded(migrations)).await?.run(&pool).await?;
        Ok(SqlStore { pool, backend })
    }

    /// Runs `body` in a transaction on a connection of its own. When anything fails, the connection is closed
    /// instead of going back to the pool: after a failed COMMIT (a full disk) SQLite and the driver can disagree
    /// on whether a transaction is still open, and a pooled connection left inside one would hold the write lock
    /// against every other writer.
    async fn in_tx<T>(
        &self,
        body: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let result = async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let out = body(&mut tx).await?;
            tx.commit().await?;
            Ok(out)
        }
        .await;
        if result.is_err() {
            conn.close_on_drop();
        }
        result
    }

    /// The connection pool (for tests and tools).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The URL's options, with sqlx's statement logging turned down: a locked database makes every retry "slow",
/// and the writer reports the fault itself, once.
fn connect_options(url: &str) -> Result<sqlx::any::AnyConnectOptions, StoreError> {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    Ok(sqlx::any::AnyConnectOptions::from_str(url)?
        .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1)))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

fn corrupt(table: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt { table, detail: detail.into() }
}

fn monitor_id(row: &AnyRow, col: &str, table: &'static str) -> Result<MonitorId, StoreError> {
    let s: String = row.try_get(col)?;
    MonitorId::parse(&s).ok_or_else(|| corrupt(table, format!("bad monitor id {s:?}")))
}

/// Short names for the phases every check has, so a stored check stays small: `c12 g30 e2 q1` is connect 12 ms,
/// greeting 30 ms, EHLO 2 ms, QUIT 1 ms. Names not in the table are stored as they are (`name=ms`).
const PHASE_CODES: [(&str, &str); 15] = [
    ("resolve", "n"),
    ("connect", "c"),
    ("greeting", "g"),
    ("ehlo", "e"),
    ("helo", "h"),
    ("starttls", "s"),
    ("tls_handshake", "t"),
    ("ehlo_tls", "E"),
    ("auth", "a"),
    ("mail_from", "m"),
    ("rcpt_to", "r"),
    ("data", "d"),
    ("message", "M"),
    ("rset", "R"),
    ("quit", "q"),
];

fn encode_phases(phases: &[PhaseTiming]) -> String {
    let mut out = String::with_capacity(phases.len() * 4);
    for (i, p) in phases.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match PHASE_CODES.iter().find(|(name, _)| *name == p.phase) {
            Some((_, code)) => out.push_str(code),
            None => {
                out.push_str(&p.phase);
                out.push('=');
            }
        }
        out.push_str(&p.ms.to_string());
    }
    out
}

fn decode_phases(s: &str) -> Vec<PhaseTiming> {
    s.split(' ')
        .filter_map(|p| {
            let (phase, ms) = match p.split_once('=') {
                Some((name, ms)) => (name.to_owned(), ms),
                None => {
                    let digits = p.find(|c: char| c.is_ascii_digit())?;
                    let code = &p[..digits];
                    let name = PHASE_CODES.iter().find(|(_, c)| *c == code)?.0;
                    (name.to_owned(), &p[digits..])
                }
            };
            Some(PhaseTiming { phase, ms: ms.parse().ok()? })
        })
        .collect()
}

fn decode_codes(s: &str) -> Vec<u16> {
    s.split(',').filter_map(|c| c.parse().ok()).collect()
}

fn encode_codes(codes: &[u16]) -> String {
    codes.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
}

fn result_from_row(row: &AnyRow) -> Result<CheckOutcome, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(CheckOutcome {
        monitor: monitor_id(row, "monitor_id", "check_results")?,
        at: Timestamp(row.try_get("at")?),
        status: Status::parse(&status).ok_or_else(|| corrupt("check_results", format!("status {status:?}")))?,
        cause: row.try_get("cause")?,
        recheck: row.try_get::<i64, _>("recheck")? != 0,
        response_ms: row.try_get::<Option<i64>, _>("response_ms")?.map(|v| v.clamp(0, u32::MAX.into()) as u32),
        total_ms: row.try_get::<i64, _>("total_ms")?.clamp(0, u32::MAX.into()) as u32,
        phases: decode_phases(&row.try_get::<String, _>("phases")?),
        tls_version: row.try_get("tls_version")?,
        cert_days_left: row.try_get("cert_days_left")?,
        reply_codes: decode_codes(&row.try_get::<String, _>("reply_codes")?),
        summary: row.try_get("summary")?,
        server_text: row.try_get("server_text")?,
        delivery_ms: row.try_get::<Option<i64>, _>("delivery_ms")?.map(|v| v.clamp(0, u32::MAX.into()) as u32),
        junk: row.try_get::<Option<i64>, _>("junk")?.map(|v| v != 0),
        published: None,
    })
}

fn rollup_from_row(row: &AnyRow) -> Result<RollupDelta, StoreError> {
    let hist: Vec<u8> = row.try_get("histogram")?;
    Ok(RollupDelta {
        counts: StatusCounts {
            up: row.try_get("up")?,
            degraded: row.try_get("degraded")?,
            down: row.try_get("down")?,
            unknown: row.try_get("unknown")?,
        },
        time: StateTime {
            up_ms: row.try_get("up_ms")?,
            degraded_ms: row.try_get("degraded_ms")?,
            down_ms: row.try_get("down_ms")?,
            unknown_ms: row.try_get("unknown_ms")?,
            maintenance_ms: row.try_get("maintenance_ms")?,
        },
        latency: Histogram::decode(&hist).map_err(|e| corrupt("rollups_hourly", e.to_string()))?,
        delivery: DeliveryCounts {
            delivered: row.try_get("delivered")?,
            junk: row.try_get("junk")?,
            latency: Histogram::decode(&row.try_get::<Vec<u8>, _>("delivery_histogram")?)
                .map_err(|e| corrupt("rollups_hourly", e.to_string()))?,
        },
    })
}

fn delivery_from_row(r: &AnyRow) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        outbox_id: r.try_get("outbox_id")?,
        channel: r.try_get("channel")?,
        attempt: r.try_get("attempt")?,
        at: Timestamp(r.try_get("at")?),
        status: r.try_get("status")?,
        detail: r.try_get("detail")?,
    })
}

fn state_from_str(s: &str) -> Option<State> {
    Some(match s {
        "up" => State::Up,
        "pending" => State::Pending,
        "degraded" => State::Degraded,
        "down" => State::Down,
        "flapping" => State::Flapping,
        "unknown" => State::Unknown,
        _ => return None,
    })
}

/// Monitors per `IN (...)` list: few statements, and far below either database's limit on parameters.
const IN_CHUNK: usize = 500;

/// `$first, $first+1, ...`: `n` numbered parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

const ROLLUP_COLUMNS: &str = "up, degraded, down, unknown, up_ms, degraded_ms, down_ms, unknown_ms, maintenance_ms, \
     histogram, delivered, junk, delivery_histogram";

#[async_trait::async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn shared(&self) -> bool {
        self.backend == "postgres"
    }

    async fn write(&self, batch: &Batch, instance: &str) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.in_tx(async |tx| {
        let now = Timestamp::now().0;
        for m in &batch.monitors {
            sqlx::query(
                "INSERT INTO monitors (id, name, target, tags, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, target = excluded.target, \
                 tags = excluded.tags, updated_at = excluded.updated_at",
            )
            .bind(m.id.as_str())
            .bind(&m.name)
            .bind(&m.target)
            .bind(m.tags.join(","))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for (c, maintenance) in &batch.checks {
            sqlx::query(
                "INSERT INTO check_results (monitor_id, at, status, cause, recheck, maintenance, response_ms, total_ms, \
                 phases, tls_version, cert_days_left, reply_codes, summary, server_text, delivery_ms, junk) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                 ON CONFLICT (monitor_id, at) DO NOTHING",
            )
            .bind(c.monitor.as_str())
            .bind(c.at.0)
            .bind(c.status.as_str())
            .bind(c.cause.as_deref())
            .bind(b(c.recheck))
            .bind(b(*maintenance))
            .bind(c.response_ms.map(i64::from))
            .bind(i64::from(c.total_ms))
            .bind(encode_phases(&c.phases))
            .bind(c.tls_version.as_deref())
            .bind(c.cert_days_left)
            .bind(encode_codes(&c.reply_codes))
            .bind(&c.summary)
            // The server's words matter when something is wrong; an up check's greeting would repeat on every row.
            .bind(c.server_text.as_deref().filter(|_| c.status != Status::Up))
            .bind(c.delivery_ms.map(i64::from))
            .bind(c.junk.map(b))
            .execute(&mut *tx)
            .await?;
        }
        // Rollups: read, merge, write back (the histogram does not merge in SQL). Only the lease holder writes a
        // monitor's rollups, so there is one writer per row.
        let mut keys: Vec<_> = batch.rollups.keys().collect();
        keys.sort();
        for key in keys {
            let (id, hour) = key;
            let delta = &batch.rollups[key];
            let existing = sqlx::query(&format!(
                "SELECT {ROLLUP_COLUMNS} FROM rollups_hourly WHERE monitor_id = $1 AND hour = $2"
            ))
            .bind(id.as_str())
            .bind(hour.0)
            .fetch_optional(&mut *tx)
            .await?;
            let mut merged = match existing {
                Some(row) => rollup_from_row(&row)?,
                None => RollupDelta::default(),
            };
            merged.merge(delta);
            sqlx::query(&format!(
                "INSERT INTO rollups_hourly (monitor_id, hour, {ROLLUP_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (monitor_id, hour) DO UPDATE SET up = excluded.up, degraded = excluded.degraded, \
                 down = excluded.down, unknown = excluded.unknown, up_ms = excluded.up_ms, \
                 degraded_ms = excluded.degraded_ms, down_ms = excluded.down_ms, unknown_ms = excluded.unknown_ms, \
                 maintenance_ms = excluded.maintenance_ms, histogram = excluded.histogram, \
                 delivered = excluded.delivered, junk = excluded.junk, \
                 delivery_histogram = excluded.delivery_histogram"
            ))
            .bind(id.as_str())
            .bind(hour.0)
            .bind(merged.counts.up)
            .bind(merged.counts.degraded)
            .bind(merged.counts.down)
            .bind(merged.counts.unknown)
            .bind(merged.time.up_ms)
            .bind(merged.time.degraded_ms)
            .bind(merged.time.down_ms)
            .bind(merged.time.unknown_ms)
            .bind(merged.time.maintenance_ms)
            .bind(merged.latency.encode())
            .bind(merged.delivery.delivered)
            .bind(merged.delivery.junk)
            .bind(merged.delivery.latency.encode())
            .execute(&mut *tx)
            .await?;
        }
        for t in &batch.transitions {
            let id = t.monitor.as_str();
            for change in &t.incidents {
                match change {
                    IncidentChange::Open(o) => {
                        // ON CONFLICT without a target also covers the one-open-per-monitor index: an incident
                        // another instance already wrote wins, and this one is not duplicated.
                        sqlx::query(
                            "INSERT INTO incidents (monitor_id, started_at, ended_at, severity, flapping, cause, \
                             server_text, reminders, opened_by) VALUES ($1, $2, NULL, $3, $4, $5, $6, 0, $7) \
                             ON CONFLICT DO NOTHING",
                        )
                        .bind(id)
                        .bind(o.started.0)
                        .bind(o.severity.as_str())
                        .bind(b(o.flapping))
                        .bind(o.cause.as_deref())
                        .bind(o.server_text.as_deref())
                        .bind(instance)
                        .execute(&mut *tx)
                        .await?;
                    }
                    IncidentChange::Update(o) => {
                        sqlx::query(
                            "UPDATE incidents SET severity = $3, flapping = $4, cause = $5, server_text = $6 \
                             WHERE monitor_id = $1 AND started_at = $2",
                        )
                        .bind(id)
                        .bind(o.started.0)
                        .bind(o.severity.as_str())
                        .bind(b(o.flapping))
                        .bind(o.cause.as_deref())
                        .bind(o.server_text.as_deref())
                        .execute(&mut *tx)
                        .await?;
                    }
                    IncidentChange::Close { started, ended } => {
                        sqlx::query(
                            "UPDATE incidents SET ended_at = $3 WHERE monitor_id = $1 AND started_at = $2 \
                             AND ended_at IS NULL",
                        )
                        .bind(id)
                        .bind(started.0)
                        .bind(ended.0)
                        .execute(&mut *tx)
                        .await?;
                    }
                    IncidentChange::Notified { started, notified } => {
                        sqlx::query(
                            "UPDATE incidents SET notified_severity = $3, notified_at = $4, reminders = $5 \
                             WHERE monitor_id = $1 AND started_at = $2",
                        )
                        .bind(id)
                        .bind(started.0)
                        .bind(notified.map(|n| n.severity.as_str()))
                        .bind(notified.map(|n| n.last_at.0))
                        .bind(notified.map_or(0, |n| i64::from(n.reminders)))
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            for entry in &t.alerts {
                let payload = serde_json::to_string(&entry.alert).expect("alerts serialize");
                sqlx::query(
                    "INSERT INTO alert_outbox (dedup_key, monitor_id, kind, created_at, channels, payload, status, \
                     attempts, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $4) \
                     ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(&entry.alert.dedup_key)
                .bind(entry.alert.monitor.as_ref().map(MonitorId::as_str))
                .bind(entry.alert.kind.as_str())
                .bind(entry.alert.at.0)
                .bind(entry.channels.join(","))
                .bind(payload)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(state) = t.state {
                sqlx::query(
                    "INSERT INTO state_intervals (monitor_id, started_at, state) VALUES ($1, $2, $3) \
                     ON CONFLICT (monitor_id, started_at) DO UPDATE SET state = excluded.state",
                )
                .bind(id)
                .bind(t.at.0)
                .bind(state.as_str())
                .execute(&mut *tx)
                .await?;
            }
            if let Some(threshold) = t.cert_threshold {
                sqlx::query(
                    "INSERT INTO alert_state (monitor_id, cert_threshold) VALUES ($1, $2) \
                     ON CONFLICT (monitor_id) DO UPDATE SET cert_threshold = excluded.cert_threshold",
                )
                .bind(id)
                .bind(threshold.map(i64::from))
                .execute(&mut *tx)
                .await?;
            }
            if let Some(published) = &t.published {
                let json = serde_json::to_string(published).map_err(|e| corrupt("alert_state", e.to_string()))?;
                sqlx::query(
                    "INSERT INTO alert_state (monitor_id, published) VALUES ($1, $2) \
                     ON CONFLICT (monitor_id) DO UPDATE SET published = excluded.published",
                )
                .bind(id)
                .bind(json)
                .execute(&mut *tx)
                .await?;
            }
            match &t.maintenance {
                Some(Some(name)) => {
                    // One window ends where the next begins (a replay of the same start changes nothing).
                    sqlx::query(
                        "UPDATE maintenance_marks SET ended_at = $2 WHERE monitor_id = $1 AND ended_at IS NULL \
                         AND started_at <> $2",
                    )
                    .bind(id)
                    .bind(t.at.0)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO maintenance_marks (monitor_id, started_at, ended_at, window_name) \
                         VALUES ($1, $2, NULL, $3) ON CONFLICT DO NOTHING",
                    )
                    .bind(id)
                    .bind(t.at.0)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
                Some(None) => {
                    sqlx::query(
                        "UPDATE maintenance_marks SET ended_at = $2 WHERE monitor_id = $1 AND ended_at IS NULL",
                    )
                    .bind(id)
                    .bind(t.at.0)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {}
            }
        }
        Ok(())
        })
        .await
    }

    async fn resume_state(&self) -> Result<ResumeState, StoreError> {
        let mut state = ResumeState::default();
        let rows = sqlx::query(
            "SELECT monitor_id, started_at, severity, flapping, cause, server_text, notified_severity, notified_at, \
             reminders, ended_at FROM incidents WHERE ended_at IS NULL OR notified_severity IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in rows {
            let id = monitor_id(&row, "monitor_id", "incidents")?;
            let started = Timestamp(row.try_get("started_at")?);
            let sev: String = row.try_get("severity")?;
            let severity = Severity::parse(&sev).ok_or_else(|| corrupt("incidents", format!("severity {sev:?}")))?;
            if row.try_get::<Option<i64>, _>("ended_at")?.is_none() {
                state.open.insert(
                    id.clone(),
                    OpenIncident {
                        started,
                        severity,
                        cause: row.try_get("cause")?,
                        server_text: row.try_get("server_text")?,
                        flapping: row.try_get::<i64, _>("flapping")? != 0,
                    },
                );
            }
            if let Some(ns) = row.try_get::<Option<String>, _>("notified_severity")? {
                let severity = Severity::parse(&ns).ok_or_else(|| corrupt("incidents", format!("severity {ns:?}")))?;
                state.notified.insert(
                    id,
                    Notified {
                        started,
                        severity,
                        last_at: Timestamp(row.try_get::<Option<i64>, _>("notified_at")?.unwrap_or(started.0)),
                        reminders: row.try_get::<i64, _>("reminders")?.clamp(0, u32::MAX.into()) as u32,
                    },
                );
            }
        }
        for row in sqlx::query("SELECT monitor_id, cert_threshold FROM alert_state WHERE cert_threshold IS NOT NULL")
            .fetch_all(&self.pool)
            .await?
        {
            let t: i64 = row.try_get("cert_threshold")?;
            state
                .cert_threshold
                .insert(monitor_id(&row, "monitor_id", "alert_state")?, t.clamp(0, u32::MAX.into()) as u32);
        }
        for row in sqlx::query("SELECT monitor_id, published FROM alert_state WHERE published IS NOT NULL")
            .fetch_all(&self.pool)
            .await?
        {
            let id = monitor_id(&row, "monitor_id", "alert_state")?;
            let json: String = row.try_get("published")?;
            // A memory that does not read back only costs the next change's alert: the monitor starts over from
            // what it sees next, instead of refusing to start.
            match serde_json::from_str(&json) {
                Ok(published) => {
                    state.published.insert(id, published);
                }
                Err(e) => {
                    tracing::warn!(monitor = %id, "unreadable memory of what the domain published, starting over: {e}")
                }
            }
        }
        for row in sqlx::query("SELECT monitor_id, started_at FROM maintenance_marks WHERE ended_at IS NULL")
            .fetch_all(&self.pool)
            .await?
        {
            state
                .maintenance
                .insert(monitor_id(&row, "monitor_id", "maintenance_marks")?, Timestamp(row.try_get("started_at")?));
        }
        for row in sqlx::query(
            "SELECT s.monitor_id, s.started_at, s.state FROM state_intervals s JOIN \
             (SELECT monitor_id, MAX(started_at) AS m FROM state_intervals GROUP BY monitor_id) x \
             ON s.monitor_id = x.monitor_id AND s.started_at = x.m",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let s: String = row.try_get("state")?;
            let st = state_from_str(&s).ok_or_else(|| corrupt("state_intervals", format!("state {s:?}")))?;
            state.last_state.insert(
                monitor_id(&row, "monitor_id", "state_intervals")?,
                (Timestamp(row.try_get("started_at")?), st),
            );
        }
        Ok(state)
    }

    async fn results(
        &self,
        monitor: &MonitorId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<CheckOutcome>, StoreError> {
        let rows = sqlx::query(
            "SELECT monitor_id, at, status, cause, recheck, response_ms, total_ms, phases, tls_version, \
             cert_days_left, reply_codes, summary, server_text, delivery_ms, junk FROM check_results \
             WHERE monitor_id = $1 AND at < $2 ORDER BY at DESC LIMIT $3",
        )
        .bind(monitor.as_str())
        .bind(before.map_or(i64::MAX, |t| t.0))
        .bind(i64::from(limit.min(10_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(result_from_row).collect()
    }

    async fn incidents(
        &self,
        monitor: Option<&MonitorId>,
        before: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let columns = "monitor_id, started_at, ended_at, severity, flapping, cause, server_text, acknowledged_at, \
                       acknowledged_by, notified_severity, notified_at, reminders";
        let before = before.map_or(i64::MAX, |t| t.0);
        let limit = i64::from(limit.min(10_000));
        let rows = match monitor {
            Some(m) => sqlx::query(&format!(
                "SELECT {columns} FROM incidents WHERE monitor_id = $1 AND started_at < $2 ORDER BY started_at DESC LIMIT $3"
            ))
            .bind(m.as_str())
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?,
            None => sqlx::query(&format!(
                "SELECT {columns} FROM incidents WHERE started_at < $1 ORDER BY started_at DESC LIMIT $2"
            ))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?,
        };
        rows.iter()
            .map(|row| {
                let started = Timestamp(row.try_get("started_at")?);
                let ack_at: Option<i64> = row.try_get("acknowledged_at")?;
                let ack_by: Option<String> = row.try_get("acknowledged_by")?;
                let notified = match row.try_get::<Option<String>, _>("notified_severity")? {
                    Some(s) => Severity::parse(&s).map(|severity| Notified {
                        started,
                        severity,
                        last_at: Timestamp(
                            row.try_get::<Option<i64>, _>("notified_at").ok().flatten().unwrap_or(started.0),
                        ),
                        reminders: row.try_get::<i64, _>("reminders").unwrap_or(0).clamp(0, u32::MAX.into()) as u32,
                    }),
                    None => None,
                };
                Ok(IncidentRecord {
                    monitor: monitor_id(row, "monitor_id", "incidents")?,
                    started,
                    ended: row.try_get::<Option<i64>, _>("ended_at")?.map(Timestamp),
                    severity: row.try_get("severity")?,
                    flapping: row.try_get::<i64, _>("flapping")? != 0,
                    cause: row.try_get("cause")?,
                    server_text: row.try_get("server_text")?,
                    acknowledged: ack_at.map(|a| (Timestamp(a), ack_by.unwrap_or_default())),
                    notified,
                })
            })
            .collect()
    }

    async fn rollups(&self, monitor: &MonitorId, from: Timestamp, to: Timestamp) -> Result<Vec<RollupRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT hour, {ROLLUP_COLUMNS} FROM rollups_hourly WHERE monitor_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour"
        ))
        .bind(monitor.as_str())
        .bind(from.0)
        .bind(to.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RollupRow {
                    monitor: monitor.clone(),
                    hour: Timestamp(row.try_get("hour")?),
                    delta: rollup_from_row(row)?,
                })
            })
            .collect()
    }

    async fn rollups_of(
        &self,
        monitors: &[MonitorId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RollupRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in monitors.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT monitor_id, hour, {ROLLUP_COLUMNS} FROM rollups_hourly \
                 WHERE monitor_id IN ({}) AND hour >= $1 AND hour < $2",
                placeholders(3, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(from.0).bind(to.0);
            for m in chunk {
                q = q.bind(m.as_str());
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(RollupRow {
                    monitor: monitor_id(&row, "monitor_id", "rollups_hourly")?,
                    hour: Timestamp(row.try_get("hour")?),
                    delta: rollup_from_row(&row)?,
                });
            }
        }
        Ok(out)
    }

    async fn daily_time(
        &self,
        monitors: &[MonitorId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DailyTime>, StoreError> {
        let mut out = Vec::new();
        for chunk in monitors.chunks(IN_CHUNK) {
            // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back, so both databases answer integers.
            let sql = format!(
                "SELECT monitor_id, hour / {DAY_MS} AS day, CAST(SUM(up_ms) AS BIGINT) AS up_ms, \
                 CAST(SUM(degraded_ms) AS BIGINT) AS degraded_ms, CAST(SUM(down_ms) AS BIGINT) AS down_ms, \
                 CAST(SUM(unknown_ms) AS BIGINT) AS unknown_ms, CAST(SUM(maintenance_ms) AS BIGINT) AS maintenance_ms \
                 FROM rollups_hourly WHERE monitor_id IN ({}) AND hour >= $1 AND hour < $2 \
                 GROUP BY monitor_id, hour / {DAY_MS}",
                placeholders(3, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(from.0).bind(to.0);
            for m in chunk {
                q = q.bind(m.as_str());
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(DailyTime {
                    monitor: monitor_id(&row, "monitor_id", "rollups_hourly")?,
                    day: Timestamp(row.try_get::<i64, _>("day")? * DAY_MS),
                    time: StateTime {
                        up_ms: row.try_get("up_ms")?,
                        degraded_ms: row.try_get("degraded_ms")?,
                        down_ms: row.try_get("down_ms")?,
                        unknown_ms: row.try_get("unknown_ms")?,
                        maintenance_ms: row.try_get("maintenance_ms")?,
                    },
                });
            }
        }
        Ok(out)
    }

    async fn acknowledge(
        &self,
        monitor: &MonitorId,
        started: Timestamp,
        by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let r = sqlx::query(
            "UPDATE incidents SET acknowledged_at = $3, acknowledged_by = $4 WHERE monitor_id = $1 AND started_at = $2",
        )
        .bind(monitor.as_str())
        .bind(started.0)
        .bind(at.0)
        .bind(by)
        .execute(&mut *tx)
        .await?;
            Ok(r.rows_affected() > 0)
        })
        .await
    }

    async fn claim_alerts(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedAlert>, StoreError> {
        self.in_tx(async |tx| {
            // The outer WHERE repeats the claim condition: on PostgreSQL a row another claimer locked first is
            // re-checked after its commit and skipped, so each row goes to one sender.
            let rows = sqlx::query(
                "UPDATE alert_outbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM alert_outbox WHERE done_at IS NULL AND next_attempt_at <= $3 \
                          AND (claimed_until IS NULL OR claimed_until < $3) ORDER BY id LIMIT $4) \
               AND done_at IS NULL AND (claimed_until IS NULL OR claimed_until < $3) \
             RETURNING id, payload, channels, attempts",
            )
            .bind(owner)
            .bind(until.0)
            .bind(now.0)
            .bind(i64::from(limit.min(1000)))
            .fetch_all(&mut *tx)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let payload: String = row.try_get("payload")?;
                let alert: Alert =
                    serde_json::from_str(&payload).map_err(|e| corrupt("alert_outbox", e.to_string()))?;
                let channels: String = row.try_get("channels")?;
                out.push(ClaimedAlert {
                    id: row.try_get("id")?,
                    alert,
                    channels: channels.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
                    attempts: row.try_get::<i64, _>("attempts")? - 1,
                });
            }
            out.sort_by_key(|c| c.id);
            Ok(out)
        })
        .await
    }

    async fn record_delivery(&self, d: &DeliveryRecord) -> Result<(), StoreError> {
        self.in_tx(async |tx| {
        sqlx::query(
            "INSERT INTO alert_deliveries (outbox_id, channel, attempt, at, status, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(d.outbox_id)
        .bind(&d.channel)
        .bind(d.attempt)
        .bind(d.at.0)
        .bind(&d.status)
        .bind(d.detail.as_deref())
        .execute(&mut *tx)
        .await?;
        Ok(())
        })
        .await
    }

    async fn finish_alert(
        &self,
        id: i64,
        status: &str,
        at: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.in_tx(async |tx| {
        match retry_at {
            Some(retry) => {
                sqlx::query(
                    "UPDATE alert_outbox SET status = $2, next_attempt_at = $3, claimed_by = NULL, claimed_until = NULL \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(status)
                .bind(retry.0)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("UPDATE alert_outbox SET status = $2, done_at = $3, claimed_until = NULL WHERE id = $1")
                    .bind(id)
                    .bind(status)
                    .bind(at.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(())
        })
        .await
    }

    async fn renew_claims(&self, owner: &str, ids: &[i64], until: Timestamp) -> Result<(), StoreError> {
        self.in_tx(async |tx| {
        // In chunks: one statement per 500 rows keeps the parameter list well under both databases' limits.
        for chunk in ids.chunks(500) {
            let list = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "UPDATE alert_outbox SET claimed_until = $2 WHERE claimed_by = $1 AND done_at IS NULL AND id IN ({list})"
            );
            let mut q = sqlx::query(&sql).bind(owner).bind(until.0);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&mut *tx).await?;
        }
        Ok(())
        })
        .await
    }

    async fn release_claims(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        self.in_tx(async |tx| {
            let r = match owner {
                Some(o) => {
                    sqlx::query(
                        "UPDATE alert_outbox SET claimed_by = NULL, claimed_until = NULL \
                     WHERE done_at IS NULL AND claimed_by = $1",
                    )
                    .bind(o)
                    .execute(&mut *tx)
                    .await?
                }
                None => {
                    sqlx::query(
                        "UPDATE alert_outbox SET claimed_by = NULL, claimed_until = NULL \
                     WHERE done_at IS NULL AND claimed_until IS NOT NULL",
                    )
                    .execute(&mut *tx)
                    .await?
                }
            };
            Ok(r.rows_affected())
        })
        .await
    }

    async fn alerts(&self, query: &AlertQuery, limit: u32) -> Result<Vec<OutboxRecord>, StoreError> {
        let mut sql = String::from(
            "SELECT id, payload, channels, status, attempts, next_attempt_at, done_at FROM alert_outbox WHERE id < $1",
        );
        if query.open_only {
            sql.push_str(" AND done_at IS NULL");
        }
        if query.monitor.is_some() {
            sql.push_str(" AND monitor_id = $3");
        }
        sql.push_str(" ORDER BY id DESC LIMIT $2");
        let mut q = sqlx::query(&sql).bind(query.before_id.unwrap_or(i64::MAX)).bind(i64::from(limit.min(10_000)));
        if let Some(m) = &query.monitor {
            q = q.bind(m.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                let alert: Alert =
                    serde_json::from_str(&payload).map_err(|e| corrupt("alert_outbox", e.to_string()))?;
                let channels: String = row.try_get("channels")?;
                let done_at = row.try_get::<Option<i64>, _>("done_at")?.map(Timestamp);
                Ok(OutboxRecord {
                    id: row.try_get("id")?,
                    alert,
                    channels: channels.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    next_attempt_at: if done_at.is_none() {
                        Some(Timestamp(row.try_get("next_attempt_at")?))
                    } else {
                        None
                    },
                    done_at,
                })
            })
            .collect()
    }

    async fn deliveries_of(&self, outbox_id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT outbox_id, channel, attempt, at, status, detail FROM alert_deliveries WHERE outbox_id = $1 \
             ORDER BY id",
        )
        .bind(outbox_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn maintenance_marks(
        &self,
        monitor: Option<&MonitorId>,
        limit: u32,
    ) -> Result<Vec<MaintenanceMark>, StoreError> {
        let limit = i64::from(limit.min(10_000));
        let columns = "monitor_id, started_at, ended_at, window_name";
        let rows =
            match monitor {
                Some(m) => sqlx::query(&format!(
                    "SELECT {columns} FROM maintenance_marks WHERE monitor_id = $1 ORDER BY started_at DESC LIMIT $2"
                ))
                .bind(m.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?,
                None => {
                    sqlx::query(&format!("SELECT {columns} FROM maintenance_marks ORDER BY started_at DESC LIMIT $1"))
                        .bind(limit)
                        .fetch_all(&self.pool)
                        .await?
                }
            };
        rows.iter()
            .map(|r| {
                Ok(MaintenanceMark {
                    monitor: monitor_id(r, "monitor_id", "maintenance_marks")?,
                    window: r.try_get("window_name")?,
                    started: Timestamp(r.try_get("started_at")?),
                    ended: r.try_get::<Option<i64>, _>("ended_at")?.map(Timestamp),
                })
            })
            .collect()
    }

    async fn outbox_summary(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, status, COUNT(*) AS n FROM alert_outbox GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("kind")?, r.try_get("status")?, r.try_get("n")?))).collect()
    }

    async fn deliveries(&self, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT outbox_id, channel, attempt, at, status, detail FROM alert_deliveries ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit.min(10_000)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn acquire_leases(
        &self,
        owner: &str,
        wanted: &[MonitorId],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<MonitorId>, StoreError> {
        self.in_tx(async |tx| {
            // Renew everything this owner holds in one statement; then try only the leases that are free or expired.
            sqlx::query("UPDATE leases SET expires_at = $2 WHERE owner = $1 AND expires_at >= $3")
                .bind(owner)
                .bind(until.0)
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
            let mut held_elsewhere = std::collections::HashSet::new();
            let mut mine = std::collections::HashSet::new();
            for row in sqlx::query("SELECT monitor_id, owner FROM leases WHERE expires_at >= $1")
                .bind(now.0)
                .fetch_all(&mut *tx)
                .await?
            {
                let id: String = row.try_get("monitor_id")?;
                let o: String = row.try_get("owner")?;
                if o == owner {
                    mine.insert(id);
                } else {
                    held_elsewhere.insert(id);
                }
            }
            for id in wanted {
                if mine.contains(id.as_str()) || held_elsewhere.contains(id.as_str()) {
                    continue;
                }
                let r = sqlx::query(
                    "INSERT INTO leases (monitor_id, owner, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (monitor_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
                 WHERE leases.owner = excluded.owner OR leases.expires_at < $4",
                )
                .bind(id.as_str())
                .bind(owner)
                .bind(until.0)
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() > 0 {
                    mine.insert(id.as_str().to_owned());
                }
            }
            let mut out: Vec<MonitorId> = wanted.iter().filter(|id| mine.contains(id.as_str())).cloned().collect();
            out.sort();
            Ok(out)
        })
        .await
    }

    async fn release_leases(&self, owner: &str) -> Result<(), StoreError> {
        self.in_tx(async |tx| {
            sqlx::query("DELETE FROM leases WHERE owner = $1").bind(owner).execute(&mut *tx).await?;
            Ok(())
        })
        .await
    }

    async fn prune_results(&self, monitor: &MonitorId, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.in_tx(async |tx| {
            let r = sqlx::query(
                "DELETE FROM check_results WHERE monitor_id = $1 AND at IN \
             (SELECT at FROM check_results WHERE monitor_id = $1 AND at < $2 ORDER BY at LIMIT $3)",
            )
            .bind(monitor.as_str())
            .bind(before.0)
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await?;
            Ok(r.rows_affected())
        })
        .await
    }

    async fn prune_old(&self, rollups_before: Timestamp, alerts_before: Timestamp) -> Result<u64, StoreError> {
        let mut n = 0;
        let statements: [(&str, i64); 6] = [
            ("DELETE FROM rollups_hourly WHERE hour < $1", rollups_before.0),
            ("DELETE FROM state_intervals WHERE started_at < $1", rollups_before.0),
            ("DELETE FROM incidents WHERE ended_at IS NOT NULL AND ended_at < $1", rollups_before.0),
            ("DELETE FROM maintenance_marks WHERE ended_at IS NOT NULL AND ended_at < $1", rollups_before.0),
            (
                "DELETE FROM alert_deliveries WHERE outbox_id IN (SELECT id FROM alert_outbox WHERE done_at IS NOT NULL AND done_at < $1)",
                alerts_before.0,
            ),
            ("DELETE FROM alert_outbox WHERE done_at IS NOT NULL AND done_at < $1", alerts_before.0),
        ];
        for (sql, t) in statements {
            // One transaction per statement: short locks, and a failure rolls back cleanly.
            n += self.in_tx(async |tx| Ok(sqlx::query(sql).bind(t).execute(&mut *tx).await?.rows_affected())).await?;
        }
        Ok(n)
    }

    async fn monitors(&self) -> Result<Vec<MonitorRow>, StoreError> {
        let rows = sqlx::query("SELECT id, name, target, tags FROM monitors ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let tags: String = r.try_get("tags")?;
                Ok(MonitorRow {
                    id: monitor_id(r, "id", "monitors")?,
                    name: r.try_get("name")?,
                    target: r.try_get("target")?,
                    tags: tags.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
                })
            })
            .collect()
    }

    async fn integrity_check(&self) -> Result<bool, StoreError> {
        if self.backend == "sqlite" {
            let row = sqlx::query("PRAGMA integrity_check").fetch_one(&self.pool).await?;
            let s: String = row.try_get(0)?;
            Ok(s == "ok")
        } else {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_compactly() {
        let phases: Vec<PhaseTiming> =
            ["connect", "greeting", "ehlo", "starttls", "tls_handshake", "ehlo_tls", "quit", "x_new"]
                .iter()
                .enumerate()
                .map(|(i, p)| PhaseTiming { phase: (*p).into(), ms: i as u32 * 11 })
                .collect();
        let text = encode_phases(&phases);
        assert_eq!(text, "c0 g11 e22 s33 t44 E55 q66 x_new=77");
        assert_eq!(decode_phases(&text), phases);
        assert!(decode_phases("zz9 c").is_empty(), "unknown codes and garbage are skipped");
        assert_eq!(decode_codes(&encode_codes(&[220, 250, 221])), [220, 250, 221]);
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_upgrades_and_keeps_its_rollups() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitor.db");
        let mut old = Histogram::new();
        old.record(42);
        {
            let url = sqlite_url(&path);
            let pool =
                AnyPoolOptions::new().max_connections(1).connect_with(connect_options(&url).unwrap()).await.unwrap();
            Migrator::new(Embedded(&SQLITE_MIGRATIONS[..1])).await.unwrap().run(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO rollups_hourly (monitor_id, hour, up, degraded, down, unknown, up_ms, degraded_ms, \
                 down_ms, unknown_ms, maintenance_ms, histogram) VALUES ('mx', 0, 1, 0, 0, 0, 60000, 0, 0, 0, 0, $1)",
            )
            .bind(old.encode())
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let store = SqlStore::connect(&StorageConfig::Sqlite { path }).await.unwrap();
        let id = MonitorId::from_name("mx").unwrap();
        let rows = store.rollups(&id, Timestamp(0), Timestamp(1)).await.unwrap();
        assert_eq!((rows[0].delta.counts.up, &rows[0].delta.latency), (1, &old));
        assert_eq!(rows[0].delta.delivery, DeliveryCounts::default(), "no round trips before the upgrade");

        // A round trip's hour merges into the upgraded row.
        let mut delta = RollupDelta::default();
        delta.counts.add(Status::Degraded);
        delta.delivery.record(1500, true);
        let batch = Batch { rollups: [((id.clone(), Timestamp(0)), delta)].into_iter().collect(), ..Batch::default() };
        store.write(&batch, "test").await.unwrap();
        let row = &store.rollups(&id, Timestamp(0), Timestamp(1)).await.unwrap()[0].delta;
        assert_eq!((row.counts.up, row.counts.degraded, row.latency.count()), (1, 1, 1));
        assert_eq!((row.delivery.delivered, row.delivery.junk, row.delivery.latency.max()), (1, 1, Some(1500)));
    }
}
