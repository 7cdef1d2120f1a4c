//! `/metrics`: every monitor's gauges, a response-latency histogram per group, the service's own figures and
//! `/probe`'s counters, in the [metric vocabulary](smtp_probe_render::metrics) of the renderer crate and written by
//! its [`Exposition`] (Prometheus text, or OpenMetrics when the scraper asks for it).
//!
//! Labels are bounded by the configuration: a monitor's id and group, a state, a cause from the probe's fixed
//! vocabulary, a window. Server text never becomes a label. Per-monitor values come from the snapshot and the
//! [board](super::board); the histogram counts the checks this process judged, from the engine's event stream.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use smtp_probe_render::{Exposition, ExpositionFormat, Family, metrics};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::board::Window;
use super::page::group_of;
use crate::check::Status;
use crate::engine::EngineHandle;
use crate::events::Event;
use crate::id::MonitorId;
use crate::incident::State;

/// The histogram's bucket bounds, seconds: from a loopback answer to a slow TLS handshake far away.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Debug, Default, Clone)]
struct Buckets {
    counts: [u64; BUCKETS.len()],
    sum_ms: u64,
    count: u64,
}

impl Buckets {
    fn record(&mut self, ms: u32) {
        let secs = f64::from(ms) / 1000.0;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum_ms += u64::from(ms);
        self.count += 1;
    }
}

/// Response times per group, from the event stream.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    groups: Mutex<BTreeMap<String, Buckets>>,
    missed: AtomicU64,
}

impl Latency {
    fn record(&self, group: &str, ms: u32) {
        let mut groups = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        match groups.get_mut(group) {
            Some(b) => b.record(ms),
            None => groups.entry(group.to_owned()).or_default().record(ms),
        }
    }

