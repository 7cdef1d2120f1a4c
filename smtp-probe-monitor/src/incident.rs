//! The incident state machine: per monitor, fed check results with their times, it decides what they mean.
//!
//! - **Confirmation**: a failure that would change something is not counted at once; the machine asks for a
//!   quick re-check ([`Judgement::recheck_at`]). Only a failed re-check counts. A passing one was a blip.
//! - **Open after N, close after M**: an incident opens after `open_after` consecutive confirmed failures and
//!   closes after `close_after` consecutive successes. It starts at the first of those failures, so downtime is
//!   not shortened by the confirmation delay.
//! - **Degraded and down** are distinct severities. A degraded incident escalates to down after `open_after`
//!   consecutive confirmed down results; an incident never de-escalates on its own (it recovers).
//! - **Flapping**: the number of state changes among the last `flap_window` counted results is watched. At
//!   `flap_start` changes the monitor is flapping: one incident is opened (or the open one is kept) and held
//!   open — no recovery, no re-open — until the changes fall to `flap_stop` or fewer. So a flapping server gives
//!   one incident and two alerts, not one pair per flap.
//! - `Unknown` results (the monitor's own connectivity failed) change nothing.
//!
//! There is at most one open incident, and every opened incident is followed by at most one recovery. Both are
//! property-tested below. Time is an argument; the machine has no clock.

use std::collections::VecDeque;
use std::time::Duration;

use crate::check::Status;
use crate::clock::Timestamp;

/// How bad an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Works with problems.
    Degraded,
    /// Does not work.
    Down,
}

impl Severity {
    /// `"degraded"` or `"down"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Degraded => "degraded",
            Severity::Down => "down",
        }
    }

    /// The severity stored under this name.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "degraded" => Some(Severity::Degraded),
            "down" => Some(Severity::Down),
            _ => None,
        }
    }
}

/// The rules of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentPolicy {
    /// Re-check a failure before it counts.
    pub confirm: bool,
    /// How soon the re-check runs.
    pub recheck_after: Duration,
    /// Consecutive confirmed failures that open an incident (at least 1).
    pub open_after: u32,
    /// Consecutive successes that close it (at least 1).
    pub close_after: u32,
    /// How many counted results the flap detector looks at (0 turns it off).
    pub flap_window: u32,
    /// State changes in the window at which flapping starts.
    pub flap_start: u32,
    /// State changes in the window at or below which flapping stops.
    pub flap_stop: u32,
}

impl Default for IncidentPolicy {
    fn default() -> Self {
        IncidentPolicy {
            confirm: true,
            recheck_after: Duration::from_secs(10),
            open_after: 2,
            close_after: 2,
            flap_window: 20,
            flap_start: 6,
            flap_stop: 2,
        }
    }
}

/// The incident that is open.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenIncident {
    /// The first failure of the run that opened it; with the monitor id, the incident's identity.
    pub started: Timestamp,
    /// Its severity now.
    pub severity: Severity,
    /// The cause of the failure that opened (or escalated) it.
    pub cause: Option<String>,
    /// The server's words at that failure.
    pub server_text: Option<String>,
    /// Whether it is held open by flap damping.
    pub flapping: bool,
}

/// What the monitor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No incident, no unconfirmed failure.
    Up,
    /// A failure is waiting for its re-check, or fewer than N confirmed failures so far.
    Pending,
    /// A degraded incident is open.
    Degraded,
    /// A down incident is open.
    Down,
    /// An incident is held open because results keep changing.
    Flapping,
    /// No result counted yet, or the last one could not say.
    Unknown,
}

impl State {
    /// `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Pending => "pending",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Flapping => "flapping",
            State::Unknown => "unknown",
        }
    }
}

/// Something that happened to the incident.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum IncidentEvent {
    /// An incident opened.
    Opened(OpenIncident),
    /// A degraded incident became down.
    Escalated {
        /// Which incident.
        started: Timestamp,
        /// The cause of the down result.
        cause: Option<String>,
        /// The server's words then.
        server_text: Option<String>,
    },
    /// The open incident closed.
    Recovered {
        /// Which incident.
        started: Timestamp,
        /// When: the first of the successes that closed it.
        ended: Timestamp,
    },
    /// Results started changing too often; the open incident is held.
    FlappingStarted,
    /// They stopped; normal rules apply again.
    FlappingStopped,
}

