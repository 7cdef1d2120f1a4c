//! Maintenance windows: recurring, RRULE-like (once, every N days, or every N weeks on chosen weekdays, from a
//! start time with a fixed UTC offset, optionally until a date), each covering monitors by id or by tag. A window
//! is a rule evaluated on demand: no row per occurrence is ever stored. While a window covers a monitor, checks
//! go on, results are marked, and alerts are held (see [`crate::alert`]).

use std::time::Duration;

use crate::clock::Timestamp;
use crate::id::MonitorId;

const DAY_MS: i64 = 86_400_000;

/// How a window repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repeat {
    /// One occurrence at the start.
    Once,
    /// Every `n` days.
    Daily {
        /// The period in days (at least 1).
        every: u32,
    },
    /// Every `n` weeks, on these weekdays (0 = Monday … 6 = Sunday), at the start's time of day.
    Weekly {
        /// The period in weeks (at least 1).
        every: u32,
        /// The weekdays, 0 = Monday.
        weekdays: Vec<u8>,
    },
}

/// One maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Its name (shown in the history).
    pub name: String,
    /// The first occurrence, in UTC milliseconds.
    pub start: Timestamp,
    /// The UTC offset of the start as written, in seconds: occurrences keep this local time of day.
    pub utc_offset_secs: i32,
    /// How long each occurrence lasts.
    pub duration: Duration,
    /// How it repeats.
    pub repeat: Repeat,
    /// No occurrence starts after this.
    pub until: Option<Timestamp>,
    /// Monitors covered by id.
    pub monitors: Vec<MonitorId>,
    /// Monitors covered by tag.
    pub tags: Vec<String>,
}

impl MaintenanceWindow {
    /// Whether the window applies to this monitor.
    pub fn covers(&self, id: &MonitorId, tags: &[String]) -> bool {
        self.monitors.contains(id) || self.tags.iter().any(|t| tags.contains(t))
    }

    /// Whether an occurrence is in progress at `at`.
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.occurrence_at(at).is_some()
    }

    /// The start of the occurrence in progress at `at`, if any.
    pub fn occurrence_at(&self, at: Timestamp) -> Option<Timestamp> {
        if at < self.start {
            return None;
        }
        let dur = i64::try_from(self.duration.as_millis()).unwrap_or(i64::MAX);
        let within = |occ: i64| {
            occ >= self.start.0
                && self.until.is_none_or(|u| occ <= u.0)
                && occ <= at.0
                && at.0 < occ.saturating_add(dur)
        };
        match &self.repeat {
            Repeat::Once => within(self.start.0).then_some(self.start),
            Repeat::Daily { every } => {
                let period = DAY_MS * i64::from((*every).max(1));
                let k = (at.0 - self.start.0).div_euclid(period);
                // Occurrences are never longer than the period (validated), so only the latest can be running.
                let occ = self.start.0 + k * period;
                within(occ).then_some(Timestamp(occ))
            }
            Repeat::Weekly { every, weekdays } => {
                let offset = i64::from(self.utc_offset_secs) * 1000;
                let local_start = self.start.0 + offset;
                let time_of_day = local_start.rem_euclid(DAY_MS);
                let start_week = week_index(local_start.div_euclid(DAY_MS));
                let local_at = at.0 + offset;
                let back_days = dur / DAY_MS + 1;
                for j in 0..=back_days {
                    let day = local_at.div_euclid(DAY_MS) - j;
                    let weekday = (day + 3).rem_euclid(7) as u8; // 1970-01-01 was a Thursday
                    if !weekdays.contains(&weekday) {
                        continue;
                    }
                    if (week_index(day) - start_week).rem_euclid(i64::from((*every).max(1))) != 0 {
                        continue;
                    }
                    let occ = day * DAY_MS + time_of_day - offset;
                    if within(occ) {
                        return Some(Timestamp(occ));
                    }
                }
                None
            }
        }
    }
}

