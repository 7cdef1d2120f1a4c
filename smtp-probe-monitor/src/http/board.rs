//! The board: what the status page, `/metrics` and the monitor list know about the recent past, in memory, so a
//! request never reads raw results and never waits on the database.
//!
//! Per monitor it keeps time per state for each of the last [`DAYS`] UTC days (the 90-day bar, and availability
//! over 7, 30 and 90 days) and, for each of the last [`HOURS`] hours, time per state and the hour's response-time
//! p50 and p95 (availability over 24 hours, the response-time chart). About 2 KiB per monitor.
//!
//! It is filled from storage, not from this process's checks, so every instance sharing a PostgreSQL database
//! shows the same history: at start the days come summed from the database ([`Store::daily_time`]) and the hours
//! from the hourly rollups; then, every refresh, the current and the previous hour are read again for every
//! monitor ([`Store::rollups_of`], a few statements), and what changed in them is added to their day. The board is
//! thus at most one refresh (and one write batch) behind.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use crate::clock::{HOUR_MS, Timestamp};
use crate::id::MonitorId;
use crate::snapshot::Snapshots;
use crate::storage::{DAY_MS, RollupRow, Store, StoreError};
use crate::uptime::StateTime;

/// Days kept per monitor: the bar's length.
pub const DAYS: usize = 90;
/// Hours kept per monitor: the current one and the 24 before it.
pub const HOURS: usize = 25;

/// Time per state in one day or hour, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    /// Up.
    pub up_ms: u32,
    /// Degraded (counts as available).
    pub degraded_ms: u32,
    /// Down.
    pub down_ms: u32,
    /// Unknown and maintenance: left out of availability.
    pub other_ms: u32,
}

fn clamp_ms(ms: i64) -> u32 {
    u32::try_from(ms.max(0)).unwrap_or(u32::MAX)
}

impl Cell {
    fn from_time(t: &StateTime) -> Cell {
        Cell {
            up_ms: clamp_ms(t.up_ms),
            degraded_ms: clamp_ms(t.degraded_ms),
            down_ms: clamp_ms(t.down_ms),
            other_ms: clamp_ms(t.unknown_ms.saturating_add(t.maintenance_ms)),
        }
    }

    /// Adds another cell's time.
    pub fn add(&mut self, o: &Cell) {
        self.up_ms = self.up_ms.saturating_add(o.up_ms);
        self.degraded_ms = self.degraded_ms.saturating_add(o.degraded_ms);
        self.down_ms = self.down_ms.saturating_add(o.down_ms);
        self.other_ms = self.other_ms.saturating_add(o.other_ms);
    }

    fn sub(&mut self, o: &Cell) {
        self.up_ms = self.up_ms.saturating_sub(o.up_ms);
        self.degraded_ms = self.degraded_ms.saturating_sub(o.degraded_ms);
        self.down_ms = self.down_ms.saturating_sub(o.down_ms);
        self.other_ms = self.other_ms.saturating_sub(o.other_ms);
    }

    /// Time that counts for availability: up, degraded and down.
    pub fn known_ms(&self) -> u64 {
        u64::from(self.up_ms) + u64::from(self.degraded_ms) + u64::from(self.down_ms)
    }

    /// `(up + degraded) / (up + degraded + down)`, or `None` when nothing was observed.
    pub fn availability(&self) -> Option<f64> {
        let known = self.known_ms();
        (known > 0).then(|| (u64::from(self.up_ms) + u64::from(self.degraded_ms)) as f64 / known as f64)
    }

    /// Whether nothing at all was recorded.
    pub fn is_empty(&self) -> bool {
        self.known_ms() == 0 && self.other_ms == 0
    }
}

/// One hour: time per state and the response times of its checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hour {
    /// Time per state.
    pub time: Cell,
    /// Response time p50 and p95, ms (`None`: no check answered).
    pub latency: Option<(u32, u32)>,
}

/// One monitor's recent past.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// The last [`DAYS`] days, oldest first; the last is today.
    pub days: [Cell; DAYS],
    /// The last [`HOURS`] hours, oldest first; the last is the current hour.
    pub hours: [Hour; HOURS],
}

impl Default for History {
    fn default() -> Self {
        History { days: [Cell::default(); DAYS], hours: [Hour::default(); HOURS] }
    }
}

