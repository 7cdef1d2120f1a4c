//! The alert policy: which notifications an incident's life, a certificate's countdown, maintenance windows and
//! the monitor's own connectivity call for. Level-triggered: after every result the policy compares what people
//! were told ([`Notified`], persisted with the incident) with what is true now, and emits the difference. That
//! makes it hold across restarts and silences:
//!
//! - **opened** once per incident (degraded ones only when `alert_on_degraded`), **escalated** when a notified
//!   degraded incident becomes down, **recovered** once for every notified incident, **reminder** every
//!   `reminder_every` while it stays open;
//! - **certificate expiring** once per threshold crossed (30, 14, 7, 1 days by default), again only after a
//!   renewal lifts the days above the highest threshold;
//! - **policy changed** (`domain:` monitors) once per change of what the domain publishes: a new MTA-STS id or
//!   policy, a TLSA rollover (saying whether the live certificate still matches), MX hosts added or removed
//!   ([`crate::published`]). The first check of a domain only sets the memory;
//! - **silenced** (a maintenance window, or canaries down): nothing is sent, checks go on. When the silence ends
//!   the difference is sent once: an incident opened inside the window and still open gets its "opened" (marked
//!   `after_silence`); a notified incident that recovered inside the window gets its "recovered"; one that opened
//!   and closed inside the window sends nothing (it stays in the history).
//!
//! Alerts carry a `dedup_key`: the outbox stores each key once, so two instances that judged the same incident,
//! or a replay after a crash, never send twice.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::id::MonitorId;
use crate::incident::{OpenIncident, Severity};
use crate::published::{self, Published};

/// What kind of notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An incident opened.
    Opened,
    /// A notified degraded incident became down.
    Escalated,
    /// A notified incident closed.
    Recovered,
    /// Still open after another `reminder_every`.
    Reminder,
    /// The certificate crossed a days-left threshold.
    CertificateExpiring,
    /// The monitor's own connectivity failed (its canaries are down): results are unknown, alerts held.
    MonitorOffline,
    /// It came back.
    MonitorOnline,
    /// A test notification sent on request (never decided by the policy, never queued): nothing is wrong.
    Test,
    /// What a `domain:` monitor's domain publishes changed (MTA-STS id or policy, TLSA records, MX hosts).
    PolicyChanged,
}

impl AlertKind {
    /// `snake_case` name, as stored in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Opened => "opened",
            AlertKind::Escalated => "escalated",
            AlertKind::Recovered => "recovered",
            AlertKind::Reminder => "reminder",
            AlertKind::CertificateExpiring => "certificate_expiring",
            AlertKind::MonitorOffline => "monitor_offline",
            AlertKind::MonitorOnline => "monitor_online",
            AlertKind::Test => "test",
            AlertKind::PolicyChanged => "policy_changed",
        }
    }

    /// The kind stored under this name.
    pub fn parse(s: &str) -> Option<AlertKind> {
        Some(match s {
            "opened" => AlertKind::Opened,
            "escalated" => AlertKind::Escalated,
            "recovered" => AlertKind::Recovered,
            "reminder" => AlertKind::Reminder,
            "certificate_expiring" => AlertKind::CertificateExpiring,
            "monitor_offline" => AlertKind::MonitorOffline,
            "monitor_online" => AlertKind::MonitorOnline,
            "test" => AlertKind::Test,
            "policy_changed" => AlertKind::PolicyChanged,
            _ => return None,
        })
    }
}

/// One notification to deliver, as written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// Unique per notification: the outbox keeps each key once.
    pub dedup_key: String,
    /// What kind.
    pub kind: AlertKind,
    /// Which monitor (`None` for the monitor service's own alerts).
    pub monitor: Option<MonitorId>,
    /// When it was decided.
    pub at: Timestamp,
    /// The incident it is about (its start).
    pub incident_started: Option<Timestamp>,
    /// The incident's severity.
    pub severity: Option<Severity>,
    /// The probe's cause.
    pub cause: Option<String>,
    /// The server's words.
    pub server_text: Option<String>,
    /// For certificate alerts: the threshold crossed and the days left.
    pub threshold_days: Option<u32>,
    /// For certificate alerts: the days left.
    pub days_left: Option<i64>,
    /// The incident opened (or recovered) during a maintenance window or an outage of the monitor itself.
    pub after_silence: bool,
    /// For policy changes: one line per change (`MTA-STS id: 20261101 → 20261130`, `TLSA _25._tcp.mx1…: …`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