/// Monday-based week number since the epoch.
fn week_index(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// Whether any window covering this monitor is active at `at`; the first such window's name.
pub fn active_window<'a>(
    windows: &'a [MaintenanceWindow],
    id: &MonitorId,
    tags: &[String],
    at: Timestamp,
) -> Option<&'a MaintenanceWindow> {
    windows.iter().find(|w| w.covers(id, tags) && w.active_at(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-03-02 is a Monday.
    const MON_0200Z: i64 = 1_772_416_800_000;

    fn window(repeat: Repeat, offset_h: i32) -> MaintenanceWindow {
        MaintenanceWindow {
            name: "patching".into(),
            start: Timestamp(MON_0200Z),
            utc_offset_secs: offset_h * 3600,
            duration: Duration::from_secs(2 * 3600),
            repeat,
            until: None,
            monitors: vec![MonitorId::from_name("mx1").unwrap()],
            tags: vec!["eu".into()],
        }
    }

    #[test]
    fn once_daily_weekly() {
        let h = 3_600_000;
        let once = window(Repeat::Once, 0);
        assert!(!once.active_at(Timestamp(MON_0200Z - 1)));
        assert!(once.active_at(Timestamp(MON_0200Z)));
        assert!(once.active_at(Timestamp(MON_0200Z + 2 * h - 1)));
        assert!(!once.active_at(Timestamp(MON_0200Z + 2 * h)));
        assert!(!once.active_at(Timestamp(MON_0200Z + DAY_MS)));

        let daily = window(Repeat::Daily { every: 2 }, 0);
        assert!(daily.active_at(Timestamp(MON_0200Z + 2 * DAY_MS + h)));
        assert!(!daily.active_at(Timestamp(MON_0200Z + DAY_MS + h)));

        // Saturdays and Sundays, every week, at 02:00 UTC.
        let weekend = window(Repeat::Weekly { every: 1, weekdays: vec![5, 6] }, 0);
        assert!(!weekend.active_at(Timestamp(MON_0200Z + h)), "the start itself is a Monday, not selected");
        assert!(weekend.active_at(Timestamp(MON_0200Z + 5 * DAY_MS + h)));
        assert!(weekend.active_at(Timestamp(MON_0200Z + 6 * DAY_MS + h)));
        assert!(!weekend.active_at(Timestamp(MON_0200Z + 7 * DAY_MS + h)));
        assert!(weekend.active_at(Timestamp(MON_0200Z + 12 * DAY_MS + h)));

        let fortnightly = window(Repeat::Weekly { every: 2, weekdays: vec![0] }, 0);
        assert!(fortnightly.active_at(Timestamp(MON_0200Z + h)));
        assert!(!fortnightly.active_at(Timestamp(MON_0200Z + 7 * DAY_MS + h)));
        assert!(fortnightly.active_at(Timestamp(MON_0200Z + 14 * DAY_MS + h)));
    }

    #[test]
    fn local_offset_keeps_the_local_weekday() {
        // Written as Monday 01:00+02:00 = Sunday 23:00Z: Mondays local time, which are Sundays in UTC.
        let mut w = window(Repeat::Weekly { every: 1, weekdays: vec![0] }, 2);
        w.start = Timestamp(MON_0200Z - 3 * 3_600_000);
        assert!(w.active_at(Timestamp(MON_0200Z - 3 * 3_600_000 + 7 * DAY_MS + 60_000)));
        assert!(!w.active_at(Timestamp(MON_0200Z + 7 * DAY_MS + 3_600_000)));
    }

    #[test]
    fn until_and_covers() {
        let mut w = window(Repeat::Daily { every: 1 }, 0);
        w.until = Some(Timestamp(MON_0200Z + DAY_MS));
        assert!(w.active_at(Timestamp(MON_0200Z + DAY_MS + 60_000)));
        assert!(!w.active_at(Timestamp(MON_0200Z + 2 * DAY_MS + 60_000)));
        assert!(w.covers(&MonitorId::from_name("mx1").unwrap(), &[]));
        assert!(w.covers(&MonitorId::from_name("other").unwrap(), &["eu".into()]));
        assert!(!w.covers(&MonitorId::from_name("other").unwrap(), &["us".into()]));
    }
}
