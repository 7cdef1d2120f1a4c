//! The status page: server-rendered HTML (maud templates, so every piece of text is escaped by construction), no
//! JavaScript, readable on a wall screen and on a phone, refreshing itself every minute.
//!
//! `/` shows the overall state, the open incidents with the server's own words, and every monitor in its group
//! (its first tag) with its state, a 90-day uptime bar, availability, a 24-hour response-time chart and the
//! certificate's days left. Everything comes from the in-memory snapshot and [board](super::board): rendering
//! never touches the database. Groups whose monitors are all up are folded when the page is large (their rows stay
//! in the document, so a search in the browser still finds them); `?group=`, `?state=` and `?q=` narrow it down.
//!
//! `/monitors/{id}` adds the exact figures per window, a week of hourly response times, the last check's phases,
//! and the monitor's incidents and recent checks, read from storage for that one monitor.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use axum::body::Bytes;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::AppState;
use super::board::{BoardData, Cell, History, Window};
use super::svg;
use crate::clock::Timestamp;
use crate::delivery::ChannelState;
use crate::id::MonitorId;
use crate::incident::State;
use crate::snapshot::MonitorSnapshot;

/// The page's CSS, inlined: one request per page.
const CSS: &str = include_str!("style.css");

/// Open incidents shown as cards at most; the rest are a link away (`?state=down`).
const MAX_INCIDENT_CARDS: usize = 12;

/// Above this many monitors, groups with nothing wrong start folded.
const FOLD_ABOVE: usize = 300;

/// Certificate days at or below which the page warns (amber) and alarms (red).
const CERT_WARN_DAYS: i64 = 21;
const CERT_BAD_DAYS: i64 = 7;

/// The group a monitor is shown in (and labelled with in metrics): its first tag, or none.
pub(crate) fn group_of(tags: &[String]) -> &str {
    tags.first().map_or("", String::as_str)
}

/// The name of the group for monitors without tags.
const UNGROUPED: &str = "Other";

/// `99.95 %`: rounded down, so a day with a minute down never shows as 100 %.
pub(crate) fn percent(a: f64) -> String {
    if a >= 1.0 {
        return "100 %".to_owned();
    }
    let v = (a * 10_000.0).floor() / 100.0;
    let text = format!("{v:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} %")
}

/// `23 ms`, `1.25 s`.
pub(crate) fn millis(ms: u32) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 10_000 {
        format!("{:.2} s", f64::from(ms) / 1000.0)
    } else {
        format!("{:.1} s", f64::from(ms) / 1000.0)
    }
}

/// `45 s`, `12 min`, `3 h 20 min`, `4 d 2 h`.
pub(crate) fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `2026-03-01 10:00 UTC`.
/// At most `max` characters of `text` (receiver text shown on the page), with `…` when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

pub(crate) fn utc(t: Timestamp) -> String {
    match time::OffsetDateTime::from_unix_timestamp(t.as_secs()) {
        Ok(t) => {
            format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Err(_) => String::new(),
    }
}

/// `2026-03-01 10:00:05 UTC`.
fn utc_seconds(t: Timestamp) -> String {
    let mut s = utc(t);
    if s.len() > 4 {
        s.insert_str(s.len() - 4, &format!(":{:02}", t.as_secs().rem_euclid(60)));
    }
    s
}

/// A query value made safe for a URL.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn state_rank(s: State) -> u8 {
    match s {
        State::Down => 0,
        State::Flapping => 1,
        State::Degraded => 2,
        State::Pending => 3,
        State::Unknown => 4,
        State::Up => 5,
    }
}

const STATES: [State; 6] = [State::Down, State::Flapping, State::Degraded, State::Pending, State::Unknown, State::Up];

/// What `/` was asked for (unknown parameters are ignored, so they make no new page to render).
#[derive(Debug, Default, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
pub(crate) struct PageQuery {
    group: Option<String>,
    state: Option<String>,
    q: Option<String>,
    open: Option<String>,
}

fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="60";
                meta name="color-scheme" content="light dark";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

struct Counts([usize; 6]);

impl Counts {
    fn of<'a>(snaps: impl Iterator<Item = &'a MonitorSnapshot>) -> Counts {
        let mut c = [0; 6];
        for s in snaps {
            c[usize::from(state_rank(s.state))] += 1;
        }
        Counts(c)
    }
    fn get(&self, s: State) -> usize {
        self.0[usize::from(state_rank(s))]
    }
    fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