/// An availability window of the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The current hour and the 24 before it.
    Day,
    /// Today and the 6 days before (UTC days).
    Week,
    /// Today and the 29 days before.
    Month,
    /// Today and the 89 days before.
    Quarter,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 4] = [Window::Day, Window::Week, Window::Month, Window::Quarter];

    /// `24h`, `7d`, `30d`, `90d` (the names [`figures`](crate::figures) uses).
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "24h",
            Window::Week => "7d",
            Window::Month => "30d",
            Window::Quarter => "90d",
        }
    }
}

impl History {
    /// Time per state over a window.
    pub fn total(&self, window: Window) -> Cell {
        let mut sum = Cell::default();
        match window {
            Window::Day => self.hours.iter().for_each(|h| sum.add(&h.time)),
            Window::Week => self.days[DAYS - 7..].iter().for_each(|d| sum.add(d)),
            Window::Month => self.days[DAYS - 30..].iter().for_each(|d| sum.add(d)),
            Window::Quarter => self.days.iter().for_each(|d| sum.add(d)),
        }
        sum
    }

    /// Availability over a window (`None`: nothing observed).
    pub fn availability(&self, window: Window) -> Option<f64> {
        self.total(window).availability()
    }
}

/// Everything the board holds.
#[derive(Debug, Default)]
pub struct BoardData {
    /// The day index (days since the epoch) of the last day cell.
    pub today: i64,
    /// The hour index of the last hour cell.
    pub this_hour: i64,
    /// Per monitor. Boxed: the table's spare room (up to half of it, as it grows by doubling) then costs a pointer
    /// per slot, not a history of 2 KiB.
    pub monitors: HashMap<MonitorId, Box<History>>,
    /// Whether the history has been read from storage since start.
    pub loaded: bool,
    /// The last successful refresh.
    pub refreshed: Option<Timestamp>,
    /// The last refresh's error, while refreshes fail.
    pub error: Option<String>,
    /// Alerts in the outbox: (kind, status, count).
    pub outbox: Vec<(String, String, i64)>,
}

impl BoardData {
    /// One monitor's history.
    pub fn history(&self, id: &MonitorId) -> Option<&History> {
        self.monitors.get(id).map(|h| &**h)
    }

    /// The day a cell index stands for, as its start.
    pub fn day_start(&self, index: usize) -> Timestamp {
        Timestamp((self.today - (DAYS - 1 - index) as i64) * DAY_MS)
    }

    /// The hour an hour-cell index stands for, as its start.
    pub fn hour_start(&self, index: usize) -> Timestamp {
        Timestamp((self.this_hour - (HOURS - 1 - index) as i64) * HOUR_MS)
    }

    /// Moves the cells so that the last day is `today` and the last hour `this_hour` (time only goes forward).
    fn advance(&mut self, today: i64, this_hour: i64) {
        let days = usize::try_from(today - self.today).unwrap_or(0).min(DAYS);
        let hours = usize::try_from(this_hour - self.this_hour).unwrap_or(0).min(HOURS);
        if days > 0 || hours > 0 {
            for h in self.monitors.values_mut() {
                h.days.rotate_left(days);
                h.days[DAYS - days..].fill(Cell::default());
                h.hours.rotate_left(hours);
                h.hours[HOURS - hours..].fill(Hour::default());
            }
        }
        self.today = self.today.max(today);
        self.this_hour = self.this_hour.max(this_hour);
    }

    fn day_index(&self, at: Timestamp) -> Option<usize> {
        let back = self.today - at.0.div_euclid(DAY_MS);
        (0..DAYS as i64).contains(&back).then(|| DAYS - 1 - back as usize)
    }

    fn hour_index(&self, at: Timestamp) -> Option<usize> {
        let back = self.this_hour - at.0.div_euclid(HOUR_MS);
        (0..HOURS as i64).contains(&back).then(|| HOURS - 1 - back as usize)
    }

    /// Puts an hourly rollup in its hour (of a monitor the board has), and what it changed in its day.
    fn apply_hour(&mut self, row: &RollupRow) {
        let (Some(h), day) = (self.hour_index(row.hour), self.day_index(row.hour)) else { return };
        let Some(entry) = self.monitors.get_mut(&row.monitor) else { return };
        let new = Hour {
            time: Cell::from_time(&row.delta.time),
            latency: row.delta.latency.quantile(0.5).zip(row.delta.latency.quantile(0.95)),
        };
        let old = std::mem::replace(&mut entry.hours[h], new);
        if let Some(d) = day {
            entry.days[d].sub(&old.time);
            entry.days[d].add(&new.time);
        }
    }
}

/// The board, shared between its refresh task and the HTTP handlers. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Board(Arc<RwLock<BoardData>>);

