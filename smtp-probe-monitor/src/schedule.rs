//! When each check runs, without IO: the engine asks [`Scheduler::poll`] what to start and sleeps until the
//! time it names. Rules:
//!
//! - each monitor runs on slots `offset + k · interval` (Unix time), where `offset` comes from a stable hash of
//!   its id: load is spread evenly over the interval, and a restart or reload keeps every monitor's slot;
//! - at most `max_concurrency` checks run at once ([`Poll::Saturated`] until one finishes);
//! - two checks of the same destination host start at least `min_host_spacing` apart, so many monitors never
//!   hammer one MX;
//! - a monitor never overlaps itself, and a monitor that missed slots (a pause, a slow period, a check longer
//!   than its interval) runs **once**, then continues on its next slot: no catch-up storm;
//! - a quick re-check (to confirm a failure) runs at the time the incident machine asks, before the next slot;
//! - lateness (start − slot) is reported with every start.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use crate::clock::Timestamp;
use crate::id::MonitorId;

/// The scheduler's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerLimits {
    /// Checks running at once.
    pub max_concurrency: usize,
    /// The least time between two check starts against one host.
    pub min_host_spacing: Duration,
}

impl Default for SchedulerLimits {
    fn default() -> Self {
        SchedulerLimits { max_concurrency: 256, min_host_spacing: Duration::from_secs(1) }
    }
}

/// A check to start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Which monitor.
    pub id: MonitorId,
    /// The slot (or re-check time) it was due at.
    pub due: Timestamp,
    /// How late it starts.
    pub lateness: Duration,
    /// Whether it is a re-check.
    pub recheck: bool,
}

/// What the engine should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Start this check now, then poll again.
    Run(Start),
    /// Nothing is due before this time.
    Wait(Timestamp),
    /// Checks are due but `max_concurrency` are running: wait for one to finish.
    Saturated,
    /// No monitors.
    Idle,
}

#[derive(Debug, Clone)]
struct Entry {
    interval_ms: i64,
    offset_ms: i64,
    host: String,
    generation: u64,
    running: bool,
    /// Removed while its check was running: dropped when that check finishes.
    removed: bool,
    /// The next run: its due time and whether it is a re-check. `None` while running.
    next: Option<(Timestamp, bool)>,
}

/// The due-time logic for every monitor.
#[derive(Debug, Default)]
pub struct Scheduler {
    limits: SchedulerLimits,
    entries: HashMap<MonitorId, Entry>,
    /// (eligible at, generation, id): stale generations are skipped when popped.
    heap: BinaryHeap<Reverse<(Timestamp, u64, MonitorId)>>,
    /// Per host: the earliest time the next check may start.
    hosts: HashMap<String, Timestamp>,
    running: usize,
    generation: u64,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new(limits: SchedulerLimits) -> Scheduler {
        Scheduler {
            limits: SchedulerLimits { max_concurrency: limits.max_concurrency.max(1), ..limits },
            ..Scheduler::default()
        }
    }

    /// Changes the limits (a reload).
    pub fn set_limits(&mut self, limits: SchedulerLimits) {
        self.limits = SchedulerLimits { max_concurrency: limits.max_concurrency.max(1), ..limits };
    }

    /// Checks running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Monitors scheduled.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no monitor is scheduled.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The slot offset of a monitor with this id and interval: stable across restarts and machines.
    pub fn offset(id: &MonitorId, interval: Duration) -> i64 {
        let interval_ms = (interval.as_millis() as i64).max(1);
        (id.stable_hash() % interval_ms as u64) as i64
    }