/// A check result as the machine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// When the check started.
    pub at: Timestamp,
    /// Its status.
    pub status: Status,
    /// Whether it is the re-check the machine asked for.
    pub recheck: bool,
    /// Its cause, if not up.
    pub cause: Option<String>,
    /// The server's words.
    pub server_text: Option<String>,
}

/// What the machine decided about one observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Run a re-check at this time: the failure is not counted until then.
    pub recheck_at: Option<Timestamp>,
    /// What happened, in order.
    pub events: Vec<IncidentEvent>,
    /// The state afterwards.
    pub state: State,
    /// Whether the observation was counted (false for an unconfirmed failure or `Unknown`).
    pub counted: bool,
}

/// One monitor's incident state machine.
#[derive(Debug, Clone)]
pub struct IncidentMachine {
    policy: IncidentPolicy,
    open: Option<OpenIncident>,
    /// Consecutive counted failures, and among the latest of them, consecutive downs.
    fails: u32,
    downs: u32,
    /// Consecutive successes while an incident is open, and when the first of them was.
    oks: u32,
    first_ok: Option<Timestamp>,
    /// The first failure of the current run: the start of the incident it may open.
    run_start: Option<Timestamp>,
    /// A failure waiting for its re-check.
    awaiting: Option<Timestamp>,
    /// Counted results, true = failure, newest last.
    window: VecDeque<bool>,
    flapping: bool,
    last_known: bool,
}

impl IncidentMachine {
    /// A machine with no incident open.
    pub fn new(policy: IncidentPolicy) -> IncidentMachine {
        IncidentMachine::restore(policy, None)
    }

    /// A machine that continues an incident opened earlier (read back from storage after a restart or a lease
    /// takeover): it stays open until the close rule is met, without a second "opened".
    pub fn restore(mut policy: IncidentPolicy, open: Option<OpenIncident>) -> IncidentMachine {
        policy.open_after = policy.open_after.max(1);
        policy.close_after = policy.close_after.max(1);
        let flapping = open.as_ref().is_some_and(|o| o.flapping);
        IncidentMachine {
            policy,
            open,
            fails: 0,
            downs: 0,
            oks: 0,
            first_ok: None,
            run_start: None,
            awaiting: None,
            window: VecDeque::new(),
            flapping,
            last_known: false,
        }
    }

    /// Replaces the rules (a configuration reload) and keeps the state.
    pub fn set_policy(&mut self, policy: IncidentPolicy) {
        let open = self.open.take();
        let mut fresh = IncidentMachine::restore(policy, open);
        fresh.fails = self.fails;
        fresh.downs = self.downs;
        fresh.oks = self.oks;
        fresh.first_ok = self.first_ok;
        fresh.run_start = self.run_start;
        fresh.awaiting = self.awaiting;
        fresh.window = std::mem::take(&mut self.window);
        fresh.last_known = self.last_known;
        *self = fresh;
    }

    /// The open incident.
    pub fn open_incident(&self) -> Option<&OpenIncident> {
        self.open.as_ref()
    }

    /// The state now.
    pub fn state(&self) -> State {
        match &self.open {
            Some(o) if o.flapping => State::Flapping,
            Some(o) => match o.severity {
                Severity::Degraded => State::Degraded,
                Severity::Down => State::Down,
            },
            None if self.awaiting.is_some() || self.fails > 0 => State::Pending,
            None if self.last_known => State::Up,
            None => State::Unknown,
        }
    }

    /// Whether a re-check is outstanding.
    pub fn awaiting_recheck(&self) -> bool {
        self.awaiting.is_some()
    }

