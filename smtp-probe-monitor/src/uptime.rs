//! Honest uptime: time-weighted state intervals, not counts of checks.
//!
//! Every check moves a monitor's time line forward: the span since its previous check is given the state that
//! held during it, cut at hour boundaries, and added to that hour's rollup. Then, over any window,
//!
//! ```text
//!                    up + degraded
//! availability = ─────────────────────────   (time in each state; unknown and maintenance left out)
//!                 up + degraded + down
//! ```
//!
//! - **down** is time inside a down incident, from its first failed check (the confirmation delay is not
//!   forgiven: time spent waiting to confirm is held back and given the state the confirmation decides);
//! - **degraded** is time inside a degraded incident: mail flows with problems, so it counts as available, and
//!   is reported on its own;
//! - **unknown** is time the monitor could not see: before the first check, gaps longer than the monitor's
//!   `max_gap` (the monitor was stopped or overloaded), and periods when its own connectivity was down;
//! - **maintenance** is time inside a maintenance window.
//!
//! A window with no up, degraded or down time has no availability (`None`), not 100 %.

use std::time::Duration;

use crate::clock::{HOUR_MS, Timestamp};

/// The state a span of time is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Up.
    Up,
    /// Inside a degraded incident.
    Degraded,
    /// Inside a down incident.
    Down,
    /// Not observable.
    Unknown,
    /// Inside a maintenance window.
    Maintenance,
    /// Waiting for a failure to be confirmed; resolved later.
    Pending,
}

/// Milliseconds spent in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateTime {
    /// Up.
    pub up_ms: i64,
    /// Degraded.
    pub degraded_ms: i64,
    /// Down.
    pub down_ms: i64,
    /// Unknown.
    pub unknown_ms: i64,
    /// Maintenance.
    pub maintenance_ms: i64,
}

impl StateTime {
    /// Adds `ms` to `class` (pending counts as unknown here; the time line never hands it out).
    pub fn add(&mut self, class: Class, ms: i64) {
        match class {
            Class::Up => self.up_ms += ms,
            Class::Degraded => self.degraded_ms += ms,
            Class::Down => self.down_ms += ms,
            Class::Unknown | Class::Pending => self.unknown_ms += ms,
            Class::Maintenance => self.maintenance_ms += ms,
        }
    }

    /// Adds another tally.
    pub fn merge(&mut self, o: &StateTime) {
        self.up_ms += o.up_ms;
        self.degraded_ms += o.degraded_ms;
        self.down_ms += o.down_ms;
        self.unknown_ms += o.unknown_ms;
        self.maintenance_ms += o.maintenance_ms;
    }

    /// The formula in the [module docs](self), as a fraction 0..=1.
    pub fn availability(&self) -> Option<f64> {
        let known = self.up_ms + self.degraded_ms + self.down_ms;
        (known > 0).then(|| (self.up_ms + self.degraded_ms) as f64 / known as f64)
    }
}

/// A span of one state inside one UTC hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// The hour's start.
    pub hour: Timestamp,
    /// The state.
    pub class: Class,
    /// How long.
    pub ms: i64,
}

/// One monitor's time line.
#[derive(Debug, Clone)]
pub struct TimeLine {
    last: Option<(Timestamp, Class)>,
    max_gap: Duration,
    /// Spans waiting for a confirmation to say what they were.
    held: Vec<(Timestamp, Timestamp)>,
}

impl TimeLine {
    /// A time line that treats gaps over `max_gap` between two checks as unknown.
    pub fn new(max_gap: Duration) -> TimeLine {
        TimeLine { last: None, max_gap, held: Vec::new() }
    }

    /// Changes the gap limit (a reload changed the interval).
    pub fn set_max_gap(&mut self, max_gap: Duration) {
        self.max_gap = max_gap;
    }

    /// The monitor is in `class` from `at` on. Returns the slices for the time since the previous call.
    /// Times that go backwards are ignored (a clock step): nothing is counted twice.
    pub fn record(&mut self, at: Timestamp, class: Class) -> Vec<Slice> {
        let mut out = Vec::new();
        let Some((since, prev)) = self.last else {
            self.last = Some((at, class));
            return out;
        };
        if at < since {
            return out;
        }
        let gap_end = since + self.max_gap;
        let (span_end, unknown_from) = if at > gap_end { (gap_end, Some(gap_end)) } else { (at, None) };
        if prev == Class::Pending {
            self.held.push((since, span_end));
        } else {
            split(since, span_end, prev, &mut out);
        }
        if let Some(from) = unknown_from {
            split(from, at, Class::Unknown, &mut out);
        }
        if class != Class::Pending && !self.held.is_empty() {
            // What the wait turned out to be: an incident's state, or up if the failure did not hold.
            let resolved = match class {
                Class::Degraded | Class::Down => class,
                Class::Maintenance | Class::Unknown => Class::Unknown,
                _ => Class::Up,
            };
            for (a, b) in std::mem::take(&mut self.held) {
                split(a, b, resolved, &mut out);
            }
        }
        self.last = Some((at, class));
        out
    }
}

