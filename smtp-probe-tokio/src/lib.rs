//! Probe SMTP servers from tokio: a thin byte pump around the sans-IO core, which does all SMTP and TLS work in
//! memory and plans the connections ([`proto::connect`]: address and family policies, deadlines, what a failure
//! means). This crate resolves, connects, moves bytes and sleeps until the deadlines it is given — nothing else.
//!
//! Probe a mail server, STARTTLS required, and say what is wrong:
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), smtp_probe_tokio::Error> {
//! use smtp_probe_tokio::{probe, ProbeConfig, Verdict};
//!
//! // Port 587, STARTTLS required; the host is the name verified in the certificate.
//! let config = ProbeConfig::builder("submission://mail.example.com".parse()?)
//!     .ehlo_name("monitor.example.com")
//!     .certificate_days(Some(21), Some(7))
//!     .build()?;
//! let report = probe(&config).await; // everything the network and the server do is in the report
//! if report.verdict != Verdict::Up {
//!     eprintln!("{}", report.summary());
//! }
//! # Ok(()) }
//! ```
//!
//! The same against a few-line SMTP server on loopback, to try it without a mail server:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use smtp_probe_tokio::{probe, ProbeConfig, Target, TlsMode, Verdict};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let port = listener.local_addr()?.port();
//! tokio::spawn(async move {
//!     let (socket, _) = listener.accept().await?;
//!     let (read, mut write) = socket.into_split();
//!     write.write_all(b"220 mx.test ESMTP\r\n").await?;
//!     let mut lines = BufReader::new(read).lines();
//!     while let Some(command) = lines.next_line().await? {
//!         let reply: &[u8] = match command.starts_with("EHLO") {
//!             true => b"250-mx.test\r\n250 SIZE 10240000\r\n",
//!             false => b"221 2.0.0 Bye\r\n",
//!         };
//!         write.write_all(reply).await?;
//!     }
//!     Ok::<_, std::io::Error>(())
//! });
//!
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", port)?).tls(TlsMode::None).build()?;
//! let report = probe(&config).await;
//! assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
//! assert_eq!(report.capabilities.as_ref().unwrap().size_limit, Some(10_240_000));
//! # Ok(()) }
//! ```
//!
//! Round trips — submit a tokenised message, watch it arrive over IMAP, delete it — are [`roundtrip`]; the mailbox
//! connection follows the same planner and socket rules as a probe's.
//!
//! Dropping the future closes the socket: a probe never outlives its caller's interest. Names are resolved by the
//! OS resolver on threads of their own, at most [`MAX_LOOKUPS`](proto::connect::MAX_LOOKUPS) at once in the
//! process; a lookup that outlives its probe's deadline is abandoned, not waited for.
//!
//! To print or serve reports, use the renderer crate, `smtp-probe-render` (re-exported as `render` with the
//! feature of that name): the documented JSON, Prometheus text and OpenMetrics, Nagios and human output, the same
//! the `smtp-probe` command prints. [`default_ehlo_name`] is the EHLO name the command uses when given none.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use smtp_probe_proto::connect::{ConnectFailure, Conversation, Dial, Dialer, Io, ProbeStart, ResolveFailure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

pub use smtp_probe_proto::imap::MailboxConfig;
pub use smtp_probe_proto::{
    self as proto, AddressFamily, AddressPolicy, Cause, ConfigError, EnvelopePart, Error, HostnameError, Origin,
    ProbeConfig, Report, Target, TargetError, TlsConfig, TlsConfigError, TlsMode, Verdict,
};
pub use smtp_probe_proto::{RoundTripConfig, RoundTripReport, Secret};

mod cache;
mod dns;
mod ehlo;
mod roundtrip;
pub use roundtrip::roundtrip;

#[cfg(feature = "domain")]
#[cfg_attr(docsrs, doc(cfg(feature = "domain")))]
pub mod domain;
#[cfg(feature = "mx")]
mod mx;

pub use ehlo::default_ehlo_name;
/// The renderers: `render::json`, `render::prometheus`, `render::nagios`, `render::human` (feature `render`).
#[cfg(feature = "render")]
#[cfg_attr(docsrs, doc(cfg(feature = "render")))]
pub use smtp_probe_render as render;

pub use cache::{CachedProbe, CachedReport};
#[cfg(feature = "mx")]
#[cfg_attr(docsrs, doc(cfg(feature = "mx")))]
pub use mx::{hickory_resolver, probe_mx, probe_mx_with_resolver, single_server_resolver, system_resolver};
#[cfg(feature = "mx")]
#[cfg_attr(docsrs, doc(cfg(feature = "mx")))]
pub use smtp_probe_proto::mx::{MxHostReport, MxReport};
#[cfg(feature = "mx")]
#[cfg_attr(docsrs, doc(cfg(feature = "mx")))]
pub use smtp_probe_proto::{Domain, DomainError, MxLimits};

/// Bytes read from the socket at a time. SMTP replies are small; TLS records are reassembled by rustls.
const READ_CHUNK: usize = 4096;

/// Probes the configuration's target once and returns the report. With [`AddressFamily::Both`], each family is
/// probed and the worst report is returned (the others are noted in its findings); use [`probe_each`] for all of
/// them.
///
/// Everything the network or the server does is in the report: a name that does not resolve, a refused
/// connection, a timeout, an address the [`AddressPolicy`] denies are verdicts, not errors.
pub async fn probe(config: &ProbeConfig) -> Report {
    dial(config).await.into_report()
}

/// Probes the configuration's target, one report per address group of the address-family policy (one, or one per
/// family for [`AddressFamily::Both`]). Never empty.
pub async fn probe_each(config: &ProbeConfig) -> Vec<Report> {
    dial(config).await.into_reports()
}

async fn dial(config: &ProbeConfig) -> Dialer {
    let mut dialer = Dialer::new(config, ProbeStart::new(config, Instant::now(), SystemTime::now()));
    run(&mut dialer, &dns::System).await;
    dialer
}

/// Looks up the addresses of a [`Dialer`]'s target (those the family policy can use), giving up at the deadline.
pub(crate) trait Resolve {
    fn resolve(
        &self,
        target: &Target,
        family: AddressFamily,
        deadline: Instant,
    ) -> impl Future<Output = Result<Vec<IpAddr>, ResolveFailure>> + Send;
}

/// Steps `dialer` to the end: lookups through `resolver`, connections and conversations here.
pub(crate) async fn run(dialer: &mut Dialer, resolver: &impl Resolve) {
    loop {
        match dialer.poll(Instant::now()) {
            Dial::Resolve { deadline } => {
                match resolver.resolve(dialer.target(), dialer.address_family(), deadline).await {
                    Ok(addrs) => dialer.handle_resolved(Instant::now(), addrs),
                    Err(failure) => dialer.handle_resolve_failed(Instant::now(), failure),
                }
            }
            Dial::Connect { addr, deadline } => match timeout_at(deadline.into(), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let connection = dialer.handle_connected(Instant::now());
                    let report = converse(stream, || Conversation::over(connection)).await;
                    dialer.handle_report(Instant::now(), report);
                }
                Ok(Err(e)) => dialer.handle_connect_failed(Instant::now(), ConnectFailure::Io(e)),
                Err(_) => dialer.handle_connect_failed(Instant::now(), ConnectFailure::TimedOut),
            },
            Dial::Done => return,
        }
    }
}

