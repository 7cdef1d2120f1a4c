//! The engine: the tokio service that runs the scheduler, executes checks through the probe library, confirms
//! failures with a quick re-check, feeds the incident machines and the alert policy, hands results, incidents
//! and alerts to the storage writer, keeps the in-memory [snapshot](crate::snapshot) and publishes
//! [events](crate::events).
//!
//! One task owns every decision (the scheduler, the state machines): checks run as their own tasks and send
//! their outcome back, so no lock is held around a decision and a slow server never delays another check.
//! With a shared store (PostgreSQL), a lease task takes and renews each monitor's lease; this instance checks
//! only the monitors it holds, and stops checking a monitor before its lease could expire elsewhere.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument;

use crate::alert::{Alert, AlertInput, AlertKind, AlertState};
use crate::canary::{Connectivity, ConnectivityChange};
use crate::check::{CheckOutcome, Status};
use crate::clock::Timestamp;
use crate::config::{Config, ConfigError, MonitorConfig};
use crate::delivery::{self, ChannelHealth, DeliveryOptions, DeliveryStatus};
use crate::events::Event;
use crate::figures::{self, Figures};
use crate::histogram::Histogram;
use crate::id::MonitorId;
use crate::incident::{IncidentEvent, IncidentMachine, Observation, State};
use crate::maintenance;
use crate::probe::{self, PreparedCheck, Resolver};
use crate::schedule::{Poll, Scheduler, Start};
use crate::snapshot::{MonitorSnapshot, Snapshots};
use crate::storage::writer::{self, StorageHealth, WriterConfig, WriterHandle};
use crate::storage::{IncidentChange, MonitorRow, OutboxEntry, ResumeState, SqlStore, Store, StoreError, Transition};
use crate::uptime::{Class, TimeLine};

/// The engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Storage could not be opened, migrated or read.
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// A monitor's check could not be prepared.
    #[error("monitor {monitor}: {message}")]
    Monitor {
        /// Which.
        monitor: MonitorId,
        /// Why.
        message: String,
    },
}

/// A reload that was refused; the running configuration stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The new file is not valid.
    #[error("configuration refused: {0}")]
    Config(#[from] ConfigError),
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

/// Tuning that is not part of the configuration file.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The storage writer.
    pub writer: WriterConfig,
    /// How often retention runs (the first run is one tenth of this after start).
    pub retention_every: Duration,
    /// Event channel capacity.
    pub event_capacity: usize,
    /// A resolver for `mx:` monitors (default: the configured `dns_server`, else the system's).
    pub resolver: Option<Resolver>,
    /// Alert delivery (default on); `None` leaves the outbox to a sender of the embedder's own.
    pub delivery: Option<DeliveryOptions>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            writer: WriterConfig::default(),
            retention_every: Duration::from_secs(3600),
            event_capacity: 4096,
            resolver: None,
            delivery: Some(DeliveryOptions::default()),
        }
    }
}

/// How the scheduler keeps up.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SchedulerStats {
    /// Monitors configured.
    pub monitors: usize,
    /// Monitors this instance holds (all, without leases).
    pub owned: usize,
    /// Checks running now.
    pub running: usize,
    /// Checks started since start.
    pub started: u64,
    /// Lateness (start − slot) over the last one to two minutes, ms.
    pub lateness_p50_ms: Option<u32>,
    /// p99 of the same.
    pub lateness_p99_ms: Option<u32>,
    /// The largest of the same.
    pub lateness_max_ms: Option<u32>,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Monitors added or changed.
    pub changed: Vec<MonitorId>,
    /// Monitors removed.
    pub removed: Vec<MonitorId>,
}

enum Control {
    Reload(Box<Config>, oneshot::Sender<ReloadSummary>),
    Leases { owned: Vec<MonitorId>, valid_until: tokio::time::Instant, resume: Option<Box<ResumeState>> },
    Shutdown(oneshot::Sender<()>),
}

struct Done {
    start: Start,
    outcome: CheckOutcome,
}

struct Shared {
    snapshots: Snapshots,
    events: broadcast::Sender<Event>,
    writer: WriterHandle,
    store: Arc<dyn Store>,
    control: mpsc::UnboundedSender<Control>,
    stats: Mutex<SchedulerStats>,
    connectivity_lost: watch::Receiver<bool>,
    instance: String,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    delivery: Option<delivery::DispatcherHandle>,
}

/// A running engine. Cheap to clone; the engine stops with [`EngineHandle::shutdown`] (or when the runtime
/// does).
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
}

/// Starting an engine.
pub struct Engine;

