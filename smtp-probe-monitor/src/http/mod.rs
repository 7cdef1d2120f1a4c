//! The HTTP side of the monitor (axum over hyper): a status page, a JSON API, Prometheus `/metrics`, `/probe` in
//! the blackbox exporter's style, and `/healthz` for the service itself.
//!
//! | route | what | [`Area`] |
//! | --- | --- | --- |
//! | `GET /` | the status page (`page`): state, open incidents with the server's words, 90-day bars, response times, certificate days, grouped by tag | page |
//! | `GET /monitors/{id}` | one monitor: figures, a week of response times, the last check's phases, incidents, recent checks | page |
//! | `/api/v1/…` | the JSON API (`api`): monitors, paginated history, incidents (and acknowledging them), tags, alerts | api |
//! | `GET /metrics` | every monitor's gauges, a latency histogram per group, the service's figures (`metrics`) | metrics |
//! | `GET /probe?target=&module=` | one on-demand check, rendered as `smtp-probe --format prometheus` does ([`blackbox`]) | probe |
//! | `GET /healthz` | 200 when storage is writable and the scheduler keeps up, else 503; JSON saying which (and naming failing alert channels, which do not fail it) | healthz |
//!
//! ```no_run
//! # async fn run(engine: smtp_probe_monitor::engine::EngineHandle, config: smtp_probe_monitor::config::Config)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use smtp_probe_monitor::http::HttpService;
//!
//! let http = HttpService::start(engine, &config.http)?;
//! let listener = tokio::net::TcpListener::bind(config.service.listen).await?;
//! http.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! Reads never wait on the database for the page, the monitor list or the metrics: they answer from the engine's
//! in-memory snapshot and the [`board`], which a background task refreshes from storage every
//! 30 seconds. Credentials (HTTP Basic or a bearer token, `[http]` in the configuration) guard every area not
//! listed as public. The server bounds what clients can cost: a header-read timeout, a connection cap, an answer
//! deadline per request, at most `max_probes` probes at once.

pub mod allow;
mod api;
mod auth;
pub mod blackbox;
pub mod board;
mod metrics;
mod page;
mod serve;
mod svg;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use smtp_probe_render::ExpositionFormat;
use tokio::net::TcpListener;

pub use serve::{HttpLimits, serve};

use self::auth::Guard;
use self::blackbox::{Exporter, Modules};
use self::board::Board;
use crate::clock::Timestamp;
use crate::config::{Area, HttpConfig};
use crate::engine::EngineHandle;
use crate::id::MonitorId;

/// The HTTP side could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// A `/probe` module cannot probe.
    #[error("http.probe.modules.{name}: {source}")]
    Module {
        /// Which module.
        name: String,
        /// Why.
        source: blackbox::ModuleError,
    },
}

/// Tuning that is not part of the configuration file.
#[derive(Clone, Default)]
pub struct HttpOptions {
    /// How often the board is refreshed from storage (default 30 s).
    pub board_refresh: Option<Duration>,
    /// How long a rendered status page is served again (default 5 s; zero renders every request). A page older
    /// than that, up to three times as old, is served while a fresh one renders in the background.
    pub page_cache: Option<Duration>,
    /// `/probe` modules besides the configured ones (the demo's).
    pub extra_modules: Modules,
    /// Another service's [board](HttpService::board) to read, instead of one refreshed by this service (two
    /// services on one engine, e.g. a public page and a guarded API on other ports, then keep one history in
    /// memory; `board_refresh` is then the other service's).
    pub board: Option<Board>,
}

pub(crate) struct AppState {
    engine: EngineHandle,
    config: HttpConfig,
    board: Board,
    exporter: Option<Exporter>,
    latency: Arc<metrics::Latency>,
    pages: PageCache,
}

/// Rendered status pages by query, so that many viewers (a wall screen each, a team's phones) cost one render
/// every few seconds, and no request waits for one while a recent page exists.
struct PageCache {
    ttl: Duration,
    entries: std::sync::Mutex<std::collections::HashMap<page::PageQuery, CachedPage>>,
}

struct CachedPage {
    body: page::Page,
    at: std::time::Instant,
    refreshing: bool,
}

/// Pages kept at most (one per query: `/`, `?group=…`, …).
const CACHED_PAGES: usize = 32;

impl PageCache {
    fn insert(&self, query: page::PageQuery, body: page::Page) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHED_PAGES && !entries.contains_key(&query) {
            let oldest = entries.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        entries.insert(query, CachedPage { body, at: std::time::Instant::now(), refreshing: false });
    }
}

/// Renders `/` off the async workers (a large page takes tens of milliseconds), so checks never wait for it.
async fn render_page(app: Arc<AppState>, query: page::PageQuery) -> page::Page {
    tokio::task::spawn_blocking(move || page::status_page(&app, &query, Timestamp::now()))
        .await
        .unwrap_or_else(|_| page::Page::whole("the page could not be rendered"))
}

