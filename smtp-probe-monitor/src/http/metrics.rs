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

use smtp_probe_render::metrics::{self, Metric};
use smtp_probe_render::{Exposition, ExpositionFormat, Samples};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::board::Window;
use super::page::group_of;
use crate::check::Status;
use crate::delivery::{ChannelHealth, ChannelState};
use crate::engine::EngineHandle;
use crate::events::Event;
use crate::id::MonitorId;
use crate::incident::State;
use crate::snapshot::MonitorSnapshot;

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

/// Writes one monitor's sample of a family, given its position in the snapshot and its `monitor` and `group`
/// labels.
type PerMonitor<'a> = Box<dyn FnMut(&mut Samples<'_>, usize, &MonitorSnapshot, [(&str, &str); 2]) + 'a>;

/// The size of the chunks the exposition is handed over in: at 10,000 monitors it is megabytes, and it is never
/// whole in memory.
pub(crate) const CHUNK: usize = 64 * 1024;

/// The exposition being written, handed over in chunks of about [`CHUNK`] bytes.
struct Chunked<'a> {
    out: Exposition,
    /// Takes a chunk; `false` when nobody wants the rest (the client left): writing stops.
    send: &'a mut dyn FnMut(String) -> bool,
    gone: bool,
}

impl Chunked<'_> {
    /// Hands over what is written when it has reached a chunk's size.
    fn flush_full(&mut self) {
        if !self.gone && self.out.len() >= CHUNK {
            self.gone = !(self.send)(self.out.take_text());
        }
    }

    /// A family with a sample (or none) per monitor, handed over chunk by chunk.
    fn each(&mut self, metric: Metric, snaps: &[MonitorSnapshot], groups: &[&str], mut f: PerMonitor<'_>) {
        if self.gone {
            return;
        }
        let (send, gone) = (&mut self.send, &mut self.gone);
        self.out.family_with(metric, |samples| {
            for (i, (s, group)) in snaps.iter().zip(groups).enumerate() {
                f(samples, i, s, [("monitor", s.id.as_str()), ("group", group)]);
                if samples.len() >= CHUNK && !send(samples.take_text()) {
                    *gone = true;
                    return;
                }
            }
        });
    }

    /// A family of a few samples.
    fn family(&mut self, metric: Metric, write: impl FnOnce(&mut Samples<'_>)) {
        if !self.gone {
            self.out.family_with(metric, write);
            self.flush_full();
        }
    }

    fn one(&mut self, metric: Metric, value: f64) {
        self.family(metric, |w| w.sample(&[], value));
    }
}

