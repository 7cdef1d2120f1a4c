//! `health-endpoint`: an HTTP deep-health endpoint for an application that sends mail. `GET /health/mail`
//! answers from the result of the last probe of the application's mail server:
//!
//! | last probe             | status | body                                                            |
//! | ---------------------- | ------ | --------------------------------------------------------------- |
//! | up or degraded         | 200    | `{"verdict":"up","cause":null,"summary":"up: 127.0.0.1 ...",..}` |
//! | down                   | 503    | `{"verdict":"down","cause":"connect_refused",...}`               |
//! | none yet, or too old   | 503    | `{"verdict":"unknown","cause":"pending"}` (or `"stale"`)          |
//!
//! The body also carries the last report itself under `report`, in the JSON shape `smtp-probe --format json`
//! prints (through `smtp-probe-render`). `GET /metrics` serves that report's metrics, with the names
//! `smtp-probe --format prometheus` uses (OpenMetrics when the scraper asks for it).
//!
//! ```text
//! health-endpoint --listen 127.0.0.1:8080 --target submission://mail.example.com --interval 60 --timeout 10
//! health-endpoint --target smtp://10.0.0.25 --tls-name mx.example.com --ca-file /etc/ssl/private-ca.pem
//! health-endpoint --demo                  # probes the bundled loopback demo server
//! curl -i http://127.0.0.1:8080/health/mail
//! ```
//!
//! How it behaves, and why:
//!
//! - **Probes run in the background, never per request.** The tokio adapter's
//!   `CachedProbe` probes on a fixed interval (default 60 s) and keeps the latest
//!   report; a request only reads it, so it answers at once however many orchestrators, load balancers and
//!   dashboards poll, and never makes the mail server see more than one connection per interval. A probe is
//!   bounded by `--timeout` (default 10 s), so a hung server cannot stall the loop.
//! - **Probe every minute or few, not every few seconds.** Receivers rate-limit and greylist clients that
//!   connect too often, and a monitor that gets itself blocked reports an outage it caused. Each probe ends
//!   with QUIT (the library always sends it when it got to talk), so the server logs a clean session.
//! - **Use it as a readiness or deep-health check, never as a liveness check.** Liveness failures restart the
//!   process. A mail provider outage is not fixed by restarting the application (every replica would fail the
//!   same check at once and be restarted in a loop, taking down the parts that do not need mail). Readiness
//!   takes a replica out of rotation, a dashboard or alert tells a human; both are the right reactions.
//!   Consider whether even readiness is right: if the application can queue mail, a mail outage should
//!   perhaps only alert.
//! - A result older than [`stale_after`] (two intervals plus the timeout) is not trusted: 503 `stale`.
//! - **The HTTP side is bounded too**: a client that takes longer than `--header-timeout` (5 s) to send its
//!   headers is cut off, at most `--max-connections` (256) are open at once, and every answer comes within 5 s.
//!
//! Degraded (a slow server, a certificate expiring soon, plaintext where STARTTLS was hoped for) answers 200:
//! mail still flows; the verdict and cause in the body tell the rest.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use serde::Serialize;
use smtp_probe_render::{ExpositionFormat, Item};
use smtp_probe_testserver::demo::Demo;
use smtp_probe_tokio::{CachedProbe, CachedReport, ProbeConfig, Target, Verdict};
use tokio::net::TcpListener;

use crate::common::{self, Error, HttpLimits, parse_seconds};

/// The command line of `health-endpoint`.
#[derive(Debug, Clone, Parser)]
#[command(name = "health-endpoint", version, about = "Serve GET /health/mail from a cached SMTP probe")]
pub struct Args {
    /// Address to serve HTTP on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The mail server: host or host:port, smtp://host, submission://host (STARTTLS required) or smtps://host.
    #[arg(long, required_unless_present = "demo")]
    pub target: Option<String>,
    /// Seconds between probes (fractions allowed). Minutes, not seconds, in production.
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    pub interval: Duration,
    /// Seconds one probe may take, DNS and connect included.
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,
    /// Trust the CAs of this PEM file too (a private CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// The name to send as SNI and verify in the certificate, when it differs from the target.
    #[arg(long)]
    pub tls_name: Option<String>,
    /// The EHLO name (default: this machine's FQDN, else localhost).
    #[arg(long)]
    pub ehlo_name: Option<String>,
    /// Probe the bundled loopback demo server instead of --target.
    #[arg(long, conflicts_with_all = ["target", "ca_file", "tls_name"])]
    pub demo: bool,
    /// Seconds a client may take to send a request's headers before its connection is closed.
    #[arg(long, default_value = "5", value_parser = parse_seconds)]
    pub header_timeout: Duration,
    /// Open HTTP connections at most; more are closed at once.
    #[arg(long, default_value = "256")]
    pub max_connections: usize,
}