    /// Feeds one result.
    pub fn observe(&mut self, obs: &Observation) -> Judgement {
        let mut events = Vec::new();
        if obs.status == Status::Unknown {
            return self.judgement(None, events, false);
        }
        let bad = obs.status.is_failure();
        if bad && !obs.recheck && self.policy.confirm && self.needs_confirmation(obs.status) {
            self.awaiting = Some(obs.at);
            self.run_start.get_or_insert(obs.at);
            return self.judgement(Some(obs.at + self.policy.recheck_after), events, false);
        }
        // A result the machine did not ask for replaces any outstanding re-check.
        let failed_at = if obs.recheck { self.awaiting.take().unwrap_or(obs.at) } else { obs.at };
        self.awaiting = None;
        self.last_known = true;
        self.push_window(bad, &mut events);

        if bad {
            self.oks = 0;
            self.first_ok = None;
            self.fails = self.fails.saturating_add(1);
            self.downs = if obs.status == Status::Down { self.downs.saturating_add(1) } else { 0 };
            let start = *self.run_start.get_or_insert(failed_at);
            let severity_now = if self.downs >= self.policy.open_after { Severity::Down } else { Severity::Degraded };
            match &mut self.open {
                None if self.fails >= self.policy.open_after || self.flapping => {
                    let incident = OpenIncident {
                        started: start,
                        severity: severity_now,
                        cause: obs.cause.clone(),
                        server_text: obs.server_text.clone(),
                        flapping: self.flapping,
                    };
                    self.open = Some(incident.clone());
                    events.push(IncidentEvent::Opened(incident));
                }
                None => {}
                Some(open) if open.severity == Severity::Degraded && severity_now == Severity::Down => {
                    open.severity = Severity::Down;
                    open.cause = obs.cause.clone();
                    open.server_text = obs.server_text.clone();
                    events.push(IncidentEvent::Escalated {
                        started: open.started,
                        cause: obs.cause.clone(),
                        server_text: obs.server_text.clone(),
                    });
                }
                Some(_) => {}
            }
        } else {
            self.fails = 0;
            self.downs = 0;
            self.run_start = None;
            if self.open.is_some() {
                self.oks = self.oks.saturating_add(1);
                let first_ok = *self.first_ok.get_or_insert(obs.at);
                if self.oks >= self.policy.close_after && !self.flapping {
                    let closed = self.open.take().expect("checked above");
                    events.push(IncidentEvent::Recovered { started: closed.started, ended: first_ok });
                    self.oks = 0;
                    self.first_ok = None;
                }
            }
        }
        self.judgement(None, events, true)
    }

    /// A failure needs confirming when counting it could open or escalate an incident.
    fn needs_confirmation(&self, status: Status) -> bool {
        match &self.open {
            None => true,
            Some(open) => status == Status::Down && open.severity == Severity::Degraded,
        }
    }

    fn push_window(&mut self, bad: bool, events: &mut Vec<IncidentEvent>) {
        let size = self.policy.flap_window as usize;
        if size < 2 {
            return;
        }
        self.window.push_back(bad);
        while self.window.len() > size {
            self.window.pop_front();
        }
        let changes = self.window.iter().zip(self.window.iter().skip(1)).filter(|(a, b)| a != b).count() as u32;
        if !self.flapping && changes >= self.policy.flap_start.max(2) {
            self.flapping = true;
            if let Some(open) = &mut self.open {
                open.flapping = true;
            }
            events.push(IncidentEvent::FlappingStarted);
        } else if self.flapping && changes <= self.policy.flap_stop {
            self.flapping = false;
            if let Some(open) = &mut self.open {
                open.flapping = false;
            }
            events.push(IncidentEvent::FlappingStopped);
        }
    }