fn overall(counts: &Counts) -> (&'static str, String) {
    let total = counts.total();
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    if total == 0 {
        return ("unknown", "No monitors are configured".to_owned());
    }
    let down = counts.get(State::Down);
    let troubled = counts.get(State::Degraded) + counts.get(State::Flapping);
    if down > 0 {
        return ("major", format!("{down} of {total} {} down", plural(total, "monitor is", "monitors are")));
    }
    if troubled > 0 {
        return (
            "minor",
            format!("{troubled} of {total} {} degraded or flapping", plural(total, "monitor is", "monitors are")),
        );
    }
    if counts.get(State::Unknown) == total {
        return ("unknown", "Nothing checked yet".to_owned());
    }
    let up = counts.get(State::Up);
    if up == total {
        return ("up", format!("All {total} {} up", plural(total, "monitor is", "monitors are")));
    }
    ("up", format!("{up} of {total} monitors up, none down"))
}

/// Where a group's rows go in the page's skeleton. Text from monitors and servers is escaped, so it can never
/// contain a `<`: the marker only appears where the template put it.
const ROWS: &str = "<!--rows-->";

/// The size of a page's chunks: a large page is kept and sent in pieces of about this size, never as one buffer
/// (at 10,000 monitors it is megabytes, and one growing buffer would need twice that while it grows).
const CHUNK: usize = 64 * 1024;

/// A rendered page, in chunks of about [`CHUNK`] bytes. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Page(pub(crate) std::sync::Arc<[Bytes]>);

impl Page {
    /// A page that is one piece of text.
    pub(crate) fn whole(text: impl Into<Bytes>) -> Page {
        Page(std::sync::Arc::new([text.into()]))
    }

    /// The body of a response: the chunks one after the other.
    pub(crate) fn into_body(self) -> axum::body::Body {
        if let [one] = &*self.0 {
            return axum::body::Body::from(one.clone());
        }
        let chunks = self.0;
        let each = (0..chunks.len()).map(move |i| Ok::<_, std::convert::Infallible>(chunks[i].clone()));
        axum::body::Body::from_stream(tokio_stream::iter(each))
    }
}

/// Collects text into chunks of about [`CHUNK`] bytes.
#[derive(Default)]
struct Chunks {
    done: Vec<Bytes>,
    current: String,
}

impl Chunks {
    fn push(&mut self, text: &str) {
        if self.current.capacity() == 0 {
            self.current.reserve(CHUNK + CHUNK / 16);
        }
        self.current.push_str(text);
        if self.current.len() >= CHUNK {
            self.done.push(Bytes::from(std::mem::take(&mut self.current)));
        }
    }

    fn finish(mut self) -> Page {
        if !self.current.is_empty() {
            self.done.push(Bytes::from(self.current));
        }
        Page(self.done.into())
    }
}

