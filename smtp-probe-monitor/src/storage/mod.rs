//! History, incidents, the alert outbox and leases: one [`Store`] trait, implemented by [`SqlStore`] for SQLite
//! (embedded, the default) and PostgreSQL, with one schema and migrations for both in `migrations/`.
//!
//! Writes go through the [`writer`] task in batches, each batch one transaction, so a check never waits on the
//! disk and a state change is stored together with the alerts it caused. Reads (the HTTP side, figures) go to
//! the store directly.

mod sql;
pub mod writer;

use std::collections::HashMap;

use crate::alert::{Alert, Notified};
use crate::check::{CheckOutcome, Status};
use crate::clock::Timestamp;
use crate::histogram::Histogram;
use crate::id::MonitorId;
use crate::incident::{OpenIncident, State};
use crate::published::Published;
use crate::uptime::StateTime;

pub use sql::SqlStore;

/// A storage failure. The engine records it as a health state and retries; it never stops checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database said no, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value was not one this crate writes.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// Which table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The data directory could not be created.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether retrying later may succeed (a locked database, a full disk, a lost connection) rather than a bug
    /// or corrupt data.
    pub fn is_transient(&self) -> bool {
        !matches!(self, StoreError::Corrupt { .. })
    }
}

/// A monitor as registered in storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorRow {
    /// Its id.
    pub id: MonitorId,
    /// Its name now.
    pub name: String,
    /// Its target as people read it.
    pub target: String,
    /// Its tags.
    pub tags: Vec<String>,
}

/// A change to the incident table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentChange {
    /// A new incident (ignored when the same incident, or another open one, already exists: whichever instance
    /// saw it first wrote it).
    Open(OpenIncident),
    /// Severity, cause, text or flapping changed.
    Update(OpenIncident),
    /// It recovered.
    Close {
        /// Which incident.
        started: Timestamp,
        /// When.
        ended: Timestamp,
    },
    /// What people were told about it changed (`None` once "recovered" is queued).
    Notified {
        /// Which incident.
        started: Timestamp,
        /// The new memory.
        notified: Option<Notified>,
    },
}

/// An alert with the channels it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The alert.
    pub alert: Alert,
    /// Channel names.
    pub channels: Vec<String>,
}

/// Everything one judged check changed besides its own row, written atomically with its alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Which monitor.
    pub monitor: MonitorId,
    /// When.
    pub at: Timestamp,
    /// Incident changes, in order.
    pub incidents: Vec<IncidentChange>,
    /// Alerts to queue.
    pub alerts: Vec<OutboxEntry>,
    /// The monitor entered this state at `at`.
    pub state: Option<State>,
    /// The lowest certificate threshold announced changed.
    pub cert_threshold: Option<Option<u32>>,
    /// What a domain monitor's domain published, as remembered for policy-change alerts, changed.
    pub published: Option<Box<Published>>,
    /// A maintenance window began (`Some(name)`) or ended (`None`) at `at`.
    pub maintenance: Option<Option<String>>,
}

/// What to add to one monitor's hourly rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RollupDelta {
    /// Checks per status.
    pub counts: StatusCounts,
    /// Time per state.
    pub time: StateTime,
    /// Response times.
    pub latency: Histogram,
    /// Round trips' deliveries.
    pub delivery: DeliveryCounts,
}

/// What round trips delivered in an hour: zero for other check kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Messages that arrived (in the inbox or the junk folder).
    pub delivered: i64,
    /// Of those, the ones in the junk folder.
    pub junk: i64,
    /// Their delivery latencies (accepted to visible), ms.
    pub latency: Histogram,
}

impl DeliveryCounts {
    /// Counts one arrival.
    pub fn record(&mut self, ms: u32, junk: bool) {
        self.delivered += 1;
        self.junk += i64::from(junk);
        self.latency.record(ms);
    }

    /// Adds another hour's counts.
    pub fn merge(&mut self, o: &DeliveryCounts) {
        self.delivered += o.delivered;
        self.junk += o.junk;
        self.latency.merge(&o.latency);
    }
}

/// Checks per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    /// Up.
    pub up: i64,
    /// Degraded.
    pub degraded: i64,
    /// Down.
    pub down: i64,
    /// Unknown.
    pub unknown: i64,
}

