//! Probe SMTP servers from any futures-io runtime — smol, async-std, or your own — with one byte pump
//! around [`smtp_probe_proto::Session`], which does all SMTP and TLS work in memory.
//!
//! ```
//! # #[cfg(feature = "smol")] {
//! use smtp_probe_futures::{ProbeConfig, Target, TlsMode, Verdict};
//!
//! let server = smtp_probe_testserver::Responder::new().start()?; // a loopback SMTP server
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", server.port())?).tls(TlsMode::None).build()?;
//! let report = smol::block_on(smtp_probe_futures::smol::probe(&config));
//! assert_eq!(report.verdict, Verdict::Up);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Usage
//!
//! Pick a runtime with a feature; each gives the same three functions in a module:
//!
//! | feature | module | streams, DNS, timers |
//! | --- | --- | --- |
//! | `smol` | `smtp_probe_futures::smol` | smol 2: `async-net`, `async-io` |
//! | `async-std` | `smtp_probe_futures::async_std` | async-std 1.13 (discontinued upstream, still working) |
//!
//! - `probe(config)`: resolve, connect, probe, one [`Report`]. Everything the network and the server do is in
//!   the report; only setting up can fail ([`Error`]: a target, TLS settings or a configuration refused).
//! - `probe_each(config)`: one report per address group of the [`AddressFamily`] policy (one per family for
//!   [`AddressFamily::Both`]).
//! - `probe_stream(stream, config)`: probe over a TCP stream you connected yourself.
//!
//! Any other runtime: implement [`Timer`] (sleep until an instant) to probe a stream with
//! [`probe_stream_with`], and [`Runtime`] (connect, resolve) as well for [`probe_with`] and
//! [`probe_each_with`]. Streams are [`futures_io::AsyncRead`] + [`futures_io::AsyncWrite`]; a tokio stream
//! works through `tokio_util::compat`, though the `smtp-probe-tokio` crate is the better fit there.
//!
//! ```no_run
//! # #[cfg(feature = "async-std")] {
//! use smtp_probe_futures::{ProbeConfig, Verdict};
//!
//! # async_std::task::block_on(async {
//! let config = ProbeConfig::builder("smtps://mail.example.com".parse()?).build()?; // implicit TLS, port 465
//! let report = smtp_probe_futures::async_std::probe(&config).await;
//! if report.verdict != Verdict::Up {
//!     eprintln!("{}", report.summary());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Deadlines: the overall deadline starts before DNS, each connect attempt gets
//! [`connect_budget`](smtp_probe_proto::connect::connect_budget), and every read and write races the
//! session's next deadline. DNS is bounded by the overall deadline too (the lookup runs on the runtime's
//! blocking pool and is abandoned when the deadline passes).
//!
//! Dropping a probe's future drops its socket, which closes the connection: a probe never outlives its
//! caller's interest.
//!
//! To print or serve reports, use the renderer crate, `smtp-probe-render` (re-exported as `render` with the
//! feature of that name): the documented JSON, Prometheus text and OpenMetrics, Nagios and human output, the same
//! the `smtp-probe` command prints.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// The renderers: `render::json`, `render::prometheus`, `render::nagios`, `render::human` (feature `render`).
#[cfg(feature = "render")]
#[cfg_attr(docsrs, doc(cfg(feature = "render")))]
pub use smtp_probe_render as render;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smtp_probe_proto::connect::{self, ConnectFailure, ProbeStart};
use smtp_probe_proto::{Session, SessionOutput};

pub use smtp_probe_proto::{
    self as proto, AddressFamily, Cause, ConfigError, EnvelopePart, Error, HostnameError, ProbeConfig, Report, Target,
    TargetError, TlsConfig, TlsConfigError, TlsMode, Verdict,
};

#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub mod async_std;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub mod smol;

/// Bytes read from the socket at a time. SMTP replies are small; TLS records are reassembled by rustls.
const READ_CHUNK: usize = 4096;

/// A runtime's timer: all [`probe_stream_with`] needs besides the stream.
pub trait Timer {
    /// Completes at `deadline`, or at once when it has passed.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
}

/// What [`probe_with`] needs from a runtime besides its timer: TCP connections and name resolution.
pub trait Runtime: Timer {
    /// The runtime's TCP stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send;

