//! The JSON API, `/api/v1/…`. Times are Unix milliseconds, as everywhere in the crate's JSON (the event stream,
//! the stored alerts); lists are newest first and paginated with a cursor (`before` for history, `after` for the
//! monitor list) and a `limit`; every answer that has a next page says how to ask for it (`next`).
//!
//! | route | what |
//! | --- | --- |
//! | `GET /api/v1/monitors?group=&tag=&state=&after=&limit=` | monitors with their state, last check, open incident and availability (24 h, 7 d, 30 d, 90 d); 500 per page, at most 5,000 |
//! | `GET /api/v1/monitors/{id}` | one monitor, its exact figures per window (uptime, time per state, p50/p95/p99, incidents, MTTR), and its 90 days and 25 hours |
//! | `GET /api/v1/monitors/{id}/results?before=&limit=` | its checks, newest first (100 per page, at most 1,000) |
//! | `GET /api/v1/monitors/{id}/incidents?before=&limit=` | its incidents, newest first |
//! | `POST /api/v1/monitors/{id}/incidents/{started}/acknowledge` | acknowledges one (`Content-Type: application/json`, body `{"by": "alice"}` or `{}`) |
//! | `GET /api/v1/incidents?open=true` or `?before=&limit=` | the open incidents of every monitor (from memory), or all incidents |
//! | `GET /api/v1/tags` | per tag: monitors, states and availability |
//! | `GET /api/v1/tags/{tag}/figures` | the exact figures of every monitor with that tag together |
//! | `GET /api/v1/alerts` | the outbox by kind and delivery status |
//! | `GET /api/v1/alerts/deliveries?limit=` | delivery attempts, newest first |
//! | `GET /api/v1/alerts/channels` | each alert channel's health (delivering or failing, last error, counters) |
//! | `GET /api/v1/status` | the service: storage, scheduler, history, instance (what `/healthz` judges) |
//!
//! A `before` is milliseconds or an RFC 3339 time. Errors are `{"error": "..."}` with a 400, 404, 415 or 503.

// The parsers' `Err` is the handler's finished answer (a 400 or 404), returned as it is: boxing it would only add
// an allocation to the error path of a request.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use super::auth::Identity;
use super::board::{BoardData, DAYS, HOURS, History, Window};
use super::page::group_of;
use crate::check::CheckOutcome;
use crate::clock::Timestamp;
use crate::id::MonitorId;
use crate::incident::{OpenIncident, State as MonitorState};
use crate::snapshot::MonitorSnapshot;

/// An error answer.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn storage_error(e: crate::storage::StoreError) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, format!("storage: {e}"))
}

/// A monitor as the API shows it.
#[derive(Serialize)]
struct MonitorView<'a> {
    id: &'a MonitorId,
    name: &'a str,
    target: &'a str,
    tags: &'a [String],
    group: &'a str,
    interval_secs: u64,
    state: MonitorState,
    since: Option<Timestamp>,
    maintenance: Option<&'a str>,
    incident: Option<&'a OpenIncident>,
    last_check: Option<&'a CheckOutcome>,
    availability: BTreeMap<&'static str, Option<f64>>,
    owned: bool,
    checks: u64,
}

fn view<'a>(s: &'a MonitorSnapshot, history: Option<&History>) -> MonitorView<'a> {
    MonitorView {
        id: &s.id,
        name: &s.name,
        target: &s.target,
        tags: &s.tags,
        group: group_of(&s.tags),
        interval_secs: s.interval_secs,
        state: s.state,
        since: s.since,
        maintenance: s.maintenance.as_deref(),
        incident: s.incident.as_ref(),
        last_check: s.last_check.as_deref(),
        availability: Window::ALL.iter().map(|w| (w.as_str(), history.and_then(|h| h.availability(*w)))).collect(),
        owned: s.owned,
        checks: s.checks,
    }
}

fn parse_state(s: &str) -> Option<MonitorState> {
    [
        MonitorState::Up,
        MonitorState::Pending,
        MonitorState::Degraded,
        MonitorState::Down,
        MonitorState::Flapping,
        MonitorState::Unknown,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
}

/// A `before`: milliseconds, or RFC 3339.
fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(Timestamp(ms));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(Timestamp(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?))
}