impl Engine {
    /// Opens the configured storage (migrating it) and starts.
    pub async fn start(config: Config) -> Result<EngineHandle, EngineError> {
        let store = Arc::new(SqlStore::connect(&config.storage).await?);
        Engine::start_with_store(config, store, EngineOptions::default()).await
    }

    /// Starts on a store the caller opened, on the current tokio runtime.
    pub async fn start_with_store(
        config: Config,
        store: Arc<dyn Store>,
        options: EngineOptions,
    ) -> Result<EngineHandle, EngineError> {
        let resolver = options.resolver.clone().or_else(|| make_resolver(&config));
        let shared_store = store.shared();
        let resume = store.resume_state().await?;
        let (notice_tx, notice_rx) = mpsc::unbounded_channel();
        let (writer, writer_task) = writer::spawn_with_notices(
            store.clone(),
            config.service.instance.clone(),
            options.writer,
            options.delivery.is_some().then_some(notice_tx),
        );
        let (events, _) = broadcast::channel(options.event_capacity.max(16));
        let snapshots = Snapshots::default();
        let (dispatcher, dispatcher_task) = match options.delivery {
            Some(delivery_options) => {
                let (handle, task) = delivery::spawn(delivery::Setup {
                    store: store.clone(),
                    instance: config.service.instance.clone(),
                    shared_store,
                    ehlo: config.service.ehlo_name.clone(),
                    channels: config.channels.clone(),
                    snapshots: snapshots.clone(),
                    events: events.clone(),
                    options: delivery_options,
                    notices: notice_rx,
                    storage: writer.watch_health(),
                });
                (Some(handle), Some(task))
            }
            None => (None, None),
        };
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (lost_tx, lost_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            snapshots: snapshots.clone(),
            events: events.clone(),
            writer: writer.clone(),
            store: store.clone(),
            control: control_tx,
            stats: Mutex::new(SchedulerStats::default()),
            connectivity_lost: lost_rx,
            instance: config.service.instance.clone(),
            tasks: Mutex::new(std::iter::once(writer_task).chain(dispatcher_task).collect()),
            delivery: dispatcher,
        });
        let (ids_tx, ids_rx) = watch::channel(config.monitors.iter().map(|m| m.id.clone()).collect::<Vec<_>>());
        let mut core = Core {
            config: Config::clone(&config),
            monitors: HashMap::new(),
            scheduler: Scheduler::new(config.scheduler),
            connectivity: Connectivity::default(),
            snapshots,
            events,
            writer,
            resolver,
            shared_store,
            lease_valid_until: None,
            done_tx,
            shared: Arc::downgrade(&shared),
            lateness: [Histogram::new(), Histogram::new()],
            lateness_rotated: Timestamp::now(),
            stats_published: std::time::Instant::now(),
            started: 0,
            ids_tx,
            lost_tx,
        };
        writer_monitor_rows(&core.writer, &config.monitors);
        for m in &config.monitors {
            core.add_monitor(m, &resume, !shared_store)?;
        }
        core.connectivity.set_canaries(config.monitors.iter().filter(|m| m.canary).map(|m| m.id.clone()));
        let mut tasks = vec![tokio::spawn(core.run(control_rx, done_rx))];
        if shared_store {
            tasks.push(tokio::spawn(lease_task(
                store.clone(),
                config.service.instance.clone(),
                config.lease,
                ids_rx,
                shared.control.clone(),
            )));
        }
        tasks.push(tokio::spawn(retention_task(store, config.retention, options.retention_every)));
        shared.tasks.lock().expect("tasks lock").extend(tasks);
        tracing::info!(
            monitors = config.monitors.len(),
            storage = shared.store.backend(),
            instance = %shared.instance,
            "monitor engine started"
        );
        Ok(EngineHandle { shared })
    }
}

fn make_resolver(config: &Config) -> Option<Resolver> {
    if !config.monitors.iter().any(|m| matches!(m.check, crate::config::CheckKind::Mx { .. })) {
        return None;
    }
    match config.service.dns_server {
        Some(addr) => Some(Arc::new(smtp_probe_tokio::single_server_resolver(addr))),
        None => match smtp_probe_tokio::system_resolver() {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                tracing::warn!(error = %e, "the system resolver configuration is unusable; mx: checks will report it");
                None
            }
        },
    }
}

fn writer_monitor_rows(writer: &WriterHandle, monitors: &[MonitorConfig]) {
    writer.monitors(
        monitors
            .iter()
            .map(|m| MonitorRow {
                id: m.id.clone(),
                name: m.name.clone(),
                target: m.check.describe(),
                tags: m.tags.clone(),
            })
            .collect(),
    );
}

impl EngineHandle {
    /// Every monitor's current state.
    pub fn snapshot(&self) -> Vec<MonitorSnapshot> {
        self.shared.snapshots.all()
    }

