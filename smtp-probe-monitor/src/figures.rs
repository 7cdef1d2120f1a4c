//! Figures per monitor and per tag over the standard windows (24 h, 7 d, 30 d, 90 d), computed from hourly
//! rollups and incidents — never from raw results, so they stay cheap and survive raw-result retention.
//!
//! - availability: the [uptime formula](crate::uptime);
//! - p50/p95/p99 response time: from the merged [histograms](crate::histogram) of the window's hours;
//! - incidents: those that started in the window; MTTR: the mean duration of those that also ended in it;
//! - certificate days left: from the latest check (the snapshot), not from history;
//! - round trips: delivery latency p50/p95/p99 (accepted to visible in the mailbox) from their own merged
//!   histograms, and the junk rate: the share of the messages delivered in the window that landed in the junk
//!   folder.
//!
//! Windows are whole hours: a window ending now covers the hours that started within it.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::histogram::Histogram;
use crate::storage::{DeliveryCounts, IncidentRecord, RollupRow, StatusCounts};
use crate::uptime::StateTime;

/// The standard windows.
pub const WINDOWS: [(&str, Duration); 4] = [
    ("24h", Duration::from_secs(86_400)),
    ("7d", Duration::from_secs(7 * 86_400)),
    ("30d", Duration::from_secs(30 * 86_400)),
    ("90d", Duration::from_secs(90 * 86_400)),
];

/// The figures of one window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figures {
    /// The window's name (`24h`, `7d`, ...).
    pub window: &'static str,
    /// Availability 0..=1 (`None` when nothing was observed).
    pub availability: Option<f64>,
    /// Time per state, milliseconds.
    pub time: StateTime,
    /// Checks per status.
    pub checks: StatusCounts,
    /// Response time p50, ms.
    pub p50_ms: Option<u32>,
    /// Response time p95, ms.
    pub p95_ms: Option<u32>,
    /// Response time p99, ms.
    pub p99_ms: Option<u32>,
    /// Incidents started in the window.
    pub incidents: u32,
    /// Mean time to recovery of the incidents that started and ended in the window, seconds.
    pub mttr_secs: Option<f64>,
    /// Round trips' deliveries, when any message arrived in the window (absent for other check kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryFigures>,
}

/// What round trips delivered in one window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeliveryFigures {
    /// Messages that arrived (inbox or junk folder).
    pub delivered: i64,
    /// Of those, the ones in the junk folder.
    pub junk: i64,
    /// `junk / delivered`, 0..=1.
    pub junk_rate: f64,
    /// Delivery latency p50, ms.
    pub p50_ms: Option<u32>,
    /// Delivery latency p95, ms.
    pub p95_ms: Option<u32>,
    /// Delivery latency p99, ms.
    pub p99_ms: Option<u32>,
}

impl DeliveryFigures {
    fn from_counts(c: &DeliveryCounts) -> Option<DeliveryFigures> {
        (c.delivered > 0).then(|| DeliveryFigures {
            delivered: c.delivered,
            junk: c.junk,
            junk_rate: c.junk as f64 / c.delivered as f64,
            p50_ms: c.latency.quantile(0.50),
            p95_ms: c.latency.quantile(0.95),
            p99_ms: c.latency.quantile(0.99),
        })
    }
}

