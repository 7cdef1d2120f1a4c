//! Probe SMTP servers from any futures-io runtime — smol, async-std, or your own — with one byte pump around the
//! sans-IO core, which does all SMTP and TLS work in memory and plans the connections ([`proto::connect`]).
//!
//! Probe a mail server with implicit TLS on smol (async-std: the same with `smtp_probe_futures::async_std`):
//!
//! ```no_run
//! # #[cfg(feature = "smol")] {
//! use smtp_probe_futures::{ProbeConfig, Verdict};
//!
//! # smol::block_on(async {
//! let config = ProbeConfig::builder("smtps://mail.example.com".parse()?).build()?; // implicit TLS, port 465
//! let report = smtp_probe_futures::smol::probe(&config).await;
//! if report.verdict != Verdict::Up {
//!     eprintln!("{}", report.summary());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(()) })?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same against a few-line SMTP server on loopback, to try it without a mail server:
//!
//! ```
//! # #[cfg(feature = "smol")] {
//! use std::io::{BufRead, BufReader, Write};
//! use smtp_probe_futures::{ProbeConfig, Target, TlsMode, Verdict};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let port = listener.local_addr()?.port();
//! std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut socket, _) = listener.accept()?;
//!     socket.write_all(b"220 mx.test ESMTP\r\n")?;
//!     for command in BufReader::new(socket.try_clone()?).lines() {
//!         let reply: &[u8] = match command?.starts_with("EHLO") {
//!             true => b"250-mx.test\r\n250 SIZE 10240000\r\n",
//!             false => b"221 2.0.0 Bye\r\n",
//!         };
//!         socket.write_all(reply)?;
//!     }
//!     Ok(())
//! });
//!
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", port)?).tls(TlsMode::None).build()?;
//! let report = smol::block_on(smtp_probe_futures::smol::probe(&config));
//! assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
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
//! [`probe_stream_with`], and [`Runtime`] (connect, run a blocking call, socket options) as well for
//! [`probe_with`] and [`probe_each_with`]. Streams are [`futures_io::AsyncRead`] + [`futures_io::AsyncWrite`]; a tokio stream
//! works through `tokio_util::compat`, though the `smtp-probe-tokio` crate is the better fit there.
//!
//! Deadlines: the overall deadline starts before DNS and bounds everything; each connect attempt gets what the
//! planner allows, and every read and write races the session's next deadline. Names are resolved by the OS
//! resolver through [`Runtime::spawn_blocking`], at most [`MAX_LOOKUPS`](proto::connect::MAX_LOOKUPS) lookups at
//! once in the process (abandoned ones counted until they return); a lookup is abandoned when the deadline passes.
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

use std::time::{Instant, SystemTime};

use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smtp_probe_proto::connect::{ConnectFailure, Conversation, Dial, Dialer, Io, ProbeStart};

pub use smtp_probe_proto::{
    self as proto, AddressFamily, AddressPolicy, Cause, ConfigError, EnvelopePart, Error, HostnameError, Origin,
    ProbeConfig, Report, Target, TargetError, TlsConfig, TlsConfigError, TlsMode, Verdict,
};

#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub mod async_std;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub mod smol;

mod dns;
mod runtime;

use runtime::before;
pub use runtime::{Runtime, Timer};

/// Bytes read from the socket at a time. SMTP replies are small; TLS records are reassembled by rustls.
const READ_CHUNK: usize = 4096;

/// Probes the configuration's target once on `runtime` and returns the report. With [`AddressFamily::Both`], each
/// family is probed and the worst report is returned (the others are noted in its findings); use
/// [`probe_each_with`] for all.
///
/// Everything the network or the server does is in the report: a name that does not resolve, a refused
/// connection, a timeout, an address the [`AddressPolicy`] denies are verdicts, not errors.
pub async fn probe_with<R: Runtime>(runtime: &R, config: &ProbeConfig) -> Report {
    dial(runtime, config).await.into_report()
}

/// Probes the configuration's target on `runtime`, one report per address group of the address-family policy.
/// Never empty.
pub async fn probe_each_with<R: Runtime>(runtime: &R, config: &ProbeConfig) -> Vec<Report> {
    dial(runtime, config).await.into_reports()
}