/// `/` from the cache when it is fresh enough; else rendered (and kept).
async fn cached_page(app: Arc<AppState>, query: page::PageQuery) -> page::Page {
    let ttl = app.pages.ttl;
    if !ttl.is_zero() {
        let stale = {
            let mut entries = app.pages.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get_mut(&query) {
                Some(e) if e.at.elapsed() < ttl => return e.body.clone(),
                Some(e) if e.at.elapsed() < ttl * 3 => {
                    let body = e.body.clone();
                    let start = !e.refreshing;
                    e.refreshing = true;
                    Some((body, start))
                }
                _ => None,
            }
        };
        if let Some((body, start)) = stale {
            if start {
                let (app, query) = (app.clone(), query.clone());
                tokio::spawn(async move {
                    let fresh = render_page(app.clone(), query.clone()).await;
                    app.pages.insert(query, fresh);
                });
            }
            return body;
        }
    }
    let body = render_page(app.clone(), query.clone()).await;
    if !ttl.is_zero() {
        app.pages.insert(query, body.clone());
    }
    body
}

/// The HTTP side, running its background tasks (the board's refresh, the metrics' event listener) until dropped.
pub struct HttpService {
    app: Arc<AppState>,
    guard: Guard,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for HttpService {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl HttpService {
    /// Starts the background tasks on the current tokio runtime.
    pub fn start(engine: EngineHandle, config: &HttpConfig) -> Result<HttpService, HttpError> {
        HttpService::start_with(engine, config, HttpOptions::default())
    }

    /// As [`HttpService::start`], with options.
    pub fn start_with(
        engine: EngineHandle,
        config: &HttpConfig,
        options: HttpOptions,
    ) -> Result<HttpService, HttpError> {
        let exporter = if config.probe.enabled {
            let mut modules = Modules::new();
            for (name, m) in &config.probe.modules {
                let module =
                    blackbox::Module::new(m).map_err(|source| HttpError::Module { name: name.clone(), source })?;
                modules.insert(name.clone(), module);
            }
            modules.extend(options.extra_modules);
            Some(
                Exporter::new(modules, config.probe.max_probes)
                    .with_roundtrips(config.probe.roundtrips.clone(), config.probe.max_roundtrips),
            )
        } else {
            None
        };
        let latency = Arc::new(metrics::Latency::default());
        let mut tasks = vec![tokio::spawn(latency.clone().follow(engine.clone()))];
        let board = options.board.unwrap_or_else(|| {
            let board = Board::new();
            let every = options.board_refresh.unwrap_or(Duration::from_secs(30));
            tasks.push(board.spawn_refresh(engine.store(), engine.snapshots(), every));
            board
        });
        let pages = PageCache {
            ttl: options.page_cache.unwrap_or(Duration::from_secs(5)),
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        };
        let app = Arc::new(AppState { engine, config: config.clone(), board, exporter, latency, pages });
        Ok(HttpService { guard: Guard::new(config), app, tasks })
    }

    /// The board the page and the metrics read.
    pub fn board(&self) -> &Board {
        &self.app.board
    }

    /// Every route, each area behind its credentials.
    pub fn router(&self) -> Router {
        let area = |router: Router, a: Area| {
            router.route_layer(axum::middleware::from_fn_with_state((self.guard.clone(), a), auth::require))
        };
        let page = Router::new()
            .route("/", get(page_handler))
            .route("/monitors/{id}", get(monitor_page_handler))
            .with_state(self.app.clone());
        let api = Router::new()
            .route("/monitors", get(api::monitors))
            .route("/monitors/{id}", get(api::monitor))
            .route("/monitors/{id}/results", get(api::results))
            .route("/monitors/{id}/incidents", get(api::incidents))
            .route("/monitors/{id}/incidents/{started}/acknowledge", post(api::acknowledge))
            .route("/incidents", get(api::incidents))
            .route("/tags", get(api::tags))
            .route("/tags/{tag}/figures", get(api::tag_figures))
            .route("/alerts", get(api::alerts))
            .route("/alerts/deliveries", get(api::deliveries))
            .route("/alerts/channels", get(api::channels))
            .route("/status", get(api::status))
            .fallback(|| async { api::error(StatusCode::NOT_FOUND, "no such API route") })
            .with_state(self.app.clone());
        let metrics = Router::new().route("/metrics", get(metrics_handler)).with_state(self.app.clone());
        let health = Router::new().route("/healthz", get(healthz_handler)).with_state(self.app.clone());
        let mut router = Router::new()
            .merge(area(page, Area::Page))
            .merge(area(metrics, Area::Metrics))
            .merge(area(health, Area::Healthz));
        // Nested, so that its own fallback answers (in JSON) for everything under the prefix, credentials first.
        router = router.nest(
            "/api/v1",
            api.layer(axum::middleware::from_fn_with_state((self.guard.clone(), Area::Api), auth::require)),
        );
        if let Some(exporter) = &self.app.exporter {
            let probe = Router::new().route("/probe", get(blackbox::probe_handler)).with_state(exporter.clone());
            router = router.merge(area(probe, Area::Probe));
        }
        router.fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") }).layer(axum::middleware::map_response(
            |mut r: Response| async move {
                r.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
                r
            },
        ))
    }

