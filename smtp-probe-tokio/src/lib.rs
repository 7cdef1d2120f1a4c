//! Probe SMTP servers from tokio: a thin byte pump around [`smtp_probe_proto::Session`], which does all SMTP and
//! TLS work in memory. This crate resolves, connects, moves bytes and sleeps until the deadlines the session
//! asks for — nothing else.
//!
//! A probe of a local test server, with STARTTLS, a private CA and certificate-days thresholds:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use smtp_probe_testserver::{Responder, TestPki};
//! use smtp_probe_tokio::{probe, ProbeConfig, Target, TlsConfig, TlsMode, Verdict};
//!
//! let pki = TestPki::new()?;
//! let server = Responder::new().cert(&pki.default_cert()?).start()?; // mx.test on 127.0.0.1
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", server.port())?)
//!     .tls(TlsMode::StartTlsRequired)
//!     .tls_name("mx.test") // verify this name, whatever address we connect to
//!     .tls_config(TlsConfig::builder().add_ca_pem("test CA", pki.ca_pem().as_bytes())?.build()?)
//!     .ehlo_name("monitor.example.com")
//!     .certificate_days(Some(21), Some(7))
//!     .build()?;
//! let report = probe(&config).await;
//! assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
//! assert!(report.tls.as_ref().is_some_and(|tls| tls.verified));
//! # Ok(()) }
//! ```
//!
//! Against a real server, the target usually comes from the forms people type:
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use smtp_probe_tokio::{probe, ProbeConfig, Verdict};
//! // Port 587, STARTTLS required; the host is the name verified in the certificate.
//! let config = ProbeConfig::builder("submission://mail.example.com".parse()?).build()?;
//! let report = probe(&config).await;
//! if report.verdict != Verdict::Up {
//!     eprintln!("{}", report.summary());
//! }
//! # Ok(()) }
//! ```
//!
//! Round trips — submit a tokenised message, watch it arrive over IMAP, delete it — are [`roundtrip`].
//!
//! Dropping the future closes the socket: a probe never outlives its caller's interest.
//!
//! To print or serve reports, use the renderer crate, `smtp-probe-render` (re-exported as `render` with the
//! feature of that name): the documented JSON, Prometheus text and OpenMetrics, Nagios and human output, the same
//! the `smtp-probe` command prints. [`default_ehlo_name`] is the EHLO name the command uses when given none.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use smtp_probe_proto::connect::{self, ConnectFailure, ProbeStart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

pub use smtp_probe_proto::imap::MailboxConfig;
pub use smtp_probe_proto::{
    self as proto, AddressFamily, Cause, ConfigError, EnvelopePart, Error, HostnameError, ProbeConfig, Report, Target,
    TargetError, TlsConfig, TlsConfigError, TlsMode, Verdict,
};
pub use smtp_probe_proto::{RoundTripConfig, RoundTripReport, Secret};
use smtp_probe_proto::{Session, SessionOutput};

mod cache;
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
pub use smtp_probe_proto::{Domain, DomainError};

/// Bytes read from the socket at a time. SMTP replies are small; TLS records are reassembled by rustls.
const READ_CHUNK: usize = 4096;

/// Probes the configuration's target once and returns the report. With [`AddressFamily::Both`], each family is
/// probed and the worst report is returned (the others are noted in its findings); use [`probe_each`] for all of
/// them.
///
/// Everything the network or the server does is in the report: a name that does not resolve, a refused
/// connection, a timeout are verdicts, not errors.
pub async fn probe(config: &ProbeConfig) -> Report {
    connect::worst(probe_each(config).await).expect("probe_each returns at least one report")
}

/// Probes the configuration's target, one report per address group of the address-family policy (one, or one per
/// family for [`AddressFamily::Both`]). Never empty.
pub async fn probe_each(config: &ProbeConfig) -> Vec<Report> {
    let target = config.target();
    let start = ProbeStart::new(config, Instant::now(), SystemTime::now());
    let Some(addr) = connect::literal_address(target) else {
        let lookup = tokio::net::lookup_host((target.host(), target.port()));
        let resolved = timeout_at(start.deadline.into(), lookup).await;
        let resolve = start.at.elapsed();
        let mut reports = match resolved {
            Ok(Ok(addrs)) => probe_addrs(&addrs.collect::<Vec<_>>(), config, start).await,
            Ok(Err(e)) => vec![connect::dns_failed(config, start.wall, &e.to_string())],
            Err(_) => vec![connect::dns_failed(config, start.wall, "no answer before the deadline")],
        };
        connect::record_resolve(&mut reports, resolve);
        return reports;
    };
    probe_addrs(&[addr], config, start).await
}