fn parse_limit(s: Option<&str>, default: u32, max: u32) -> Result<u32, Response> {
    match s {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(error(StatusCode::BAD_REQUEST, format!("limit: a number from 1 to {max}"))),
        },
    }
}

fn parse_before(s: Option<&str>) -> Result<Option<Timestamp>, Response> {
    s.map(|v| parse_time(v).ok_or_else(|| error(StatusCode::BAD_REQUEST, "before: milliseconds or an RFC 3339 time")))
        .transpose()
}

fn monitor_id(id: &str) -> Result<MonitorId, Response> {
    MonitorId::parse(id).ok_or_else(|| error(StatusCode::NOT_FOUND, "no such monitor"))
}

/// The query parameters any list takes.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    group: Option<String>,
    tag: Option<String>,
    state: Option<String>,
    after: Option<String>,
    before: Option<String>,
    limit: Option<String>,
    open: Option<String>,
    monitor: Option<String>,
}

/// `GET /api/v1/monitors`.
pub(crate) async fn monitors(State(app): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let limit = match parse_limit(q.limit.as_deref(), 500, 5000) {
        Ok(l) => l as usize,
        Err(r) => return r,
    };
    let state = match q.state.as_deref().map(|s| parse_state(s).ok_or(s)) {
        Some(Err(s)) => return error(StatusCode::BAD_REQUEST, format!("state: no state {s:?}")),
        Some(Ok(s)) => Some(s),
        None => None,
    };
    // Copies of this page's monitors only (and one more, to know whether there is a next page).
    let mut picked: Vec<MonitorSnapshot> = Vec::with_capacity(limit + 1);
    app.engine.snapshots().for_each(|s| {
        if picked.len() <= limit
            && q.after.as_deref().is_none_or(|a| s.id.as_str() > a)
            && q.group.as_deref().is_none_or(|g| group_of(&s.tags) == g)
            && q.tag.as_deref().is_none_or(|t| s.tags.iter().any(|x| x == t))
            && state.is_none_or(|st| s.state == st)
        {
            picked.push(s.clone());
        }
    });
    let more = picked.len() > limit;
    picked.truncate(limit);
    let board = app.board.read();
    let page: Vec<MonitorView<'_>> = picked.iter().map(|s| view(s, board.history(&s.id))).collect();
    let next = more.then(|| page.last().map(|m| m.id.as_str().to_owned())).flatten();
    Json(json!({ "monitors": page, "next": next.map(|after| json!({ "after": after })) })).into_response()
}

#[derive(Serialize)]
struct DayView {
    day: Timestamp,
    availability: Option<f64>,
    up_ms: u32,
    degraded_ms: u32,
    down_ms: u32,
    other_ms: u32,
}

#[derive(Serialize)]
struct HourView {
    hour: Timestamp,
    availability: Option<f64>,
    down_ms: u32,
    p50_ms: Option<u32>,
    p95_ms: Option<u32>,
}

fn days_and_hours(board: &BoardData, h: &History) -> (Vec<DayView>, Vec<HourView>) {
    let days = (0..DAYS)
        .map(|i| {
            let c = &h.days[i];
            DayView {
                day: board.day_start(i),
                availability: c.availability(),
                up_ms: c.up_ms,
                degraded_ms: c.degraded_ms,
                down_ms: c.down_ms,
                other_ms: c.other_ms,
            }
        })
        .collect();
    let hours = (0..HOURS)
        .map(|i| {
            let c = &h.hours[i];
            HourView {
                hour: board.hour_start(i),
                availability: c.time.availability(),
                down_ms: c.time.down_ms,
                p50_ms: c.latency.map(|l| l.0),
                p95_ms: c.latency.map(|l| l.1),
            }
        })
        .collect();
    (days, hours)
}