    /// One monitor's current state.
    pub fn monitor(&self, id: &MonitorId) -> Option<MonitorSnapshot> {
        self.shared.snapshots.get(id)
    }

    /// The shared snapshot (for readers that keep it).
    pub fn snapshots(&self) -> Snapshots {
        self.shared.snapshots.clone()
    }

    /// A stream of everything the engine decides from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// The store, for reads (history, incidents, outbox).
    pub fn store(&self) -> Arc<dyn Store> {
        self.shared.store.clone()
    }

    /// Storage health (for `/healthz`).
    pub fn storage_health(&self) -> StorageHealth {
        self.shared.writer.health()
    }

    /// Scheduler figures (for `/healthz` and metrics).
    pub fn scheduler_stats(&self) -> SchedulerStats {
        self.shared.stats.lock().expect("stats lock").clone()
    }

    /// Alert delivery: every channel's health and counters, claims, alerts held in memory while storage fails
    /// (for the API, `/healthz` and metrics). `running` is false when delivery is off.
    pub fn delivery_status(&self) -> DeliveryStatus {
        self.shared.delivery.as_ref().map(delivery::DispatcherHandle::status).unwrap_or_default()
    }

    /// Sends a test notification (`event: "test"`) through a channel as configured now, outside the outbox, and
    /// returns what the receiver said (for a "send a test" button).
    pub async fn test_channel(&self, channel: &str) -> Result<String, delivery::ChannelTestError> {
        match &self.shared.delivery {
            Some(d) => d.test(channel).await,
            None => Err(delivery::ChannelTestError::NotRunning),
        }
    }

    /// Every channel's health (a shorthand for `delivery_status().channels`).
    pub fn channel_health(&self) -> Vec<ChannelHealth> {
        self.delivery_status().channels
    }

    /// Whether the canaries say this machine's own connectivity is down.
    pub fn connectivity_lost(&self) -> bool {
        *self.shared.connectivity_lost.borrow()
    }

    /// This instance's name (its lease owner name).
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    /// Waits until everything decided so far is written (or `timeout` passes).
    pub async fn flush(&self, timeout: Duration) -> bool {
        self.shared.writer.flush(timeout).await
    }

    /// Figures over 24 h / 7 d / 30 d / 90 d for one monitor.
    pub async fn figures(&self, id: &MonitorId, now: Timestamp) -> Result<Vec<Figures>, StoreError> {
        let from = (now - figures::WINDOWS[3].1).hour_start();
        let rollups = self.shared.store.rollups(id, from, now + Duration::from_secs(3600)).await?;
        let incidents = self.shared.store.incidents(Some(id), None, 10_000).await?;
        Ok(figures::compute(now, &rollups, &incidents))
    }

    /// Figures for every monitor with this tag, together.
    pub async fn tag_figures(&self, tag: &str, now: Timestamp) -> Result<Vec<Figures>, StoreError> {
        let from = (now - figures::WINDOWS[3].1).hour_start();
        let (mut rollups, mut incidents) = (Vec::new(), Vec::new());
        for m in self.snapshot().into_iter().filter(|m| m.tags.iter().any(|t| t == tag)) {
            rollups.extend(self.shared.store.rollups(&m.id, from, now + Duration::from_secs(3600)).await?);
            incidents.extend(self.shared.store.incidents(Some(&m.id), None, 10_000).await?);
        }
        Ok(figures::compute(now, &rollups, &incidents))
    }

    /// Runs a new configuration: monitors keep their history, open incidents and slots by id; added ones
    /// start, removed ones stop. Storage settings need a restart (a warning is logged).
    pub async fn reload(&self, config: Config) -> Result<ReloadSummary, ReloadError> {
        let (tx, rx) = oneshot::channel();
        let channels = config.channels.clone();
        self.shared.control.send(Control::Reload(Box::new(config), tx)).map_err(|_| ReloadError::Stopped)?;
        let summary = rx.await.map_err(|_| ReloadError::Stopped)?;
        if let Some(d) = &self.shared.delivery {
            d.set_channels(channels);
        }
        Ok(summary)
    }

    /// Reads, validates and runs a configuration file. A bad file is refused with the reason, and the running
    /// configuration stays.
    pub async fn reload_from_file(&self, path: &std::path::Path) -> Result<ReloadSummary, ReloadError> {
        let config = Config::load(path)?;
        self.reload(config).await
    }