/// Figures for each standard window ending at `now`, from rollups (any order, any monitors: a tag's figures
/// are those of all its monitors' rollups and incidents together).
pub fn compute(now: Timestamp, rollups: &[RollupRow], incidents: &[IncidentRecord]) -> Vec<Figures> {
    WINDOWS
        .iter()
        .map(|&(name, len)| {
            let from = (now - len).hour_start();
            let mut time = StateTime::default();
            let mut checks = StatusCounts::default();
            let mut latency = Histogram::new();
            let mut delivery = DeliveryCounts::default();
            for r in rollups.iter().filter(|r| r.hour >= from && r.hour <= now) {
                time.merge(&r.delta.time);
                checks.merge(&r.delta.counts);
                latency.merge(&r.delta.latency);
                delivery.merge(&r.delta.delivery);
            }
            let started: Vec<&IncidentRecord> =
                incidents.iter().filter(|i| i.started >= from && i.started <= now).collect();
            let recovered: Vec<f64> = started
                .iter()
                .filter_map(|i| i.ended.filter(|e| *e <= now).map(|e| e.since(i.started).as_secs_f64()))
                .collect();
            Figures {
                window: name,
                availability: time.availability(),
                time,
                checks,
                p50_ms: latency.quantile(0.50),
                p95_ms: latency.quantile(0.95),
                p99_ms: latency.quantile(0.99),
                incidents: started.len() as u32,
                mttr_secs: (!recovered.is_empty()).then(|| recovered.iter().sum::<f64>() / recovered.len() as f64),
                delivery: DeliveryFigures::from_counts(&delivery),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::HOUR_MS;
    use crate::id::MonitorId;
    use crate::storage::RollupDelta;

    fn rollup(hour: i64, up_ms: i64, down_ms: i64, latencies: &[u32]) -> RollupRow {
        let mut delta = RollupDelta::default();
        delta.time.up_ms = up_ms;
        delta.time.down_ms = down_ms;
        for &l in latencies {
            delta.latency.record(l);
            delta.counts.up += 1;
        }
        RollupRow { monitor: MonitorId::from_name("m").unwrap(), hour: Timestamp(hour * HOUR_MS), delta }
    }

    #[test]
    fn windows_pick_their_hours() {
        let now = Timestamp(100 * 24 * HOUR_MS + 30 * 60_000);
        let today = 100 * 24;
        let rows = vec![
            rollup(today, 1_800_000, 0, &[10, 20, 30]),
            rollup(today - 30, 3_000_000, 600_000, &[100]), // 30 h ago: in 7d, not in 24h
            rollup(today - 24 * 60, 3_600_000, 0, &[1000]), // 60 days ago: only in 90d
        ];
        let incident = IncidentRecord {
            monitor: MonitorId::from_name("m").unwrap(),
            started: Timestamp((today - 30) * HOUR_MS),
            ended: Some(Timestamp((today - 30) * HOUR_MS + 600_000)),
            severity: "down".into(),
            flapping: false,
            cause: None,
            server_text: None,
            acknowledged: None,
            notified: None,
        };
        let f = compute(now, &rows, &[incident]);
        assert_eq!(f[0].window, "24h");
        assert_eq!(f[0].availability, Some(1.0));
        assert_eq!((f[0].p50_ms, f[0].checks.up, f[0].incidents), (Some(20), 3, 0));
        assert_eq!(f[1].availability, Some(4_800_000.0 / 5_400_000.0));
        assert_eq!((f[1].incidents, f[1].mttr_secs), (1, Some(600.0)));
        assert_eq!(f[2].checks.up, 4);
        assert_eq!(f[3].checks.up, 5);
        assert_eq!(f[3].p99_ms, Some(1000));
        assert_eq!(f[0].delivery, None, "no round trips: no delivery figures");
    }

    #[test]
    fn round_trips_have_delivery_percentiles_and_a_junk_rate_per_window() {
        let now = Timestamp(100 * 24 * HOUR_MS + 30 * 60_000);
        let today = 100 * 24;
        let mut recent = rollup(today, 1_800_000, 0, &[]);
        for ms in 1..=100 {
            recent.delta.delivery.record(ms * 100, ms % 10 == 0); // 100 ms .. 10 s; every tenth in junk
        }
        let mut old = rollup(today - 48, 3_600_000, 0, &[]);
        old.delta.delivery.record(60_000, true);
        let f = compute(now, &[recent, old], &[]);
        let day = f[0].delivery.as_ref().unwrap();
        assert_eq!((day.delivered, day.junk, day.junk_rate), (100, 10, 0.1));
        // Within the histogram's 6.25 %.
        for (got, exact) in [(day.p50_ms, 5_000.0), (day.p95_ms, 9_500.0), (day.p99_ms, 9_900.0)] {
            let got = f64::from(got.unwrap());
            assert!((got - exact).abs() <= exact * 0.0625, "{got} vs {exact}");
        }
        let week = f[1].delivery.as_ref().unwrap();
        assert_eq!((week.delivered, week.junk), (101, 11));
        // The 100th of 101 values is the day's largest, not the old hour's minute.
        let p99 = f64::from(week.p99_ms.unwrap());
        assert!((p99 - 10_000.0).abs() <= 625.0, "{week:?}");
    }
}
