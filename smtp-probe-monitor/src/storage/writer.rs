//! The writer task: the only path by which the engine writes. Checks hand it their results and move on; it
//! batches them (one transaction per batch, every `flush_every` or `max_batch` results) and keeps rollups as
//! in-memory deltas until they are written.
//!
//! A state change (an incident, an alert) is written at once rather than with the next batch, so what people
//! are told is on disk within milliseconds; results ride along.
//!
//! When the database is locked, the disk is full or PostgreSQL is unreachable, writing fails, and the writer
//! keeps everything, reports [`StorageHealth`] as failing, and retries with back-off; checks go on. The
//! backlog is bounded: past `max_backlog` raw results, the **oldest raw results are dropped first** (counted
//! in `dropped_results`), while rollups (so uptime and percentiles), incidents and queued alerts are kept.
//! Alerts it cannot write are handed to the alert dispatcher ([`AlertNotice::Held`]) so they are delivered
//! anyway; once written, the dispatcher hears so ([`AlertNotice::Written`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{Batch, MonitorRow, OutboxEntry, RollupDelta, Store, Transition};
use crate::check::{CheckOutcome, Status};
use crate::clock::Timestamp;
use crate::id::MonitorId;
use crate::uptime::Slice;

/// Tuning of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// How often a batch is written.
    pub flush_every: Duration,
    /// The most results per batch.
    pub max_batch: usize,
    /// The most raw results held while the database is unavailable.
    pub max_backlog: usize,
    /// A write that takes longer than this counts as failed (a hung connection).
    pub write_timeout: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            flush_every: Duration::from_millis(500),
            max_batch: 2000,
            max_backlog: 200_000,
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// Whether storage is keeping up (for `/healthz`, metrics and logs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StorageHealth {
    /// The last write succeeded (or nothing was written yet).
    pub ok: bool,
    /// The last error, while failing.
    pub error: Option<String>,
    /// Since when writes fail.
    pub failing_since: Option<Timestamp>,
    /// Raw results waiting to be written.
    pub backlog: usize,
    /// Raw results dropped because the backlog was full.
    pub dropped_results: u64,
    /// Write attempts that failed since start (each retry counts).
    pub failed_writes: u64,
    /// Results written since start.
    pub written_results: u64,
    /// The last successful write.
    pub last_write: Option<Timestamp>,
}

/// What the writer tells the alert dispatcher about the alerts passing through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertNotice {
    /// These alerts could not be written (storage is failing): for now they exist only in memory. Each alert
    /// is announced once.
    Held(Vec<OutboxEntry>),
    /// These alerts are in the outbox now (by dedup key): a claim will find them.
    Written(Vec<String>),
}

/// The most ops taken in before a write, so a burst becomes one transaction rather than many.
const MAX_OPS_PER_WRITE: usize = 10_000;

enum WriteOp {
    Monitors(Vec<MonitorRow>),
    Check { outcome: CheckOutcome, maintenance: bool, slices: Vec<Slice> },
    Transition(Transition),
    Flush(oneshot::Sender<()>),
}

/// Hands work to the writer task. Cheap to clone; sending never waits.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<WriteOp>,
    health: watch::Receiver<StorageHealth>,
}

impl WriterHandle {
    /// Registers or updates monitors.
    pub fn monitors(&self, rows: Vec<MonitorRow>) {
        let _ = self.tx.send(WriteOp::Monitors(rows));
    }

    /// Stores a result and adds it, and the time-line slices it closed, to the hourly rollups.
    pub fn check(&self, outcome: CheckOutcome, maintenance: bool, slices: Vec<Slice>) {
        let _ = self.tx.send(WriteOp::Check { outcome, maintenance, slices });
    }

    /// Stores a state change with its alerts.
    pub fn transition(&self, t: Transition) {
        let _ = self.tx.send(WriteOp::Transition(t));
    }

    /// Waits until everything sent before is written, or `timeout` passes. Returns whether it was written.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(WriteOp::Flush(tx)).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
    }

    /// Storage health now.
    pub fn health(&self) -> StorageHealth {
        self.health.borrow().clone()
    }

    /// A receiver that sees every health change.
    pub fn watch_health(&self) -> watch::Receiver<StorageHealth> {
        self.health.clone()
    }
}

