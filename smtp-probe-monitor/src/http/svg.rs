//! The status page's charts, drawn on the server as inline SVG: the 90-day uptime bar, the response-time
//! sparkline and the detail page's chart. Only numbers, fixed class names and dates go into them; CSS colours them.
//!
//! Sizes matter at 10,000 monitors: a bar is one `<rect>` per run of days of the same kind (a monitor that was up
//! all quarter is one rect), with the day gaps drawn by one shared pattern; a sparkline is two paths.

use std::fmt::Write as _;

use maud::{Markup, PreEscaped};

use super::board::{Cell, DAYS, HOURS, Hour};
use crate::clock::Timestamp;

/// Text made safe inside an attribute or an element.
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let _ = maud::Escaper::new(&mut out).write_str(text);
    out
}

/// How a day looks on the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayKind {
    /// Nothing observed (before the monitor existed, or nobody could see).
    NoData,
    /// Only maintenance (or unknown) time.
    Maintenance,
    /// Available all the time it was observed, never degraded.
    Up,
    /// Degraded for a while, or down for less than 0.5 % of the day's observed time.
    Minor,
    /// Down for 0.5 % of the observed time or more.
    Major,
}

impl DayKind {
    pub(crate) fn of(cell: &Cell) -> DayKind {
        match cell.availability() {
            None if cell.other_ms > 0 => DayKind::Maintenance,
            None => DayKind::NoData,
            Some(a) if a < 0.995 => DayKind::Major,
            Some(_) if cell.down_ms > 0 || cell.degraded_ms > 0 => DayKind::Minor,
            Some(_) => DayKind::Up,
        }
    }

    fn class(self) -> &'static str {
        match self {
            DayKind::NoData => "n",
            DayKind::Maintenance => "m",
            DayKind::Up => "u",
            DayKind::Minor => "w",
            DayKind::Major => "d",
        }
    }
}

/// `12 Mar` (UTC).
pub(crate) fn day_label(day_start: Timestamp) -> String {
    match time::OffsetDateTime::from_unix_timestamp(day_start.as_secs()) {
        Ok(t) => format!("{} {}", t.day(), &format!("{:?}", t.month())[..3]),
        Err(_) => String::new(),
    }
}