    /// Connects to `addr` (the caller bounds the attempt with the timer).
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Resolves `host` (a DNS name) to addresses with `port` (the caller bounds the lookup with the timer).
    fn resolve(&self, host: &str, port: u16) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// The address a stream is connected to, when known.
    fn peer_addr(stream: &Self::Stream) -> Option<SocketAddr>;

    /// Acknowledges received data at once (TCP_QUICKACK on Linux). Called when input was consumed and the probe
    /// waits for more: a server that writes a reply in two pieces with Nagle's algorithm on would otherwise wait
    /// for our delayed ACK, and ~40 ms that are not the server's would show in the report. Does nothing by
    /// default.
    fn quick_ack(_stream: &Self::Stream) {}
}

/// `Some(output)` when `future` completes before `deadline`, `None` when the deadline comes first. The
/// future is polled first, so a result that is ready at the deadline still counts.
async fn before<T: Timer, F: Future>(timer: &T, deadline: Instant, future: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(future.await) }, async {
        timer.sleep_until(deadline).await;
        None
    })
    .await
}

/// Probes the configuration's target once on `runtime` and returns the report. With [`AddressFamily::Both`], each
/// family is probed and the worst report is returned (the others are noted in its findings); use
/// [`probe_each_with`] for all.
///
/// Everything the network or the server does is in the report: a name that does not resolve, a refused
/// connection, a timeout are verdicts, not errors.
pub async fn probe_with<R: Runtime>(runtime: &R, config: &ProbeConfig) -> Report {
    connect::worst(probe_each_with(runtime, config).await).expect("probe_each returns at least one report")
}

/// Probes the configuration's target on `runtime`, one report per address group of the address-family policy.
/// Never empty.
pub async fn probe_each_with<R: Runtime>(runtime: &R, config: &ProbeConfig) -> Vec<Report> {
    let target = config.target();
    let start = ProbeStart::new(config, Instant::now(), SystemTime::now());
    let Some(addr) = connect::literal_address(target) else {
        let resolved = before(runtime, start.deadline, runtime.resolve(target.host(), target.port())).await;
        let resolve = start.at.elapsed();
        let mut reports = match resolved {
            Some(Ok(addrs)) => probe_addrs(runtime, &addrs, config, start).await,
            Some(Err(e)) => vec![connect::dns_failed(config, start.wall, &e.to_string())],
            None => vec![connect::dns_failed(config, start.wall, "no answer before the deadline")],
        };
        connect::record_resolve(&mut reports, resolve);
        return reports;
    };
    probe_addrs(runtime, &[addr], config, start).await
}

/// Probes resolved addresses of the configuration's target, one report per address group of the policy.
async fn probe_addrs<R: Runtime>(
    runtime: &R,
    addrs: &[SocketAddr],
    config: &ProbeConfig,
    start: ProbeStart,
) -> Vec<Report> {
    let groups = connect::plan(addrs, config.address_family());
    if groups.is_empty() {
        return vec![connect::no_address(config, start.wall)];
    }
    let mut reports = Vec::with_capacity(groups.len());
    for group in groups {
        reports.push(probe_group(runtime, &group, config, start).await);
    }
    reports
}

async fn probe_group<R: Runtime>(
    runtime: &R,
    group: &connect::AddressGroup,
    config: &ProbeConfig,
    start: ProbeStart,
) -> Report {
    let started = Instant::now();
    let mut failures = Vec::new();
    for &addr in &group.addrs {
        let attempt = Instant::now();
        let budget = connect::connect_budget(config, attempt, start.deadline);
        // The budget is at most the connect timeout (24 h at most): the sum cannot overflow for a clock's instant.
        match before(runtime, attempt + budget, runtime.connect(addr)).await {
            Some(Ok(stream)) => {
                let connected = Instant::now();
                let mut report = drive(stream, runtime, R::quick_ack, config, connected, start).await;
                connect::finish_report(&mut report, addr, connected - attempt, group.family);
                return report;
            }
            Some(Err(e)) => failures.push((addr, ConnectFailure::Io(e))),
            None => failures.push((addr, ConnectFailure::TimedOut(budget))),
        }
    }
    connect::connect_failed(config, start.wall, &failures, started.elapsed())
}

/// Runs a session over an already connected stream of any runtime, with that runtime's timer. The overall
/// deadline starts now. The report has no address (a generic stream does not say where it goes): set
/// `report.address` yourself if you know it.
pub async fn probe_stream_with<S, T>(stream: S, config: &ProbeConfig, timer: &T) -> Report
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Timer,
{
    let now = Instant::now();
    drive(stream, timer, |_: &S| {}, config, now, ProbeStart::new(config, now, SystemTime::now())).await
}

