//! Alert delivery: the dispatcher task that takes alerts from the outbox and sends them to their channels — a
//! generic JSON webhook, Slack, Microsoft Teams, email through an SMTP relay.
//!
//! - **From the outbox.** The engine writes each alert in the transaction that changed the state; the
//!   dispatcher claims rows with a conditional update (one claimer wins, so several instances never send one
//!   alert twice), keeps its claims alive while it works on them, and records every attempt in
//!   `alert_deliveries`. A row finishes `delivered`, `partial`, `failed` or `suppressed`; a retry due later
//!   than [`DeliveryOptions::hold_in_memory`] goes back to the outbox with its time.
//! - **Retries.** A failed attempt is tried again after an exponential back-off with jitter
//!   (`retry_initial` doubling up to `retry_max`), or after the receiver's `Retry-After` when that is longer —
//!   which also pauses the whole channel. A rejection (a 4xx answer, a 5xx SMTP reply) is not tried again. An
//!   alert not delivered `give_up_after` after it was decided is given up (`expired`).
//! - **Pacing.** Per channel a token bucket (`max_per_minute`, `burst`) and a cap on requests in flight
//!   (`concurrency`); over all channels [`DeliveryOptions::max_in_flight`]. Thirty incidents at once are sent
//!   at the channel's pace, not in one burst that the receiver answers with 429.
//! - **Grouping.** With `group_wait` set, a channel collects alerts for that long and sends them as one message
//!   (at most [`content::MAX_GROUP`]), then at most one message per `group_interval` — Alertmanager's
//!   `group_wait`/`group_interval`, grouped by channel.
//! - **Faults.** A failing channel is visible in [`ChannelHealth`] (through
//!   [`crate::engine::EngineHandle::delivery_status`]) and logged once when it starts failing and once when it
//!   recovers. When storage itself fails, the writer hands the alerts it cannot write to the dispatcher, which
//!   sends them from memory and records the attempts once the rows are written: a full disk or a locked
//!   database does not stop alerts.
//!
//! Delivery is at least once: a crash between a receiver's answer and the record of it sends that message
//! again after the restart. Every message carries the alert's stable id (the JSON `id`, an `Idempotency-Key`
//! header, the email's Message-ID) for receivers that drop repeats.

pub mod content;

mod channel;
mod dispatcher;
mod email;
mod pacing;
mod webhook;

use std::time::Duration;

use crate::alert::{Alert, AlertKind};
use crate::clock::Timestamp;
use crate::config::{ChannelConfig, Config};

pub(crate) use dispatcher::{DispatcherHandle, Setup, spawn};

/// A test notification did not get through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelTestError {
    /// The configuration has no channel of that name.
    #[error("no channel named {0:?}")]
    NoSuchChannel(String),
    /// It could not be delivered now (a timeout, a refused connection, a 5xx or 429 answer, a 4xx SMTP reply):
    /// a real alert would be tried again.
    #[error("not delivered: {0}")]
    Failed(String),
    /// The receiver refused it (a 4xx answer, a 5xx SMTP reply): a real alert would be given up.
    #[error("refused: {0}")]
    Rejected(String),
    /// Alert delivery is off or has stopped.
    #[error("alert delivery is not running")]
    NotRunning,
}

/// Sends one test notification (`event: "test"`) through the channel `name` of `config` now — outside the
/// outbox, not recorded, not paced — and returns what the receiver said. For checking a channel's settings
/// (`smtp-probe-monitor test-channel`); a running engine does the same with
/// [`EngineHandle::test_channel`](crate::engine::EngineHandle::test_channel).
pub async fn send_test(config: &Config, name: &str) -> Result<String, ChannelTestError> {
    let channel = config.channels.get(name).ok_or_else(|| ChannelTestError::NoSuchChannel(name.to_owned()))?;
    test_channel(name, channel, &config.service.ehlo_name, &config.service.instance).await
}