    /// Adds a monitor, or updates its interval and host (a reload). A new monitor runs at its first slot from
    /// `now` on; an existing one keeps its state and moves to its new slot grid.
    pub fn upsert(&mut self, id: &MonitorId, interval: Duration, host: &str, now: Timestamp) {
        let interval_ms = (interval.as_millis() as i64).max(1000);
        let offset_ms = Scheduler::offset(id, Duration::from_millis(interval_ms as u64));
        let generation = self.next_generation();
        match self.entries.get_mut(id) {
            Some(e) if e.interval_ms == interval_ms && e.host == host && !e.removed => {}
            Some(e) => {
                e.removed = false;
                e.interval_ms = interval_ms;
                e.offset_ms = offset_ms;
                e.host = host.to_owned();
                if let Some((_, false)) = e.next {
                    let due = slot_at_or_after(now, interval_ms, offset_ms);
                    e.next = Some((due, false));
                    e.generation = generation;
                    self.heap.push(Reverse((due, generation, id.clone())));
                }
            }
            None => {
                let due = slot_at_or_after(now, interval_ms, offset_ms);
                self.entries.insert(
                    id.clone(),
                    Entry {
                        interval_ms,
                        offset_ms,
                        host: host.to_owned(),
                        generation,
                        running: false,
                        removed: false,
                        next: Some((due, false)),
                    },
                );
                self.heap.push(Reverse((due, generation, id.clone())));
            }
        }
    }

    /// Removes a monitor (deleted from the configuration, or its lease went to another instance). A check of it
    /// that is running still ends with [`Scheduler::finished`].
    pub fn remove(&mut self, id: &MonitorId) {
        match self.entries.get_mut(id) {
            // Kept until its check finishes, so the running count stays right.
            Some(e) if e.running => {
                e.removed = true;
                e.next = None;
            }
            Some(_) => {
                self.entries.remove(id);
            }
            None => {}
        }
    }

    /// Whether the monitor is scheduled.
    pub fn contains(&self, id: &MonitorId) -> bool {
        self.entries.get(id).is_some_and(|e| !e.removed)
    }

    /// The next step at `now`.
    pub fn poll(&mut self, now: Timestamp) -> Poll {
        loop {
            let Some(Reverse((eligible, generation, id))) = self.heap.peek().cloned() else {
                return if self.entries.is_empty() { Poll::Idle } else { Poll::Saturated.or_idle(self.running) };
            };
            let live = self.entries.get(&id).is_some_and(|e| e.generation == generation && e.next.is_some());
            if !live {
                self.heap.pop();
                continue;
            }
            if eligible > now {
                return Poll::Wait(eligible);
            }
            if self.running >= self.limits.max_concurrency {
                return Poll::Saturated;
            }
            self.heap.pop();
            let spacing = self.limits.min_host_spacing;
            let entry = self.entries.get_mut(&id).expect("live entry");
            let (due, recheck) = entry.next.expect("live entry has a next run");
            if !spacing.is_zero()
                && let Some(&free) = self.hosts.get(&entry.host)
                && free > now
            {
                // Too soon after another check of this host: wait for its turn, keeping the original due time.
                self.heap.push(Reverse((free, generation, id)));
                continue;
            }
            if !spacing.is_zero() {
                self.hosts.insert(entry.host.clone(), now + spacing);
            }
            entry.running = true;
            entry.next = None;
            self.running += 1;
            return Poll::Run(Start { id, due, lateness: now.since(due), recheck });
        }
    }

    /// A check started by [`Poll::Run`] ended at `now`. Schedules the monitor's next slot: the first one after
    /// the slot that just ran and not before `now`, so missed slots are skipped, not caught up.
    pub fn finished(&mut self, id: &MonitorId, due: Timestamp, now: Timestamp) {
        let Some(e) = self.entries.get_mut(id) else { return };
        if !e.running {
            return;
        }
        e.running = false;
        self.running = self.running.saturating_sub(1);
        if e.removed {
            self.entries.remove(id);
            return;
        }
        let after_due = slot_at_or_after(due + Duration::from_millis(1), e.interval_ms, e.offset_ms);
        let next = after_due.max(slot_at_or_after(now, e.interval_ms, e.offset_ms));
        self.generation += 1;
        e.generation = self.generation;
        e.next = Some((next, false));
        self.heap.push(Reverse((next, self.generation, id.clone())));
        self.prune_hosts(now);
    }

