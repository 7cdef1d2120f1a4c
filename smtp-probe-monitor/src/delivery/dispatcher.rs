//! The dispatcher task. One task owns every decision (what is due, which channel may send, what is recorded);
//! sends run as their own tasks in a `JoinSet` (aborted with the dispatcher) and report back, so a slow
//! receiver holds up nothing but its own channel's slot.
//!
//! An alert in memory is a [`Tracked`]: the outbox row it came from (when known), and per channel a
//! [`Target`] — due at a time, in flight, or done. The database stays the record: attempts are written as they
//! end, a row is finished when every channel is done, and a retry due later than `hold_in_memory` goes back to
//! the outbox. When storage fails, records wait in memory (`unsaved`) and are written when it is back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::channel::ChannelRt;
use super::content::{MAX_GROUP, MonitorInfo, Notification};
use super::pacing::backoff;
use super::{DeliveryOptions, DeliveryStatus, Outcome};
use crate::alert::Alert;
use crate::clock::Timestamp;
use crate::config::ChannelConfig;
use crate::events::Event;
use crate::snapshot::Snapshots;
use crate::storage::writer::{AlertNotice, StorageHealth};
use crate::storage::{ClaimedAlert, DeliveryRecord, Store, StoreError};

/// A tracked alert with no row this instance could claim for this long is let go (another instance holds it).
const UNCLAIMED_LIMIT: Duration = Duration::from_secs(600);

/// Everything the dispatcher starts from.
pub(crate) struct Setup {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) instance: String,
    pub(crate) shared_store: bool,
    pub(crate) ehlo: String,
    pub(crate) channels: BTreeMap<String, ChannelConfig>,
    pub(crate) snapshots: Snapshots,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) options: DeliveryOptions,
    pub(crate) notices: mpsc::UnboundedReceiver<AlertNotice>,
    /// The writer's view of storage: while it fails, the dispatcher leaves the database alone.
    pub(crate) storage: tokio::sync::watch::Receiver<StorageHealth>,
}

enum Control {
    Channels(BTreeMap<String, ChannelConfig>),
    Test { channel: String, reply: oneshot::Sender<Result<String, super::ChannelTestError>> },
    Shutdown { grace: Duration, reply: oneshot::Sender<()> },
}

/// Talks to a running dispatcher.
#[derive(Clone)]
pub(crate) struct DispatcherHandle {
    control: mpsc::UnboundedSender<Control>,
    status: Arc<Mutex<DeliveryStatus>>,
}

impl DispatcherHandle {
    /// The channels after a reload.
    pub(crate) fn set_channels(&self, channels: BTreeMap<String, ChannelConfig>) {
        let _ = self.control.send(Control::Channels(channels));
    }

    /// Sends what is due within `grace`, records everything, gives the rest back to the outbox.
    pub(crate) async fn shutdown(&self, grace: Duration) {
        let (reply, rx) = oneshot::channel();
        if self.control.send(Control::Shutdown { grace, reply }).is_ok() {
            let _ = tokio::time::timeout(grace + Duration::from_secs(10), rx).await;
        }
    }

    /// Sends a test notification through a channel as configured now.
    pub(crate) async fn test(&self, channel: &str) -> Result<String, super::ChannelTestError> {
        let (reply, rx) = oneshot::channel();
        self.control
            .send(Control::Test { channel: channel.to_owned(), reply })
            .map_err(|_| super::ChannelTestError::NotRunning)?;
        rx.await.map_err(|_| super::ChannelTestError::NotRunning)?
    }

    pub(crate) fn status(&self) -> DeliveryStatus {
        self.status.lock().expect("delivery status lock").clone()
    }
}