/// Cuts [a, b) at hour boundaries.
fn split(a: Timestamp, b: Timestamp, class: Class, out: &mut Vec<Slice>) {
    let mut t = a;
    while t < b {
        let hour = t.hour_start();
        let end = Timestamp((hour.0 + HOUR_MS).min(b.0));
        out.push(Slice { hour, class, ms: end.0 - t.0 });
        t = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn total(slices: &[Slice]) -> StateTime {
        let mut s = StateTime::default();
        for x in slices {
            s.add(x.class, x.ms);
        }
        s
    }

    #[test]
    fn spans_take_the_state_that_held_and_split_at_hours() {
        let mut t = TimeLine::new(Duration::from_secs(180));
        assert!(t.record(Timestamp(HOUR_MS - 30_000), Class::Up).is_empty());
        let s = t.record(Timestamp(HOUR_MS + 30_000), Class::Down);
        assert_eq!(
            s,
            [
                Slice { hour: Timestamp(0), class: Class::Up, ms: 30_000 },
                Slice { hour: Timestamp(HOUR_MS), class: Class::Up, ms: 30_000 }
            ]
        );
        // A long gap: max_gap of the old state, the rest unknown.
        let s = t.record(Timestamp(HOUR_MS + 30_000 + 600_000), Class::Up);
        assert_eq!(total(&s), StateTime { down_ms: 180_000, unknown_ms: 420_000, ..StateTime::default() });
    }

    #[test]
    fn pending_time_goes_to_what_the_confirmation_decides() {
        let mut t = TimeLine::new(Duration::from_secs(600));
        t.record(Timestamp(0), Class::Up);
        let mut all = t.record(Timestamp(60_000), Class::Pending); // first failure
        all.extend(t.record(Timestamp(70_000), Class::Pending)); // re-check failed: still one of two
        all.extend(t.record(Timestamp(120_000), Class::Down)); // second confirmed failure: incident
        all.extend(t.record(Timestamp(180_000), Class::Up));
        assert_eq!(total(&all), StateTime { up_ms: 60_000, down_ms: 120_000, ..StateTime::default() });
        // A blip: the held time is up.
        let mut b = t.record(Timestamp(240_000), Class::Pending);
        b.extend(t.record(Timestamp(250_000), Class::Up));
        b.extend(t.record(Timestamp(300_000), Class::Up));
        assert_eq!(total(&b), StateTime { up_ms: 120_000, ..StateTime::default() });
    }

    #[test]
    fn availability_formula() {
        let s = StateTime { up_ms: 90, degraded_ms: 5, down_ms: 5, unknown_ms: 1000, maintenance_ms: 1000 };
        assert_eq!(s.availability(), Some(0.95));
        assert_eq!(StateTime { unknown_ms: 5, ..StateTime::default() }.availability(), None);
    }

    proptest! {
        /// Every millisecond between the first and the last record is counted exactly once.
        #[test]
        fn time_is_conserved(steps in proptest::collection::vec((1i64..4_000_000, 0u8..6), 1..100)) {
            let mut t = TimeLine::new(Duration::from_secs(900));
            let mut at = 0;
            let mut all = t.record(Timestamp(0), Class::Up);
            for (dt, c) in steps {
                at += dt;
                let class = [Class::Up, Class::Degraded, Class::Down, Class::Unknown, Class::Maintenance, Class::Pending][c as usize];
                all.extend(t.record(Timestamp(at), class));
            }
            all.extend(t.record(Timestamp(at + 1), Class::Up)); // resolve anything held
            let s = total(&all);
            prop_assert_eq!(s.up_ms + s.degraded_ms + s.down_ms + s.unknown_ms + s.maintenance_ms, at + 1);
            for x in &all {
                prop_assert!(x.ms > 0 && x.ms <= HOUR_MS);
                prop_assert_ne!(x.class, Class::Pending);
            }
        }
    }
}