/// Starts the writer on the current runtime. It ends, after a last write attempt, when every handle is dropped.
pub fn spawn(
    store: Arc<dyn Store>,
    instance: String,
    config: WriterConfig,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    spawn_with_notices(store, instance, config, None)
}

/// As [`spawn`], telling `notices` which alerts are held in memory and which are written.
pub fn spawn_with_notices(
    store: Arc<dyn Store>,
    instance: String,
    config: WriterConfig,
    notices: Option<mpsc::UnboundedSender<AlertNotice>>,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    use tracing::Instrument;
    let span = tracing::info_span!("storage", instance = %instance);
    let (tx, rx) = mpsc::unbounded_channel();
    let (health_tx, health_rx) = watch::channel(StorageHealth { ok: true, ..StorageHealth::default() });
    let writer = Writer {
        store,
        instance,
        config,
        monitors: Vec::new(),
        checks: VecDeque::new(),
        rollups: HashMap::new(),
        transitions: VecDeque::new(),
        waiters: Vec::new(),
        health: health_tx,
        backoff: Duration::ZERO,
        notices,
        announced: HashSet::new(),
    };
    let task = tokio::spawn(writer.run(rx).instrument(span));
    (WriterHandle { tx, health: health_rx }, task)
}

struct Writer {
    store: Arc<dyn Store>,
    instance: String,
    config: WriterConfig,
    monitors: Vec<MonitorRow>,
    checks: VecDeque<(CheckOutcome, bool)>,
    rollups: HashMap<(MonitorId, Timestamp), RollupDelta>,
    transitions: VecDeque<Transition>,
    waiters: Vec<oneshot::Sender<()>>,
    health: watch::Sender<StorageHealth>,
    backoff: Duration,
    notices: Option<mpsc::UnboundedSender<AlertNotice>>,
    /// Keys of alerts announced as held and not yet written.
    announced: HashSet<String>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<WriteOp>) {
        let mut next_flush = Instant::now() + self.config.flush_every;
        loop {
            tokio::select! {
                op = rx.recv() => match op {
                    Some(op) => {
                        let mut flush_now = self.absorb(op);
                        // Take in what else is waiting, so a burst is one transaction.
                        for _ in 0..MAX_OPS_PER_WRITE {
                            match rx.try_recv() {
                                Ok(op) => flush_now |= self.absorb(op),
                                Err(_) => break,
                            }
                        }
                        // While backing off after a failure, only the timer writes; new alerts go to the
                        // dispatcher at once.
                        if !self.backoff.is_zero() {
                            self.notify_held();
                        }
                        if (flush_now || self.checks.len() >= self.config.max_batch) && self.backoff.is_zero() {
                            self.flush().await;
                            next_flush = Instant::now() + self.config.flush_every.max(self.backoff);
                        }
                    }
                    None => {
                        // Every handle is gone: a last attempt, then stop.
                        self.flush().await;
                        return;
                    }
                },
                () = tokio::time::sleep_until(next_flush) => {
                    self.flush().await;
                    next_flush = Instant::now() + self.config.flush_every.max(self.backoff);
                }
            }
        }
    }

    /// Takes one op in; returns whether to write at once.
    fn absorb(&mut self, op: WriteOp) -> bool {
        match op {
            WriteOp::Monitors(rows) => self.monitors.extend(rows),
            WriteOp::Check { outcome, maintenance, slices } => {
                let hour = outcome.at.hour_start();
                let delta = self.rollups.entry((outcome.monitor.clone(), hour)).or_default();
                delta.counts.add(outcome.status);
                if outcome.status != Status::Unknown
                    && let Some(ms) = outcome.response_ms
                {
                    delta.latency.record(ms);
                }
                if outcome.status != Status::Unknown
                    && let Some(ms) = outcome.delivery_ms
                {
                    delta.delivery.record(ms, outcome.junk == Some(true));
                }
                for s in slices {
                    self.rollups.entry((outcome.monitor.clone(), s.hour)).or_default().time.add(s.class, s.ms);
                }
                self.checks.push_back((outcome, maintenance));
                if self.checks.len() > self.config.max_backlog {
                    self.checks.pop_front();
                    self.health.send_modify(|h| h.dropped_results += 1);
                }
            }
            WriteOp::Transition(t) => {
                // What people are told goes to disk now, not with the next batch.
                self.transitions.push_back(t);
                return true;
            }
            WriteOp::Flush(w) => {
                self.waiters.push(w);
                return true;
            }
        }
        false
    }

    async fn flush(&mut self) {
        loop {
            let n = self.checks.len().min(self.config.max_batch);
            let batch = Batch {
                monitors: std::mem::take(&mut self.monitors),
                checks: self.checks.drain(..n).collect(),
                rollups: std::mem::take(&mut self.rollups),
                transitions: self.transitions.drain(..).collect(),
            };
            if batch.is_empty() {
                break;
            }
            let result =
                tokio::time::timeout(self.config.write_timeout, self.store.write(&batch, &self.instance)).await;
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("a write took longer than {:?}", self.config.write_timeout)),
            };
            match error {
                None => {
                    self.backoff = Duration::ZERO;
                    self.notify_written(&batch.transitions);
                    let written = batch.checks.len() as u64;
                    let backlog = self.checks.len();
                    self.health.send_if_modified(|h| {
                        let was_failing = !h.ok;
                        if was_failing {
                            tracing::info!(backlog, "storage writable again");
                        }
                        h.ok = true;
                        h.error = None;
                        h.failing_since = None;
                        h.backlog = backlog;
                        h.written_results += written;
                        h.last_write = Some(Timestamp::now());
                        true
                    });
                    if self.checks.is_empty() {
                        break;
                    }
                }
                Some(error) => {
                    // Put everything back in order, merged with what arrived meanwhile (nothing has).
                    let Batch { monitors, checks, rollups, transitions } = batch;
                    let mut m = monitors;
                    m.append(&mut self.monitors);
                    self.monitors = m;
                    for c in checks.into_iter().rev() {
                        self.checks.push_front(c);
                    }
                    while self.checks.len() > self.config.max_backlog {
                        self.checks.pop_front();
                        self.health.send_modify(|h| h.dropped_results += 1);
                    }
                    for (k, v) in rollups {
                        self.rollups.entry(k).or_default().merge(&v);
                    }
                    for t in transitions.into_iter().rev() {
                        self.transitions.push_front(t);
                    }
                    self.notify_held();
                    self.backoff = (self.backoff * 2).clamp(Duration::from_millis(250), Duration::from_secs(5));
                    let backlog = self.checks.len();
                    self.health.send_modify(|h| {
                        if h.ok {
                            tracing::error!(%error, backlog, "storage write failed; checks go on, results are held and retried");
                        } else {
                            tracing::debug!(%error, backlog, "storage write failed again");
                        }
                        h.ok = false;
                        h.failed_writes += 1;
                        h.failing_since.get_or_insert_with(Timestamp::now);
                        h.error = Some(error);
                        h.backlog = backlog;
                    });
                    return;
                }
            }
        }
        for w in self.waiters.drain(..) {
            let _ = w.send(());
        }
    }

    /// Hands the alerts that could not be written to the dispatcher (each once).
    fn notify_held(&mut self) {
        let Some(tx) = &self.notices else { return };
        let held: Vec<OutboxEntry> = self
            .transitions
            .iter()
            .flat_map(|t| &t.alerts)
            .filter(|e| self.announced.insert(e.alert.dedup_key.clone()))
            .cloned()
            .collect();
        if !held.is_empty() {
            let _ = tx.send(AlertNotice::Held(held));
        }
    }

    /// Tells the dispatcher which alerts are in the outbox now.
    fn notify_written(&mut self, transitions: &[Transition]) {
        let Some(tx) = &self.notices else { return };
        let keys: Vec<String> = transitions.iter().flat_map(|t| &t.alerts).map(|e| e.alert.dedup_key.clone()).collect();
        if keys.is_empty() {
            return;
        }
        for k in &keys {
            self.announced.remove(k);
        }
        let _ = tx.send(AlertNotice::Written(keys));
    }
}
