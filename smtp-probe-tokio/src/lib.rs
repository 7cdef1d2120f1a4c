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
//! let target = Target::new("127.0.0.1", server.port());
//! let config = ProbeConfig::builder("127.0.0.1")
//!     .tls(TlsMode::StartTlsRequired)
//!     .tls_name("mx.test") // verify this name, whatever address we connect to
//!     .tls_config(TlsConfig::builder().add_ca_pem("test CA", pki.ca_pem().as_bytes())?.build()?)
//!     .ehlo_name("monitor.example.com")
//!     .certificate_days(Some(21), Some(7))
//!     .build()?;
//! let report = probe(&target, &config).await?;
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
//! use smtp_probe_tokio::{probe, ProbeConfig, Target, Verdict};
//! let (target, mode) = Target::parse("submission://mail.example.com")?; // port 587, STARTTLS required
//! let config = ProbeConfig::builder(&target.host).tls(mode.unwrap_or_default()).build()?;
//! let report = probe(&target, &config).await?;
//! if report.verdict != Verdict::Up {
//!     eprintln!("{}", report.summary());
//! }
//! # Ok(()) }
//! ```
//!
//! Round trips — submit a tokenised message, watch it arrive over IMAP, delete it — are [`roundtrip`].
//!
//! Dropping the future closes the socket: a probe never outlives its caller's interest.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use smtp_probe_proto::connect::{self, ConnectFailure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

pub use smtp_probe_proto::{
    self as proto, AddressFamily, Cause, ProbeConfig, Report, RunError as Error, Target, TlsConfig, TlsMode, Verdict,
};
pub use smtp_probe_proto::{RoundTripConfig, RoundTripReport, Secret};
use smtp_probe_proto::{Session, SessionOutput};

mod roundtrip;
pub use roundtrip::roundtrip;

#[cfg(feature = "mx")]
mod mx;
#[cfg(feature = "mx")]
pub use mx::{hickory_resolver, probe_mx, probe_mx_with_resolver, single_server_resolver, system_resolver};
#[cfg(feature = "mx")]
pub use smtp_probe_proto::mx::{MxHostReport, MxReport};

/// Bytes read from the socket at a time. SMTP replies are small; TLS records are reassembled by rustls.
const READ_CHUNK: usize = 4096;

/// Probes `target` once and returns the report. With [`AddressFamily::Both`], each family is probed and the worst
/// report is returned (the others are noted in its findings); use [`probe_each`] for all of them.
///
/// `Err` only when the probe cannot run at all (an invalid target); everything the network or the server does is
/// in the report.
pub async fn probe(target: &Target, config: &ProbeConfig) -> Result<Report, Error> {
    let reports = probe_each(target, config).await?;
    Ok(connect::worst(reports).expect("probe_each returns at least one report"))
}

/// Probes `target`, one report per address group of the address-family policy (one, or one per family for
/// [`AddressFamily::Both`]).
pub async fn probe_each(target: &Target, config: &ProbeConfig) -> Result<Vec<Report>, Error> {
    connect::check_target(target)?;
    let start = Instant::now();
    let deadline = connect::overall_deadline(config, start);
    let addrs = match connect::literal_address(target) {
        Some(addr) => vec![addr],
        None => match timeout_at(deadline.into(), tokio::net::lookup_host((target.host.as_str(), target.port))).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => return Ok(vec![connect::dns_failed(config, target, &e.to_string())]),
            Err(_) => return Ok(vec![connect::dns_failed(config, target, "no answer before the deadline")]),
        },
    };
    Ok(probe_addrs(target, &addrs, config, deadline).await)
}

/// Probes resolved addresses of `target`, one report per address group of the policy.
async fn probe_addrs(target: &Target, addrs: &[SocketAddr], config: &ProbeConfig, deadline: Instant) -> Vec<Report> {
    let groups = connect::plan(addrs, config.address_family());
    if groups.is_empty() {
        return vec![connect::no_address(config, target)];
    }
    let mut reports = Vec::with_capacity(groups.len());
    for group in groups {
        reports.push(probe_group(&group, config, deadline).await);
    }
    reports
}

async fn probe_group(group: &connect::AddressGroup, config: &ProbeConfig, deadline: Instant) -> Report {
    let started = Instant::now();
    let mut failures = Vec::new();
    for &addr in &group.addrs {
        let attempt = Instant::now();
        let budget = connect::connect_budget(config, attempt, deadline);
        match tokio::time::timeout(budget, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let connected = Instant::now();
                let mut report = drive(stream, config, connected, deadline).await;
                connect::finish_report(&mut report, addr, connected - attempt, group.family);
                return report;
            }
            Ok(Err(e)) => failures.push((addr, ConnectFailure::Io(e))),
            Err(_) => failures.push((addr, ConnectFailure::TimedOut(budget))),
        }
    }
    connect::connect_failed(config, &failures, started.elapsed())
}

/// Runs a session over an already connected stream (for callers who connect themselves, e.g. through a proxy).
pub async fn probe_stream(stream: TcpStream, config: &ProbeConfig) -> Report {
    let now = Instant::now();
    let peer: Option<SocketAddr> = stream.peer_addr().ok();
    let mut report = drive(stream, config, now, connect::overall_deadline(config, now)).await;
    report.address = peer.map(|a| a.to_string());
    report
}

/// The pump: session output to the socket, socket input and deadlines to the session.
async fn drive(mut stream: TcpStream, config: &ProbeConfig, connected: Instant, deadline: Instant) -> Report {
    let _ = stream.set_nodelay(true);
    let mut session = Session::with_deadline(config.clone(), connected, SystemTime::now(), deadline);
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
            SessionOutput::Done(report) => {
                let _ = stream.shutdown().await;
                drop(session); // the last holder of the report: no copy
                return std::sync::Arc::unwrap_or_clone(report);
            }
            _ => unreachable!("SessionOutput has no other variants yet"),
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