/// `GET /api/v1/monitors/{id}`.
pub(crate) async fn monitor(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let id = match monitor_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Some(s) = app.engine.monitor(&id) else { return error(StatusCode::NOT_FOUND, "no such monitor") };
    let figures = match app.engine.figures(&id, Timestamp::now()).await {
        Ok(f) => f,
        Err(e) => return storage_error(e),
    };
    let board = app.board.read();
    let empty = History::default();
    let h = board.history(&id).unwrap_or(&empty);
    let (days, hours) = days_and_hours(&board, h);
    Json(json!({ "monitor": view(&s, Some(h)), "figures": figures, "days": days, "hours": hours })).into_response()
}

/// `GET /api/v1/monitors/{id}/results`.
pub(crate) async fn results(
    State(app): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let (id, before, limit) =
        match (monitor_id(&id), parse_before(q.before.as_deref()), parse_limit(q.limit.as_deref(), 100, 1000)) {
            (Ok(id), Ok(b), Ok(l)) => (id, b, l),
            (Err(r), ..) | (_, Err(r), _) | (.., Err(r)) => return r,
        };
    if app.engine.monitor(&id).is_none() {
        return error(StatusCode::NOT_FOUND, "no such monitor");
    }
    match app.engine.store().results(&id, before, limit).await {
        Ok(list) => {
            let next = (list.len() == limit as usize).then(|| list.last().map(|r| r.at)).flatten();
            Json(json!({ "results": list, "next": next.map(|b| json!({ "before": b })) })).into_response()
        }
        Err(e) => storage_error(e),
    }
}

/// `GET /api/v1/monitors/{id}/incidents` and `GET /api/v1/incidents`.
pub(crate) async fn incidents(
    State(app): State<Arc<AppState>>,
    id: Option<Path<String>>,
    Query(q): Query<ListQuery>,
) -> Response {
    let id = match id.map(|p| p.0).or(q.monitor.clone()).map(|i| monitor_id(&i)).transpose() {
        Ok(id) => id,
        Err(r) => return r,
    };
    if q.open.as_deref() == Some("true") {
        let open: Vec<serde_json::Value> = app
            .engine
            .snapshot()
            .iter()
            .filter(|s| id.as_ref().is_none_or(|i| &s.id == i))
            .filter_map(|s| s.incident.as_ref().map(|i| json!({ "monitor": s.id, "name": s.name, "incident": i })))
            .collect();
        return Json(json!({ "incidents": open })).into_response();
    }
    let (before, limit) = match (parse_before(q.before.as_deref()), parse_limit(q.limit.as_deref(), 100, 1000)) {
        (Ok(b), Ok(l)) => (b, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match app.engine.store().incidents(id.as_ref(), before, limit).await {
        Ok(list) => {
            let next = (list.len() == limit as usize).then(|| list.last().map(|i| i.started)).flatten();
            Json(json!({ "incidents": list, "next": next.map(|b| json!({ "before": b })) })).into_response()
        }
        Err(e) => storage_error(e),
    }
}

/// The body of an acknowledgement.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Acknowledgement {
    by: Option<String>,
}

/// `POST /api/v1/monitors/{id}/incidents/{started}/acknowledge`. JSON only, so that no HTML form on another site
/// can post it from a logged-in browser.
pub(crate) async fn acknowledge(
    State(app): State<Arc<AppState>>,
    Path((id, started)): Path<(String, String)>,
    identity: Option<axum::Extension<Identity>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !json_body {
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send Content-Type: application/json");
    }
    let ack: Acknowledgement = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let (id, started) = match (monitor_id(&id), parse_time(&started)) {
        (Ok(id), Some(t)) => (id, t),
        (Err(r), _) => return r,
        (_, None) => return error(StatusCode::NOT_FOUND, "no such incident"),
    };
    let identity = identity.map_or(Identity::Anonymous, |e| e.0);
    let by = match &identity {
        Identity::User(user) => user.clone(),
        other => ack.by.map_or_else(|| other.name().to_owned(), |b| crate::check::clip(&b, 100)),
    };
    let now = Timestamp::now();
    match app.engine.store().acknowledge(&id, started, &by, now).await {
        Ok(true) => Json(json!({ "acknowledged": true, "by": by, "at": now })).into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, "no such incident"),
        Err(e) => storage_error(e),
    }
}