    /// Asks for a re-check at `at` (after the check that asked for it finished). It replaces the pending slot;
    /// the regular slots resume after it.
    pub fn recheck(&mut self, id: &MonitorId, at: Timestamp) {
        let generation = self.next_generation();
        let Some(e) = self.entries.get_mut(id) else { return };
        if e.running || e.removed {
            return;
        }
        e.generation = generation;
        e.next = Some((at, true));
        self.heap.push(Reverse((at, generation, id.clone())));
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    /// Forgets hosts whose spacing has passed, so the map stays as small as the set of busy hosts.
    fn prune_hosts(&mut self, now: Timestamp) {
        if self.hosts.len() > 4 * self.entries.len().max(64) {
            self.hosts.retain(|_, free| *free > now);
        }
    }
}

impl Poll {
    fn or_idle(self, running: usize) -> Poll {
        if running == 0 { Poll::Idle } else { self }
    }
}

/// The first slot `offset + k·interval` at or after `t`.
fn slot_at_or_after(t: Timestamp, interval_ms: i64, offset_ms: i64) -> Timestamp {
    let k = (t.0 - offset_ms).div_euclid(interval_ms);
    let slot = offset_ms + k * interval_ms;
    Timestamp(if slot < t.0 { slot + interval_ms } else { slot })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(i: usize) -> MonitorId {
        MonitorId::from_name(&format!("m{i}")).unwrap()
    }

    /// Runs the scheduler over simulated time; each check takes `took` ms. Returns (start time, Start).
    fn simulate(s: &mut Scheduler, from: i64, until: i64, took: i64) -> Vec<(i64, Start)> {
        let mut now = from;
        let mut running: Vec<(i64, Start)> = Vec::new();
        let mut starts = Vec::new();
        while now < until {
            running.sort_by_key(|(end, _)| *end);
            while let Some(pos) = running.iter().position(|(end, _)| *end <= now) {
                let (_, st) = running.remove(pos);
                s.finished(&st.id, st.due, Timestamp(now));
            }
            match s.poll(Timestamp(now)) {
                Poll::Run(st) => {
                    assert!(s.running() <= s.limits.max_concurrency);
                    starts.push((now, st.clone()));
                    running.push((now + took, st));
                }
                Poll::Wait(t) => {
                    let next_end = running.iter().map(|(e, _)| *e).min().unwrap_or(i64::MAX);
                    now = t.0.min(next_end).max(now + 1);
                }
                Poll::Saturated => now = running.iter().map(|(e, _)| *e).min().unwrap(),
                Poll::Idle => break,
            }
        }
        starts
    }

    #[test]
    fn slots_are_stable_and_spread() {
        let mut s = Scheduler::new(SchedulerLimits { max_concurrency: 10_000, min_host_spacing: Duration::ZERO });
        let n = 6000;
        for i in 0..n {
            s.upsert(&id(i), Duration::from_secs(60), &format!("h{i}"), Timestamp(0));
        }
        let starts = simulate(&mut s, 0, 180_000, 500);
        assert_eq!(starts.len(), 3 * n);
        for (at, st) in &starts {
            assert_eq!(st.due.0.rem_euclid(60_000), Scheduler::offset(&st.id, Duration::from_secs(60)));
            assert_eq!(*at, st.due.0, "no lateness without limits");
        }
        // Spread: no second of the minute gets more than twice its share.
        let mut per_second = [0usize; 60];
        for (at, _) in starts.iter().filter(|(at, _)| *at < 60_000) {
            per_second[(*at / 1000) as usize] += 1;
        }
        assert!(per_second.iter().all(|&c| c <= 2 * n / 60), "{per_second:?}");
    }

    #[test]
    fn a_pause_runs_each_overdue_monitor_once() {
        let mut s = Scheduler::new(SchedulerLimits { max_concurrency: 100, min_host_spacing: Duration::ZERO });
        for i in 0..50 {
            s.upsert(&id(i), Duration::from_secs(30), &format!("h{i}"), Timestamp(0));
        }
        // Nothing polled for ten minutes (a stopped process, a suspended VM).
        let starts = simulate(&mut s, 600_000, 630_000, 10);
        let (overdue, later): (Vec<_>, Vec<_>) = starts.iter().partition(|(at, _)| *at == 600_000);
        assert_eq!(overdue.len(), 50, "each overdue monitor once");
        assert!(overdue.iter().all(|(_, st)| st.lateness >= Duration::from_secs(570)));
        assert_eq!(later.len(), 50, "then back on the slot grid, once per interval");
        assert!(later.iter().all(|(_, st)| st.lateness.is_zero()));
    }

    #[test]
    fn rechecks_jump_ahead_and_slots_resume() {
        let mut s = Scheduler::new(SchedulerLimits { max_concurrency: 1, min_host_spacing: Duration::ZERO });
        let m = id(1);
        s.upsert(&m, Duration::from_secs(60), "h", Timestamp(0));
        let Poll::Wait(first) = s.poll(Timestamp(0)) else { panic!() };
        let Poll::Run(st) = s.poll(first) else { panic!() };
        s.finished(&m, st.due, first + Duration::from_secs(1));
        s.recheck(&m, first + Duration::from_secs(11));
        assert_eq!(s.poll(first + Duration::from_secs(2)), Poll::Wait(first + Duration::from_secs(11)));
        let Poll::Run(re) = s.poll(first + Duration::from_secs(11)) else { panic!() };
        assert!(re.recheck);
        s.finished(&m, re.due, first + Duration::from_secs(12));
        assert_eq!(s.poll(first + Duration::from_secs(12)), Poll::Wait(first + Duration::from_secs(60)));
    }

    #[test]
    fn removed_while_running_releases_its_slot() {
        let mut s = Scheduler::new(SchedulerLimits { max_concurrency: 1, min_host_spacing: Duration::ZERO });
        let (a, b) = (id(1), id(2));
        s.upsert(&a, Duration::from_secs(60), "h", Timestamp(0));
        s.upsert(&b, Duration::from_secs(60), "h2", Timestamp(0));
        let Poll::Run(st) = s.poll(Timestamp(120_000)) else { panic!() };
        s.remove(&st.id);
        assert!(!s.contains(&st.id));
        assert_eq!(s.poll(Timestamp(120_000)), Poll::Saturated);
        s.finished(&st.id, st.due, Timestamp(120_001));
        assert!(matches!(s.poll(Timestamp(120_001)), Poll::Run(other) if other.id != st.id));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Concurrency is never exceeded, one host's starts keep their spacing, and no monitor runs more often
        /// than its interval allows (once per slot at most, plus nothing for missed ones).
        #[test]
        fn limits_hold(n in 1usize..60, hosts in 1usize..6, conc in 1usize..8, spacing_ms in 0u64..3000, took in 1i64..20_000) {
            let limits = SchedulerLimits { max_concurrency: conc, min_host_spacing: Duration::from_millis(spacing_ms) };
            let mut s = Scheduler::new(limits);
            for i in 0..n {
                s.upsert(&id(i), Duration::from_secs(30), &format!("h{}", i % hosts), Timestamp(0));
            }
            let starts = simulate(&mut s, 0, 300_000, took);
            let mut last_by_host: HashMap<String, i64> = HashMap::new();
            let mut per_monitor: HashMap<MonitorId, Vec<i64>> = HashMap::new();
            for (at, st) in &starts {
                let host = format!("h{}", st.id.as_str()[1..].parse::<usize>().unwrap() % hosts);
                if let Some(prev) = last_by_host.insert(host, *at) {
                    prop_assert!(*at - prev >= spacing_ms as i64, "spacing");
                }
                per_monitor.entry(st.id.clone()).or_default().push(st.due.0);
            }
            for dues in per_monitor.values() {
                for w in dues.windows(2) {
                    prop_assert!(w[1] - w[0] >= 30_000, "a slot ran twice or caught up: {dues:?}");
                }
            }
        }
    }
}