impl StatusCounts {
    /// Counts one check.
    pub fn add(&mut self, s: Status) {
        match s {
            Status::Up => self.up += 1,
            Status::Degraded => self.degraded += 1,
            Status::Down => self.down += 1,
            Status::Unknown => self.unknown += 1,
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, o: &StatusCounts) {
        self.up += o.up;
        self.degraded += o.degraded;
        self.down += o.down;
        self.unknown += o.unknown;
    }

    /// All checks.
    pub fn total(&self) -> i64 {
        self.up + self.degraded + self.down + self.unknown
    }
}

impl RollupDelta {
    /// Adds another delta.
    pub fn merge(&mut self, o: &RollupDelta) {
        self.counts.merge(&o.counts);
        self.time.merge(&o.time);
        self.latency.merge(&o.latency);
        self.delivery.merge(&o.delivery);
    }
}

/// One write transaction.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Monitors to register or update.
    pub monitors: Vec<MonitorRow>,
    /// Check results, with whether a maintenance window covered each.
    pub checks: Vec<(CheckOutcome, bool)>,
    /// Rollup additions per (monitor, hour).
    pub rollups: HashMap<(MonitorId, Timestamp), RollupDelta>,
    /// State changes with their alerts.
    pub transitions: Vec<Transition>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.monitors.is_empty() && self.checks.is_empty() && self.rollups.is_empty() && self.transitions.is_empty()
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncidentRecord {
    /// Which monitor.
    pub monitor: MonitorId,
    /// Start.
    pub started: Timestamp,
    /// End, if recovered.
    pub ended: Option<Timestamp>,
    /// Severity (the worst it reached).
    pub severity: String,
    /// Whether flap damping held it.
    pub flapping: bool,
    /// The cause.
    pub cause: Option<String>,
    /// The server's words.
    pub server_text: Option<String>,
    /// When and by whom it was acknowledged.
    pub acknowledged: Option<(Timestamp, String)>,
    /// What people were told (while it is announced and not yet recovered).
    pub notified: Option<Notified>,
}

/// An hourly rollup as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupRow {
    /// Which monitor.
    pub monitor: MonitorId,
    /// The hour's start.
    pub hour: Timestamp,
    /// Its contents.
    pub delta: RollupDelta,
}

/// One monitor's time per state over one UTC day ([`Store::daily_time`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTime {
    /// Which monitor.
    pub monitor: MonitorId,
    /// The day's start (UTC midnight).
    pub day: Timestamp,
    /// Time in each state that day.
    pub time: StateTime,
}

/// One UTC day in milliseconds.
pub const DAY_MS: i64 = 24 * crate::clock::HOUR_MS;

/// An outbox row a sender claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedAlert {
    /// Row id (for recording deliveries).
    pub id: i64,
    /// The alert.
    pub alert: Alert,
    /// Channel names.
    pub channels: Vec<String>,
    /// Attempts before this one.
    pub attempts: i64,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryRecord {
    /// The outbox row.
    pub outbox_id: i64,
    /// Channel name.
    pub channel: String,
    /// Attempt number, from 1.
    pub attempt: i64,
    /// When.
    pub at: Timestamp,
    /// `delivered`; `failed` (may be tried again), `rejected` (the channel refused it: not tried again),
    /// `expired` (given up at the deadline), `skipped` (the channel is no longer configured).
    pub status: String,
    /// What the channel said.
    pub detail: Option<String>,
}

/// An outbox row as stored: one alert, the channels it goes to, and how far its delivery got.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutboxRecord {
    /// Row id (the cursor for paging, and the key of its deliveries).
    pub id: i64,
    /// The alert.
    pub alert: Alert,
    /// Channel names.
    pub channels: Vec<String>,
    /// `pending` (not tried yet), `retrying`, `delivered`, `partial` (some channels failed), `failed`, or
    /// `suppressed` (no channel to send to).
    pub status: String,
    /// How often it was claimed for delivery.
    pub attempts: i64,
    /// When it is tried next (while not done).
    pub next_attempt_at: Option<Timestamp>,
    /// When it was finished.
    pub done_at: Option<Timestamp>,
}

/// A maintenance window as it covered one monitor (the history's mark).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceMark {
    /// Which monitor.
    pub monitor: MonitorId,
    /// The window's name.
    pub window: String,
    /// The first check inside it.
    pub started: Timestamp,
    /// The first check after it (`None` while it lasts).
    pub ended: Option<Timestamp>,
}

/// Which outbox rows [`Store::alerts`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only this monitor's.
    pub monitor: Option<MonitorId>,
    /// Only rows not finished yet (`pending`, `retrying`).
    pub open_only: bool,
    /// Rows with an id below this (the previous page's last id).
    pub before_id: Option<i64>,
}

/// What an instance needs to resume after a restart or a lease takeover.
#[derive(Debug, Clone, Default)]
pub struct ResumeState {
    /// Open incidents per monitor.
    pub open: HashMap<MonitorId, OpenIncident>,
    /// What people were told, per monitor (an open incident, or a closed one whose "recovered" is not queued).
    pub notified: HashMap<MonitorId, Notified>,
    /// Lowest certificate threshold announced per monitor.
    pub cert_threshold: HashMap<MonitorId, u32>,
    /// What each domain monitor's domain published, as remembered for policy-change alerts.
    pub published: HashMap<MonitorId, Published>,
    /// Open maintenance marks per monitor.
    pub maintenance: HashMap<MonitorId, Timestamp>,
    /// The last check per monitor (time, and the state entered last).
    pub last_state: HashMap<MonitorId, (Timestamp, State)>,
}