pub(crate) async fn test_channel(
    name: &str,
    channel: &ChannelConfig,
    ehlo: &str,
    instance: &str,
) -> Result<String, ChannelTestError> {
    let sender = channel::Sender::build(name, channel, ehlo);
    let at = Timestamp::now();
    let note = content::Notification {
        alert: Alert {
            dedup_key: format!("{instance}:test:{}", at.0),
            kind: AlertKind::Test,
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
        },
        monitor: None,
    };
    let timeout = channel.delivery.timeout;
    match tokio::time::timeout(timeout, sender.send(std::slice::from_ref(&note), instance)).await {
        Ok(Outcome::Delivered(said)) => Ok(said),
        Ok(Outcome::Retry { detail, .. }) => Err(ChannelTestError::Failed(detail)),
        Ok(Outcome::Rejected(detail)) => Err(ChannelTestError::Rejected(detail)),
        Err(_) => Err(ChannelTestError::Failed(format!("no answer within {}", humantime::format_duration(timeout)))),
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The receiver took it (what it said).
    Delivered(String),
    /// Try again: a timeout, a refused connection, a 5xx or 429 answer, a 4xx SMTP reply; `after` is the
    /// receiver's `Retry-After`.
    Retry { detail: String, after: Option<Duration> },
    /// The receiver refused it for good (a 4xx HTTP answer, a 5xx SMTP reply): not tried again.
    Rejected(String),
}

/// Whether a channel delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Its last attempt succeeded, or it has not been tried.
    Ok,
    /// Its last attempt failed.
    Failing,
}

/// One channel's health and counters (for the API, `/healthz` and metrics).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelHealth {
    /// The channel's name in the configuration.
    pub name: String,
    /// `webhook`, `slack`, `teams` or `email`.
    pub kind: &'static str,
    /// Delivering or failing.
    pub state: ChannelState,
    /// Since when it is in this state (since start, for `ok` without attempts).
    pub since: Timestamp,
    /// What the last failed attempt met (the URL is never part of it).
    pub last_error: Option<String>,
    /// The last attempt.
    pub last_attempt: Option<Timestamp>,
    /// The last delivered message.
    pub last_success: Option<Timestamp>,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// The receiver asked to wait (`Retry-After`) until then.
    pub paused_until: Option<Timestamp>,
    /// Alerts waiting for this channel in this instance's memory (more may wait in the outbox).
    pub queued: usize,
    /// Messages being sent now.
    pub in_flight: usize,
    /// Messages attempted since start.
    pub attempts_total: u64,
    /// Attempts that failed since start.
    pub failures_total: u64,
    /// Alerts delivered since start (a grouped message counts each alert in it).
    pub delivered_total: u64,
    /// Alerts given up since start (rejected by the receiver, or past their deadline).
    pub given_up_total: u64,
}

/// The dispatcher as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryStatus {
    /// Whether this instance delivers alerts.
    pub running: bool,
    /// Every configured channel, by name.
    pub channels: Vec<ChannelHealth>,
    /// Outbox rows this instance holds claims on.
    pub claimed: usize,
    /// Alerts known only in memory, because storage could not write them yet.
    pub held_in_memory: usize,
    /// Delivery attempts not yet recorded (storage failing).
    pub unrecorded_attempts: usize,
}

/// Tuning of the dispatcher that is not part of the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// How often the outbox is polled when nothing wakes the dispatcher (new alerts wake it at once).
    pub poll_every: Duration,
    /// How long a claim on an outbox row lasts; it is renewed while the row is worked on.
    pub claim_ttl: Duration,
    /// A retry due later than this goes back to the outbox instead of waiting in memory.
    pub hold_in_memory: Duration,
    /// How long an alert the writer could not store waits before it is sent from memory (a short lock
    /// clears by then, and the alert goes the usual way).
    pub held_grace: Duration,
    /// Messages in flight over all channels.
    pub max_in_flight: usize,
    /// Outbox rows held in memory at once (the rest wait in the outbox).
    pub max_claimed: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            poll_every: Duration::from_secs(5),
            claim_ttl: Duration::from_secs(60),
            hold_in_memory: Duration::from_secs(30),
            held_grace: Duration::from_secs(3),
            max_in_flight: 32,
            max_claimed: 2000,
        }
    }
}
