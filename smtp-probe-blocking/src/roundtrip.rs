//! Round trips from blocking code: log in to the mailbox, submit a tokenised message with [`probe`](crate::probe),
//! then let the core's [`MailboxSession`] search until the message shows up or the deadline passes. This module
//! only connects, pumps bytes and sleeps; every decision is in `smtp_probe_proto`.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_proto::connect::{self, ConnectFailure};
use smtp_probe_proto::imap::{MailboxConfig, MailboxReport, MailboxSession, MailboxSessionOutput};
use smtp_probe_proto::roundtrip::{RoundTripStart, RoundTripTimings};
use smtp_probe_proto::{RoundTripConfig, RoundTripReport};

use crate::{READ_CHUNK, read_before, write_before};

/// Runs one round trip on the calling thread and returns its report: the mailbox is opened first (so a wrong IMAP
/// password never leaves a message behind), then the message is submitted, then the mailbox is searched until the
/// message shows up or the deadline passes, and the message is deleted. One deadline bounds the whole run (plus
/// the configured cleanup time); name resolution goes through the OS resolver, which has no timeout (see the crate
/// docs).
///
/// Nothing here can fail once the configuration is built: an unreachable server, a refused login, a message that
/// never arrives are verdicts in the report.
///
/// ```no_run
/// use smtp_probe_blocking::proto::imap::MailboxConfig;
/// use smtp_probe_blocking::{ProbeConfig, RoundTripConfig, Secret, Target};
///
/// let submit = ProbeConfig::builder("smtps://smtp.example.org".parse()?) // port 465, implicit TLS
///     .auth("monitor@example.org", Secret::new("submit-secret"))
///     .mail_from("monitor@example.org")
///     .rcpt_to("roundtrip@example.net")
///     .build()?;
/// let imap = Target::new("imap.example.net", 993)?;
/// let mailbox = MailboxConfig::builder(imap, "roundtrip@example.net", Secret::new("imap-secret")).build()?;
/// let config = RoundTripConfig::builder(submit, mailbox).build()?;
/// let report = smtp_probe_blocking::roundtrip(&config);
/// println!("{}", report.summary());
/// # Ok::<(), smtp_probe_blocking::Error>(())
/// ```
pub fn roundtrip(config: &RoundTripConfig) -> RoundTripReport {
    let run = RoundTripStart::new(config, Instant::now(), SystemTime::now(), entropy());
    let mut timings = RoundTripTimings::default();
    let (mut stream, connect_time) = match connect_mailbox(config.mailbox(), run.search_deadline) {
        Ok(connected) => connected,
        Err(report) => {
            timings.total = run.at.elapsed();
            return RoundTripReport::assemble(config, &run, None, *report, timings);
        }
    };
    let address = stream.peer_addr().ok().map(|a| a.to_string());
    let mut session = MailboxSession::new(
        config.mailbox().clone(),
        run.token.clone(),
        Instant::now(),
        run.wall,
        run.search_deadline,
        run.deadline,
    );

    let mut submit = None;
    if pump(&mut stream, &mut session, run.deadline) == Pumped::Ready {
        let submit_started = run.at.elapsed();
        timings.mailbox_ready = Some(submit_started);
        let submit_config = config.submit_config(&run, Instant::now());
        let before = Instant::now();
        let report = crate::probe(&submit_config);
        let elapsed = before.elapsed();
        timings.submit_started = Some(submit_started);
        timings.submit = Some(elapsed);
        timings.accepted = RoundTripTimings::accepted_from(submit_started, elapsed, &report);
        match timings.accepted {
            Some(accepted) => session.handle_accepted(Instant::now(), run.at + accepted),
            None => session.handle_abandon(Instant::now()),
        }
        submit = Some(report);
        // Ready comes once: this run ends in Done.
        pump(&mut stream, &mut session, run.deadline);
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut mailbox = session.into_report();
    mailbox.address = address;
    mailbox.connect = Some(connect_time);
    timings.total = run.at.elapsed();
    RoundTripReport::assemble(config, &run, submit, mailbox, timings)
}

/// Resolves and connects to the IMAP server by `deadline`; a failure is the mailbox report (boxed: it is large).
fn connect_mailbox(config: &MailboxConfig, deadline: Instant) -> Result<(TcpStream, Duration), Box<MailboxReport>> {
    let target = config.target();
    let addrs: Vec<SocketAddr> = match connect::literal_address(target) {
        Some(addr) => vec![addr],
        // The OS resolver cannot be given a timeout (see the crate docs).
        None => match (target.host(), target.port()).to_socket_addrs() {
            Ok(_) if Instant::now() >= deadline => {
                return Err(Box::new(MailboxReport::dns_failed(config, "no answer before the deadline")));
            }
            Ok(addrs) => addrs.collect(),
            Err(e) => return Err(Box::new(MailboxReport::dns_failed(config, &e.to_string()))),
        },
    };
    let started = Instant::now();
    let mut failures = Vec::new();
    for addr in addrs {
        let attempt = Instant::now();
        let budget = config.timeouts().connect.min(deadline.saturating_duration_since(attempt));
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
                let _ = stream.set_nodelay(true);
                return Ok((stream, attempt.elapsed()));
            }
            Err(failure) => failures.push((addr, failure)),
        }
    }
    Err(Box::new(MailboxReport::connect_failed(config, &failures, started.elapsed())))
}

/// Where a pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pumped {
    /// The mailbox is ready: submit now.
    Ready,
    /// The check is over.
    Done,
}

/// Drives the session until it is ready for the submission, or done. `deadline` bounds a write when the session
/// names no deadline of its own.
fn pump(stream: &mut TcpStream, session: &mut MailboxSession, deadline: Instant) -> Pumped {
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match session.poll_output(Instant::now()) {
            MailboxSessionOutput::Transmit(bytes) => {
                // A peer that stops reading cannot hold the run past its deadline.
                let until = session.next_deadline().unwrap_or(deadline);
                match write_before(stream, &bytes, until) {
                    Ok(true) => {}
                    Ok(false) => session.handle_timeout(Instant::now()),
                    Err(_) => session.handle_eof(Instant::now()),
                }
            }
            MailboxSessionOutput::Timeout(until) => match read_before(stream, &mut buf, until) {
                Ok(Some(0)) | Err(_) => session.handle_eof(Instant::now()),
                Ok(Some(n)) => session.handle_input(Instant::now(), &buf[..n]),
                Ok(None) => session.handle_timeout(Instant::now()),
            },
            MailboxSessionOutput::Ready => return Pumped::Ready,
            MailboxSessionOutput::Done => return Pumped::Done,
        }
    }
}

/// A random `u64` for the token, from the standard library's per-process random keys (no extra dependency).
fn entropy() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.write_u128(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}