    /// Follows the engine's events until the engine stops. Falling behind loses events: they are counted.
    pub(crate) async fn follow(self: std::sync::Arc<Self>, engine: EngineHandle) {
        let mut events = engine.subscribe();
        let mut groups: HashMap<MonitorId, String> = HashMap::new();
        loop {
            match events.recv().await {
                Ok(Event::Check { outcome, .. }) => {
                    let Some(ms) = outcome.response_ms.filter(|_| outcome.status != Status::Unknown) else { continue };
                    let group = match groups.get(&outcome.monitor) {
                        Some(g) => g,
                        None => {
                            let g = engine.monitor(&outcome.monitor).map(|s| group_of(&s.tags).to_owned());
                            groups.entry(outcome.monitor.clone()).or_insert(g.unwrap_or_default())
                        }
                    };
                    self.record(group, ms);
                }
                Ok(Event::Reloaded { .. }) => groups.clear(),
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    self.missed.fetch_add(n, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// The whole exposition.
pub(crate) fn render(app: &AppState, format: ExpositionFormat) -> String {
    let mut info = Family::new(metrics::MONITOR_INFO);
    let mut up = Family::new(metrics::MONITOR_UP);
    let mut state = Family::new(metrics::MONITOR_STATE);
    let mut cause = Family::new(metrics::MONITOR_CAUSE);
    let mut maintenance = Family::new(metrics::MONITOR_MAINTENANCE);
    let mut response = Family::new(metrics::MONITOR_RESPONSE_DURATION);
    let mut last_check = Family::new(metrics::MONITOR_LAST_CHECK);
    let mut cert = Family::new(metrics::MONITOR_CERTIFICATE_DAYS);
    let mut availability = Family::new(metrics::MONITOR_AVAILABILITY);
    let mut checks = Family::new(metrics::MONITOR_CHECKS);
    let mut per_state: BTreeMap<&'static str, usize> =
        [State::Up, State::Pending, State::Degraded, State::Down, State::Flapping, State::Unknown]
            .into_iter()
            .map(|s| (s.as_str(), 0))
            .collect();
    {
        // A copy: the engine never waits for a scrape.
        let snaps = app.engine.snapshot();
        let board = app.board.read();
        for s in &snaps {
            let group = group_of(&s.tags);
            let labels = [("monitor", s.id.as_str()), ("group", group)];
            info.sample(&[labels[0], labels[1], ("name", &s.name), ("target", &s.target)], 1.0);
            *per_state.entry(s.state.as_str()).or_default() += 1;
            state.sample(&[labels[0], labels[1], ("state", s.state.as_str())], 1.0);
            maintenance.sample(&labels, f64::from(u8::from(s.maintenance.is_some())));
            checks.sample(&labels, s.checks as f64);
            if let Some(c) = s.last_check.as_deref() {
                match c.status {
                    Status::Up | Status::Degraded => up.sample(&labels, 1.0),
                    Status::Down => up.sample(&labels, 0.0),
                    Status::Unknown => {}
                }
                if let Some(why) = c.cause.as_deref().filter(|_| c.status != Status::Up) {
                    cause.sample(&[labels[0], labels[1], ("cause", why)], 1.0);
                }
                if let Some(ms) = c.response_ms {
                    response.sample(&labels, f64::from(ms) / 1000.0);
                }
                last_check.sample(&labels, c.at.0 as f64 / 1000.0);
                if let Some(days) = c.cert_days_left {
                    cert.sample(&labels, days as f64);
                }
            }
            if let Some(h) = board.monitors.get(&s.id) {
                for w in Window::ALL {
                    if let Some(a) = h.availability(w) {
                        availability.sample(&[labels[0], labels[1], ("window", w.as_str())], a);
                    }
                }
            }
        }
    }
    let mut latency = Family::new(metrics::MONITOR_RESPONSE_LATENCY);
    for (group, b) in app.latency.groups.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let cumulative: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(b.counts.iter().copied()).collect();
        latency.histogram(&[("group", group)], &cumulative, b.sum_ms as f64 / 1000.0, b.count);
    }
    let mut monitors = Family::new(metrics::MONITOR_MONITORS);
    for (s, n) in &per_state {
        monitors.sample(&[("state", s)], *n as f64);
    }
    let stats = app.engine.scheduler_stats();
    let mut running = Family::new(metrics::MONITOR_CHECKS_RUNNING);
    running.sample(&[], stats.running as f64);
    let mut started = Family::new(metrics::MONITOR_CHECKS_STARTED);
    started.sample(&[], stats.started as f64);
    let mut lateness = Family::new(metrics::MONITOR_LATENESS);
    for (stat, v) in [("p50", stats.lateness_p50_ms), ("p99", stats.lateness_p99_ms), ("max", stats.lateness_max_ms)] {
        if let Some(ms) = v {
            lateness.sample(&[("stat", stat)], f64::from(ms) / 1000.0);
        }
    }
    let health = app.engine.storage_health();
    let mut healthy = Family::new(metrics::MONITOR_STORAGE_HEALTHY);
    healthy.sample(&[], f64::from(u8::from(health.ok)));
    let mut backlog = Family::new(metrics::MONITOR_STORAGE_BACKLOG);
    backlog.sample(&[], health.backlog as f64);
    let mut written = Family::new(metrics::MONITOR_STORAGE_WRITTEN);
    written.sample(&[], health.written_results as f64);
    let mut dropped = Family::new(metrics::MONITOR_STORAGE_DROPPED);
    dropped.sample(&[], health.dropped_results as f64);
    let mut lost = Family::new(metrics::MONITOR_CONNECTIVITY_LOST);
    lost.sample(&[], f64::from(u8::from(app.engine.connectivity_lost())));
    let mut alerts = Family::new(metrics::MONITOR_ALERTS);
    for (kind, status, n) in &app.board.read().outbox {
        alerts.sample(&[("kind", kind), ("status", status)], *n as f64);
    }
    let mut missed = Family::new(metrics::MONITOR_EVENTS_MISSED);
    missed.sample(&[], app.latency.missed.load(Ordering::Relaxed) as f64);

    let mut out = Exposition::new(format);
    for family in [
        &info,
        &up,
        &state,
        &cause,
        &maintenance,
        &response,
        &last_check,
        &cert,
        &availability,
        &checks,
        &latency,
        &monitors,
        &running,
        &started,
        &lateness,
        &healthy,
        &backlog,
        &written,
        &dropped,
        &lost,
        &alerts,
        &missed,
    ] {
        out.family(family);
    }
    if let Some(exporter) = &app.exporter {
        for family in &exporter.families() {
            out.family(family);
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative() {
        let mut b = Buckets::default();
        for ms in [3, 7, 40, 40, 2000, 60_000] {
            b.record(ms);
        }
        assert_eq!(b.counts[0], 1, "≤ 5 ms");
        assert_eq!(b.counts[1], 2, "≤ 10 ms");
        assert_eq!(b.counts[3], 4, "≤ 50 ms");
        assert_eq!(b.counts[8], 5, "≤ 2.5 s");
        assert_eq!(b.counts[11], 5, "the minute is only in +Inf");
        assert_eq!((b.count, b.sum_ms), (6, 62_090));
    }
}
