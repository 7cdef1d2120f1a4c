//! One channel at run time: its sender, its pacing (token bucket, concurrency, a `Retry-After` pause, the
//! grouping clock), its queue of alerts due, and its health — logged when it changes, not per attempt.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::email::EmailSender;
use super::pacing::TokenBucket;
use super::webhook::{Format, WebhookSender};
use super::{ChannelHealth, ChannelState, Outcome};
use crate::clock::Timestamp;
use crate::config::{ChannelConfig, ChannelKind};

/// How a channel sends.
#[derive(Debug, Clone)]
pub(crate) enum Sender {
    Webhook(WebhookSender),
    Email(EmailSender),
    /// The channel could not be set up (a CA file that does not parse, ...): every attempt fails with this,
    /// and is tried again, until a reload fixes it.
    Broken(String),
}

impl Sender {
    pub(crate) fn build(name: &str, config: &ChannelConfig, ehlo: &str) -> Sender {
        let d = &config.delivery;
        let built = match &config.kind {
            ChannelKind::Webhook { url, bearer_token, ca_pem } => WebhookSender::new(
                url.clone(),
                bearer_token.clone(),
                ca_pem.as_ref().map(|(_, p)| p.as_slice()),
                Format::Json,
                d.timeout,
            )
            .map(Sender::Webhook),
            ChannelKind::Slack { url, ca_pem } => WebhookSender::new(
                url.clone(),
                None,
                ca_pem.as_ref().map(|(_, p)| p.as_slice()),
                Format::Slack,
                d.timeout,
            )
            .map(Sender::Webhook),
            ChannelKind::Teams { url, ca_pem } => WebhookSender::new(
                url.clone(),
                None,
                ca_pem.as_ref().map(|(_, p)| p.as_slice()),
                Format::Teams,
                d.timeout,
            )
            .map(Sender::Webhook),
            ChannelKind::Email(e) => EmailSender::new(e, ehlo, d.timeout, d.concurrency).map(Sender::Email),
        };
        built.unwrap_or_else(|e| {
            tracing::error!(channel = name, error = %e, "alert channel cannot be set up; its alerts wait for a fix");
            Sender::Broken(e)
        })
    }

    pub(crate) async fn send(&self, notes: &[super::content::Notification], instance: &str) -> Outcome {
        match self {
            Sender::Webhook(w) => w.send(notes, instance).await,
            Sender::Email(e) => e.send(notes, instance).await,
            Sender::Broken(e) => Outcome::Retry { detail: format!("channel not usable: {e}"), after: None },
        }
    }
}

/// A channel's run-time state, owned by the dispatcher task.
pub(crate) struct ChannelRt {
    pub(crate) config: ChannelConfig,
    pub(crate) sender: Arc<Sender>,
    pub(crate) bucket: TokenBucket,
    /// Targets waiting, by due time then alert key.
    pub(crate) queue: BTreeSet<(Timestamp, String)>,
    pub(crate) in_flight: usize,
    pub(crate) paused_until: Option<Timestamp>,
    pub(crate) last_group_send: Option<Timestamp>,
    /// When the group being collected goes out (alerts that arrive until then join it).
    pub(crate) group_fire: Option<Timestamp>,
    pub(crate) health: ChannelHealth,
}

impl ChannelRt {
    pub(crate) fn new(name: &str, config: ChannelConfig, ehlo: &str, now: Timestamp) -> ChannelRt {
        let sender = Arc::new(Sender::build(name, &config, ehlo));
        let d = config.delivery;
        ChannelRt {
            health: ChannelHealth {
                name: name.to_owned(),
                kind: config.kind.as_str(),
                state: ChannelState::Ok,
                since: now,
                last_error: match sender.as_ref() {
                    Sender::Broken(e) => Some(e.clone()),
                    _ => None,
                },
                last_attempt: None,
                last_success: None,
                consecutive_failures: 0,
                paused_until: None,
                queued: 0,
                in_flight: 0,
                attempts_total: 0,
                failures_total: 0,
                delivered_total: 0,
                given_up_total: 0,
            },
            bucket: TokenBucket::new(d.max_per_minute, d.burst, now),
            sender,
            config,
            queue: BTreeSet::new(),
            in_flight: 0,
            paused_until: None,
            last_group_send: None,
            group_fire: None,
        }
    }