/// `/`, in chunks: the skeleton (header, incidents, each group's summary, footer) is rendered first with a
/// marker where each group's rows go, then the rows are written group by group in its place.
pub(crate) fn status_page(app: &AppState, query: &PageQuery, now: Timestamp) -> Page {
    let snaps = app.engine.snapshot();
    let board = app.board.read();
    let counts = Counts::of(snaps.iter());
    let (class, sentence) = overall(&counts);

    let needle = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_lowercase);
    let state_filter = query.state.as_deref().and_then(|s| STATES.iter().copied().find(|st| st.as_str() == s));
    let shown: Vec<&MonitorSnapshot> = snaps
        .iter()
        .filter(|s| query.group.as_deref().is_none_or(|g| group_name(&s.tags) == g))
        .filter(|s| state_filter.is_none_or(|st| s.state == st))
        .filter(|s| {
            needle.as_deref().is_none_or(|n| {
                s.name.to_lowercase().contains(n) || s.target.to_lowercase().contains(n) || s.id.as_str().contains(n)
            })
        })
        .collect();
    let mut grouped: BTreeMap<(bool, &str), Vec<&MonitorSnapshot>> = BTreeMap::new();
    for s in &shown {
        let g = group_of(&s.tags);
        grouped.entry((g.is_empty(), g)).or_default().push(s);
    }
    let groups: Vec<Group<'_>> = grouped
        .into_iter()
        .map(|((_, name), members)| {
            let mut quarter = Cell::default();
            for s in &members {
                if let Some(h) = board.monitors.get(&s.id) {
                    quarter.add(&h.total(Window::Quarter));
                }
            }
            Group { name: group_label(name), counts: Counts::of(members.iter().copied()), members, quarter }
        })
        .collect();
    let mut incidents: Vec<&MonitorSnapshot> = snaps.iter().filter(|s| s.incident.is_some()).collect();
    // Down first, then degraded; the newest first within each.
    incidents.sort_by_key(|s| (state_rank(s.state), std::cmp::Reverse(s.incident.as_ref().map(|i| i.started))));
    let more_incidents = incidents.len().saturating_sub(MAX_INCIDENT_CARDS);
    let all_groups: Vec<&str> = {
        let mut g: Vec<&str> = snaps.iter().map(|s| group_name(&s.tags)).collect();
        g.sort_unstable();
        g.dedup();
        g
    };
    let fold = query.open.as_deref() != Some("all") && shown.len() > FOLD_ABOVE;
    let stats = app.engine.scheduler_stats();
    let storage = app.engine.storage_health();
    let title = if class == "up" { app.config.title.clone() } else { format!("{} — {sentence}", app.config.title) };

    let body = html! {
        header class={"top " (class)} {
            div.wrap {
                h1 { (app.config.title) }
                p.overall { (sentence) }
                ul.counts {
                    @for st in STATES {
                        @let n = counts.get(st);
                        @if n > 0 {
                            li { a href={"/?state=" (st.as_str())} { (n) " " (st.as_str()) } }
                        }
                    }
                }
                p.meta {
                    "Updated " (utc(now)) " · instance " (app.engine.instance())
                    @if let Some(p99) = stats.lateness_p99_ms { " · checks start within " (millis(p99)) " (p99)" }
                }
            }
        }
        (svg::shared_defs())
        div.wrap {
            @if !storage.ok {
                p.warn { "History is not being written: " (storage.error.as_deref().unwrap_or("storage fails")) " — checks go on, " (storage.backlog) " results are held." }
            }
            @if app.engine.connectivity_lost() {
                p.warn { "This monitor's own network is down (every canary fails): results are unknown and alerts are held." }
            }
            @for c in app.engine.channel_health().iter().filter(|c| c.state == ChannelState::Failing) {
                p.warn {
                    "Alert channel " b { (c.name) } " (" (c.kind) ") fails since " (utc(c.since))
                    @if let Some(e) = &c.last_error { ": " (clip(e, 200)) }
                    " — " (c.consecutive_failures) " failed attempts, " (c.queued) " alerts waiting."
                }
            }
            @if !board.loaded {
                p.warn { "Loading the history from storage: uptime bars fill in shortly." }
            } @else if let Some(e) = &board.error {
                p.warn { "History could not be refreshed: " (e) }
            }
            @if !incidents.is_empty() {
                h2 { "Open incidents (" (incidents.len()) ")" }
                section.incidents {
                    @for s in incidents.iter().take(MAX_INCIDENT_CARDS) {
                        @if let Some(i) = &s.incident {
                            article class={"incident " (i.severity.as_str())} {
                                h3 {
                                    a href={"/monitors/" (s.id.as_str())} { (s.name) }
                                    span.state { (if i.flapping { "flapping" } else { i.severity.as_str() }) }
                                }
                                p.when { "since " (utc(i.started)) " (" (span(now.since(i.started))) ")" }
                                @if let Some(c) = &i.cause { p.cause { (c) } }
                                @if let Some(t) = &i.server_text { blockquote { (t) } }
                            }
                        }
                    }
                }
                @if more_incidents > 0 {
                    p { "… and " (more_incidents) " more: "
                        a href="/?state=down" { "down" } ", " a href="/?state=degraded" { "degraded" } ", "
                        a href="/?state=flapping" { "flapping" } }
                }
            }
            div.tools {
                form method="get" action="/" {
                    input type="search" name="q" value=(query.q.as_deref().unwrap_or("")) placeholder="Find a monitor" aria-label="Find a monitor";
                    button type="submit" { "Find" }
                }
                nav aria-label="Groups" {
                    a href="/" { "All" }
                    @for g in &all_groups { a href={"/?group=" (encode(g))} { (g) } }
                    @if fold { a href="/?open=all" { "Unfold all" } }
                }
            }
            @if shown.is_empty() { p { "No monitor matches." } }
            @for g in &groups {
                @let c = &g.counts;
                @let open = g.open(fold);
                details.group open[open] id={"g-" (encode(g.name))} {
                    summary {
                        span.gname { (g.name) }
                        span.gsum {
                            (g.members.len()) (if g.members.len() == 1 { " monitor" } else { " monitors" })
                            @if c.get(State::Down) > 0 { " · " b.bad { (c.get(State::Down)) " down" } }
                            @if c.get(State::Degraded) + c.get(State::Flapping) > 0 {
                                " · " b.meh { (c.get(State::Degraded) + c.get(State::Flapping)) " degraded" }
                            }
                            @if let Some(a) = g.quarter.availability() { " · " (percent(a)) " over 90 days" }
                        }
                    }
                    ol.mons {
                        li.colhead aria-hidden="true" {
                            span { "monitor" } span.bars { span { "90 days ago" } span { "today" } }
                            span.upt { "90 days" } span.rt { "response, 24 h" } span.cert { "certificate" }
                        }
                        (PreEscaped(ROWS))
                    }
                }
            }
            footer {
                "smtp-probe-monitor " (env!("CARGO_PKG_VERSION")) " · bars: 90 UTC days, green up, amber degraded or briefly down, red down ≥ 0.5 %, blue maintenance, grey no data · uptime: (up + degraded) ÷ (up + degraded + down) time · "
                a href="/api/v1/monitors" { "JSON" } " · " a href="/metrics" { "metrics" }
            }
        }
    };
    let skeleton = document(&title, body);
    let mut parts = skeleton.split(ROWS);
    let mut page = Chunks::default();
    page.push(parts.next().unwrap_or_default());
    for (g, after) in groups.iter().zip(parts) {
        let open = g.open(fold);
        for s in &g.members {
            // Rows of a folded group leave out the response-time chart: they are all up, and at thousands of
            // monitors the page stays small.
            page.push(&row(s, board.history(&s.id), &board, now, open).0);
        }
        page.push(after);
    }
    page.finish()
}

