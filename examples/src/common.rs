//! What the three programs share: reading targets, seconds and CA files from the command line, the bundled demo
//! server, one probe with a hard time bound, and an HTTP server with bounds of its own.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smtp_probe_testserver::demo::Demo;
use smtp_probe_tokio::proto::{Cause, Phase, ProbeConfigBuilder};
use smtp_probe_tokio::{ProbeConfig, Report, Target, TlsConfig, probe};

/// Why a program could not start: a bad argument, an unreadable file, a port already taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Slack added to a probe's own deadlines before [`probe_bounded`] gives up on it: the library already bounds
/// the probe by its overall timeout (DNS, connect and the SMTP session) plus a short wait for the reply to QUIT,
/// so this only catches the unexpected.
const SAFETY_MARGIN: Duration = Duration::from_secs(3);

/// Reads a number of seconds, fractions allowed (`60`, `0.25`), for `--interval` and `--timeout`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("{text:?}: expected a number of seconds greater than 0 and at most 86400"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Reads a target as the CLI does (`host`, `host:port`, `[v6]:port`, `smtp://`, `submission://`, `smtps://`;
/// a scheme sets the TLS mode).
pub fn parse_target(text: &str) -> Result<Target, Error> {
    text.parse().map_err(|e| Error::new(format!("invalid target {text:?}: {e}")))
}

/// Trust settings with the CAs of a PEM file added to the bundled roots (a private CA, a test server's).
pub fn tls_config_with_ca_file(path: &Path) -> Result<TlsConfig, Error> {
    let origin = path.display().to_string();
    let pem = std::fs::read(path).map_err(|e| Error::new(format!("cannot read the CA file {origin}: {e}")))?;
    TlsConfig::builder()
        .add_ca_pem(&origin, &pem)
        .and_then(|b| b.build())
        .map_err(|e| Error::new(format!("CA file {origin}: {e}")))
}

/// A probe configuration builder for `target` with the deadlines cut to `budget`: connecting and the whole
/// probe (DNS included) each get at most `budget`, so a dead server costs one budget, not several.
pub fn builder(target: Target, budget: Duration) -> ProbeConfigBuilder {
    ProbeConfig::builder(target).connect_timeout(budget).overall_timeout(budget)
}

/// The bundled demo server ([`smtp_probe_testserver::demo`]): the test server's ESMTP responder on
/// `127.0.0.1`, with STARTTLS (a certificate from a CA made for this run) and a demo user. Runs in-process
/// until dropped; `--demo` in each program probes it.
pub fn start_demo() -> Result<(Demo, Target), Error> {
    let demo = Demo::start().map_err(|e| Error::new(format!("cannot start the demo server: {e}")))?;
    let target = demo.target();
    Ok((demo, target))
}

/// Probes once, never for (much) longer than the configuration's overall timeout. The library sends QUIT at
/// the end of every conversation it gets to have and closes the socket; if the hard bound ever fires, the
/// socket is closed and the report says `reply_timeout`.
pub async fn probe_bounded(config: &ProbeConfig) -> Report {
    let bound = config.timeouts().overall + config.timeouts().quit + SAFETY_MARGIN;
    let started_at = SystemTime::now();
    match tokio::time::timeout(bound, probe(config)).await {
        Ok(report) => report,
        Err(_) => Report::without_session(
            config.target().to_string(),
            started_at,
            Cause::ReplyTimeout,
            Phase::Connect,
            format!("the probe did not finish within {} s", bound.as_secs_f64()),
        ),
    }
}

/// The server's own words from a report: the text of the reply behind the verdict, else the greeting.
pub fn server_text(report: &Report) -> Option<String> {
    report
        .primary_finding()
        .and_then(|f| f.server_text.clone())
        .or_else(|| report.greeting.as_ref().map(|g| format!("{} {}", g.code, g.text_lossy())))
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// The bounds of an HTTP service that anyone who can reach it may call, slowly or many times at once (the
/// monitor's: a header-read timeout, an answer deadline, a connection cap).
pub use smtp_probe_monitor::http::HttpLimits;

/// Serves `router` on `listener` within `limits` (HTTP/1.1) until `shutdown` resolves, then lets requests in
/// flight finish for a few seconds: the monitor's HTTP server, which keeps those bounds.
pub use smtp_probe_monitor::http::serve as serve_http;

/// Resolves when the process is asked to stop (Ctrl-C / SIGINT); never, if that cannot be listened for.
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("NaN").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