    /// Takes a new configuration; the queue, counters and health stay.
    pub(crate) fn reconfigure(&mut self, name: &str, config: ChannelConfig, ehlo: &str, now: Timestamp) {
        if config == self.config {
            return;
        }
        self.sender = Arc::new(Sender::build(name, &config, ehlo));
        self.bucket = TokenBucket::new(config.delivery.max_per_minute, config.delivery.burst, now);
        self.health.kind = config.kind.as_str();
        self.config = config;
    }

    /// When a new alert for this channel should first go: now, or when the group it joins is sent. The first
    /// alert of a group sets that time (`group_wait` after it was decided, and no sooner than `group_interval`
    /// after the last group); alerts that come before it join.
    pub(crate) fn first_due(&mut self, decided: Timestamp, now: Timestamp) -> Timestamp {
        let d = self.config.delivery;
        let Some(wait) = d.group_wait else { return now };
        if let Some(fire) = self.group_fire.filter(|f| *f >= now) {
            return fire;
        }
        let mut due = (decided + wait).max(now);
        if let Some(last) = self.last_group_send {
            due = due.max(last + d.group_interval);
        }
        self.group_fire = Some(due);
        due
    }

    /// Whether the channel may start another message now.
    pub(crate) fn can_start(&self, now: Timestamp) -> bool {
        self.in_flight < self.config.delivery.concurrency && self.paused_until.is_none_or(|p| p <= now)
    }

    /// When it next could start one (for the dispatcher's timer), if it has anything queued.
    pub(crate) fn next_start(&mut self, now: Timestamp) -> Option<Timestamp> {
        if self.in_flight >= self.config.delivery.concurrency {
            return None; // a finishing send wakes the dispatcher
        }
        let (due, _) = self.queue.first()?;
        let mut at = (*due).max(self.bucket.next_at(now));
        if let Some(p) = self.paused_until {
            at = at.max(p);
        }
        Some(at)
    }

    /// Books one attempt's result into the health, logging a change of state once.
    pub(crate) fn record(&mut self, outcome: &Outcome, delivered_alerts: u64, now: Timestamp) {
        let h = &mut self.health;
        h.attempts_total += 1;
        h.last_attempt = Some(now);
        match outcome {
            Outcome::Delivered(_) => {
                h.delivered_total += delivered_alerts;
                h.last_success = Some(now);
                if h.state == ChannelState::Failing {
                    tracing::info!(
                        channel = %h.name,
                        failures = h.consecutive_failures,
                        "alert channel delivering again"
                    );
                    h.state = ChannelState::Ok;
                    h.since = now;
                }
                h.consecutive_failures = 0;
                h.last_error = None;
            }
            Outcome::Retry { detail, .. } | Outcome::Rejected(detail) => {
                h.failures_total += 1;
                h.consecutive_failures += 1;
                if h.state == ChannelState::Ok {
                    tracing::warn!(
                        channel = %h.name,
                        kind = h.kind,
                        error = %detail,
                        "alert channel failing; its alerts are kept and tried again"
                    );
                    h.state = ChannelState::Failing;
                    h.since = now;
                }
                h.last_error = Some(detail.clone());
            }
        }
        if let Outcome::Retry { after: Some(after), .. } = outcome {
            // The receiver said when: the whole channel waits, not just this alert.
            let until = now + (*after).min(self.config.delivery.retry_max).max(Duration::from_millis(1));
            self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
        }
    }

    /// The health as published.
    pub(crate) fn snapshot(&self, now: Timestamp) -> ChannelHealth {
        let mut h = self.health.clone();
        h.queued = self.queue.len();
        h.in_flight = self.in_flight;
        h.paused_until = self.paused_until.filter(|p| *p > now);
        h
    }
}