/// Probes resolved addresses of the configuration's target, one report per address group of the policy.
async fn probe_addrs(addrs: &[SocketAddr], config: &ProbeConfig, start: ProbeStart) -> Vec<Report> {
    let groups = connect::plan(addrs, config.address_family());
    if groups.is_empty() {
        return vec![connect::no_address(config, start.wall)];
    }
    let mut reports = Vec::with_capacity(groups.len());
    for group in groups {
        reports.push(probe_group(&group, config, start).await);
    }
    reports
}

async fn probe_group(group: &connect::AddressGroup, config: &ProbeConfig, start: ProbeStart) -> Report {
    let started = Instant::now();
    let mut failures = Vec::new();
    for &addr in &group.addrs {
        let attempt = Instant::now();
        let budget = connect::connect_budget(config, attempt, start.deadline);
        match tokio::time::timeout(budget, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let connected = Instant::now();
                let mut report = drive(stream, config, connected, start).await;
                connect::finish_report(&mut report, addr, connected - attempt, group.family);
                return report;
            }
            Ok(Err(e)) => failures.push((addr, ConnectFailure::Io(e))),
            Err(_) => failures.push((addr, ConnectFailure::TimedOut(budget))),
        }
    }
    connect::connect_failed(config, start.wall, &failures, started.elapsed())
}

/// Runs a session over an already connected stream (for callers who connect themselves, e.g. through a proxy).
/// The overall deadline starts now.
pub async fn probe_stream(stream: TcpStream, config: &ProbeConfig) -> Report {
    let now = Instant::now();
    let peer: Option<SocketAddr> = stream.peer_addr().ok();
    let mut report = drive(stream, config, now, ProbeStart::new(config, now, SystemTime::now())).await;
    report.address = peer.map(|a| a.to_string());
    report
}

/// The pump: session output to the socket, socket input and deadlines to the session.
async fn drive(mut stream: TcpStream, config: &ProbeConfig, connected: Instant, start: ProbeStart) -> Report {
    let _ = stream.set_nodelay(true);
    let deadline = start.deadline;
    let mut session = Session::with_deadline(config.clone(), connected, start.wall, deadline);
    let mut buf = [0u8; READ_CHUNK];
    // Whether the last thing done was feeding input to the session (see `quick_ack`).
    let mut fed = false;
    loop {
        match session.poll_output(Instant::now()) {
            SessionOutput::Transmit(bytes) => {
                fed = false;
                // A peer that stops reading cannot hold the probe past its deadline.
                let until = session.next_deadline().unwrap_or(deadline);
                match timeout_at(until.into(), stream.write_all(&bytes)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => session.handle_eof(Instant::now()),
                    Err(_) => session.handle_timeout(Instant::now()),
                }
            }
            SessionOutput::Timeout(until) => {
                // Input was consumed and the session still waits for more: acknowledge what came at once. When it
                // has something to send instead, that segment carries the ACK and no extra packet is needed.
                if std::mem::take(&mut fed) {
                    quick_ack(&stream);
                }
                match timeout_at(until.into(), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => session.handle_eof(Instant::now()),
                    Ok(Ok(n)) => {
                        session.handle_input(Instant::now(), &buf[..n]);
                        fed = true;
                    }
                    Err(_) => session.handle_timeout(Instant::now()),
                }
            }
            SessionOutput::Done => {
                let _ = stream.shutdown().await;
                return session.into_report();
            }
        }
    }
}

/// Acknowledge received segments at once. Servers that write a reply in two pieces with Nagle's algorithm on
/// (OpenSSL's TLS 1.3 session tickets, then the EHLO reply) otherwise wait for our delayed ACK, and the report
/// would show ~40 ms that are not the server's. Linux re-enters delayed ACKs by itself, so this is set after every
/// read that leaves the session waiting for more input; a read answered by a command needs none (the command's
/// segment carries the ACK), which saves a syscall and a bare ACK packet per reply.
#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_: &TcpStream) {}