/// The rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Alert on degraded incidents too (otherwise only when they are, or become, down).
    pub alert_on_degraded: bool,
    /// Remind at this period while an incident stays open.
    pub reminder_every: Option<Duration>,
    /// Certificate days-left thresholds; each crossing alerts once.
    pub cert_thresholds: Vec<u32>,
    /// Alert when what a `domain:` monitor's domain publishes changes.
    pub policy_changes: bool,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            alert_on_degraded: true,
            reminder_every: Some(Duration::from_secs(4 * 3600)),
            cert_thresholds: vec![30, 14, 7, 1],
            policy_changes: true,
        }
    }
}

/// What people were told about the incident (persisted with it, so a restart neither repeats nor forgets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Notified {
    /// Which incident.
    pub started: Timestamp,
    /// The severity announced last.
    pub severity: Severity,
    /// When the last notification about it was decided (reminders count from here).
    pub last_at: Timestamp,
    /// How many reminders were sent (part of their dedup keys).
    pub reminders: u32,
}

/// One monitor's alert state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    /// The incident people know about.
    pub notified: Option<Notified>,
    /// The lowest certificate threshold already announced.
    pub cert_threshold: Option<u32>,
    /// What the domain published when people were last told (or when it was first seen).
    pub published: Option<Published>,
}

/// The inputs of one decision.
#[derive(Debug, Clone, Copy)]
pub struct AlertInput<'a> {
    /// Now.
    pub at: Timestamp,
    /// The open incident, after the latest result.
    pub open: Option<&'a OpenIncident>,
    /// Certificate days left from the latest result, if it had a certificate.
    pub cert_days_left: Option<i64>,
    /// What the latest result found published (domain checks).
    pub published: Option<&'a Published>,
    /// A maintenance window is active, or the monitor's own connectivity is down.
    pub silenced: bool,
    /// The incident opened or closed while silenced (so the message can say so).
    pub silence_ended_recently: bool,
}