impl Board {
    /// An empty board.
    pub fn new() -> Board {
        Board::default()
    }

    /// Reads it (briefly: a refresh waits for readers).
    pub fn read(&self) -> RwLockReadGuard<'_, BoardData> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// One refresh at `now` for these monitors: those the board does not know yet get their days and hours
    /// read whole; the others get the current and the previous hour read again. Monitors not in `ids` are
    /// forgotten. On error the board keeps what it had.
    pub async fn refresh(&self, store: &dyn Store, ids: &[MonitorId], now: Timestamp) -> Result<(), StoreError> {
        let today = now.0.div_euclid(DAY_MS);
        let this_hour = now.0.div_euclid(HOUR_MS);
        let first_hour = this_hour - (HOURS as i64 - 1);
        let (known, new, reread_from): (Vec<MonitorId>, Vec<MonitorId>, i64) = {
            let mut data = self.0.write().unwrap_or_else(|e| e.into_inner());
            // After a long gap (storage down for a day) the hours in between were never read: start again.
            let last = data.refreshed.map(|r| r.0.div_euclid(HOUR_MS));
            if last.is_none_or(|l| l < first_hour + 1) {
                data.monitors.clear();
                (data.today, data.this_hour) = (today, this_hour);
            }
            data.advance(today, this_hour);
            let wanted: std::collections::HashSet<&MonitorId> = ids.iter().collect();
            data.monitors.retain(|id, _| wanted.contains(id));
            let (known, new) = ids.iter().cloned().partition(|id| data.monitors.contains_key(id));
            // The hour of the last refresh may have been written to after it: read it again, and every hour since.
            (known, new, last.map_or(this_hour, |l| l.min(this_hour)) - 1)
        };
        let hour = |i: i64| Timestamp(i * HOUR_MS);
        let until = hour(this_hour + 1);
        // Whole histories, outside the lock: the days summed in the database up to the kept hours, then the kept
        // hours one by one, each added to its day, so a day and its hours always agree.
        let mut fresh = BoardData { today, this_hour, ..BoardData::default() };
        if !new.is_empty() {
            for id in &new {
                fresh.monitors.insert(id.clone(), Box::default());
            }
            let from_day = Timestamp((today - (DAYS as i64 - 1)) * DAY_MS);
            for d in store.daily_time(&new, from_day, hour(first_hour)).await? {
                if let (Some(i), Some(h)) = (fresh.day_index(d.day), fresh.monitors.get_mut(&d.monitor)) {
                    h.days[i] = Cell::from_time(&d.time);
                }
            }
            for r in store.rollups_of(&new, hour(first_hour), until).await? {
                fresh.apply_hour(&r);
            }
        }
        let recent = if known.is_empty() {
            Vec::new()
        } else {
            store.rollups_of(&known, hour(reread_from.max(first_hour)), until).await?
        };
        let outbox = store.outbox_summary().await?;
        let mut data = self.0.write().unwrap_or_else(|e| e.into_inner());
        data.advance(today, this_hour);
        fresh.advance(data.today, data.this_hour);
        for r in &recent {
            if data.monitors.contains_key(&r.monitor) {
                data.apply_hour(r);
            }
        }
        data.monitors.extend(fresh.monitors);
        data.outbox = outbox;
        data.loaded = true;
        data.refreshed = Some(now);
        data.error = None;
        Ok(())
    }