/// A duration in minutes or hours for tooltips.
fn span_label(ms: u32) -> String {
    let min = ms / 60_000;
    match (min / 60, min % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn day_title(cell: &Cell, day_start: Timestamp) -> String {
    let mut t = day_label(day_start);
    match cell.availability() {
        None if cell.other_ms > 0 => t.push_str(": maintenance or unknown"),
        None => t.push_str(": no data"),
        Some(a) => {
            let _ = write!(t, ": {} available", super::page::percent(a));
            if cell.down_ms > 0 {
                let _ = write!(t, ", {} down", span_label(cell.down_ms));
            }
            if cell.degraded_ms > 0 {
                let _ = write!(t, ", {} degraded", span_label(cell.degraded_ms));
            }
        }
    }
    t
}

/// The 90-day bar: `days[i]` is the day starting at `day_start(i)`, the last one today. Runs of up or no-data days
/// are one rect each; every other day has its own, with a tooltip. `label` is the bar's accessible name.
pub(crate) fn uptime_bar(days: &[Cell; DAYS], day_start: impl Fn(usize) -> Timestamp, label: &str) -> Markup {
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<svg class=\"bar\" viewBox=\"0 0 {DAYS} 1\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\">",
        escaped(label)
    );
    let mut i = 0;
    while i < DAYS {
        let kind = DayKind::of(&days[i]);
        let mut j = i + 1;
        if matches!(kind, DayKind::Up | DayKind::NoData) {
            while j < DAYS && DayKind::of(&days[j]) == kind {
                j += 1;
            }
        }
        // A day of its own says what happened; a run of quiet days needs no tooltip (and the page stays small).
        if j - i == 1 {
            let _ = write!(
                out,
                "<rect class=\"{}\" x=\"{i}\" width=\"1\" height=\"1\"><title>{}</title></rect>",
                kind.class(),
                escaped(&day_title(&days[i], day_start(i)))
            );
        } else {
            let _ = write!(out, "<rect class=\"{}\" x=\"{i}\" width=\"{}\" height=\"1\"/>", kind.class(), j - i);
        }
        i = j;
    }
    // The day gaps: one rect filled with the page's shared pattern.
    let _ = write!(out, "<rect class=\"gaps\" width=\"{DAYS}\" height=\"1\"/></svg>");
    PreEscaped(out)
}

/// The pattern the bars' gaps use, once per page.
pub(crate) fn shared_defs() -> Markup {
    PreEscaped(
        "<svg class=\"defs\" width=\"0\" height=\"0\" aria-hidden=\"true\"><defs>\
         <pattern id=\"gap\" width=\"1\" height=\"1\" patternUnits=\"userSpaceOnUse\">\
         <rect x=\"0.82\" width=\"0.18\" height=\"1\"/></pattern></defs></svg>"
            .to_owned(),
    )
}

/// The response-time sparkline of the last [`HOURS`] hours: the p50–p95 band and the p50 line, each scaled to the
/// monitor's own highest p95. Hours without an answer break the line.
pub(crate) fn sparkline(hours: &[Hour; HOURS], label: &str) -> Markup {
    const W: usize = HOURS - 1;
    const H: f64 = 20.0;
    let max = hours.iter().filter_map(|h| h.latency.map(|(_, p95)| p95)).max().unwrap_or(0).max(1);
    // Whole units: a sparkline is 24 px tall, and the page carries thousands of them.
    let y = |ms: u32| (H - 1.0 - (f64::from(ms) / f64::from(max)) * (H - 2.0)).round() as i32;
    let mut out = String::with_capacity(300);
    let _ = write!(
        out,
        "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\">",
        escaped(label)
    );
    // The band: each run of hours with answers is one closed shape, p95 forwards and p50 back.
    let mut band = String::new();
    let mut line = String::new();
    let mut i = 0;
    while i < HOURS {
        if hours[i].latency.is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < HOURS && hours[i].latency.is_some() {
            i += 1;
        }
        let run = &hours[start..i];
        for (k, h) in run.iter().enumerate() {
            let (p50, p95) = h.latency.unwrap_or_default();
            let x = start + k;
            let _ = write!(band, "{}{x},{}", if k == 0 { "M" } else { "L" }, y(p95));
            let _ = write!(line, "{}{x},{}", if k == 0 { "M" } else { "L" }, y(p50));
        }
        for (k, h) in run.iter().enumerate().rev() {
            let x = start + k;
            let _ = write!(band, "L{x},{}", y(h.latency.unwrap_or_default().0));
        }
        band.push('Z');
        if run.len() == 1 {
            // A lone hour is a dot, not an invisible zero-length line.
            let _ = write!(line, "l0.01,0");
        }
    }
    if !line.is_empty() {
        let _ = write!(out, "<path class=\"p95\" d=\"{band}\"/><path class=\"p50\" d=\"{line}\"/>");
    }
    out.push_str("</svg>");
    PreEscaped(out)
}

/// The detail page's chart: hourly p50 and p95 response times with a labelled axis. `points` are
/// (hour start, p50, p95) in time order, over `from..to`.
pub(crate) fn latency_chart(points: &[(Timestamp, u32, u32)], from: Timestamp, to: Timestamp) -> Markup {
    const W: f64 = 720.0;
    const H: f64 = 180.0;
    const LEFT: f64 = 48.0;
    const BOTTOM: f64 = 20.0;
    let span = (to.0 - from.0).max(1) as f64;
    let max = points.iter().map(|p| p.2).max().unwrap_or(0).max(4);
    // A round top for the axis, in four steps: 4, 8 or 20 times a power of ten.
    let top = {
        let mut step = 4u32;
        loop {
            if let Some(t) = [step, step.saturating_mul(2), step.saturating_mul(5)].into_iter().find(|t| *t >= max) {
                break t;
            }
            step = step.saturating_mul(10);
            if step == u32::MAX {
                break u32::MAX;
            }
        }
    };
    let x = |t: Timestamp| LEFT + (t.0 - from.0) as f64 / span * (W - LEFT - 4.0);
    let y = |ms: u32| (H - BOTTOM) - f64::from(ms) / f64::from(top) * (H - BOTTOM - 8.0);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"Response time, hourly p50 and p95\">"
    );
    for k in 0..=4u32 {
        let v = top / 4 * k;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{W}\" y1=\"{0:.1}\" y2=\"{0:.1}\"/>\
             <text class=\"axis\" x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\">{3}</text>",
            y(v),
            LEFT - 6.0,
            y(v) + 4.0,
            super::page::millis(v)
        );
    }
    let days = ((to.0 - from.0) / crate::storage::DAY_MS).max(1);
    for d in 0..=days {
        let t = Timestamp(from.0 - from.0.rem_euclid(crate::storage::DAY_MS) + d * crate::storage::DAY_MS);
        if t < from || t > to {
            continue;
        }
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"4\" y2=\"{1}\"/>\
             <text class=\"axis\" x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(t),
            H - BOTTOM,
            H - 5.0,
            day_label(t)
        );
    }
    let mut band = String::new();
    let mut line = String::new();
    let mut prev: Option<Timestamp> = None;
    let mut run: Vec<&(Timestamp, u32, u32)> = Vec::new();
    let flush = |run: &mut Vec<&(Timestamp, u32, u32)>, band: &mut String, line: &mut String| {
        if let [p] = run.as_slice() {
            // A lone hour is a dot: a path of one point draws nothing.
            let _ = write!(line, "M{:.1},{:.1}h0.1", x(p.0), y(p.1));
            let _ = write!(band, "M{:.1},{:.1}V{:.1}", x(p.0), y(p.2), y(p.1));
            run.clear();
            return;
        }
        for (k, p) in run.iter().enumerate() {
            let _ = write!(band, "{}{:.1},{:.1}", if k == 0 { "M" } else { "L" }, x(p.0), y(p.2));
            let _ = write!(line, "{}{:.1},{:.1}", if k == 0 { "M" } else { "L" }, x(p.0), y(p.1));
        }
        for p in run.iter().rev() {
            let _ = write!(band, "L{:.1},{:.1}", x(p.0), y(p.1));
        }
        if !run.is_empty() {
            band.push('Z');
        }
        run.clear();
    };
    for p in points {
        if prev.is_some_and(|t| p.0.0 - t.0 > crate::clock::HOUR_MS) {
            flush(&mut run, &mut band, &mut line);
        }
        run.push(p);
        prev = Some(p.0);
    }
    flush(&mut run, &mut band, &mut line);
    if !line.is_empty() {
        let _ = write!(out, "<path class=\"p95\" d=\"{band}\"/><path class=\"p50\" d=\"{line}\"/>");
    } else {
        let _ = write!(
            out,
            "<text class=\"axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no answers in this period</text>",
            W / 2.0,
            H / 2.0
        );
    }
    out.push_str("</svg>");
    PreEscaped(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_quarter_is_one_rect() {
        let mut days = [Cell::default(); DAYS];
        for d in &mut days[30..] {
            d.up_ms = 86_400_000;
        }
        days[70].down_ms = 3_600_000; // 1 h of 25: major
        days[71].degraded_ms = 60_000;
        let bar = uptime_bar(&days, |i| Timestamp(i as i64 * 86_400_000), "90 days <x>").into_string();
        assert_eq!(bar.matches("<rect class=\"n\"").count(), 1, "{bar}");
        assert_eq!(bar.matches("<title>").count(), 2, "tooltips for the days of their own: {bar}");
        assert_eq!(bar.matches("<rect class=\"u\"").count(), 2, "{bar}");
        assert_eq!(bar.matches("<rect class=\"d\"").count(), 1);
        assert_eq!(bar.matches("<rect class=\"w\"").count(), 1);
        assert!(bar.contains("aria-label=\"90 days &lt;x&gt;\""), "{bar}");
        assert!(bar.contains("12 Mar: 96 % available, 1 h down"), "{bar}");
        assert!(bar.contains("x=\"72\" width=\"18\""), "the last run: {bar}");
    }

    #[test]
    fn sparklines_break_at_silent_hours() {
        let mut hours = [Hour::default(); HOURS];
        for (i, h) in hours.iter_mut().enumerate().skip(10) {
            h.latency = (i != 15).then_some((10, 40));
        }
        let s = sparkline(&hours, "r").into_string();
        assert_eq!(s.matches('M').count(), 4, "two runs, band and line each: {s}");
        assert!(s.contains("M10,"), "{s}");
        let empty = sparkline(&[Hour::default(); HOURS], "r").into_string();
        assert!(!empty.contains("<path"), "{empty}");
    }
}