impl AlertPolicy {
    /// Decides the notifications for `input` and updates `state` to what will have been told once they are
    /// delivered. Write both in one transaction.
    pub fn decide(&self, monitor: &MonitorId, state: &mut AlertState, input: AlertInput<'_>) -> Vec<Alert> {
        let mut out = Vec::new();
        if input.silenced {
            return out;
        }
        let base = |kind: AlertKind, key: String| Alert {
            dedup_key: key,
            kind,
            monitor: Some(monitor.clone()),
            at: input.at,
            incident_started: None,
            severity: None,
            cause: None,
            server_text: None,
            threshold_days: None,
            days_left: None,
            after_silence: input.silence_ended_recently,
            changes: Vec::new(),
        };
        let alertable = |o: &OpenIncident| o.severity == Severity::Down || self.alert_on_degraded;

        // A notified incident that is no longer the open one has recovered.
        if let Some(n) = state.notified
            && input.open.is_none_or(|o| o.started != n.started)
        {
            let mut a = base(AlertKind::Recovered, format!("{monitor}:{}:recovered", n.started.0));
            a.incident_started = Some(n.started);
            a.severity = Some(n.severity);
            out.push(a);
            state.notified = None;
        }
        if let Some(open) = input.open.filter(|o| alertable(o)) {
            let describe = |mut a: Alert| {
                a.incident_started = Some(open.started);
                a.severity = Some(open.severity);
                a.cause = open.cause.clone();
                a.server_text = open.server_text.clone();
                a
            };
            match &mut state.notified {
                None => {
                    out.push(describe(base(AlertKind::Opened, format!("{monitor}:{}:opened", open.started.0))));
                    state.notified = Some(Notified {
                        started: open.started,
                        severity: open.severity,
                        last_at: input.at,
                        reminders: 0,
                    });
                }
                Some(n) if n.severity < open.severity => {
                    out.push(describe(base(AlertKind::Escalated, format!("{monitor}:{}:escalated", open.started.0))));
                    n.severity = open.severity;
                    n.last_at = input.at;
                }
                Some(n) => {
                    if let Some(every) = self.reminder_every.filter(|d| !d.is_zero())
                        && input.at.since(n.last_at) >= every
                    {
                        n.reminders += 1;
                        let key = format!("{monitor}:{}:reminder:{}", open.started.0, n.reminders);
                        out.push(describe(base(AlertKind::Reminder, key)));
                        n.last_at = input.at;
                    }
                }
            }
        }

        if let Some(days) = input.cert_days_left {
            let highest = self.cert_thresholds.iter().copied().max();
            let crossed = self.cert_thresholds.iter().copied().filter(|&t| days <= i64::from(t)).min();
            match (crossed, highest) {
                (Some(t), _) if state.cert_threshold.is_none_or(|prev| t < prev) => {
                    let mut a = base(AlertKind::CertificateExpiring, format!("{monitor}:cert:{t}:{}", input.at.0));
                    a.threshold_days = Some(t);
                    a.days_left = Some(days);
                    a.after_silence = false;
                    out.push(a);
                    state.cert_threshold = Some(t);
                }
                (None, Some(h)) if days > i64::from(h) => state.cert_threshold = None, // renewed
                _ => {}
            }
        }

        if let Some(now) = input.published {
            let comparison = published::compare(state.published.as_ref(), now);
            if self.policy_changes && !comparison.changes.is_empty() {
                let mut a = base(AlertKind::PolicyChanged, format!("{monitor}:policy:{}", input.at.0));
                a.changes = comparison.changes;
                out.push(a);
            }
            state.published = Some(comparison.memory);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id() -> MonitorId {
        MonitorId::from_name("mx").unwrap()
    }

    fn incident(started: i64, severity: Severity) -> OpenIncident {
        OpenIncident { started: Timestamp(started), severity, cause: None, server_text: None, flapping: false }
    }

    fn input(at: i64, open: Option<&OpenIncident>, silenced: bool) -> AlertInput<'_> {
        AlertInput {
            at: Timestamp(at),
            open,
            cert_days_left: None,
            published: None,
            silenced,
            silence_ended_recently: false,
        }
    }

    fn kinds(alerts: &[Alert]) -> Vec<AlertKind> {
        alerts.iter().map(|a| a.kind).collect()
    }

    #[test]
    fn open_escalate_remind_recover() {
        let policy = AlertPolicy { reminder_every: Some(Duration::from_secs(3600)), ..AlertPolicy::default() };
        let mut s = AlertState::default();
        let degraded = incident(0, Severity::Degraded);
        assert_eq!(kinds(&policy.decide(&id(), &mut s, input(0, Some(&degraded), false))), [AlertKind::Opened]);
        assert!(policy.decide(&id(), &mut s, input(60_000, Some(&degraded), false)).is_empty());
        let down = incident(0, Severity::Down);
        assert_eq!(kinds(&policy.decide(&id(), &mut s, input(120_000, Some(&down), false))), [AlertKind::Escalated]);
        assert!(policy.decide(&id(), &mut s, input(3_000_000, Some(&down), false)).is_empty());
        let r = policy.decide(&id(), &mut s, input(120_000 + 3_600_000, Some(&down), false));
        assert_eq!(kinds(&r), [AlertKind::Reminder]);
        assert_eq!(r[0].dedup_key, "mx:0:reminder:1");
        let r = policy.decide(&id(), &mut s, input(5_000_000, None, false));
        assert_eq!(kinds(&r), [AlertKind::Recovered]);
        assert!(policy.decide(&id(), &mut s, input(6_000_000, None, false)).is_empty());
    }

    #[test]
    fn degraded_only_when_asked() {
        let policy = AlertPolicy { alert_on_degraded: false, ..AlertPolicy::default() };
        let mut s = AlertState::default();
        assert!(policy.decide(&id(), &mut s, input(0, Some(&incident(0, Severity::Degraded)), false)).is_empty());
        let r = policy.decide(&id(), &mut s, input(1, Some(&incident(0, Severity::Down)), false));
        assert_eq!(kinds(&r), [AlertKind::Opened], "the first alert about it is an opened, not an escalation");
        // A degraded incident that was never announced recovers silently.
        let mut s = AlertState::default();
        policy.decide(&id(), &mut s, input(0, Some(&incident(0, Severity::Degraded)), false));
        assert!(policy.decide(&id(), &mut s, input(1, None, false)).is_empty());
    }

    #[test]
    fn maintenance_semantics() {
        let policy = AlertPolicy::default();
        let down = incident(0, Severity::Down);
        // Opened and closed inside the window: nothing.
        let mut s = AlertState::default();
        assert!(policy.decide(&id(), &mut s, input(0, Some(&down), true)).is_empty());
        assert!(policy.decide(&id(), &mut s, input(1, None, true)).is_empty());
        assert!(policy.decide(&id(), &mut s, input(2, None, false)).is_empty());
        // Opened inside, still down when the window ends: one "opened" then.
        let mut s = AlertState::default();
        policy.decide(&id(), &mut s, input(0, Some(&down), true));
        let r = policy.decide(&id(), &mut s, input(5, Some(&down), false));
        assert_eq!(kinds(&r), [AlertKind::Opened]);
        // Notified before, recovered inside: the "recovered" goes out when the window ends.
        let mut s = AlertState::default();
        policy.decide(&id(), &mut s, input(0, Some(&down), false));
        assert!(policy.decide(&id(), &mut s, input(1, None, true)).is_empty());
        assert_eq!(kinds(&policy.decide(&id(), &mut s, input(2, None, false))), [AlertKind::Recovered]);
        // Notified before, recovered and a new one opened inside: recovered for the old, opened for the new.
        let mut s = AlertState::default();
        policy.decide(&id(), &mut s, input(0, Some(&down), false));
        let second = incident(10, Severity::Down);
        let r = policy.decide(&id(), &mut s, input(20, Some(&second), false));
        assert_eq!(kinds(&r), [AlertKind::Recovered, AlertKind::Opened]);
    }

    #[test]
    fn certificate_thresholds_alert_once_each() {
        let policy = AlertPolicy::default();
        let mut s = AlertState::default();
        let mut sent = Vec::new();
        for (i, days) in [40, 31, 30, 29, 20, 14, 14, 3, 2, 1, 0, -5, 90, 25].into_iter().enumerate() {
            let inp = AlertInput { cert_days_left: Some(days), ..input(i as i64, None, false) };
            sent.extend(policy.decide(&id(), &mut s, inp).into_iter().map(|a| a.threshold_days.unwrap()));
        }
        assert_eq!(sent, [30, 14, 7, 1, 30], "the renewal (90 days) re-arms the thresholds");
    }

    #[test]
    fn policy_changes_are_told_once_and_held_through_silences() {
        let published = |id: &str| Published {
            domain: "example.com".to_owned(),
            parts: [("mta-sts record".to_owned(), format!("v=STSv1; id={id};"))].into(),
            dane: Default::default(),
        };
        let (a, b, c) = (published("a1"), published("b2"), published("c3"));
        fn with(at: i64, p: &Published, silenced: bool) -> AlertInput<'_> {
            AlertInput { published: Some(p), ..input(at, None, silenced) }
        }
        let policy = AlertPolicy::default();
        let mut s = AlertState::default();
        assert!(policy.decide(&id(), &mut s, with(0, &a, false)).is_empty(), "the first sighting is the baseline");
        let r = policy.decide(&id(), &mut s, with(1, &b, false));
        assert_eq!(kinds(&r), [AlertKind::PolicyChanged]);
        assert_eq!(r[0].changes, ["MTA-STS id: a1 → b2"]);
        assert_eq!(r[0].dedup_key, "mx:policy:1");
        assert!(policy.decide(&id(), &mut s, with(2, &b, false)).is_empty(), "told once");
        // Inside a maintenance window nothing is sent; the difference is told when it ends.
        assert!(policy.decide(&id(), &mut s, with(3, &c, true)).is_empty());
        let mut after = with(4, &c, false);
        after.silence_ended_recently = true;
        let r = policy.decide(&id(), &mut s, after);
        assert_eq!(r[0].changes, ["MTA-STS id: b2 → c3"]);
        // Switched off: nothing is sent, the memory still follows (switching on later tells only new changes).
        let quiet = AlertPolicy { policy_changes: false, ..AlertPolicy::default() };
        assert!(quiet.decide(&id(), &mut s, with(5, &a, false)).is_empty());
        assert_eq!(s.published.as_ref(), Some(&a));
    }