/// The storage API: what the engine writes and what readers (HTTP, figures, alert senders) ask for.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Whether several instances may share this store (then leases decide who checks what).
    fn shared(&self) -> bool;

    /// Writes one batch in one transaction.
    async fn write(&self, batch: &Batch, instance: &str) -> Result<(), StoreError>;

    /// What to resume from.
    async fn resume_state(&self) -> Result<ResumeState, StoreError>;

    /// Check results of a monitor, newest first, before `before` (exclusive), at most `limit`.
    async fn results(
        &self,
        monitor: &MonitorId,
        before: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<CheckOutcome>, StoreError>;

    /// Incidents, newest first; of one monitor or all; before `before` (by start), at most `limit`.
    async fn incidents(
        &self,
        monitor: Option<&MonitorId>,
        before: Option<Timestamp>,
        limit: u32,
    ) -> Result<Vec<IncidentRecord>, StoreError>;

    /// Hourly rollups of a monitor with `from <= hour < to`.
    async fn rollups(&self, monitor: &MonitorId, from: Timestamp, to: Timestamp) -> Result<Vec<RollupRow>, StoreError>;

    /// Hourly rollups of several monitors with `from <= hour < to`, in no particular order: what the status page
    /// refreshes its recent hours from, in a few statements rather than one per monitor.
    async fn rollups_of(
        &self,
        monitors: &[MonitorId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RollupRow>, StoreError> {
        let mut out = Vec::new();
        for m in monitors {
            out.extend(self.rollups(m, from, to).await?);
        }
        Ok(out)
    }

    /// Time per state per UTC day, summed in the database from the hourly rollups of several monitors with
    /// `from <= hour < to`: what the status page's 90-day bars start from, without reading every hour.
    async fn daily_time(
        &self,
        monitors: &[MonitorId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<DailyTime>, StoreError> {
        let mut days: std::collections::BTreeMap<(MonitorId, i64), StateTime> = std::collections::BTreeMap::new();
        for r in self.rollups_of(monitors, from, to).await? {
            days.entry((r.monitor, r.hour.0.div_euclid(DAY_MS) * DAY_MS)).or_default().merge(&r.delta.time);
        }
        Ok(days.into_iter().map(|((monitor, day), time)| DailyTime { monitor, day: Timestamp(day), time }).collect())
    }

    /// Acknowledges an incident; false if there is no such incident.
    async fn acknowledge(
        &self,
        monitor: &MonitorId,
        started: Timestamp,
        by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Claims up to `limit` due alerts for `owner` until `until` (a conditional update: one claimer wins).
    async fn claim_alerts(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<ClaimedAlert>, StoreError>;

    /// Records one delivery attempt.
    async fn record_delivery(&self, delivery: &DeliveryRecord) -> Result<(), StoreError>;

    /// Ends an alert (`delivered`, `partial`, `failed`, `suppressed`) or, with `retry_at`, releases it for
    /// another attempt (status `retrying`).
    async fn finish_alert(
        &self,
        id: i64,
        status: &str,
        at: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError>;

    /// Extends this owner's claims on rows `ids` to `until` (a sender still working on them keeps them).
    async fn renew_claims(&self, owner: &str, ids: &[i64], until: Timestamp) -> Result<(), StoreError>;

    /// Releases claims on unfinished rows: every claim (`None`: a single-instance store at start, where any claim
    /// is a crashed run's) or one owner's. Returns how many.
    async fn release_claims(&self, owner: Option<&str>) -> Result<u64, StoreError>;

    /// Outbox rows by status: (kind, status, count).
    async fn outbox_summary(&self) -> Result<Vec<(String, String, i64)>, StoreError>;

    /// Outbox rows, newest first, at most `limit` (for the API's alert history).
    async fn alerts(&self, query: &AlertQuery, limit: u32) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Delivery attempts, newest first.
    async fn deliveries(&self, limit: u32) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Every delivery attempt of one outbox row, oldest first.
    async fn deliveries_of(&self, outbox_id: i64) -> Result<Vec<DeliveryRecord>, StoreError>;

    /// Maintenance marks, newest first; of one monitor or all; at most `limit`.
    async fn maintenance_marks(
        &self,
        monitor: Option<&MonitorId>,
        limit: u32,
    ) -> Result<Vec<MaintenanceMark>, StoreError>;

    /// Takes or renews the leases of `wanted` for `owner` until `until`: a lease is taken when it is free, held
    /// by `owner`, or expired at `now`. Returns the monitors `owner` holds afterwards.
    async fn acquire_leases(
        &self,
        owner: &str,
        wanted: &[MonitorId],
        now: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<MonitorId>, StoreError>;

    /// Gives up every lease of `owner` (a clean shutdown: others take over at once).
    async fn release_leases(&self, owner: &str) -> Result<(), StoreError>;

    /// Deletes up to `limit` raw results of `monitor` older than `before`; returns how many.
    async fn prune_results(&self, monitor: &MonitorId, before: Timestamp, limit: u32) -> Result<u64, StoreError>;

    /// Deletes rollups, finished alerts and their deliveries older than `before`; returns how many rows.
    async fn prune_old(&self, rollups_before: Timestamp, alerts_before: Timestamp) -> Result<u64, StoreError>;

    /// Every monitor ever registered.
    async fn monitors(&self) -> Result<Vec<MonitorRow>, StoreError>;

    /// The database's own consistency check (`PRAGMA integrity_check` on SQLite).
    async fn integrity_check(&self) -> Result<bool, StoreError>;
}