    fn judgement(&self, recheck_at: Option<Timestamp>, events: Vec<IncidentEvent>, counted: bool) -> Judgement {
        Judgement { recheck_at, events, state: self.state(), counted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn obs(at: i64, status: Status, recheck: bool) -> Observation {
        Observation { at: Timestamp(at), status, recheck, cause: None, server_text: None }
    }

    /// Drives the machine as the engine does: a requested re-check runs before the next regular result.
    fn drive(m: &mut IncidentMachine, results: &[(Status, Option<Status>)]) -> Vec<(i64, IncidentEvent)> {
        let mut out = Vec::new();
        let mut t = 0;
        for &(status, recheck) in results {
            t += 60_000;
            let j = m.observe(&obs(t, status, false));
            out.extend(j.events.into_iter().map(|e| (t, e)));
            if let (Some(at), Some(second)) = (j.recheck_at, recheck) {
                let j = m.observe(&obs(at.0, second, true));
                out.extend(j.events.into_iter().map(|e| (at.0, e)));
            }
        }
        out
    }

    #[test]
    fn confirmed_failures_open_then_successes_close() {
        let mut m = IncidentMachine::new(IncidentPolicy::default());
        let j = m.observe(&obs(1_000, Status::Down, false));
        assert_eq!(j.recheck_at, Some(Timestamp(11_000)));
        assert_eq!(j.state, State::Pending);
        assert!(j.events.is_empty() && !j.counted);
        let j = m.observe(&obs(11_000, Status::Down, true));
        assert!(j.events.is_empty(), "one confirmed failure of two");
        let j = m.observe(&obs(61_000, Status::Down, false));
        assert!(j.recheck_at.is_some(), "still not open: the second failure needs confirming too");
        let j = m.observe(&obs(71_000, Status::Down, true));
        assert_eq!(j.state, State::Down);
        match &j.events[..] {
            [IncidentEvent::Opened(o)] => {
                assert_eq!(o.started, Timestamp(1_000), "the incident starts at the first failure");
                assert_eq!(o.severity, Severity::Down);
            }
            other => panic!("{other:?}"),
        }
        // Failures while open need no confirmation.
        assert_eq!(m.observe(&obs(121_000, Status::Down, false)).recheck_at, None);
        assert!(m.observe(&obs(181_000, Status::Up, false)).events.is_empty());
        let j = m.observe(&obs(241_000, Status::Up, false));
        assert_eq!(j.events, vec![IncidentEvent::Recovered { started: Timestamp(1_000), ended: Timestamp(181_000) }]);
        assert_eq!(j.state, State::Up);
    }

    #[test]
    fn a_passing_recheck_is_a_blip() {
        let mut m = IncidentMachine::new(IncidentPolicy { open_after: 1, ..IncidentPolicy::default() });
        for i in 0..10 {
            let j = m.observe(&obs(i * 60_000, Status::Down, false));
            assert!(j.recheck_at.is_some());
            let j = m.observe(&obs(i * 60_000 + 10_000, Status::Up, true));
            assert!(j.events.is_empty());
            assert_eq!(j.state, State::Up);
        }
    }

    #[test]
    fn degraded_escalates_to_down_and_never_back() {
        let policy = IncidentPolicy { confirm: false, open_after: 1, close_after: 1, ..IncidentPolicy::default() };
        let mut m = IncidentMachine::new(policy);
        let e = m.observe(&obs(0, Status::Degraded, false)).events;
        assert!(matches!(&e[..], [IncidentEvent::Opened(o)] if o.severity == Severity::Degraded));
        let e = m.observe(&obs(1, Status::Down, false)).events;
        assert!(matches!(&e[..], [IncidentEvent::Escalated { started: Timestamp(0), .. }]));
        let j = m.observe(&obs(2, Status::Degraded, false));
        assert!(j.events.is_empty());
        assert_eq!(j.state, State::Down);
    }

    #[test]
    fn escalation_is_confirmed() {
        let policy = IncidentPolicy { open_after: 1, ..IncidentPolicy::default() };
        let mut m = IncidentMachine::new(policy);
        m.observe(&obs(0, Status::Degraded, false));
        m.observe(&obs(10, Status::Degraded, true));
        assert_eq!(m.state(), State::Degraded);
        let j = m.observe(&obs(60, Status::Down, false));
        assert!(j.recheck_at.is_some() && j.events.is_empty());
        let j = m.observe(&obs(70, Status::Degraded, true));
        assert!(j.events.is_empty(), "the down result did not hold");
        assert_eq!(j.state, State::Degraded);
    }

    #[test]
    fn flapping_holds_one_incident() {
        let policy = IncidentPolicy { confirm: false, open_after: 2, close_after: 1, ..IncidentPolicy::default() };
        let mut m = IncidentMachine::new(policy);
        let mut events = Vec::new();
        // Alternate for a while: every single failure is too short to open an incident on its own.
        for i in 0..30 {
            let status = if i % 2 == 0 { Status::Down } else { Status::Up };
            events.extend(m.observe(&obs(i, status, false)).events);
        }
        let opened = events.iter().filter(|e| matches!(e, IncidentEvent::Opened(_))).count();
        assert_eq!(opened, 1, "{events:?}");
        assert!(events.contains(&IncidentEvent::FlappingStarted));
        assert_eq!(m.state(), State::Flapping);
        // Then stable: flapping ends, and the incident recovers.
        for i in 30..60 {
            events.extend(m.observe(&obs(i, Status::Up, false)).events);
        }
        assert!(events.contains(&IncidentEvent::FlappingStopped));
        assert_eq!(m.state(), State::Up);
        assert_eq!(events.iter().filter(|e| matches!(e, IncidentEvent::Recovered { .. })).count(), 1);
    }

    #[test]
    fn restored_incident_recovers_without_a_second_open() {
        let open = OpenIncident {
            started: Timestamp(5),
            severity: Severity::Down,
            cause: Some("connect_refused".into()),
            server_text: None,
            flapping: false,
        };
        let mut m = IncidentMachine::restore(IncidentPolicy::default(), Some(open));
        assert_eq!(m.state(), State::Down);
        assert_eq!(m.observe(&obs(100, Status::Down, false)).recheck_at, None, "no re-open, no confirmation");
        m.observe(&obs(200, Status::Up, false));
        let e = m.observe(&obs(300, Status::Up, false)).events;
        assert_eq!(e, vec![IncidentEvent::Recovered { started: Timestamp(5), ended: Timestamp(200) }]);
    }

    #[test]
    fn unknown_changes_nothing() {
        let mut m = IncidentMachine::new(IncidentPolicy::default());
        let j = m.observe(&obs(0, Status::Unknown, false));
        assert_eq!((j.state, j.counted, j.recheck_at), (State::Unknown, false, None));
    }

    fn status() -> impl Strategy<Value = Status> {
        prop_oneof![4 => Just(Status::Up), 2 => Just(Status::Degraded), 3 => Just(Status::Down), 1 => Just(Status::Unknown)]
    }

    fn policy() -> impl Strategy<Value = IncidentPolicy> {
        (any::<bool>(), 1u32..4, 1u32..4, prop_oneof![Just(0u32), 4u32..21], 2u32..8).prop_map(
            |(confirm, open_after, close_after, flap_window, flap_start)| IncidentPolicy {
                confirm,
                recheck_after: Duration::from_secs(10),
                open_after,
                close_after,
                flap_window,
                flap_start,
                flap_stop: flap_start / 3,
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any sequence of results: at most one incident open at a time, every "opened" followed by at most one
        /// "recovered", escalations only of an open degraded incident, and the state agrees with the events.
        #[test]
        fn incidents_are_well_formed(
            policy in policy(),
            results in proptest::collection::vec((status(), proptest::option::of(status())), 0..200),
        ) {
            let mut m = IncidentMachine::new(policy);
            let events = drive(&mut m, &results);
            let mut open: Option<(Timestamp, Severity)> = None;
            let mut last_start = Timestamp(i64::MIN);
            for (at, e) in &events {
                match e {
                    IncidentEvent::Opened(o) => {
                        prop_assert!(open.is_none(), "opened twice: {events:?}");
                        prop_assert!(o.started.0 <= *at && o.started >= last_start);
                        last_start = o.started;
                        open = Some((o.started, o.severity));
                    }
                    IncidentEvent::Escalated { started, .. } => {
                        prop_assert_eq!(open, Some((*started, Severity::Degraded)));
                        open = Some((*started, Severity::Down));
                    }
                    IncidentEvent::Recovered { started, ended } => {
                        let (s, _) = open.take().expect("recovered without an open incident");
                        prop_assert_eq!(s, *started);
                        prop_assert!(ended >= started);
                    }
                    IncidentEvent::FlappingStarted | IncidentEvent::FlappingStopped => {}
                }
            }
            prop_assert_eq!(open.map(|o| o.0), m.open_incident().map(|o| o.started));
            let state_open = matches!(m.state(), State::Degraded | State::Down | State::Flapping);
            prop_assert_eq!(state_open, open.is_some());
        }

        /// Without confirmation and flap damping, the machine is the textbook rule: open after exactly N
        /// consecutive failures, close after exactly M consecutive successes.
        #[test]
        fn plain_rule_matches_a_reference_model(
            n in 1u32..5, m_ in 1u32..5,
            results in proptest::collection::vec(prop_oneof![Just(Status::Up), Just(Status::Down)], 0..120),
        ) {
            let policy = IncidentPolicy { confirm: false, open_after: n, close_after: m_, flap_window: 0, ..IncidentPolicy::default() };
            let mut machine = IncidentMachine::new(policy);
            let (mut fails, mut oks, mut open) = (0u32, 0u32, false);
            for (i, s) in results.iter().enumerate() {
                let e = machine.observe(&obs(i as i64, *s, false)).events;
                let (mut opened, mut recovered) = (false, false);
                if *s == Status::Down {
                    fails += 1; oks = 0;
                    if !open && fails >= n { open = true; opened = true; }
                } else {
                    fails = 0;
                    if open { oks += 1; if oks >= m_ { open = false; oks = 0; recovered = true; } }
                }
                prop_assert_eq!(e.iter().any(|e| matches!(e, IncidentEvent::Opened(_))), opened);
                prop_assert_eq!(e.iter().any(|e| matches!(e, IncidentEvent::Recovered { .. })), recovered);
            }
        }
    }
}