    /// Stops scheduling, waits up to `grace` for running checks, writes everything, sends the alerts that are
    /// due (within `grace` again), gives up leases.
    pub async fn shutdown(&self, grace: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.shared.control.send(Control::Shutdown(tx)).is_ok() {
            let _ = tokio::time::timeout(grace + Duration::from_secs(1), rx).await;
        }
        if !self.shared.writer.flush(Duration::from_secs(10)).await {
            tracing::warn!("shutdown: some results could not be written");
        }
        if let Some(d) = &self.shared.delivery {
            d.shutdown(grace).await;
        }
        if self.shared.store.shared()
            && let Err(e) = self.shared.store.release_leases(&self.shared.instance).await
        {
            tracing::warn!(error = %e, "shutdown: leases not released; others take over when they expire");
        }
        let tasks: Vec<_> = self.shared.tasks.lock().expect("tasks lock").drain(..).collect();
        for t in tasks {
            t.abort();
        }
        tracing::info!("monitor engine stopped");
    }

    /// Stops at once, as a crash would: no flush, no lease release (for tests of takeover and durability).
    pub fn abort(&self) {
        for t in self.shared.tasks.lock().expect("tasks lock").drain(..) {
            t.abort();
        }
    }
}

/// One monitor's runtime state, owned by the engine task.
struct Runtime {
    config: MonitorConfig,
    prepared: PreparedCheck,
    machine: IncidentMachine,
    alerts: AlertState,
    timeline: TimeLine,
    maintenance: Option<String>,
    silenced: bool,
    owned: bool,
    state: State,
}

struct Core {
    config: Config,
    monitors: HashMap<MonitorId, Runtime>,
    scheduler: Scheduler,
    connectivity: Connectivity,
    snapshots: Snapshots,
    events: broadcast::Sender<Event>,
    writer: WriterHandle,
    resolver: Option<Resolver>,
    shared_store: bool,
    lease_valid_until: Option<tokio::time::Instant>,
    done_tx: mpsc::UnboundedSender<Done>,
    shared: std::sync::Weak<Shared>,
    /// Lateness of recent starts: the current minute and the previous one.
    lateness: [Histogram; 2],
    lateness_rotated: Timestamp,
    stats_published: std::time::Instant,
    started: u64,
    ids_tx: watch::Sender<Vec<MonitorId>>,
    lost_tx: watch::Sender<bool>,
}

/// How often scheduler figures are refreshed while busy.
const STATS_EVERY: Duration = Duration::from_millis(250);

fn max_gap(m: &MonitorConfig) -> Duration {
    // A missed check or two is normal (a slow check, a re-check); longer than that, nobody was looking.
    m.interval * 2 + m.check.probe().timeout + m.incident.recheck_after
}

impl Core {
    fn add_monitor(&mut self, m: &MonitorConfig, resume: &ResumeState, owned: bool) -> Result<(), EngineError> {
        let prepared = probe::prepare(&m.check, self.resolver.clone())
            .map_err(|message| EngineError::Monitor { monitor: m.id.clone(), message })?;
        let mut rt = Runtime {
            config: m.clone(),
            prepared,
            machine: IncidentMachine::new(m.incident.clone()),
            alerts: AlertState::default(),
            timeline: TimeLine::new(max_gap(m)),
            maintenance: None,
            silenced: false,
            owned: false,
            state: State::Unknown,
        };
        restore(&mut rt, resume);
        let since = resume.last_state.get(&m.id).map(|(t, _)| *t);
        self.snapshots.insert(MonitorSnapshot {
            id: m.id.clone(),
            name: m.name.clone(),
            target: m.check.describe(),
            tags: m.tags.clone(),
            interval_secs: m.interval.as_secs(),
            state: rt.state,
            last_status: None,
            last_check: None,
            incident: rt.machine.open_incident().cloned(),
            maintenance: rt.maintenance.clone().filter(|n| !n.is_empty()),
            owned,
            checks: 0,
            since,
        });
        self.monitors.insert(m.id.clone(), rt);
        if owned {
            self.own(&m.id);
        }
        Ok(())
    }

    fn own(&mut self, id: &MonitorId) {
        let now = Timestamp::now();
        if let Some(rt) = self.monitors.get_mut(id) {
            rt.owned = true;
            self.scheduler.upsert(id, rt.config.interval, rt.config.check.destination(), now);
            self.snapshots.update(id, |s| s.owned = true);
        }
    }

    fn disown(&mut self, id: &MonitorId) {
        if let Some(rt) = self.monitors.get_mut(id) {
            rt.owned = false;
            self.scheduler.remove(id);
            self.snapshots.update(id, |s| s.owned = false);
        }
    }

