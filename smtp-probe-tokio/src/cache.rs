//! [`CachedProbe`]: a probe kept fresh in the background, for readiness and deep-health endpoints.
//!
//! An endpoint that probed the mail server on every request would hold each request for a whole SMTP
//! conversation, and make the server see one connection per request: dashboards and load balancers polling every
//! few seconds would get the prober rate-limited or greylisted. A `CachedProbe` probes on its own schedule and
//! hands readers the last report and its age at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::MissedTickBehavior;

use crate::{ProbeConfig, Report, probe};

/// A probe of one configuration, run in the background at a fixed interval; readers get the last report and how
/// old it is, and never wait for a probe.
///
/// - The first probe starts at once; the next ones `interval` after the start of the previous one. A probe that
///   takes longer than the interval delays the next one rather than causing a burst.
/// - Each probe is bounded by the configuration's overall timeout (DNS, connect and the SMTP session).
/// - Cloning is cheap and shares the prober. When the last clone is dropped, the background task stops (a probe
///   under way is abandoned and its connection closed).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use smtp_probe_tokio::{CachedProbe, ProbeConfig, Target, TlsMode, Verdict};
///
/// let server = smtp_probe_testserver::Responder::new().start()?; // a loopback SMTP server
/// let config = ProbeConfig::builder(Target::new("127.0.0.1", server.port())?).tls(TlsMode::None).build()?;
/// let cache = CachedProbe::spawn(config, Duration::from_secs(60));
///
/// // A readiness handler: never waits, answers from the last probe.
/// match cache.latest() {
///     None => println!("no probe has finished yet"),
///     Some(last) => println!("{} ({} s old)", last.report().summary(), last.age().as_secs()),
/// }
///
/// // Or wait for the first result, at start-up.
/// let first = cache.wait_for_report().await;
/// assert_eq!(first.report().verdict, Verdict::Up);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CachedProbe {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    latest: watch::Receiver<Option<CachedReport>>,
    task: AbortHandle,
    config: ProbeConfig,
    interval: Duration,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A report from a [`CachedProbe`], with when its probe finished.
#[derive(Debug, Clone)]
pub struct CachedReport {
    report: Arc<Report>,
    finished: Instant,
}

impl CachedReport {
    /// A report whose probe finished at `finished` (how a [`CachedProbe`] makes them; for tests of readers too).
    pub fn new(report: Report, finished: Instant) -> CachedReport {
        CachedReport { report: Arc::new(report), finished }
    }

    /// The report.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The report, shared (a cheap clone to keep or send elsewhere).
    pub fn shared_report(&self) -> Arc<Report> {
        Arc::clone(&self.report)
    }

    /// When the probe finished (monotonic clock). The report's `started_at` says when it started, by the wall
    /// clock.
    pub fn finished(&self) -> Instant {
        self.finished
    }

    /// How long ago the probe finished.
    pub fn age(&self) -> Duration {
        self.age_at(Instant::now())
    }

    /// How long before `now` the probe finished (zero if `now` is earlier).
    pub fn age_at(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.finished)
    }
}

impl CachedProbe {
    /// Starts probing `config`'s target in the background, on the current tokio runtime: once at once, then every
    /// `interval` (from the start of one probe to the start of the next).
    ///
    /// Probe every few minutes in production, not every few seconds: receivers rate-limit and greylist clients
    /// that connect too often.
    ///
    /// # Panics
    ///
    /// If `interval` is zero, or when called outside a tokio runtime.
    pub fn spawn(config: ProbeConfig, interval: Duration) -> CachedProbe {
        assert!(!interval.is_zero(), "CachedProbe::spawn: the interval must be greater than zero");
        let (tx, latest) = watch::channel(None);
        let task = tokio::spawn(run(config.clone(), interval, tx)).abort_handle();
        CachedProbe { shared: Arc::new(Shared { latest, task, config, interval }) }
    }

    /// The last report and its age, or `None` until the first probe has finished. Never waits for a probe.
    pub fn latest(&self) -> Option<CachedReport> {
        self.shared.latest.borrow().clone()
    }

    /// The last report, waiting for the first probe to finish if none has yet.
    pub async fn wait_for_report(&self) -> CachedReport {
        let mut latest = self.shared.latest.clone();
        let found = latest.wait_for(Option::is_some).await.map(|cached| cached.clone());
        // The sender lives as long as the background task, which only stops when the last clone of `self` is
        // dropped, so waiting cannot fail while `self` is borrowed here.
        found.ok().flatten().expect("the prober runs while the cache is alive")
    }

    /// The configuration probed.
    pub fn config(&self) -> &ProbeConfig {
        &self.shared.config
    }

    /// The time between the starts of two probes.
    pub fn interval(&self) -> Duration {
        self.shared.interval
    }
}

/// The background task: probe, publish, wait for the next tick; stop when nobody holds the cache.
async fn run(config: ProbeConfig, interval: Duration, tx: watch::Sender<Option<CachedReport>>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = ticks.tick() => {}
        }
        let report = tokio::select! {
            _ = tx.closed() => return,
            report = probe(&config) => report,
        };
        let cached = CachedReport::new(report, Instant::now());
        if tx.send(Some(cached)).is_err() {
            return;
        }
    }
}