    /// Refreshes for the monitors of `snapshots` every `every`, at once the first time, until the task is
    /// aborted. A failed refresh is logged and kept as the board's error; the next one tries again.
    pub fn spawn_refresh(
        &self,
        store: Arc<dyn Store>,
        snapshots: Snapshots,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let board = self.clone();
        tokio::spawn(async move {
            loop {
                let ids = snapshots.ids();
                let started = std::time::Instant::now();
                match board.refresh(store.as_ref(), &ids, Timestamp::now()).await {
                    Ok(()) => tracing::debug!(
                        monitors = ids.len(),
                        ms = started.elapsed().as_millis() as u64,
                        "board refreshed"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "status page history not refreshed; keeping the last one");
                        board.0.write().unwrap_or_else(|e| e.into_inner()).error = Some(e.to_string());
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::storage::{Batch, RollupDelta, SqlStore};

    fn id(s: &str) -> MonitorId {
        MonitorId::from_name(s).unwrap()
    }

    fn rollup(m: &str, at: i64, up_s: i64, down_s: i64, latencies: &[u32]) -> ((MonitorId, Timestamp), RollupDelta) {
        let mut delta = RollupDelta::default();
        delta.time.up_ms = up_s * 1000;
        delta.time.down_ms = down_s * 1000;
        for &l in latencies {
            delta.latency.record(l);
            delta.counts.add(Status::Up);
        }
        ((id(m), Timestamp(at).hour_start()), delta)
    }

    async fn write(store: &SqlStore, rows: Vec<((MonitorId, Timestamp), RollupDelta)>) {
        let mut batch = Batch::default();
        batch.rollups.extend(rows);
        store.write(&batch, "t").await.unwrap();
    }

    #[tokio::test]
    async fn days_and_hours_follow_storage() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqlStore::connect(&crate::config::StorageConfig::Sqlite { path: dir.path().join("m.db") }).await.unwrap();
        let day0 = 20_000 * DAY_MS;
        let now = Timestamp(day0 + 10 * HOUR_MS + 30 * 60_000); // 10:30 on day 20000
        write(
            &store,
            vec![
                rollup("a", day0 - 40 * DAY_MS, 3600, 0, &[]),           // 40 days ago
                rollup("a", day0 - 100 * DAY_MS, 3600, 0, &[]),          // too old for the bar
                rollup("a", day0 - 2 * HOUR_MS, 3000, 600, &[20]),       // yesterday 22:00
                rollup("a", day0 + 9 * HOUR_MS, 3600, 0, &[10, 30, 50]), // 09:00 today
                rollup("a", day0 + 10 * HOUR_MS, 1800, 0, &[40]),        // 10:00, so far
            ],
        )
        .await;
        let board = Board::new();
        let ids = [id("a"), id("b")];
        board.refresh(&store, &ids, now).await.unwrap();
        {
            let b = board.read();
            let a = &b.monitors[&id("a")];
            assert_eq!(a.days[DAYS - 1].up_ms, 5_400_000, "today: 09:00 and 10:00");
            assert_eq!((a.days[DAYS - 2].up_ms, a.days[DAYS - 2].down_ms), (3_000_000, 600_000));
            assert_eq!(a.days[DAYS - 41].up_ms, 3_600_000);
            assert_eq!(a.days.iter().map(|d| u64::from(d.up_ms)).sum::<u64>(), 12_000_000, "nothing older");
            assert_eq!(a.hours[HOURS - 1].latency, Some((40, 40)));
            assert_eq!(a.hours[HOURS - 2].latency, Some((30, 50)));
            assert_eq!(a.hours[HOURS - 13].time.down_ms, 600_000, "22:00 yesterday is 12 hours back");
            assert_eq!(a.availability(Window::Day), Some(8_400_000.0 / 9_000_000.0));
            assert_eq!(a.availability(Window::Quarter), Some(12_000_000.0 / 12_600_000.0));
            assert!(b.monitors[&id("b")].days.iter().all(Cell::is_empty), "no history is no history, not 100 %");
            assert_eq!(b.monitors[&id("b")].availability(Window::Week), None);
            assert_eq!(b.day_start(DAYS - 1), Timestamp(day0));
        }

        // More of the current hour, and the next hour begins: the day follows, nothing counted twice.
        write(&store, vec![rollup("a", day0 + 10 * HOUR_MS, 1800, 0, &[60])]).await;
        board.refresh(&store, &ids, now + Duration::from_secs(3600)).await.unwrap();
        write(&store, vec![rollup("a", day0 + 11 * HOUR_MS, 600, 60, &[])]).await;
        board.refresh(&store, &ids, now + Duration::from_secs(3600)).await.unwrap();
        {
            let b = board.read();
            let a = &b.monitors[&id("a")];
            assert_eq!((a.days[DAYS - 1].up_ms, a.days[DAYS - 1].down_ms), (7_800_000, 60_000));
            assert_eq!(a.hours[HOURS - 2].time.up_ms, 3_600_000);
            assert_eq!(a.hours[HOURS - 1].time.down_ms, 60_000);
        }

        // A new day: the cells move; a monitor that left the configuration is forgotten.
        board.refresh(&store, &[id("a")], Timestamp(day0 + DAY_MS + 60_000)).await.unwrap();
        let b = board.read();
        let a = &b.monitors[&id("a")];
        assert_eq!(a.days[DAYS - 2].up_ms, 7_800_000, "yesterday now");
        assert!(a.days[DAYS - 1].is_empty());
        assert_eq!(a.days[DAYS - 42].up_ms, 3_600_000);
        assert!(!b.monitors.contains_key(&id("b")));
        assert!(b.loaded);
    }
}