/// What the background prober needs: the configuration (target included) and the interval; and the bounds of
/// the HTTP side.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What and how to probe (its overall timeout bounds each probe).
    pub config: ProbeConfig,
    /// Time between the starts of two probes.
    pub interval: Duration,
    /// The HTTP server's bounds. A request only reads the cached result, so it never waits for a probe.
    pub http: HttpLimits,
}

impl Args {
    /// Validates the arguments into [`Settings`]; with `--demo`, also starts the demo server, which runs until
    /// the returned handle is dropped.
    pub fn settings(&self) -> Result<(Settings, Option<Demo>), Error> {
        let ehlo = self.ehlo_name.clone().unwrap_or_else(smtp_probe_tokio::default_ehlo_name);
        let (mut builder, demo) = if self.demo {
            let (demo, target) = common::start_demo()?;
            let builder = demo.configure(common::builder(target, self.timeout));
            (builder, Some(demo))
        } else {
            let target = common::parse_target(self.target.as_deref().unwrap_or_default())?;
            let mut builder = common::builder(target, self.timeout);
            if let Some(name) = &self.tls_name {
                builder = builder.tls_name(name);
            }
            if let Some(path) = &self.ca_file {
                builder = builder.tls_config(common::tls_config_with_ca_file(path)?);
            }
            (builder, None)
        };
        builder = builder.ehlo_name(ehlo).transcript(false);
        let config = builder.build().map_err(|e| Error::new(format!("invalid configuration: {e}")))?;
        let http = HttpLimits {
            header_read_timeout: self.header_timeout,
            request_timeout: Duration::from_secs(5),
            max_connections: self.max_connections,
        };
        Ok((Settings { config, interval: self.interval, http }, demo))
    }
}

/// How old a result may be before it is no longer trusted: two intervals and one timeout (one probe may be
/// late, and one may time out, before the answer turns to 503 `stale`).
pub fn stale_after(settings: &Settings) -> Duration {
    settings.interval * 2 + settings.config.timeouts().overall
}

/// The JSON body of `/health/mail`.
#[derive(Debug, Clone, Serialize)]
pub struct Health<'a> {
    /// `up`, `degraded`, `down`, or `unknown` (no result yet, or a stale one).
    pub verdict: &'static str,
    /// Why the verdict is not `up` (a probe cause such as `connect_refused`, or `pending` / `stale`).
    pub cause: Option<&'static str>,
    /// One line for people.
    pub summary: String,
    /// The probed target.
    pub target: String,
    /// When the last probe started (RFC 3339, UTC).
    pub checked_at: Option<String>,
    /// How many seconds ago the last probe finished.
    pub age_seconds: Option<f64>,
    /// The last report, in the one JSON shape every smtp-probe program writes (`smtp-probe --format json`).
    pub report: Option<Item<'a>>,
}

/// The answer to `/health/mail` for the latest result: 200 when the server can take mail (up or degraded),
/// else 503. Pure: reads no clock but `now`.
pub fn answer<'a>(
    latest: Option<&'a CachedReport>,
    target: &Target,
    max_age: Duration,
    now: Instant,
) -> (StatusCode, Health<'a>) {
    let target = target.to_string();
    let Some(cached) = latest else {
        let summary = "no probe has finished yet".to_owned();
        let health = Health {
            verdict: "unknown",
            cause: Some("pending"),
            summary,
            target,
            checked_at: None,
            age_seconds: None,
            report: None,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, health);
    };
    let report = cached.report();
    let age = cached.age_at(now);
    let started = report.started_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let checked_at = Some(smtp_probe_tokio::proto::date::rfc3339(i64::try_from(started).unwrap_or(i64::MAX)));
    let age_seconds = Some((age.as_secs_f64() * 1000.0).round() / 1000.0);
    if age > max_age {
        let summary = format!("the last probe finished {} s ago: the prober is stuck", age.as_secs());
        let report = Some(Item::from(report));
        let health =
            Health { verdict: "unknown", cause: Some("stale"), summary, target, checked_at, age_seconds, report };
        return (StatusCode::SERVICE_UNAVAILABLE, health);
    }
    let status = if report.verdict == Verdict::Down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let health = Health {
        verdict: report.verdict.as_str(),
        cause: report.cause.map(|c| c.as_str()),
        summary: report.summary(),
        target,
        checked_at,
        age_seconds,
        report: Some(Item::from(report)),
    };
    (status, health)
}