/// The whole exposition, written family by family and handed to `send` in chunks of about [`CHUNK`] bytes (the
/// last one shorter), with no allocation per series. Nothing is held locked while `send` waits. Returns whether
/// every chunk was taken.
pub(crate) fn render(app: &AppState, format: ExpositionFormat, send: &mut dyn FnMut(String) -> bool) -> bool {
    // A copy: the engine never waits for a scrape.
    let snaps = app.engine.snapshot();
    let groups: Vec<&str> = snaps.iter().map(|s| group_of(&s.tags)).collect();
    // Copied out of the board, so that a slow client never holds its lock.
    let availability: Vec<[Option<f64>; 4]> = {
        let board = app.board.read();
        snaps
            .iter()
            .map(|s| board.history(&s.id).map_or([None; 4], |h| Window::ALL.map(|w| h.availability(w))))
            .collect()
    };
    let latency = app.latency.groups.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let outbox = app.board.read().outbox.clone();
    let mut out = Chunked { out: Exposition::new(format), send, gone: false };
    let each = |out: &mut Chunked<'_>, metric, f: PerMonitor<'_>| out.each(metric, &snaps, &groups, f);
    each(
        &mut out,
        metrics::MONITOR_INFO,
        Box::new(|w, _, s, l| w.sample(&[l[0], l[1], ("name", &s.name), ("target", &s.target)], 1.0)),
    );
    each(
        &mut out,
        metrics::MONITOR_UP,
        Box::new(|w, _, s, l| match s.last_check.as_deref().map(|c| c.status) {
            Some(Status::Up | Status::Degraded) => w.sample(&l, 1.0),
            Some(Status::Down) => w.sample(&l, 0.0),
            Some(Status::Unknown) | None => {}
        }),
    );
    each(
        &mut out,
        metrics::MONITOR_STATE,
        Box::new(|w, _, s, l| w.sample(&[l[0], l[1], ("state", s.state.as_str())], 1.0)),
    );
    each(
        &mut out,
        metrics::MONITOR_CAUSE,
        Box::new(|w, _, s, l| {
            if let Some(c) = s.last_check.as_deref().filter(|c| c.status != Status::Up)
                && let Some(why) = c.cause.as_deref()
            {
                w.sample(&[l[0], l[1], ("cause", why)], 1.0);
            }
        }),
    );
    // Only while it holds (an inhibition rule matches `== 1`): the common case adds nothing to the scrape.
    each(
        &mut out,
        metrics::MONITOR_MAINTENANCE,
        Box::new(|w, _, s, l| {
            if s.maintenance.is_some() {
                w.sample(&l, 1.0);
            }
        }),
    );
    each(
        &mut out,
        metrics::MONITOR_RESPONSE_DURATION,
        Box::new(|w, _, s, l| {
            if let Some(ms) = s.last_check.as_deref().and_then(|c| c.response_ms) {
                w.sample(&l, f64::from(ms) / 1000.0);
            }
        }),
    );
    each(
        &mut out,
        metrics::MONITOR_LAST_CHECK,
        Box::new(|w, _, s, l| {
            if let Some(c) = s.last_check.as_deref() {
                w.sample(&l, c.at.0 as f64 / 1000.0);
            }
        }),
    );
    each(
        &mut out,
        metrics::MONITOR_CERTIFICATE_DAYS,
        Box::new(|w, _, s, l| {
            if let Some(days) = s.last_check.as_deref().and_then(|c| c.cert_days_left) {
                w.sample(&l, days as f64);
            }
        }),
    );
    each(
        &mut out,
        metrics::MONITOR_AVAILABILITY,
        Box::new(|w, i, _, l| {
            for (win, a) in Window::ALL.iter().zip(availability[i]) {
                if let Some(a) = a {
                    w.sample(&[l[0], l[1], ("window", win.as_str())], a);
                }
            }
        }),
    );
    each(&mut out, metrics::MONITOR_CHECKS, Box::new(|w, _, s, l| w.sample(&l, s.checks as f64)));
    out.family(metrics::MONITOR_RESPONSE_LATENCY, |w| {
        for (group, b) in &latency {
            let cumulative: Vec<(f64, u64)> = BUCKETS.iter().copied().zip(b.counts.iter().copied()).collect();
            w.histogram(&[("group", group)], &cumulative, b.sum_ms as f64 / 1000.0, b.count);
        }
    });
    let mut per_state: BTreeMap<&'static str, usize> =
        [State::Up, State::Pending, State::Degraded, State::Down, State::Flapping, State::Unknown]
            .into_iter()
            .map(|s| (s.as_str(), 0))
            .collect();
    for s in &snaps {
        *per_state.entry(s.state.as_str()).or_default() += 1;
    }
    out.family(metrics::MONITOR_MONITORS, |w| {
        for (s, n) in &per_state {
            w.sample(&[("state", s)], *n as f64);
        }
    });
    let stats = app.engine.scheduler_stats();
    let health = app.engine.storage_health();
    out.one(metrics::MONITOR_CHECKS_RUNNING, stats.running as f64);
    out.one(metrics::MONITOR_CHECKS_STARTED, stats.started as f64);
    out.family(metrics::MONITOR_LATENESS, |w| {
        for (stat, v) in
            [("p50", stats.lateness_p50_ms), ("p99", stats.lateness_p99_ms), ("max", stats.lateness_max_ms)]
        {
            if let Some(ms) = v {
                w.sample(&[("stat", stat)], f64::from(ms) / 1000.0);
            }
        }
    });
    out.one(metrics::MONITOR_STORAGE_HEALTHY, f64::from(u8::from(health.ok)));
    out.one(metrics::MONITOR_STORAGE_BACKLOG, health.backlog as f64);
    out.one(metrics::MONITOR_STORAGE_WRITTEN, health.written_results as f64);
    out.one(metrics::MONITOR_STORAGE_DROPPED, health.dropped_results as f64);
    out.one(metrics::MONITOR_CONNECTIVITY_LOST, f64::from(u8::from(app.engine.connectivity_lost())));
    out.family(metrics::MONITOR_ALERTS, |w| {
        for (kind, status, n) in &outbox {
            w.sample(&[("kind", kind), ("status", status)], *n as f64);
        }
    });
    let channels = app.engine.channel_health();
    out.family(metrics::MONITOR_CHANNEL_UP, |w| {
        for c in &channels {
            w.sample(&[("channel", &c.name), ("kind", c.kind)], f64::from(u8::from(c.state == ChannelState::Ok)));
        }
    });
    let per_channel = |out: &mut Chunked<'_>, metric, value: &dyn Fn(&ChannelHealth) -> f64| {
        out.family(metric, |w| {
            for c in &channels {
                w.sample(&[("channel", &c.name)], value(c));
            }
        });
    };
    per_channel(&mut out, metrics::MONITOR_CHANNEL_QUEUED, &|c| c.queued as f64);
    per_channel(&mut out, metrics::MONITOR_CHANNEL_ATTEMPTS, &|c| c.attempts_total as f64);
    per_channel(&mut out, metrics::MONITOR_CHANNEL_FAILURES, &|c| c.failures_total as f64);
    per_channel(&mut out, metrics::MONITOR_CHANNEL_DELIVERED, &|c| c.delivered_total as f64);
    per_channel(&mut out, metrics::MONITOR_CHANNEL_GIVEN_UP, &|c| c.given_up_total as f64);
    out.one(metrics::MONITOR_EVENTS_MISSED, app.latency.missed.load(Ordering::Relaxed) as f64);
    if let Some(exporter) = &app.exporter {
        for family in &exporter.families() {
            if !out.gone {
                out.out.family(family);
                out.flush_full();
            }
        }
    }
    if !out.gone {
        out.gone = !(out.send)(out.out.finish());
    }
    !out.gone
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