/// [`probe_stream_with`] for a runtime's own TCP stream, with the peer address in the report.
pub async fn probe_runtime_stream<R: Runtime>(runtime: &R, stream: R::Stream, config: &ProbeConfig) -> Report {
    let peer = R::peer_addr(&stream);
    let now = Instant::now();
    let start = ProbeStart::new(config, now, SystemTime::now());
    let mut report = drive(stream, runtime, R::quick_ack, config, now, start).await;
    report.address = peer.map(|a| a.to_string());
    report
}

/// The pump: session output to the stream, stream input and deadlines to the session. `quick_ack` runs when
/// input was consumed and the session waits for more (see [`Runtime::quick_ack`]).
async fn drive<S, T>(
    mut stream: S,
    timer: &T,
    quick_ack: impl Fn(&S),
    config: &ProbeConfig,
    connected: Instant,
    start: ProbeStart,
) -> Report
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Timer,
{
    let deadline = start.deadline;
    let mut session = Session::with_deadline(config.clone(), connected, start.wall, deadline);
    let mut buf = [0u8; READ_CHUNK];
    // Whether the last thing done was feeding input to the session.
    let mut fed = false;
    loop {
        match session.poll_output(Instant::now()) {
            SessionOutput::Transmit(bytes) => {
                fed = false;
                // A peer that stops reading cannot hold the probe past its deadline.
                let until = session.next_deadline().unwrap_or(deadline);
                let write = async {
                    stream.write_all(&bytes).await?;
                    stream.flush().await
                };
                match before(timer, until, write).await {
                    Some(Ok(())) => {}
                    Some(Err(_)) => session.handle_eof(Instant::now()),
                    None => session.handle_timeout(Instant::now()),
                }
            }
            SessionOutput::Timeout(until) => {
                if std::mem::take(&mut fed) {
                    quick_ack(&stream);
                }
                match before(timer, until, stream.read(&mut buf)).await {
                    Some(Ok(0) | Err(_)) => session.handle_eof(Instant::now()),
                    Some(Ok(n)) => {
                        session.handle_input(Instant::now(), &buf[..n]);
                        fed = true;
                    }
                    None => session.handle_timeout(Instant::now()),
                }
            }
            SessionOutput::Done => {
                // A TCP stream closes at once; a wrapper that flushes is cut off at the deadline.
                let _ = before(timer, deadline, stream.close()).await;
                return session.into_report();
            }
        }
    }
}

/// The runtime module's `probe`, `probe_each` and `probe_stream`, for the runtime type `$runtime`.
#[cfg(any(feature = "smol", feature = "async-std"))]
macro_rules! runtime_functions {
    ($runtime:expr, $stream:ty, $name:literal) => {
        /// Probes the configuration's target once and returns the report. With
        /// [`AddressFamily::Both`](crate::AddressFamily::Both), each family is probed and the worst report is
        /// returned; use [`probe_each`] for all of them.
        ///
        /// Everything the network or the server does is in the report.
        #[doc = concat!("Runs on ", $name, ".")]
        pub async fn probe(config: &crate::ProbeConfig) -> crate::Report {
            crate::probe_with(&$runtime, config).await
        }

        /// Probes the configuration's target, one report per address group of the address-family policy (one,
        /// or one per family for [`AddressFamily::Both`](crate::AddressFamily::Both)).
        #[doc = concat!("Runs on ", $name, ".")]
        pub async fn probe_each(config: &crate::ProbeConfig) -> Vec<crate::Report> {
            crate::probe_each_with(&$runtime, config).await
        }

        /// Runs a session over an already connected stream (for callers who connect themselves, e.g. through
        /// a proxy). The overall deadline starts now.
        #[doc = concat!("Runs on ", $name, ".")]
        pub async fn probe_stream(stream: $stream, config: &crate::ProbeConfig) -> crate::Report {
            crate::probe_runtime_stream(&$runtime, stream, config).await
        }
    };
}
#[cfg(any(feature = "smol", feature = "async-std"))]
use runtime_functions;

/// The code blocks of the repository's README, compiled as doctests here: this crate's dev-dependencies include
/// every adapter the README shows.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