#[derive(Clone)]
struct AppState {
    cache: CachedProbe,
    max_age: Duration,
}

async fn health_mail(State(state): State<AppState>) -> Response {
    // `latest` never waits for a probe: it reads whatever the prober last published.
    let target = state.cache.config().target();
    let latest = state.cache.latest();
    let (status, health) = answer(latest.as_ref(), target, state.max_age, Instant::now());
    let body = serde_json::to_string(&health).unwrap_or_else(|_| "{}".to_owned());
    (status, [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// `GET /metrics`: the last report's metrics (the vocabulary of `smtp-probe --format prometheus`, OpenMetrics
/// when the scraper asks for it), or nothing before the first probe has finished.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let format = ExpositionFormat::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let latest = state.cache.latest();
    let items: Vec<Item<'_>> = latest.iter().map(|cached| Item::from(cached.report())).collect();
    let body = smtp_probe_render::exposition(&items, SystemTime::now(), format);
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

/// The HTTP routes: `GET /health/mail` (and HEAD) and `GET /metrics`, answered from `cache`.
pub fn router(settings: &Settings, cache: CachedProbe) -> Router {
    let state = AppState { cache, max_age: stale_after(settings) };
    Router::new().route("/health/mail", get(health_mail)).route("/metrics", get(metrics)).with_state(state)
}

/// Starts the prober and serves HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The prober stops when the router (and with it the last handle on the cache) is dropped.
    let cache = CachedProbe::spawn(settings.config.clone(), settings.interval);
    common::serve_http(listener, router(settings, cache), settings.http, shutdown).await
}

/// The program: parse, bind, serve until Ctrl-C.
pub async fn run(args: Args) -> Result<(), Error> {
    let (settings, _demo) = args.settings()?;
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| Error::new(format!("cannot listen on {}: {e}", args.listen)))?;
    eprintln!(
        "health-endpoint: serving http://{}/health/mail, probing {} every {} s (timeout {} s)",
        args.listen,
        settings.config.target(),
        settings.interval.as_secs_f64(),
        settings.config.timeouts().overall.as_secs_f64()
    );
    serve(listener, &settings, common::ctrl_c()).await.map_err(|e| Error::new(format!("HTTP server: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_probe_tokio::Report;
    use smtp_probe_tokio::proto::{Cause, Phase};

    fn settings() -> Settings {
        let target = Target::new("127.0.0.1", 2525).unwrap();
        let config = ProbeConfig::builder(target).overall_timeout(Duration::from_secs(10)).build().unwrap();
        Settings { config, interval: Duration::from_secs(60), http: HttpLimits::default() }
    }

    #[test]
    fn answers() {
        let settings = settings();
        let max_age = stale_after(&settings);
        assert_eq!(max_age, Duration::from_secs(130));
        let now = Instant::now();
        let (status, health) = answer(None, settings.config.target(), max_age, now);
        assert_eq!(
            (status, health.verdict, health.cause),
            (StatusCode::SERVICE_UNAVAILABLE, "unknown", Some("pending"))
        );

        let epoch = std::time::SystemTime::UNIX_EPOCH;
        let report = Report::without_session("127.0.0.1:2525", epoch, Cause::ConnectRefused, Phase::Connect, "refused");
        let down = CachedReport::new(report, now);
        let (status, health) = answer(Some(&down), settings.config.target(), max_age, now);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((health.verdict, health.cause), ("down", Some("connect_refused")));
        assert_eq!(health.checked_at.as_deref(), Some("1970-01-01T00:00:00Z"));

        let (status, health) = answer(Some(&down), settings.config.target(), max_age, now + Duration::from_secs(131));
        assert_eq!((status, health.cause), (StatusCode::SERVICE_UNAVAILABLE, Some("stale")));
    }
}