    /// The bounds the server keeps: the configured header timeout and connection cap, and answers within the
    /// longest `/probe` plus a margin.
    pub fn limits(&self) -> HttpLimits {
        HttpLimits {
            header_read_timeout: self.app.config.header_timeout,
            request_timeout: self.app.exporter.as_ref().map_or(Duration::ZERO, Exporter::longest_probe)
                + Duration::from_secs(30),
            max_connections: self.app.config.max_connections,
        }
    }

    /// Serves every route on `listener` within [`limits`](Self::limits) until `shutdown` resolves.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(listener, self.router(), self.limits(), shutdown).await
    }
}

/// The page's headers: HTML, no scripts of any kind may run, no framing, cached by nobody.
fn html(body: impl Into<axum::body::Body>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; \
                 base-uri 'none'; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.into(),
    )
        .into_response()
}

async fn page_handler(State(app): State<Arc<AppState>>, Query(q): Query<page::PageQuery>) -> Response {
    html(cached_page(app, q).await.into_body())
}

async fn monitor_page_handler(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let page = match MonitorId::parse(&id) {
        Some(id) => page::monitor_page(&app, &id, Timestamp::now()).await,
        None => None,
    };
    match page {
        Some(body) => html(body),
        None => (StatusCode::NOT_FOUND, "no such monitor\n").into_response(),
    }
}

/// Chunks of `/metrics` rendered ahead of what the client has read.
const METRICS_AHEAD: usize = 4;

/// How long `/metrics` may take to send, a slow client included: past it the rest is not rendered and the
/// response is cut off (an incomplete scrape is an error for the scraper, never a silently short one).
const METRICS_DEADLINE: Duration = Duration::from_secs(60);

async fn metrics_handler(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = ExpositionFormat::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    // Streamed: at 10,000 monitors the exposition is megabytes, and it is rendered (off the async workers: it
    // takes tens of milliseconds) a few chunks ahead of what the client has read, never whole.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<axum::body::Bytes>>(METRICS_AHEAD);
    let deadline = tokio::time::Instant::now() + METRICS_DEADLINE;
    let runtime = tokio::runtime::Handle::current();
    let sender = tx.clone();
    let render = tokio::task::spawn_blocking(move || {
        metrics::render(&app, format, &mut |chunk| {
            let send = tokio::time::timeout_at(deadline, sender.send(Ok(chunk.into())));
            matches!(runtime.block_on(send), Ok(Ok(())))
        })
    });
    // A render that stopped half-way (past the deadline, or failed) ends the response with an error, so that the
    // client sees it cut off.
    tokio::spawn(async move {
        if !matches!(render.await, Ok(true)) {
            let error = Err(std::io::Error::other("the metrics were not sent in time"));
            let _ = tokio::time::timeout(METRICS_DEADLINE, tx.send(error)).await;
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// Whether the service is healthy, and the facts: storage writable, scheduler keeping up, history readable.
pub(crate) fn health(app: &AppState) -> (bool, serde_json::Value) {
    let storage = app.engine.storage_health();
    let stats = app.engine.scheduler_stats();
    let max = u32::try_from(app.config.max_lateness.as_millis()).unwrap_or(u32::MAX);
    let scheduler_ok = stats.lateness_p99_ms.is_none_or(|p99| p99 <= max);
    let board = app.board.read();
    let ok = storage.ok && scheduler_ok;
    let body = json!({
        "status": if ok { "ok" } else { "failing" },
        "instance": app.engine.instance(),
        "version": env!("CARGO_PKG_VERSION"),
        "storage": storage,
        "scheduler": { "ok": scheduler_ok, "max_lateness_ms": max, "stats": stats },
        "connectivity_lost": app.engine.connectivity_lost(),
        "alert_channels_failing": app.engine.channel_health().iter()
            .filter(|c| c.state == crate::delivery::ChannelState::Failing).map(|c| c.name.as_str()).collect::<Vec<_>>(),
        "history": { "loaded": board.loaded, "refreshed": board.refreshed, "error": board.error },
    });
    (ok, body)
}

async fn healthz_handler(State(app): State<Arc<AppState>>) -> Response {
    let (ok, body) = health(&app);
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}