    proptest! {
        /// Over any life of incidents and silences: every recovered follows an opened of the same incident, no
        /// incident is opened twice, and dedup keys are unique.
        #[test]
        fn alerts_are_well_formed(steps in proptest::collection::vec((0u8..4, any::<bool>(), proptest::option::of(-3i64..40)), 0..150)) {
            let policy = AlertPolicy { reminder_every: Some(Duration::from_millis(5)), ..AlertPolicy::default() };
            let mut s = AlertState::default();
            let mut open: Option<OpenIncident> = None;
            let mut announced: Option<Timestamp> = None;
            let mut keys = std::collections::HashSet::new();
            for (i, (action, silenced, cert)) in steps.into_iter().enumerate() {
                let at = i as i64 * 3;
                match action {
                    0 => open = None,
                    1 if open.is_none() => open = Some(incident(at, Severity::Degraded)),
                    2 if open.is_none() => open = Some(incident(at, Severity::Down)),
                    2 => open.as_mut().unwrap().severity = Severity::Down,
                    _ => {}
                }
                let inp = AlertInput { cert_days_left: cert, ..input(at, open.as_ref(), silenced) };
                for a in policy.decide(&id(), &mut s, inp) {
                    prop_assert!(keys.insert(a.dedup_key.clone()), "duplicate key {}", a.dedup_key);
                    match a.kind {
                        AlertKind::Opened => { prop_assert!(announced.is_none()); announced = a.incident_started; }
                        AlertKind::Recovered => { prop_assert_eq!(announced.take(), a.incident_started); }
                        AlertKind::Escalated | AlertKind::Reminder => prop_assert_eq!(announced, a.incident_started),
                        _ => {}
                    }
                }
            }
        }
    }
}