/// Runs a session over an already connected stream (for callers who connect themselves, e.g. through a proxy).
/// The overall deadline starts now.
pub async fn probe_stream(stream: TcpStream, config: &ProbeConfig) -> Report {
    let now = Instant::now();
    let start = ProbeStart::new(config, now, SystemTime::now());
    let peer = stream.peer_addr().ok();
    converse(stream, || Conversation::new(config, now, start, peer)).await
}

/// The pump: what the conversation asks for, done on the socket (see [`proto::connect::Io`]). The conversation is
/// made here, in the pump's own state, rather than moved in: a session is a few KiB.
async fn converse(mut stream: TcpStream, conversation: impl FnOnce() -> Conversation) -> Report {
    let mut conversation = conversation();
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match conversation.poll(Instant::now()) {
            Io::Write { bytes, until } => match timeout_at(until.into(), stream.write_all(&bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => conversation.handle_eof(Instant::now()),
                Err(_) => conversation.handle_timeout(Instant::now()),
            },
            Io::Read { until, quick_ack: ack } => {
                if ack {
                    quick_ack(&stream);
                }
                match timeout_at(until.into(), stream.read(&mut buf)).await {
                    Ok(Ok(0) | Err(_)) => conversation.handle_eof(Instant::now()),
                    Ok(Ok(n)) => conversation.handle_input(Instant::now(), &buf[..n]),
                    Err(_) => conversation.handle_timeout(Instant::now()),
                }
            }
            Io::Close => {
                // shutdown(2) of the write side: it does not wait for the peer.
                let _ = stream.shutdown().await;
                return conversation.into_report();
            }
        }
    }
}

/// `TCP_QUICKACK`, when the conversation asks for it (the policy: [`proto::connect::Io`]).
#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_: &TcpStream) {}