    async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>, mut done: mpsc::UnboundedReceiver<Done>) {
        loop {
            let now = Timestamp::now();
            let wake = loop {
                match self.scheduler.poll(now) {
                    Poll::Run(start) => self.start_check(start, now),
                    Poll::Wait(t) => break Some(t),
                    Poll::Saturated | Poll::Idle => break None,
                }
            };
            let sleep = wake.map_or(Duration::from_secs(3600), |t| t.since(Timestamp::now()));
            // At most a few times a second under load, and always before a long sleep.
            if sleep >= STATS_EVERY || self.stats_published.elapsed() >= STATS_EVERY {
                self.publish_stats();
                self.stats_published = std::time::Instant::now();
            }
            let lease_deadline = self.lease_valid_until;
            tokio::select! {
                d = done.recv() => {
                    let Some(d) = d else { return };
                    self.on_done(d);
                    while let Ok(d) = done.try_recv() {
                        self.on_done(d);
                    }
                }
                c = control.recv() => match c {
                    None => return,
                    Some(Control::Shutdown(reply)) => {
                        self.drain(&mut done).await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(c) => self.on_control(c),
                },
                () = tokio::time::sleep(sleep) => {}
                () = sleep_until_opt(lease_deadline) => {
                    tracing::error!("leases could not be renewed in time: checks stop until they are");
                    self.lease_valid_until = None;
                    let owned: Vec<MonitorId> = self.monitors.iter().filter(|(_, r)| r.owned).map(|(id, _)| id.clone()).collect();
                    for id in owned {
                        self.disown(&id);
                    }
                }
            }
        }
    }

    /// Waits for running checks (bounded by the caller) and judges them.
    async fn drain(&mut self, done: &mut mpsc::UnboundedReceiver<Done>) {
        while self.scheduler.running() > 0 {
            match tokio::time::timeout(Duration::from_secs(15), done.recv()).await {
                Ok(Some(d)) => self.on_done(d),
                _ => break,
            }
        }
    }

    fn publish_stats(&mut self) {
        let Some(shared) = self.shared.upgrade() else { return };
        let now = Timestamp::now();
        if now.since(self.lateness_rotated) >= Duration::from_secs(60) {
            self.lateness[1] = std::mem::take(&mut self.lateness[0]);
            self.lateness_rotated = now;
        }
        let mut recent = self.lateness[0].clone();
        recent.merge(&self.lateness[1]);
        let mut stats = shared.stats.lock().expect("stats lock");
        *stats = SchedulerStats {
            monitors: self.monitors.len(),
            owned: self.monitors.values().filter(|r| r.owned).count(),
            running: self.scheduler.running(),
            started: self.started,
            lateness_p50_ms: recent.quantile(0.5),
            lateness_p99_ms: recent.quantile(0.99),
            lateness_max_ms: recent.max(),
        };
    }

    fn start_check(&mut self, start: Start, _now: Timestamp) {
        let Some(rt) = self.monitors.get(&start.id) else {
            self.scheduler.finished(&start.id, start.due, Timestamp::now());
            return;
        };
        self.started += 1;
        self.lateness[0].record(u32::try_from(start.lateness.as_millis()).unwrap_or(u32::MAX));
        let prepared = rt.prepared.clone();
        let target = rt.config.check.describe();
        let done_tx = self.done_tx.clone();
        let span = tracing::info_span!(
            "check",
            monitor = %start.id,
            target = %target,
            recheck = start.recheck,
            verdict = tracing::field::Empty,
            cause = tracing::field::Empty,
        );
        tokio::spawn(
            async move {
                let at = Timestamp::now();
                let outcome = probe::run(&prepared, &start.id, at).await;
                let span = tracing::Span::current();
                span.record("verdict", outcome.status.as_str());
                span.record("cause", outcome.cause.as_deref().unwrap_or(""));
                tracing::debug!(
                    response_ms = outcome.response_ms,
                    lateness_ms = start.lateness.as_millis() as u64,
                    "{}",
                    outcome.summary
                );
                let _ = done_tx.send(Done { start, outcome });
            }
            .instrument(span),
        );
    }

    fn on_control(&mut self, c: Control) {
        match c {
            Control::Reload(config, reply) => {
                let summary = self.reload(*config);
                let _ = reply.send(summary);
            }
            Control::Leases { owned, valid_until, resume } => {
                self.lease_valid_until = Some(valid_until);
                let owned: BTreeSet<MonitorId> = owned.into_iter().collect();
                let ids: Vec<MonitorId> = self.monitors.keys().cloned().collect();
                for id in ids {
                    let (has, wants) = (self.monitors[&id].owned, owned.contains(&id));
                    if wants && !has {
                        // Taken over (or first taken): continue from what storage says, never from memory.
                        if let (Some(resume), Some(rt)) = (&resume, self.monitors.get_mut(&id)) {
                            rt.machine = IncidentMachine::new(rt.config.incident.clone());
                            rt.alerts = AlertState::default();
                            restore(rt, resume);
                            let (state, incident) = (rt.state, rt.machine.open_incident().cloned());
                            self.snapshots.update(&id, |s| {
                                s.state = state;
                                s.incident = incident;
                            });
                        }
                        tracing::info!(monitor = %id, "lease taken");
                        self.own(&id);
                    } else if !wants && has {
                        tracing::info!(monitor = %id, "lease lost to another instance");
                        self.disown(&id);
                    }
                }
            }
            Control::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    fn reload(&mut self, new: Config) -> ReloadSummary {
        if new.storage != self.config.storage {
            tracing::warn!("storage settings changed: they take effect after a restart");
        }
        let (changed, removed) = crate::config::diff(&self.config, &new);
        for id in &removed {
            self.scheduler.remove(id);
            self.monitors.remove(id);
            self.snapshots.remove(id);
        }
        let empty = ResumeState::default();
        for id in &changed {
            let m = new.monitor(id).expect("changed ids come from the new configuration").clone();
            match self.monitors.get_mut(id) {
                Some(rt) => match probe::prepare(&m.check, self.resolver.clone()) {
                    Ok(prepared) => {
                        rt.prepared = prepared;
                        rt.machine.set_policy(m.incident.clone());
                        rt.timeline.set_max_gap(max_gap(&m));
                        rt.config = m.clone();
                        let owned = rt.owned;
                        self.snapshots.update(id, |s| {
                            s.name = m.name.clone();
                            s.target = m.check.describe();
                            s.tags = m.tags.clone();
                            s.interval_secs = m.interval.as_secs();
                        });
                        if owned {
                            self.scheduler.upsert(id, m.interval, m.check.destination(), Timestamp::now());
                        }
                    }
                    Err(e) => tracing::error!(monitor = %id, error = %e, "monitor not updated"),
                },
                None => {
                    if let Err(e) = self.add_monitor(&m, &empty, !self.shared_store) {
                        tracing::error!(error = %e, "monitor not added");
                    }
                }
            }
        }
        self.scheduler.set_limits(new.scheduler);
        if let Some(change) =
            self.connectivity.set_canaries(new.monitors.iter().filter(|m| m.canary).map(|m| m.id.clone()))
        {
            let _ = self.lost_tx.send(change == ConnectivityChange::Lost);
        }
        let rows: Vec<MonitorConfig> = changed.iter().filter_map(|id| new.monitor(id).cloned()).collect();
        writer_monitor_rows(&self.writer, &rows);
        let _ = self.ids_tx.send(new.monitors.iter().map(|m| m.id.clone()).collect());
        self.config = new;
        tracing::info!(changed = changed.len(), removed = removed.len(), "configuration reloaded");
        let _ = self.events.send(Event::Reloaded { changed: changed.clone(), removed: removed.clone() });
        ReloadSummary { changed, removed }
    }

    fn on_done(&mut self, Done { start, mut outcome }: Done) {
        let now = Timestamp::now();
        self.scheduler.finished(&start.id, start.due, now);
        outcome.recheck = start.recheck;
        let Some(rt) = self.monitors.get_mut(&start.id) else { return };
        if !rt.owned {
            return; // the lease moved while the check ran: the new holder's checks count
        }
        let id = start.id.clone();
        let at = outcome.at;

        // The monitor's own connectivity first: a canary's result can change how this one is read.
        let connectivity_change = self.connectivity.observe(&id, outcome.status);
        let lost = self.connectivity.lost();
        if lost && !rt.config.canary && outcome.status.is_failure() {
            outcome.summary = crate::check::clip(
                &format!("unknown (monitor offline: canaries down): {}", outcome.summary),
                crate::check::MAX_SUMMARY,
            );
            outcome.status = Status::Unknown;
        }

        let window =
            maintenance::active_window(&self.config.maintenance, &id, &rt.config.tags, at).map(|w| w.name.clone());
        let maintenance_change = match (&rt.maintenance, &window) {
            (None, None) => None,
            (Some(old), Some(new)) if old == new || old.is_empty() => None,
            (_, w) => Some(w.clone()),
        };
        rt.maintenance = window.clone();

        let judgement = rt.machine.observe(&Observation {
            at,
            status: outcome.status,
            recheck: outcome.recheck,
            cause: outcome.cause.clone(),
            server_text: outcome.server_text.clone(),
        });
        if let Some(recheck_at) = judgement.recheck_at {
            self.scheduler.recheck(&id, recheck_at);
        }

        let mut incidents = Vec::new();
        for e in &judgement.events {
            match e {
                IncidentEvent::Opened(o) => incidents.push(IncidentChange::Open(o.clone())),
                IncidentEvent::Escalated { .. } | IncidentEvent::FlappingStarted | IncidentEvent::FlappingStopped => {
                    if let Some(o) = rt.machine.open_incident() {
                        incidents.push(IncidentChange::Update(o.clone()));
                    }
                }
                IncidentEvent::Recovered { started, ended } => {
                    incidents.push(IncidentChange::Close { started: *started, ended: *ended })
                }
            }
        }

        let silenced = window.is_some() || (lost && !rt.config.canary);
        let before_notified = rt.alerts.notified;
        let before_cert = rt.alerts.cert_threshold;
        let before_published = rt.alerts.published.clone();
        let alerts = rt.config.alert.decide(
            &id,
            &mut rt.alerts,
            AlertInput {
                at,
                open: rt.machine.open_incident(),
                cert_days_left: outcome.cert_days_left.filter(|_| outcome.status != Status::Unknown),
                published: outcome.published.as_deref().filter(|_| outcome.status != Status::Unknown),
                silenced,
                silence_ended_recently: rt.silenced && !silenced,
            },
        );
        rt.silenced = silenced;
        if rt.alerts.notified != before_notified {
            // What people were told goes with the incident row; a cleared memory ends the old incident's.
            if let Some(old) = before_notified
                && rt.alerts.notified.is_none_or(|n| n.started != old.started)
            {
                incidents.push(IncidentChange::Notified { started: old.started, notified: None });
            }
            if let Some(n) = rt.alerts.notified {
                incidents.push(IncidentChange::Notified { started: n.started, notified: Some(n) });
            }
        }

        let class = if window.is_some() {
            Class::Maintenance
        } else if outcome.status == Status::Unknown {
            Class::Unknown
        } else {
            match judgement.state {
                State::Up => Class::Up,
                State::Pending => Class::Pending,
                State::Degraded => Class::Degraded,
                State::Down => Class::Down,
                State::Unknown => Class::Unknown,
                State::Flapping => match outcome.status {
                    Status::Up => Class::Up,
                    Status::Degraded => Class::Degraded,
                    _ => Class::Down,
                },
            }
        };
        let slices = rt.timeline.record(at, class);
        let state_change = (judgement.state != rt.state).then_some(judgement.state);
        let from = rt.state;
        rt.state = judgement.state;

        let channels = rt.config.channels.clone();
        let outbox: Vec<OutboxEntry> =
            alerts.iter().map(|a| OutboxEntry { alert: a.clone(), channels: channels.clone() }).collect();
        let mut transition = Transition {
            monitor: id.clone(),
            at,
            incidents,
            alerts: outbox,
            state: state_change,
            cert_threshold: (rt.alerts.cert_threshold != before_cert).then_some(rt.alerts.cert_threshold),
            published: rt.alerts.published.clone().filter(|p| before_published.as_ref() != Some(p)).map(Box::new),
            maintenance: maintenance_change.clone(),
        };
        let mut offline_alerts = Vec::new();
        if let Some(change) = connectivity_change {
            let _ = self.lost_tx.send(change == ConnectivityChange::Lost);
            let online = change == ConnectivityChange::Restored;
            if online {
                tracing::warn!("connectivity restored: a canary passed");
            } else {
                tracing::error!("connectivity lost: every canary fails; results are unknown and alerts are held");
            }
            let kind = if online { AlertKind::MonitorOnline } else { AlertKind::MonitorOffline };
            let alert = Alert {
                dedup_key: format!("{}:{}:{}", self.config.service.instance, kind.as_str(), at.0),
                kind,
                monitor: None,
                at,
                incident_started: None,
                severity: None,
                cause: None,
                server_text: None,
                threshold_days: None,
                days_left: None,
                after_silence: false,
                changes: Vec::new(),
            };
            let all: BTreeSet<String> = self.config.monitors.iter().flat_map(|m| m.channels.iter().cloned()).collect();
            transition.alerts.push(OutboxEntry { alert: alert.clone(), channels: all.into_iter().collect() });
            offline_alerts.push(alert);
            let _ = self.events.send(Event::Connectivity { online, at });
        }

        let outcome = Arc::new(outcome);
        self.writer.check(CheckOutcome::clone(&outcome), window.is_some(), slices);
        let changed = !transition.incidents.is_empty()
            || !transition.alerts.is_empty()
            || transition.state.is_some()
            || transition.cert_threshold.is_some()
            || transition.published.is_some()
            || transition.maintenance.is_some();
        if changed {
            self.writer.transition(transition);
        }

        let incident = rt.machine.open_incident().cloned();
        self.snapshots.update(&id, |s| {
            s.state = judgement.state;
            s.last_status = Some(outcome.status);
            s.last_check = Some(outcome.clone());
            s.incident = incident;
            s.maintenance = window.clone();
            s.checks += 1;
            if state_change.is_some() {
                s.since = Some(at);
            }
        });

        if let Some(to) = state_change {
            let level_warn = matches!(to, State::Down | State::Degraded | State::Flapping);
            if level_warn {
                tracing::warn!(monitor = %id, from = from.as_str(), to = to.as_str(), cause = outcome.cause.as_deref().unwrap_or(""), "{}", outcome.summary);
            } else {
                tracing::info!(monitor = %id, from = from.as_str(), to = to.as_str(), "{}", outcome.summary);
            }
            let _ = self.events.send(Event::StateChanged { monitor: id.clone(), from, to, at });
        }
        for e in judgement.events {
            let _ = self.events.send(Event::Incident { monitor: id.clone(), event: e });
        }
        for a in alerts.into_iter().chain(offline_alerts) {
            tracing::info!(monitor = %id, kind = a.kind.as_str(), key = %a.dedup_key, "alert queued");
            let _ = self.events.send(Event::Alert { alert: a });
        }
        let _ = self.events.send(Event::Check { outcome, state: judgement.state });
    }
}

/// Puts what storage remembers into a runtime: its open incident, what people were told, the certificate
/// threshold announced, an open maintenance mark.
fn restore(rt: &mut Runtime, resume: &ResumeState) {
    let id = &rt.config.id;
    let open = resume.open.get(id).cloned();
    rt.machine = IncidentMachine::restore(rt.config.incident.clone(), open);
    rt.alerts.notified = resume.notified.get(id).copied();
    rt.alerts.cert_threshold = resume.cert_threshold.get(id).copied();
    rt.alerts.published = resume.published.get(id).cloned();
    if resume.maintenance.contains_key(id) {
        rt.maintenance = Some(String::new()); // a window was open; its name comes back with the next check
    }
    rt.state = match (rt.machine.open_incident(), resume.last_state.get(id)) {
        (Some(_), _) => rt.machine.state(),
        (None, Some((_, s))) if !matches!(s, State::Degraded | State::Down | State::Flapping) => *s,
        _ => State::Unknown,
    };
}

async fn sleep_until_opt(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn lease_task(
    store: Arc<dyn Store>,
    owner: String,
    lease: crate::config::LeaseConfig,
    ids: watch::Receiver<Vec<MonitorId>>,
    control: mpsc::UnboundedSender<Control>,
) {
    let mut held: BTreeSet<MonitorId> = BTreeSet::new();
    // Stop checking a little before the lease can expire for others (clock skew, the renewal's own time).
    // Half the slack between renewals and expiry, at most 2 s: a renewal may run late by the other half.
    let margin = ((lease.ttl - lease.renew_every) / 2).min(Duration::from_secs(2));
    loop {
        let started = tokio::time::Instant::now();
        let now = Timestamp::now();
        let wanted = ids.borrow().clone();
        match tokio::time::timeout(lease.renew_every, store.acquire_leases(&owner, &wanted, now, now + lease.ttl)).await
        {
            Ok(Ok(owned)) => {
                let gained = owned.iter().any(|id| !held.contains(id));
                let resume = if gained {
                    match store.resume_state().await {
                        Ok(r) => Some(Box::new(r)),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read state for newly taken leases; retrying");
                            tokio::time::sleep(lease.renew_every / 4).await;
                            continue;
                        }
                    }
                } else {
                    None
                };
                held = owned.iter().cloned().collect();
                let valid_until = started + lease.ttl - margin;
                if control.send(Control::Leases { owned, valid_until, resume }).is_err() {
                    return;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "lease renewal failed"),
            Err(_) => tracing::warn!("lease renewal timed out"),
        }
        tokio::time::sleep_until(started + lease.renew_every).await;
    }
}

async fn retention_task(store: Arc<dyn Store>, retention: crate::config::Retention, every: Duration) {
    tokio::time::sleep(every / 10).await;
    loop {
        let now = Timestamp::now();
        let mut deleted = 0u64;
        match store.monitors().await {
            Ok(monitors) => {
                for m in monitors {
                    // Small batches with pauses: a prune never holds the database long enough to stall writes.
                    loop {
                        match store.prune_results(&m.id, now - retention.raw, 1000).await {
                            Ok(n) => {
                                deleted += n;
                                if n < 1000 {
                                    break;
                                }
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "retention: prune failed; next round retries");
                                break;
                            }
                        }
                    }
                }
                match store.prune_old(now - retention.rollups, now - retention.rollups).await {
                    Ok(n) => deleted += n,
                    Err(e) => tracing::warn!(error = %e, "retention: prune of old rollups failed"),
                }
                if deleted > 0 {
                    tracing::info!(deleted, "retention pass done");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention: cannot list monitors"),
        }
        tokio::time::sleep(every).await;
    }
}