/// Steps a dialer to the end: lookups, connections and conversations on `runtime`.
async fn dial<R: Runtime>(runtime: &R, config: &ProbeConfig) -> Dialer {
    let mut dialer = Dialer::new(config, ProbeStart::new(config, Instant::now(), SystemTime::now()));
    loop {
        match dialer.poll(Instant::now()) {
            Dial::Resolve { deadline } => match dns::resolve(runtime, dialer.target(), deadline).await {
                Ok(addrs) => dialer.handle_resolved(Instant::now(), addrs),
                Err(failure) => dialer.handle_resolve_failed(Instant::now(), failure),
            },
            Dial::Connect { addr, deadline } => match before(runtime, deadline, runtime.connect(addr)).await {
                Some(Ok(stream)) => {
                    let _ = R::set_nodelay(&stream);
                    let connection = dialer.handle_connected(Instant::now());
                    let report = converse(stream, runtime, R::quick_ack, || Conversation::over(connection)).await;
                    dialer.handle_report(Instant::now(), report);
                }
                Some(Err(e)) => dialer.handle_connect_failed(Instant::now(), ConnectFailure::Io(e)),
                None => dialer.handle_connect_failed(Instant::now(), ConnectFailure::TimedOut),
            },
            Dial::Done => return dialer,
        }
    }
}

/// Runs a session over an already connected stream of any runtime, with that runtime's timer. The overall
/// deadline starts now. Set `TCP_NODELAY` on a TCP stream first (see [`proto::connect::Io`]). The report has no
/// address (a generic stream does not say where it goes): set `report.address` yourself if you know it.
pub async fn probe_stream_with<S, T>(stream: S, config: &ProbeConfig, timer: &T) -> Report
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Timer,
{
    let now = Instant::now();
    let start = ProbeStart::new(config, now, SystemTime::now());
    converse(stream, timer, |_: &S| {}, || Conversation::new(config, now, start, None)).await
}

/// [`probe_stream_with`] for a runtime's own TCP stream, with `TCP_NODELAY` set and the peer address in the report.
pub async fn probe_runtime_stream<R: Runtime>(runtime: &R, stream: R::Stream, config: &ProbeConfig) -> Report {
    let _ = R::set_nodelay(&stream);
    let now = Instant::now();
    let start = ProbeStart::new(config, now, SystemTime::now());
    let peer = R::peer_addr(&stream);
    converse(stream, runtime, R::quick_ack, || Conversation::new(config, now, start, peer)).await
}

/// The pump: what the conversation asks for, done on the stream (see [`proto::connect::Io`]). The conversation is
/// made here, in the pump's own state, rather than moved in: a session is a few KiB.
async fn converse<S, T>(
    mut stream: S,
    timer: &T,
    quick_ack: impl Fn(&S),
    conversation: impl FnOnce() -> Conversation,
) -> Report
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Timer,
{
    let mut conversation = conversation();
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match conversation.poll(Instant::now()) {
            Io::Write { bytes, until } => {
                let write = async {
                    stream.write_all(&bytes).await?;
                    stream.flush().await
                };
                match before(timer, until, write).await {
                    Some(Ok(())) => {}
                    Some(Err(_)) => conversation.handle_eof(Instant::now()),
                    None => conversation.handle_timeout(Instant::now()),
                }
            }
            Io::Read { until, quick_ack: ack } => {
                if ack {
                    quick_ack(&stream);
                }
                match before(timer, until, stream.read(&mut buf)).await {
                    Some(Ok(0) | Err(_)) => conversation.handle_eof(Instant::now()),
                    Some(Ok(n)) => conversation.handle_input(Instant::now(), &buf[..n]),
                    None => conversation.handle_timeout(Instant::now()),
                }
            }
            Io::Close => {
                // A TCP stream closes at once; a wrapper that flushes is cut off at the deadline.
                let _ = before(timer, conversation.deadline(), stream.close()).await;
                return conversation.into_report();
            }
        }
    }
}

/// The code blocks of the repository's README, compiled as doctests here: this crate's dev-dependencies include
/// every adapter the README shows.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