/// One group of monitors on the page.
struct Group<'a> {
    name: &'a str,
    members: Vec<&'a MonitorSnapshot>,
    counts: Counts,
    /// Time per state over 90 days, all members together.
    quarter: Cell,
}

impl Group<'_> {
    /// Whether it shows open: always on a page that does not fold, else when something in it is not up.
    fn open(&self, fold: bool) -> bool {
        let c = &self.counts;
        !fold || c.get(State::Up) + c.get(State::Unknown) < c.total()
    }
}

fn group_name(tags: &[String]) -> &str {
    group_label(group_of(tags))
}

fn group_label(g: &str) -> &str {
    if g.is_empty() { UNGROUPED } else { g }
}

fn cert_class(days: i64) -> &'static str {
    if days <= CERT_BAD_DAYS {
        "cert c-bad"
    } else if days <= CERT_WARN_DAYS {
        "cert c-warn"
    } else {
        "cert"
    }
}

/// One monitor's row; `chart` adds the response-time sparkline.
fn row(s: &MonitorSnapshot, history: Option<&History>, board: &BoardData, now: Timestamp, chart: bool) -> Markup {
    let last = s.last_check.as_deref();
    let empty = History::default();
    let h = history.unwrap_or(&empty);
    let quarter = h.availability(Window::Quarter);
    html! {
        li class={"mon s-" (s.state.as_str())} id={"m-" (s.id.as_str())} {
            div.who {
                a.name href={"/monitors/" (s.id.as_str())} { (s.name) }
                span.state { (s.state.as_str()) }
                @if let Some(m) = &s.maintenance { span.maint { "maintenance: " (m) } }
                span.target {
                    (s.target)
                    @if let Some(since) = s.since { " · for " (span(now.since(since))) }
                }
            }
            div.barwrap { (svg::uptime_bar(&h.days, |i| board.day_start(i), "90-day uptime")) }
            div.upt title={"24 hours: " (h.availability(Window::Day).map_or_else(|| "no data".to_owned(), percent))} {
                (quarter.map_or_else(|| "—".to_owned(), percent))
            }
            div.rt {
                @if chart { (svg::sparkline(&h.hours, "response time, last 24 hours")) }
                span { (last.and_then(|c| c.response_ms).map_or_else(|| "—".to_owned(), millis)) }
            }
            @match last.and_then(|c| c.cert_days_left) {
                Some(d) => div class=(cert_class(d)) { (d) " d" },
                None => div.cert { "—" },
            }
        }
    }
}