/// Starts the dispatcher on the current runtime.
pub(crate) fn spawn(setup: Setup) -> (DispatcherHandle, tokio::task::JoinHandle<()>) {
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let status = Arc::new(Mutex::new(DeliveryStatus { running: true, ..DeliveryStatus::default() }));
    let now = Timestamp::now();
    let span = tracing::info_span!("delivery", instance = %setup.instance);
    let channels = setup
        .channels
        .iter()
        .map(|(name, c)| (name.clone(), ChannelRt::new(name, c.clone(), &setup.ehlo, now)))
        .collect();
    let d = Dispatcher {
        store: setup.store,
        instance: Arc::from(setup.instance.as_str()),
        shared_store: setup.shared_store,
        ehlo: setup.ehlo,
        snapshots: setup.snapshots,
        events: setup.events,
        options: setup.options,
        channels,
        tracked: HashMap::new(),
        sends: JoinSet::new(),
        in_flight: 0,
        next_claim: now,
        next_renew: now + setup.options.claim_ttl / 3,
        next_gc: now + Duration::from_secs(60),
        dirty: BTreeSet::new(),
        persist_retry_at: None,
        persist_backoff: Duration::ZERO,
        status: status.clone(),
        stopping: None,
        storage: setup.storage,
    };
    d.publish(now); // the channels are visible from the start
    let task = tokio::spawn(d.run(control_rx, setup.notices).instrument(span));
    (DispatcherHandle { control: control_tx, status }, task)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetState {
    Due(Timestamp),
    InFlight,
    /// `delivered`, `rejected`, `expired` or `skipped`.
    Done(&'static str),
}

#[derive(Debug, Clone)]
struct Target {
    /// Attempts so far, recorded or not.
    attempts: u32,
    state: TargetState,
}

/// One alert in memory.
#[derive(Debug, Clone)]
struct Tracked {
    alert: Alert,
    /// The outbox row, once this instance claimed it.
    outbox_id: Option<i64>,
    /// The row exists in the outbox (false: storage could not write it yet).
    durable: bool,
    /// Per channel.
    targets: BTreeMap<String, Target>,
    /// Attempts not yet recorded.
    unsaved: Vec<DeliveryRecord>,
    /// When it came into memory.
    since: Timestamp,
}

impl Tracked {
    fn in_flight(&self) -> bool {
        self.targets.values().any(|t| t.state == TargetState::InFlight)
    }

    fn next_due(&self) -> Option<Timestamp> {
        self.targets
            .values()
            .filter_map(|t| match t.state {
                TargetState::Due(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// The row's final status once every target is done.
    fn final_status(&self) -> &'static str {
        let considered: Vec<&'static str> = self
            .targets
            .values()
            .filter_map(|t| match t.state {
                TargetState::Done("skipped") => None,
                TargetState::Done(s) => Some(s),
                _ => Some("pending"),
            })
            .collect();
        let delivered = considered.iter().filter(|s| **s == "delivered").count();
        match (considered.len(), delivered) {
            (0, _) => "suppressed",
            (n, d) if n == d => "delivered",
            (_, 0) => "failed",
            _ => "partial",
        }
    }
}

struct Sent {
    channel: String,
    keys: Vec<String>,
    outcome: Outcome,
    at: Timestamp,
}

struct Dispatcher {
    store: Arc<dyn Store>,
    instance: Arc<str>,
    shared_store: bool,
    ehlo: String,
    snapshots: Snapshots,
    events: broadcast::Sender<Event>,
    options: DeliveryOptions,
    channels: BTreeMap<String, ChannelRt>,
    tracked: HashMap<String, Tracked>,
    sends: JoinSet<Sent>,
    in_flight: usize,
    next_claim: Timestamp,
    next_renew: Timestamp,
    next_gc: Timestamp,
    /// Alerts whose state in the database lags behind memory.
    dirty: BTreeSet<String>,
    persist_retry_at: Option<Timestamp>,
    persist_backoff: Duration,
    status: Arc<Mutex<DeliveryStatus>>,
    stopping: Option<(tokio::time::Instant, oneshot::Sender<()>)>,
    storage: tokio::sync::watch::Receiver<StorageHealth>,
}

/// The monitor an alert is about, as the snapshot knows it (a monitor no longer configured shows its id).
fn monitor_info(snapshots: &Snapshots, alert: &Alert) -> Option<MonitorInfo> {
    let id = alert.monitor.as_ref()?;
    Some(match snapshots.get(id) {
        Some(s) => MonitorInfo { id: id.clone(), name: s.name, target: s.target, tags: s.tags },
        None => MonitorInfo { id: id.clone(), name: id.to_string(), target: String::new(), tags: Vec::new() },
    })
}

/// A delivery status that ends a channel's part in an alert.
fn final_status(s: &str) -> Option<&'static str> {
    match s {
        "delivered" => Some("delivered"),
        "rejected" => Some("rejected"),
        "expired" => Some("expired"),
        "skipped" => Some("skipped"),
        _ => None,
    }
}

impl Dispatcher {
    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut notices: mpsc::UnboundedReceiver<AlertNotice>,
    ) {
        // Claims a previous run left are stale: on a single-instance store every one, on a shared store this
        // instance's (other instances' claims expire on their own).
        let owner = self.shared_store.then(|| self.instance.to_string());
        match self.store.release_claims(owner.as_deref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "alerts claimed by a previous run are taken up again"),
            Err(e) => tracing::debug!(error = %e, "cannot release old claims; they expire on their own"),
        }
        let mut notices_open = true;
        loop {
            let now = Timestamp::now();
            // While the writer finds storage failing, every statement here would wait on the same lock or full
            // disk: leave it alone (alerts the writer holds come as notices) and look again when it is back.
            let storage_ok = self.storage.borrow().ok;
            if storage_ok && now >= self.next_claim {
                self.claim(now).await;
            }
            if storage_ok && now >= self.next_renew {
                self.renew(now).await;
            }
            if now >= self.next_gc {
                self.gc(now);
            }
            self.dispatch(now);
            if storage_ok && !self.dirty.is_empty() && self.persist_retry_at.is_none_or(|t| now >= t) {
                self.persist_dirty(now).await;
            }
            self.publish(now);
            if let Some((deadline, _)) = &self.stopping {
                let idle = self.in_flight == 0
                    && self.channels.values().all(|c| c.queue.first().is_none_or(|(due, _)| *due > now));
                if idle || tokio::time::Instant::now() >= *deadline {
                    self.release_all(Timestamp::now()).await;
                    if let Some((_, reply)) = self.stopping.take() {
                        let _ = reply.send(());
                    }
                    let mut s = self.status.lock().expect("delivery status lock");
                    s.running = false;
                    return;
                }
            }
            let wake = self.next_wake(now, storage_ok);
            let sleep = wake.since(Timestamp::now()).max(Duration::from_millis(1));
            tokio::select! {
                Some(done) = self.sends.join_next(), if !self.sends.is_empty() => {
                    if let Ok(sent) = done {
                        self.on_sent(sent);
                    }
                    while let Some(done) = self.sends.try_join_next() {
                        if let Ok(sent) = done {
                            self.on_sent(sent);
                        }
                    }
                }
                n = notices.recv(), if notices_open => match n {
                    Some(n) => {
                        self.on_notice(n, Timestamp::now());
                        while let Ok(n) = notices.try_recv() {
                            self.on_notice(n, Timestamp::now());
                        }
                    }
                    None => notices_open = false,
                },
                c = control.recv() => match c {
                    Some(Control::Channels(c)) => self.set_channels(c, Timestamp::now()),
                    Some(Control::Test { channel, reply }) => {
                        // Off the loop: a slow receiver must not hold up deliveries.
                        let config = self.channels.get(&channel).map(|c| c.config.clone());
                        let (ehlo, instance) = (self.ehlo.clone(), self.instance.clone());
                        tokio::spawn(async move {
                            let result = match config {
                                Some(c) => super::test_channel(&channel, &c, &ehlo, &instance).await,
                                None => Err(super::ChannelTestError::NoSuchChannel(channel)),
                            };
                            let _ = reply.send(result);
                        });
                    }
                    Some(Control::Shutdown { grace, reply }) => {
                        // One last look at the outbox: alerts written at shutdown go out if they can.
                        self.next_claim = Timestamp::now();
                        self.stopping = Some((tokio::time::Instant::now() + grace, reply));
                    }
                    None => return,
                },
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }

    fn next_wake(&mut self, now: Timestamp, storage_ok: bool) -> Timestamp {
        let mut wake = if self.stopping.is_some() { now + Duration::from_millis(100) } else { self.next_claim };
        if self.tracked.values().any(|t| t.outbox_id.is_some()) {
            wake = wake.min(self.next_renew);
        }
        if !self.dirty.is_empty() {
            wake = wake.min(self.persist_retry_at.unwrap_or(now));
        }
        if !storage_ok {
            // The database work waits for storage; look again shortly.
            wake = wake.max(now + Duration::from_millis(500));
        }
        wake = wake.min(self.next_gc);
        if self.in_flight < self.options.max_in_flight {
            for c in self.channels.values_mut() {
                if let Some(at) = c.next_start(now) {
                    wake = wake.min(at);
                }
            }
        }
        wake
    }

    // ------------------------------------------------------------------------------------------ from storage

    async fn claim(&mut self, now: Timestamp) {
        self.next_claim = now + self.options.poll_every;
        if self.stopping.is_some() {
            self.next_claim = now + Duration::from_secs(3600); // one last claim only
        }
        let claimed = self.tracked.values().filter(|t| t.outbox_id.is_some()).count();
        let room = self.options.max_claimed.saturating_sub(claimed).min(500);
        if room == 0 {
            return;
        }
        let rows = match self
            .store
            .claim_alerts(&self.instance, now, now + self.options.claim_ttl, u32::try_from(room).unwrap_or(500))
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                // Storage health reports the fault; the next poll tries again.
                tracing::debug!(error = %e, "cannot claim alerts");
                return;
            }
        };
        if rows.len() == room && self.stopping.is_none() {
            self.next_claim = now; // more are waiting
        }
        for row in rows {
            self.adopt(row, now).await;
        }
    }

    /// Takes a claimed row into memory, continuing from its recorded attempts.
    async fn adopt(&mut self, row: ClaimedAlert, now: Timestamp) {
        let key = row.alert.dedup_key.clone();
        if let Some(t) = self.tracked.get_mut(&key) {
            // Sent from memory while storage failed, or its records are still unsaved: tie them to the row.
            t.outbox_id = Some(row.id);
            t.durable = true;
            for r in &mut t.unsaved {
                r.outbox_id = row.id;
            }
            self.dirty.insert(key);
            return;
        }
        let history = match self.store.deliveries_of(row.id).await {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(error = %e, alert = %key, "cannot read the alert's attempts; it waits");
                let _ = self.store.finish_alert(row.id, "retrying", now, Some(now + Duration::from_secs(5))).await;
                return;
            }
        };
        let mut channels = row.channels.clone();
        channels.sort();
        channels.dedup();
        let mut t = Tracked {
            alert: row.alert,
            outbox_id: Some(row.id),
            durable: true,
            targets: BTreeMap::new(),
            unsaved: Vec::new(),
            since: now,
        };
        for ch in channels {
            let mine = history.iter().filter(|d| d.channel == ch);
            let attempts = u32::try_from(mine.clone().count()).unwrap_or(u32::MAX);
            let done = mine.filter_map(|d| final_status(&d.status)).next_back();
            let state = match done {
                Some(s) => TargetState::Done(s),
                None => match self.channels.get_mut(&ch) {
                    // The first attempt waits for its group; a retry is due now (the outbox said so).
                    Some(c) if attempts == 0 => TargetState::Due(c.first_due(t.alert.at, now)),
                    Some(_) => TargetState::Due(now),
                    None => {
                        t.unsaved.push(DeliveryRecord {
                            outbox_id: row.id,
                            channel: ch.clone(),
                            attempt: i64::from(attempts) + 1,
                            at: now,
                            status: "skipped".into(),
                            detail: Some("no channel of this name is configured".into()),
                        });
                        TargetState::Done("skipped")
                    }
                },
            };
            if let TargetState::Due(at) = state
                && let Some(c) = self.channels.get_mut(&ch)
            {
                c.queue.insert((at, key.clone()));
            }
            t.targets.insert(ch, Target { attempts, state });
        }
        self.tracked.insert(key.clone(), t);
        self.dirty.insert(key);
    }

    fn on_notice(&mut self, notice: AlertNotice, now: Timestamp) {
        match notice {
            AlertNotice::Held(entries) => {
                for e in entries {
                    let key = e.alert.dedup_key.clone();
                    if self.tracked.contains_key(&key) {
                        continue;
                    }
                    tracing::warn!(alert = %key, "storage cannot take the alert; it goes out from memory");
                    let mut t = Tracked {
                        alert: e.alert,
                        outbox_id: None,
                        durable: false,
                        targets: BTreeMap::new(),
                        unsaved: Vec::new(),
                        since: now,
                    };
                    let mut channels = e.channels;
                    channels.sort();
                    channels.dedup();
                    for ch in channels {
                        let state = match self.channels.get_mut(&ch) {
                            Some(c) => {
                                let due = c.first_due(t.alert.at, now).max(now + self.options.held_grace);
                                c.queue.insert((due, key.clone()));
                                TargetState::Due(due)
                            }
                            None => TargetState::Done("skipped"),
                        };
                        t.targets.insert(ch, Target { attempts: 0, state });
                    }
                    self.tracked.insert(key, t);
                }
            }
            AlertNotice::Written(keys) => {
                for k in keys {
                    if let Some(t) = self.tracked.get_mut(&k) {
                        t.durable = true;
                    }
                }
                if self.stopping.is_none() {
                    self.next_claim = now; // new rows: claim them now, not at the next poll
                }
            }
        }
    }

    async fn renew(&mut self, now: Timestamp) {
        self.next_renew = now + self.options.claim_ttl / 3;
        let ids: Vec<i64> = self.tracked.values().filter_map(|t| t.outbox_id).collect();
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self.store.renew_claims(&self.instance, &ids, now + self.options.claim_ttl).await {
            tracing::debug!(error = %e, "cannot renew alert claims");
        }
    }

    /// Lets go of alerts known only in memory whose rows another instance holds.
    fn gc(&mut self, now: Timestamp) {
        self.next_gc = now + Duration::from_secs(60);
        let stale: Vec<String> = self
            .tracked
            .iter()
            .filter(|(_, t)| {
                t.outbox_id.is_none() && t.durable && !t.in_flight() && now.since(t.since) > UNCLAIMED_LIMIT
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            tracing::warn!(alert = %key, "another instance holds this alert's row; attempts made from memory stay unrecorded");
            self.forget(&key);
        }
    }

    fn forget(&mut self, key: &str) {
        if let Some(t) = self.tracked.remove(key) {
            for (ch, target) in &t.targets {
                if let (TargetState::Due(at), Some(c)) = (target.state, self.channels.get_mut(ch)) {
                    c.queue.remove(&(at, key.to_owned()));
                }
            }
        }
        self.dirty.remove(key);
    }

    // ------------------------------------------------------------------------------------------ sending

    fn dispatch(&mut self, now: Timestamp) {
        let names: Vec<String> = self.channels.keys().cloned().collect();
        for name in names {
            loop {
                if self.in_flight >= self.options.max_in_flight {
                    return;
                }
                let Some(ch) = self.channels.get_mut(&name) else { break };
                if !ch.can_start(now) || ch.queue.first().is_none_or(|(due, _)| *due > now) {
                    break;
                }
                if ch.bucket.next_at(now) > now {
                    break;
                }
                let d = ch.config.delivery;
                let max = if d.group_wait.is_some() { MAX_GROUP } else { 1 };
                let mut batch = Vec::new();
                let mut expired = Vec::new();
                while batch.len() < max {
                    match ch.queue.first() {
                        Some((due, _)) if *due <= now => {}
                        _ => break,
                    }
                    let (_, key) = ch.queue.pop_first().expect("checked above");
                    match self.tracked.get(&key) {
                        Some(t) if now > t.alert.at + d.give_up_after => expired.push(key),
                        Some(_) => batch.push(key),
                        None => {}
                    }
                }
                for key in expired {
                    self.give_up(&key, &name, now);
                }
                if batch.is_empty() {
                    continue;
                }
                let ch = self.channels.get_mut(&name).expect("still there");
                ch.bucket.try_take(now);
                ch.in_flight += 1;
                if d.group_wait.is_some() {
                    ch.last_group_send = Some(now);
                    ch.group_fire = None; // the next alert starts a new group
                }
                let sender = ch.sender.clone();
                self.in_flight += 1;
                let mut notes = Vec::with_capacity(batch.len());
                for key in &batch {
                    let t = self.tracked.get_mut(key).expect("batched from tracked");
                    if let Some(target) = t.targets.get_mut(&name) {
                        target.state = TargetState::InFlight;
                    }
                    notes.push(Notification {
                        monitor: monitor_info(&self.snapshots, &t.alert),
                        alert: t.alert.clone(),
                    });
                }
                let instance = self.instance.clone();
                let channel = name.clone();
                let timeout = d.timeout;
                let span = tracing::info_span!("send", channel = %name, alerts = batch.len());
                self.sends.spawn(
                    async move {
                        // The sender has its own timeouts; this one also bounds a receiver that trickles.
                        let outcome = match tokio::time::timeout(timeout, sender.send(&notes, &instance)).await {
                            Ok(o) => o,
                            Err(_) => Outcome::Retry {
                                detail: format!("no answer within {}", humantime::format_duration(timeout)),
                                after: None,
                            },
                        };
                        tracing::debug!(?outcome, "attempt done");
                        Sent { channel, keys: batch, outcome, at: Timestamp::now() }
                    }
                    .instrument(span),
                );
            }
        }
    }

    /// Ends a channel's part in an alert past its deadline without another attempt.
    fn give_up(&mut self, key: &str, channel: &str, now: Timestamp) {
        let give_up_after = self.channels.get(channel).map(|c| c.config.delivery.give_up_after);
        let Some(t) = self.tracked.get_mut(key) else { return };
        let Some(target) = t.targets.get_mut(channel) else { return };
        target.state = TargetState::Done("expired");
        let detail = format!(
            "given up: not delivered within {}",
            give_up_after.map_or_else(|| "its deadline".to_owned(), |d| humantime::format_duration(d).to_string())
        );
        tracing::error!(alert = %key, channel, "{detail}");
        t.unsaved.push(DeliveryRecord {
            outbox_id: t.outbox_id.unwrap_or(0),
            channel: channel.to_owned(),
            attempt: i64::from(target.attempts) + 1,
            at: now,
            status: "expired".into(),
            detail: Some(detail.clone()),
        });
        if let Some(c) = self.channels.get_mut(channel) {
            c.health.given_up_total += 1;
        }
        let _ = self.events.send(Event::Delivery {
            alert: key.to_owned(),
            kind: t.alert.kind,
            monitor: t.alert.monitor.clone(),
            channel: channel.to_owned(),
            status: "expired".into(),
            attempt: target.attempts + 1,
            detail,
        });
        self.dirty.insert(key.to_owned());
    }

    fn on_sent(&mut self, s: Sent) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let delivered = if matches!(s.outcome, Outcome::Delivered(_)) { s.keys.len() as u64 } else { 0 };
        let settings = match self.channels.get_mut(&s.channel) {
            Some(ch) => {
                ch.in_flight = ch.in_flight.saturating_sub(1);
                ch.record(&s.outcome, delivered, s.at);
                Some(ch.config.delivery)
            }
            None => None, // removed by a reload while this was in flight
        };
        let removed = settings.is_none();
        let settings = settings.unwrap_or_else(|| crate::config::DeliverySettings::defaults_for("webhook"));
        for key in &s.keys {
            let Some(t) = self.tracked.get_mut(key) else { continue };
            let deadline = t.alert.at + settings.give_up_after;
            let Some(target) = t.targets.get_mut(&s.channel) else { continue };
            target.attempts += 1;
            let (status, detail, state) = match &s.outcome {
                Outcome::Delivered(d) => ("delivered", d.clone(), TargetState::Done("delivered")),
                Outcome::Rejected(d) => ("rejected", d.clone(), TargetState::Done("rejected")),
                Outcome::Retry { detail, .. } if removed => (
                    "skipped",
                    format!("{detail}; the channel was removed from the configuration"),
                    TargetState::Done("skipped"),
                ),
                Outcome::Retry { detail, after } => {
                    let mut wait =
                        backoff(target.attempts, settings.retry_initial, settings.retry_max, fastrand::f64());
                    if let Some(after) = after {
                        wait = wait.max((*after).min(settings.retry_max));
                    }
                    let at = s.at + wait;
                    if at > deadline {
                        let detail =
                            format!("{detail}; given up after {}", humantime::format_duration(settings.give_up_after));
                        ("expired", detail, TargetState::Done("expired"))
                    } else {
                        ("failed", detail.clone(), TargetState::Due(at))
                    }
                }
            };
            target.state = state;
            match state {
                TargetState::Due(at) => {
                    if let Some(c) = self.channels.get_mut(&s.channel) {
                        c.queue.insert((at, key.clone()));
                    }
                }
                TargetState::Done("rejected" | "expired") => {
                    tracing::error!(alert = %key, channel = %s.channel, error = %detail, "alert not delivered: {status}");
                    if let Some(c) = self.channels.get_mut(&s.channel) {
                        c.health.given_up_total += 1;
                    }
                }
                _ => {}
            }
            let attempt = target.attempts;
            t.unsaved.push(DeliveryRecord {
                outbox_id: t.outbox_id.unwrap_or(0),
                channel: s.channel.clone(),
                attempt: i64::from(attempt),
                at: s.at,
                status: status.into(),
                detail: Some(detail.clone()),
            });
            let _ = self.events.send(Event::Delivery {
                alert: key.clone(),
                kind: t.alert.kind,
                monitor: t.alert.monitor.clone(),
                channel: s.channel.clone(),
                status: status.into(),
                attempt,
                detail,
            });
            self.dirty.insert(key.clone());
        }
    }

    // ------------------------------------------------------------------------------------------ to storage

    async fn persist_dirty(&mut self, now: Timestamp) {
        let keys: Vec<String> = self.dirty.iter().cloned().collect();
        for key in keys {
            match self.persist(&key, now).await {
                Ok(()) => {
                    self.dirty.remove(&key);
                }
                Err(e) => {
                    self.persist_backoff =
                        (self.persist_backoff * 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
                    self.persist_retry_at = Some(now + self.persist_backoff);
                    tracing::debug!(error = %e, "cannot record alert deliveries; kept and retried");
                    return;
                }
            }
        }
        self.persist_backoff = Duration::ZERO;
        self.persist_retry_at = None;
    }

    /// Writes an alert's attempts and, when nothing more is due soon, finishes or releases its row.
    async fn persist(&mut self, key: &str, now: Timestamp) -> Result<(), StoreError> {
        let Some(t) = self.tracked.get_mut(key) else { return Ok(()) };
        let Some(id) = t.outbox_id else { return Ok(()) }; // recorded once a claim ties it to its row
        while let Some(first) = t.unsaved.first() {
            let mut r = first.clone();
            r.outbox_id = id;
            self.store.record_delivery(&r).await?;
            t.unsaved.remove(0);
        }
        if t.in_flight() {
            return Ok(());
        }
        match t.next_due() {
            None => {
                let status = t.final_status();
                self.store.finish_alert(id, status, now, None).await?;
                tracing::debug!(alert = %key, status, "alert finished");
                self.forget(key);
            }
            Some(due) if due > now + self.options.hold_in_memory => {
                self.store.finish_alert(id, "retrying", now, Some(due)).await?;
                self.forget(key);
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// At shutdown: records what can be recorded and gives every claimed row back with its next time.
    async fn release_all(&mut self, now: Timestamp) {
        let keys: Vec<String> = self.tracked.keys().cloned().collect();
        for key in keys {
            let _ = self.persist(&key, now).await;
            let Some(t) = self.tracked.get(&key) else { continue };
            if let Some(id) = t.outbox_id {
                let attempted = t.targets.values().any(|x| x.attempts > 0);
                let status = if attempted { "retrying" } else { "pending" };
                let next = t.next_due().unwrap_or(now).max(now);
                if let Err(e) = self.store.finish_alert(id, status, now, Some(next)).await {
                    tracing::debug!(error = %e, alert = %key, "cannot release the alert; its claim expires on its own");
                }
            } else if t.targets.values().any(|x| !matches!(x.state, TargetState::Done(_))) {
                tracing::warn!(alert = %key, "stopping with an alert storage never took; it is lost");
            }
        }
        let unsaved: usize = self.tracked.values().map(|t| t.unsaved.len()).sum();
        if unsaved > 0 {
            tracing::warn!(attempts = unsaved, "stopping with delivery attempts that could not be recorded");
        }
    }

    fn set_channels(&mut self, new: BTreeMap<String, ChannelConfig>, now: Timestamp) {
        let removed: Vec<String> = self.channels.keys().filter(|n| !new.contains_key(*n)).cloned().collect();
        for name in removed {
            let ch = self.channels.remove(&name).expect("listed");
            for (_, key) in ch.queue {
                let Some(t) = self.tracked.get_mut(&key) else { continue };
                if let Some(target) = t.targets.get_mut(&name) {
                    target.state = TargetState::Done("skipped");
                    target.attempts += 1;
                    t.unsaved.push(DeliveryRecord {
                        outbox_id: t.outbox_id.unwrap_or(0),
                        channel: name.clone(),
                        attempt: i64::from(target.attempts),
                        at: now,
                        status: "skipped".into(),
                        detail: Some("the channel was removed from the configuration".into()),
                    });
                    self.dirty.insert(key);
                }
            }
            tracing::info!(channel = %name, "alert channel removed");
        }
        for (name, config) in new {
            match self.channels.get_mut(&name) {
                Some(ch) => ch.reconfigure(&name, config, &self.ehlo, now),
                None => {
                    let ch = ChannelRt::new(&name, config, &self.ehlo, now);
                    self.channels.insert(name, ch);
                }
            }
        }
    }

    fn publish(&self, now: Timestamp) {
        let status = DeliveryStatus {
            running: true,
            channels: self.channels.values().map(|c| c.snapshot(now)).collect(),
            claimed: self.tracked.values().filter(|t| t.outbox_id.is_some()).count(),
            held_in_memory: self.tracked.values().filter(|t| t.outbox_id.is_none() && !t.durable).count(),
            unrecorded_attempts: self.tracked.values().map(|t| t.unsaved.len()).sum(),
        };
        *self.status.lock().expect("delivery status lock") = status;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(states: &[TargetState]) -> Tracked {
        Tracked {
            alert: Alert {
                dedup_key: "k".into(),
                kind: crate::alert::AlertKind::Opened,
                monitor: None,
                at: Timestamp(0),
                incident_started: None,
                severity: None,
                cause: None,
                server_text: None,
                threshold_days: None,
                days_left: None,
                after_silence: false,
                changes: Vec::new(),
            },
            outbox_id: Some(1),
            durable: true,
            targets: states
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("c{i}"), Target { attempts: 1, state: *s }))
                .collect(),
            unsaved: Vec::new(),
            since: Timestamp(0),
        }
    }

    #[test]
    fn a_rows_final_status_sums_up_its_channels() {
        use TargetState::{Done, Due, InFlight};
        assert_eq!(tracked(&[]).final_status(), "suppressed");
        assert_eq!(tracked(&[Done("delivered"), Done("delivered")]).final_status(), "delivered");
        assert_eq!(tracked(&[Done("delivered"), Done("rejected")]).final_status(), "partial");
        assert_eq!(tracked(&[Done("expired"), Done("rejected")]).final_status(), "failed");
        assert_eq!(tracked(&[Done("skipped")]).final_status(), "suppressed", "nowhere left to send it");
        assert_eq!(tracked(&[Done("delivered"), Done("skipped")]).final_status(), "delivered");
        let t = tracked(&[Done("delivered"), Due(Timestamp(5)), Due(Timestamp(3)), InFlight]);
        assert_eq!(t.next_due(), Some(Timestamp(3)));
        assert!(t.in_flight());
    }

    #[test]
    fn only_final_delivery_statuses_end_a_channel() {
        for s in ["delivered", "rejected", "expired", "skipped"] {
            assert_eq!(final_status(s), Some(s));
        }
        assert_eq!(final_status("failed"), None, "a failed attempt is tried again");
    }
}