/// `GET /api/v1/tags`.
pub(crate) async fn tags(State(app): State<Arc<AppState>>) -> Response {
    #[derive(Default)]
    struct Tag {
        monitors: usize,
        states: BTreeMap<&'static str, usize>,
        totals: [super::board::Cell; 4],
    }
    let snaps = app.engine.snapshot();
    let board = app.board.read();
    let mut tags: BTreeMap<&str, Tag> = BTreeMap::new();
    for s in &snaps {
        for t in &s.tags {
            let tag = tags.entry(t).or_default();
            tag.monitors += 1;
            *tag.states.entry(s.state.as_str()).or_default() += 1;
            if let Some(h) = board.history(&s.id) {
                for (i, w) in Window::ALL.iter().enumerate() {
                    let c = h.total(*w);
                    let total = &mut tag.totals[i];
                    total.up_ms = total.up_ms.saturating_add(c.up_ms);
                    total.degraded_ms = total.degraded_ms.saturating_add(c.degraded_ms);
                    total.down_ms = total.down_ms.saturating_add(c.down_ms);
                }
            }
        }
    }
    let list: Vec<serde_json::Value> = tags
        .into_iter()
        .map(|(name, t)| {
            let availability: BTreeMap<&str, Option<f64>> =
                Window::ALL.iter().zip(&t.totals).map(|(w, c)| (w.as_str(), c.availability())).collect();
            json!({ "tag": name, "monitors": t.monitors, "states": t.states, "availability": availability })
        })
        .collect();
    Json(json!({ "tags": list })).into_response()
}

/// `GET /api/v1/tags/{tag}/figures`.
pub(crate) async fn tag_figures(State(app): State<Arc<AppState>>, Path(tag): Path<String>) -> Response {
    if !app.engine.snapshot().iter().any(|s| s.tags.contains(&tag)) {
        return error(StatusCode::NOT_FOUND, "no monitor has this tag");
    }
    match app.engine.tag_figures(&tag, Timestamp::now()).await {
        Ok(f) => Json(json!({ "tag": tag, "figures": f })).into_response(),
        Err(e) => storage_error(e),
    }
}

/// `GET /api/v1/alerts`.
pub(crate) async fn alerts(State(app): State<Arc<AppState>>) -> Response {
    match app.engine.store().outbox_summary().await {
        Ok(rows) => {
            let rows: Vec<_> = rows
                .into_iter()
                .map(|(kind, status, n)| json!({ "kind": kind, "status": status, "count": n }))
                .collect();
            Json(json!({ "outbox": rows })).into_response()
        }
        Err(e) => storage_error(e),
    }
}

/// `GET /api/v1/alerts/deliveries`.
pub(crate) async fn deliveries(State(app): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Response {
    let limit = match parse_limit(q.limit.as_deref(), 100, 1000) {
        Ok(l) => l,
        Err(r) => return r,
    };
    match app.engine.store().deliveries(limit).await {
        Ok(list) => Json(json!({ "deliveries": list })).into_response(),
        Err(e) => storage_error(e),
    }
}

/// `GET /api/v1/alerts/channels`: every channel's health and counters, and the dispatcher's state.
pub(crate) async fn channels(State(app): State<Arc<AppState>>) -> Response {
    Json(app.engine.delivery_status()).into_response()
}

/// `GET /api/v1/status`.
pub(crate) async fn status(State(app): State<Arc<AppState>>) -> Response {
    let (_, body) = super::health(&app);
    Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_limits() {
        assert_eq!(parse_time("1772359200250"), Some(Timestamp(1_772_359_200_250)));
        assert_eq!(parse_time("2026-03-01T10:00:00.250Z"), Some(Timestamp(1_772_359_200_250)));
        assert_eq!(parse_time("2026-03-01T11:00:00+01:00"), Some(Timestamp(1_772_359_200_000)));
        assert_eq!(parse_time("yesterday"), None);
        assert!(parse_limit(Some("0"), 1, 10).is_err());
        assert!(parse_limit(Some("11"), 1, 10).is_err());
        assert_eq!(parse_limit(None, 7, 10).ok(), Some(7));
        assert_eq!(parse_state("flapping"), Some(MonitorState::Flapping));
    }
}