/// `/monitors/{id}`: `None` when there is no such monitor.
pub(crate) async fn monitor_page(app: &AppState, id: &MonitorId, now: Timestamp) -> Option<String> {
    let s = app.engine.monitor(id)?;
    let store = app.engine.store();
    let figures = app.engine.figures(id, now).await;
    let week_from = (now - Duration::from_secs(7 * 86_400)).hour_start();
    let rollups = store.rollups(id, week_from, now + Duration::from_secs(3600)).await;
    let incidents = store.incidents(Some(id), None, 20).await;
    let results = store.results(id, None, 30).await;
    let points: Vec<(Timestamp, u32, u32)> = rollups
        .as_ref()
        .map(|r| {
            r.iter()
                .filter_map(|r| Some((r.hour, r.delta.latency.quantile(0.5)?, r.delta.latency.quantile(0.95)?)))
                .collect()
        })
        .unwrap_or_default();
    let board = app.board.read();
    let empty = History::default();
    let h = board.history(id).unwrap_or(&empty);
    let last = s.last_check.as_deref();
    let storage_error = [
        figures.as_ref().err().map(ToString::to_string),
        rollups.as_ref().err().map(ToString::to_string),
        incidents.as_ref().err().map(ToString::to_string),
        results.as_ref().err().map(ToString::to_string),
    ]
    .into_iter()
    .flatten()
    .next();
    let total_phase_ms: u32 = last.map_or(0, |c| c.phases.iter().map(|p| p.ms).sum::<u32>()).max(1);
    let class = match s.state {
        State::Down => "major",
        State::Degraded | State::Flapping => "minor",
        State::Unknown => "unknown",
        State::Up | State::Pending => "up",
    };
    let body = html! {
        header class={"top " (class)} {
            div.wrap {
                h1 { (s.name) }
                p.overall { (s.state.as_str())
                    @if let Some(since) = s.since { " for " (span(now.since(since))) " (since " (utc(since)) ")" } }
                p.meta { a href="/" { "← " (app.config.title) } " · " (s.target)
                    @for t in &s.tags { " · #" (t) } }
            }
        }
        (svg::shared_defs())
        div.wrap {
            @if let Some(e) = &storage_error { p.warn { "Storage could not be read: " (e) } }
            @if let Some(i) = &s.incident {
                section.incidents {
                    article class={"incident " (i.severity.as_str())} {
                        h3 { "Open incident: " (if i.flapping { "flapping" } else { i.severity.as_str() }) }
                        p.when { "since " (utc(i.started)) " (" (span(now.since(i.started))) ")" }
                        @if let Some(c) = &i.cause { p.cause { (c) } }
                        @if let Some(t) = &i.server_text { blockquote { (t) } }
                    }
                }
            }
            div.panel {
                h2 { "Last check" }
                @match last {
                    None => p { "Not checked by this instance yet." },
                    Some(c) => {
                        dl.kv {
                            dt { "When" } dd { (utc(c.at)) " (" (span(now.since(c.at))) " ago)" @if c.recheck { " — a re-check" } }
                            dt { "Result" } dd { (c.summary) }
                            @if let Some(t) = &c.server_text { dt { "Server said" } dd { code { (t) } } }
                            @if let Some(v) = &c.tls_version { dt { "TLS" } dd { (v) } }
                            @if let Some(d) = c.cert_days_left { dt { "Certificate" } dd class=(cert_class(d)) { (d) " days left" } }
                            @if !c.reply_codes.is_empty() {
                                dt { "Replies" } dd { (c.reply_codes.iter().map(u16::to_string).collect::<Vec<_>>().join(" ")) }
                            }
                        }
                        @if !c.phases.is_empty() {
                            div.phases role="img" aria-label="Time per phase" {
                                @for p in &c.phases {
                                    span style={"flex: " (p.ms.max(1)) " 1 0"} title={(p.phase) ": " (millis(p.ms))} {}
                                }
                            }
                            p.meta { @for (k, p) in c.phases.iter().enumerate() { @if k > 0 { " · " } (p.phase) " " (millis(p.ms)) } " · total " (millis(total_phase_ms)) }
                        }
                    }
                }
            }
            div.panel {
                h2 { "Uptime, 90 days" }
                (svg::uptime_bar(&h.days, |i| board.day_start(i), &format!("{}: 90-day uptime", s.name)))
                div.barlegend { span { (svg::day_label(board.day_start(0))) } span { "today" } }
            }
            @if let Ok(f) = &figures {
                div.panel {
                    h2 { "Figures" }
                    table {
                        thead { tr { th { "window" } th.num { "availability" } th.num { "down" } th.num { "degraded" } th.num { "p50" } th.num { "p95" } th.num { "p99" } th.num { "checks" } th.num { "incidents" } th.num { "MTTR" } } }
                        tbody {
                            @for w in f {
                                tr {
                                    td { (w.window) }
                                    td.num { (w.availability.map_or_else(|| "—".to_owned(), percent)) }
                                    td.num { (span(Duration::from_millis(w.time.down_ms.max(0) as u64))) }
                                    td.num { (span(Duration::from_millis(w.time.degraded_ms.max(0) as u64))) }
                                    td.num { (w.p50_ms.map_or_else(|| "—".to_owned(), millis)) }
                                    td.num { (w.p95_ms.map_or_else(|| "—".to_owned(), millis)) }
                                    td.num { (w.p99_ms.map_or_else(|| "—".to_owned(), millis)) }
                                    td.num { (w.checks.total()) }
                                    td.num { (w.incidents) }
                                    td.num { (w.mttr_secs.map_or_else(|| "—".to_owned(), |m| span(Duration::from_secs_f64(m)))) }
                                }
                            }
                        }
                    }
                }
            }
            div.panel {
                h2 { "Response time, 7 days (hourly p50 line, p50–p95 band)" }
                (svg::latency_chart(&points, week_from, now))
            }
            @if let Ok(list) = &incidents {
                div.panel {
                    h2 { "Incidents" }
                    @if list.is_empty() { p { "None recorded." } } @else {
                        table {
                            thead { tr { th { "started" } th { "ended" } th.num { "lasted" } th { "severity" } th { "cause" } th { "server said" } th { "acknowledged" } } }
                            tbody {
                                @for i in list {
                                    tr {
                                        td { (utc(i.started)) }
                                        td { (i.ended.map_or_else(|| "open".to_owned(), utc)) }
                                        td.num { (span(i.ended.unwrap_or(now).since(i.started))) }
                                        td { (i.severity) @if i.flapping { " (flapping)" } }
                                        td { (i.cause.as_deref().unwrap_or("")) }
                                        td.text { (i.server_text.as_deref().unwrap_or("")) }
                                        td { @if let Some((at, by)) = &i.acknowledged { (by) ", " (utc(*at)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Ok(list) = &results {
                div.panel {
                    h2 { "Recent checks" }
                    table {
                        thead { tr { th { "time" } th { "status" } th.num { "response" } th { "result" } } }
                        tbody {
                            @for r in list {
                                tr {
                                    td { (utc_seconds(r.at)) @if r.recheck { " (re-check)" } }
                                    td { (r.status.as_str()) }
                                    td.num { (r.response_ms.map_or_else(|| "—".to_owned(), millis)) }
                                    td.text { (r.summary) }
                                }
                            }
                        }
                    }
                }
            }
            footer { a href={"/api/v1/monitors/" (s.id.as_str())} { "JSON" } }
        }
    };
    Some(document(&format!("{} — {}", s.name, s.state.as_str()), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        assert_eq!(percent(1.0), "100 %");
        assert_eq!(percent(0.999_99), "99.99 %");
        assert_eq!(percent(0.999_999), "99.99 %", "never rounded up to 100");
        assert_eq!(percent(0.96), "96 %");
        assert_eq!(percent(0.5), "50 %");
        assert_eq!(millis(23), "23 ms");
        assert_eq!(millis(1250), "1.25 s");
        assert_eq!(span(Duration::from_secs(12_000)), "3 h 20 min");
        assert_eq!(span(Duration::from_secs(2 * 86_400 + 7200)), "2 d 2 h");
        assert_eq!(utc(Timestamp(1_772_359_200_250)), "2026-03-01 10:00 UTC");
        assert_eq!(utc_seconds(Timestamp(1_772_359_205_250)), "2026-03-01 10:00:05 UTC");
        assert_eq!(encode("eu west/1"), "eu%20west%2F1");
    }
}
