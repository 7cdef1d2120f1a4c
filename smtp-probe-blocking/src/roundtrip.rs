//! Round trips from blocking code: log in to the mailbox, submit a tokenised message with [`probe`](crate::probe),
//! then let the core's [`MailboxSession`] search until the message shows up or the deadline passes. This module
//! only connects, pumps bytes and sleeps; every decision is in `smtp_probe_proto`.

use std::io;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_proto::connect;
use smtp_probe_proto::imap::{MailboxConfig, MailboxReport, MailboxSession, MailboxSessionOutput};
use smtp_probe_proto::roundtrip::RoundTripTimings;
use smtp_probe_proto::{Cause, RoundTripConfig, RoundTripReport, Target, Token};

use crate::{Error, READ_CHUNK, read_before, write_before};

/// Runs one round trip on the calling thread: the mailbox is opened first (so a wrong IMAP password never leaves a
/// message behind), then the message is submitted, then the mailbox is searched until the message shows up or the
/// deadline passes, and the message is deleted. One deadline bounds the whole run (plus the configured cleanup
/// time); name resolution goes through the OS resolver, which has no timeout (see the crate docs).
///
/// `Err` only when the run cannot start (an invalid target); everything the servers do is in the report.
///
/// ```no_run
/// use smtp_probe_blocking::proto::imap::MailboxConfig;
/// use smtp_probe_blocking::{ProbeConfig, RoundTripConfig, Secret, Target, TlsMode};
///
/// let submit = ProbeConfig::builder("smtp.example.org")
///     .tls(TlsMode::Implicit)
///     .auth("monitor@example.org", Secret::new("submit-secret"))
///     .mail_from("monitor@example.org")
///     .rcpt_to("roundtrip@example.net");
/// let mailbox = MailboxConfig::builder("imap.example.net", "roundtrip@example.net", Secret::new("imap-secret")).build()?;
/// let config = RoundTripConfig::builder(Target::new("smtp.example.org", 465), submit, Target::new("imap.example.net", 993), mailbox)
///     .build()?;
/// let report = smtp_probe_blocking::roundtrip(&config)?;
/// println!("{}", report.summary());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn roundtrip(config: &RoundTripConfig) -> Result<RoundTripReport, Error> {
    let start = Instant::now();
    let wall = SystemTime::now();
    let since_epoch = wall.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let token = Token::generate(since_epoch, entropy());
    let search_deadline = start + config.deadline();
    let overall_deadline = search_deadline + config.cleanup_time();
    let mut timings = RoundTripTimings::default();

    let (mut stream, connect_time) = match connect_mailbox(config.mailbox_target(), config.mailbox(), search_deadline) {
        Ok(connected) => connected,
        Err(message) => {
            let target = config.mailbox().target();
            let report = MailboxReport::without_session(target, Cause::MailboxUnavailable, message);
            timings.total = start.elapsed();
            return Ok(RoundTripReport::assemble(config, token, None, report, timings));
        }
    };
    let address = stream.peer_addr().ok().map(|a| a.to_string());
    let connected = Instant::now();
    let mut session = MailboxSession::new(
        config.mailbox().clone(),
        token.clone(),
        connected,
        wall,
        search_deadline,
        overall_deadline,
    );

    let mut submit = None;
    if pump(&mut stream, &mut session).is_none() {
        timings.mailbox_ready = Some(start.elapsed());
        let submit_started = start.elapsed();
        let date = smtp_probe_proto::date::rfc5322(since_epoch.as_secs() as i64);
        let left = search_deadline.saturating_duration_since(Instant::now());
        let submit_config = config.submit_config(&token, &date, left)?;
        let before = Instant::now();
        let report = crate::probe(config.submit_target(), &submit_config)?;
        let elapsed = before.elapsed();
        timings.submit_started = Some(submit_started);
        timings.submit = Some(elapsed);
        timings.accepted = RoundTripTimings::accepted_from(submit_started, elapsed, &report);
        match timings.accepted {
            Some(accepted) => session.handle_accepted(Instant::now(), start + accepted),
            None => session.handle_abandon(Instant::now()),
        }
        submit = Some(report);
        // Ready comes once: this run ends in Done.
        let _ = pump(&mut stream, &mut session);
    }
    let _ = stream.shutdown(Shutdown::Write);
    let report = match session.poll_output(Instant::now()) {
        MailboxSessionOutput::Done(report) => report,
        _ => unreachable!("the pump returns only once the session is done"),
    };
    drop(session);
    let mut mailbox = Arc::unwrap_or_clone(report);
    mailbox.address = address;
    mailbox.connect = Some(connect_time);
    timings.total = start.elapsed();
    Ok(RoundTripReport::assemble(config, token, submit, mailbox, timings))
}

/// Resolves and connects to the IMAP server; a failure is described for the mailbox report.
fn connect_mailbox(
    target: &Target,
    config: &MailboxConfig,
    deadline: Instant,
) -> Result<(TcpStream, Duration), String> {
    let addrs: Vec<std::net::SocketAddr> = match connect::literal_address(target) {
        Some(addr) => vec![addr],
        None => match (target.host.as_str(), target.port).to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(e) => return Err(format!("{}: {e}", target.host)),
        },
    };
    let mut tried = Vec::new();
    for addr in addrs {
        let attempt = Instant::now();
        let budget = config.timeouts().connect.min(deadline.saturating_duration_since(attempt));
        if budget.is_zero() {
            tried.push(format!("{addr}: no time left"));
            break;
        }
        match TcpStream::connect_timeout(&addr, budget) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, attempt.elapsed()));
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                tried.push(format!("{addr}: no answer within {} ms", budget.as_millis()));
            }
            Err(e) => tried.push(format!("{addr}: {e}")),
        }
    }
    Err(format!("could not connect to the IMAP server ({})", tried.join("; ")))
}

/// Drives the session until it is ready for the submission (`None`) or done (`Some`).
fn pump(stream: &mut TcpStream, session: &mut MailboxSession) -> Option<()> {
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match session.poll_output(Instant::now()) {
            MailboxSessionOutput::Transmit(bytes) => {
                let until = session.next_deadline().unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
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
            MailboxSessionOutput::Ready => return None,
            MailboxSessionOutput::Done(_) => return Some(()),
            _ => unreachable!("MailboxSessionOutput has no other variants yet"),
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
