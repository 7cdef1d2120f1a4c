//! Probe SMTP servers from blocking code (std::net, no async runtime): a thin byte pump around
//! [`smtp_probe_proto::Session`], which does all SMTP and TLS work in memory.
//!
//! ```
//! use smtp_probe_blocking::{probe, ProbeConfig, Target, TlsMode, Verdict};
//!
//! let server = smtp_probe_testserver::Responder::new().start()?; // a loopback SMTP server
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", server.port())?).tls(TlsMode::None).build()?;
//! let report = probe(&config);
//! assert_eq!(report.verdict, Verdict::Up);
//! assert_eq!(report.capabilities.as_ref().unwrap().size_limit, Some(10_240_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Usage
//!
//! - [`probe`]: resolve, connect, probe, one [`Report`]. Everything the network and the server do is in the
//!   report; only setting up can fail ([`Error`]: a target, TLS settings or a configuration refused).
//! - [`probe_each`]: one report per address group of the [`AddressFamily`] policy (one per family for
//!   [`AddressFamily::Both`]).
//! - [`probe_stream`]: probe over a [`TcpStream`] you connected yourself (through a proxy, from a pool).
//! - [`roundtrip`]: submit a tokenised message, watch it arrive over IMAP, delete it: a [`RoundTripReport`].
//!
//! ```no_run
//! use smtp_probe_blocking::{probe, Error, ProbeConfig, Verdict};
//!
//! let config = ProbeConfig::builder("submission://mail.example.com".parse()?) // STARTTLS required
//!     .ehlo_name("monitor.example.com")
//!     .certificate_days(Some(21), Some(7))
//!     .build()?;
//! let report = probe(&config);
//! if report.verdict != Verdict::Up {
//!     eprintln!("{}", report.summary());
//! }
//! # Ok::<(), Error>(())
//! ```
//!
//! The calling thread blocks for the whole probe. Deadlines: the overall deadline starts before DNS;
//! each connect attempt gets [`connect_budget`](smtp_probe_proto::connect::connect_budget); every read and
//! write gets a socket timeout recomputed from the session's next deadline just before the call, so a
//! silent or stalled server cannot hold the probe past its deadline.
//!
//! **DNS has no timeout.** Names are resolved with [`ToSocketAddrs`], i.e. the OS resolver
//! (`getaddrinfo`), which offers no way to give up early: a resolver that hangs holds the probe for as
//! long as the OS lets it (on glibc, `timeout`/`attempts` in `resolv.conf`). A lookup that returns after the
//! overall deadline is reported as `dns_failure`. Probe an IP literal (with
//! [`tls_name`](smtp_probe_proto::ProbeConfigBuilder::tls_name) for the certificate) or resolve yourself and
//! use [`probe_stream`] when that matters.
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

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_proto::connect::{self, ConnectFailure, ProbeStart};
use smtp_probe_proto::{Session, SessionOutput};

pub use smtp_probe_proto::imap::MailboxConfig;
pub use smtp_probe_proto::{
    self as proto, AddressFamily, Cause, ConfigError, EnvelopePart, Error, HostnameError, ProbeConfig, Report, Target,
    TargetError, TlsConfig, TlsConfigError, TlsMode, Verdict,
};
pub use smtp_probe_proto::{RoundTripConfig, RoundTripReport, Secret};

mod roundtrip;
pub use roundtrip::roundtrip;

/// Bytes read from the socket at a time. SMTP replies are small; TLS records are reassembled by rustls.
const READ_CHUNK: usize = 4096;

/// Probes the configuration's target once and returns the report. With [`AddressFamily::Both`], each family is
/// probed and the worst report is returned (the others are noted in its findings); use [`probe_each`] for all of
/// them.
///
/// Everything the network or the server does is in the report: a name that does not resolve, a refused
/// connection, a timeout are verdicts, not errors.
pub fn probe(config: &ProbeConfig) -> Report {
    connect::worst(probe_each(config)).expect("probe_each returns at least one report")
}

/// Probes the configuration's target, one report per address group of the address-family policy (one, or one per
/// family for [`AddressFamily::Both`]). Never empty.
pub fn probe_each(config: &ProbeConfig) -> Vec<Report> {
    let target = config.target();
    let start = ProbeStart::new(config, Instant::now(), SystemTime::now());
    let Some(addr) = connect::literal_address(target) else {
        // The OS resolver cannot be given a timeout (see the crate docs).
        let resolved = (target.host(), target.port()).to_socket_addrs();
        let resolve = start.at.elapsed();
        let mut reports = match resolved {
            Ok(_) if Instant::now() >= start.deadline => {
                vec![connect::dns_failed(config, start.wall, "no answer before the deadline")]
            }
            Ok(addrs) => probe_addrs(&addrs.collect::<Vec<_>>(), config, start),
            Err(e) => vec![connect::dns_failed(config, start.wall, &e.to_string())],
        };
        connect::record_resolve(&mut reports, resolve);
        return reports;
    };
    probe_addrs(&[addr], config, start)
}

/// Probes resolved addresses of the configuration's target, one report per address group of the policy.
fn probe_addrs(addrs: &[SocketAddr], config: &ProbeConfig, start: ProbeStart) -> Vec<Report> {
    let groups = connect::plan(addrs, config.address_family());
    if groups.is_empty() {
        return vec![connect::no_address(config, start.wall)];
    }
    groups.iter().map(|group| probe_group(group, config, start)).collect()
}

fn probe_group(group: &connect::AddressGroup, config: &ProbeConfig, start: ProbeStart) -> Report {
    let started = Instant::now();
    let mut failures = Vec::new();
    for &addr in &group.addrs {
        let attempt = Instant::now();
        let budget = connect::connect_budget(config, attempt, start.deadline);
        // `connect_timeout` refuses a zero timeout: no time left is a timed-out attempt.
        let connected = if budget.is_zero() {
            Err(ConnectFailure::TimedOut(budget))
        } else {
            TcpStream::connect_timeout(&addr, budget).map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ConnectFailure::TimedOut(budget),
                _ => ConnectFailure::Io(e),
            })
        };
        match connected {
            Ok(stream) => {
                let connected = Instant::now();
                let mut report = drive(stream, config, connected, start);
                connect::finish_report(&mut report, addr, connected - attempt, group.family);
                return report;
            }
            Err(failure) => failures.push((addr, failure)),
        }
    }
    connect::connect_failed(config, start.wall, &failures, started.elapsed())
}

/// Runs a session over an already connected stream (for callers who connect themselves, e.g. through a proxy).
/// The overall deadline starts now.
pub fn probe_stream(stream: TcpStream, config: &ProbeConfig) -> Report {
    let now = Instant::now();
    let peer = stream.peer_addr().ok();
    let mut report = drive(stream, config, now, ProbeStart::new(config, now, SystemTime::now()));
    report.address = peer.map(|a| a.to_string());
    report
}

/// The pump: session output to the socket, socket input and deadlines to the session.
fn drive(mut stream: TcpStream, config: &ProbeConfig, connected: Instant, start: ProbeStart) -> Report {
    let _ = stream.set_nodelay(true);
    quick_ack(&stream);
    let deadline = start.deadline;
    let mut session = Session::with_deadline(config.clone(), connected, start.wall, deadline);
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match session.poll_output(Instant::now()) {
            SessionOutput::Transmit(bytes) => {
                // A peer that stops reading cannot hold the probe past its deadline.
                let until = session.next_deadline().unwrap_or(deadline);
                match write_before(&mut stream, &bytes, until) {
                    Ok(true) => {}
                    Ok(false) => session.handle_timeout(Instant::now()),
                    Err(_) => session.handle_eof(Instant::now()),
                }
            }
            SessionOutput::Timeout(until) => match read_before(&mut stream, &mut buf, until) {
                Ok(Some(0)) | Err(_) => session.handle_eof(Instant::now()),
                Ok(Some(n)) => session.handle_input(Instant::now(), &buf[..n]),
                Ok(None) => session.handle_timeout(Instant::now()),
            },
            SessionOutput::Done => {
                let _ = stream.shutdown(Shutdown::Write);
                return session.into_report();
            }
        }
    }
}

/// Waits shorter than this are made in one go.
const LAST_WAIT: Duration = Duration::from_millis(50);

/// The socket timeout for the next wait towards `until`; `None` once it has passed. Never zero: std refuses a
/// zero socket timeout, and `None` as a socket timeout would mean "block forever".
///
/// Socket timeouts run on the kernel's timer wheel, which rounds a long timeout up by as much as an eighth
/// (up to 32 ms late at 1.5 s with HZ=250). So a long wait is made 7/8 at a time, which can never pass the
/// deadline, and the last few milliseconds in one go, on the wheel's finest level: the probe ends within a
/// jiffy or so of its deadline, for a few more wakeups.
fn next_wait(until: Instant) -> Option<Duration> {
    let left = until.saturating_duration_since(Instant::now());
    match left {
        Duration::ZERO => None,
        left if left <= LAST_WAIT => Some(left),
        left => Some(left * 7 / 8),
    }
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// One read that gives up at `until`: `Ok(None)` when it passed first. A socket timeout that fires before
/// `until` (see [`next_wait`]) waits again for what is left.
fn read_before(stream: &mut TcpStream, buf: &mut [u8], until: Instant) -> io::Result<Option<usize>> {
    while let Some(wait) = next_wait(until) {
        stream.set_read_timeout(Some(wait))?;
        match stream.read(buf) {
            Ok(n) => {
                quick_ack(stream);
                return Ok(Some(n));
            }
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Writes all of `bytes` unless `until` passes first (`Ok(false)`).
fn write_before(stream: &mut TcpStream, mut bytes: &[u8], until: Instant) -> io::Result<bool> {
    while !bytes.is_empty() {
        let Some(wait) = next_wait(until) else { return Ok(false) };
        stream.set_write_timeout(Some(wait))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Acknowledge received segments at once. Servers that write a reply in two pieces with Nagle's algorithm on
/// (OpenSSL's TLS 1.3 session tickets, then the EHLO reply) otherwise wait for our delayed ACK, and the report
/// would show ~40 ms that are not the server's. Linux re-enters delayed ACKs by itself, so this is set per read.
#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_: &TcpStream) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn an_elapsed_deadline_never_blocks() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(read_before(&mut stream, &mut [0; 8], past).unwrap(), None);
        assert!(!write_before(&mut stream, b"x", past).unwrap());
        assert!(write_before(&mut stream, b"", past).unwrap());
    }

    #[test]
    fn a_silent_peer_times_out_on_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let until = Instant::now() + Duration::from_millis(50);
        assert_eq!(read_before(&mut stream, &mut [0; 8], until).unwrap(), None);
        assert!(Instant::now() >= until);
    }
}
