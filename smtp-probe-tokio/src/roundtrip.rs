//! Round trips from tokio: log in to the mailbox, submit a tokenised message with [`probe`](crate::probe), then
//! let the core's [`MailboxSession`] search until the message shows up or the deadline passes. This module only
//! connects, pumps bytes and sleeps; every decision is in `smtp_probe_proto`.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_proto::connect::ConnectFailure;
use smtp_probe_proto::imap::{MailboxConfig, MailboxReport, MailboxSession, MailboxSessionOutput};
use smtp_probe_proto::roundtrip::{RoundTripStart, RoundTripTimings};
use smtp_probe_proto::{RoundTripConfig, RoundTripReport, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use crate::READ_CHUNK;

/// Runs one round trip and returns its report: the mailbox is opened first (so a wrong IMAP password never leaves a
/// message behind), then the message is submitted, then the mailbox is searched until the message shows up or the
/// deadline passes, and the message is deleted. One deadline bounds the whole run (plus the configured cleanup
/// time).
///
/// Nothing here can fail once the configuration is built: an unreachable server, a refused login, a message that
/// never arrives are verdicts in the report.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), smtp_probe_tokio::Error> {
/// use smtp_probe_tokio::proto::imap::MailboxConfig;
/// use smtp_probe_tokio::{ProbeConfig, RoundTripConfig, Secret, Target};
///
/// let submit = ProbeConfig::builder("submission://smtp.example.org".parse()?) // port 587, STARTTLS required
///     .auth("monitor@example.org", Secret::new("submit-secret"))
///     .mail_from("monitor@example.org")
///     .rcpt_to("roundtrip@example.org")
///     .build()?;
/// let imap = Target::new("imap.example.org", 993)?; // IMAPS
/// let mailbox = MailboxConfig::builder(imap, "roundtrip@example.org", Secret::new("imap-secret"))
///     .junk_folder("Junk")
///     .build()?;
/// let config = RoundTripConfig::builder(submit, mailbox)
///     .delivery_time(Some(std::time::Duration::from_secs(30)), None)
///     .build()?;
/// let report = smtp_probe_tokio::roundtrip(&config).await;
/// println!("{}", report.summary()); // e.g. "up: delivered to INBOX in 212 ms (queued as 4Xyz)"
/// # Ok(()) }
/// ```
pub async fn roundtrip(config: &RoundTripConfig) -> RoundTripReport {
    let run = RoundTripStart::new(config, Instant::now(), SystemTime::now(), entropy());
    let mut timings = RoundTripTimings::default();
    let (stream, connect_time) = match connect_mailbox(config.mailbox(), run.search_deadline).await {
        Ok(connected) => connected,
        Err(report) => {
            timings.total = run.at.elapsed();
            return RoundTripReport::assemble(config, &run, None, *report, timings);
        }
    };
    let address = stream.peer_addr().ok().map(|a| a.to_string());
    let mut pump = Pump::new(stream, run.deadline);
    let mut session = MailboxSession::new(
        config.mailbox().clone(),
        run.token.clone(),
        Instant::now(),
        run.wall,
        run.search_deadline,
        run.deadline,
    );

    let mut submit = None;
    if pump.run(&mut session).await == Pumped::Ready {
        let submit_started = run.at.elapsed();
        timings.mailbox_ready = Some(submit_started);
        let submit_config = config.submit_config(&run, Instant::now());
        let before = Instant::now();
        let report = crate::probe(&submit_config).await;
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
        pump.run(&mut session).await;
    }
    let _ = pump.stream.shutdown().await;
    let mut mailbox = session.into_report();
    mailbox.address = address;
    mailbox.connect = Some(connect_time);
    timings.total = run.at.elapsed();
    RoundTripReport::assemble(config, &run, submit, mailbox, timings)
}

/// Resolves and connects to the IMAP server by `deadline`; a failure is the mailbox report (boxed: it is large).
async fn connect_mailbox(
    config: &MailboxConfig,
    deadline: Instant,
) -> Result<(TcpStream, Duration), Box<MailboxReport>> {
    let target = config.target();
    let addrs: Vec<SocketAddr> = match connect::literal_address(target) {
        Some(addr) => vec![addr],
        None => match timeout_at(deadline.into(), tokio::net::lookup_host((target.host(), target.port()))).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => return Err(Box::new(MailboxReport::dns_failed(config, &e.to_string()))),
            Err(_) => return Err(Box::new(MailboxReport::dns_failed(config, "no answer before the deadline"))),
        },
    };
    let started = Instant::now();
    let mut failures = Vec::new();
    for addr in addrs {
        let attempt = Instant::now();
        let budget = config.timeouts().connect.min(deadline.saturating_duration_since(attempt));
        match tokio::time::timeout(budget, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, attempt.elapsed()));
            }
            Ok(Err(e)) => failures.push((addr, ConnectFailure::Io(e))),
            Err(_) => failures.push((addr, ConnectFailure::TimedOut(budget))),
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

/// The byte pump between one socket and one mailbox session.
struct Pump {
    stream: TcpStream,
    /// The run's deadline, for a write when the session names none.
    deadline: Instant,
    buf: Box<[u8; READ_CHUNK]>,
}

impl Pump {
    fn new(stream: TcpStream, deadline: Instant) -> Pump {
        Pump { stream, deadline, buf: Box::new([0; READ_CHUNK]) }
    }

    /// Drives the session until it is ready for the submission, or done.
    async fn run(&mut self, session: &mut MailboxSession) -> Pumped {
        loop {
            match session.poll_output(Instant::now()) {
                MailboxSessionOutput::Transmit(bytes) => {
                    // A peer that stops reading cannot hold the run past its deadline.
                    let until = session.next_deadline().unwrap_or(self.deadline);
                    match timeout_at(until.into(), self.stream.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => session.handle_eof(Instant::now()),
                        Err(_) => session.handle_timeout(Instant::now()),
                    }
                }
                MailboxSessionOutput::Timeout(until) => {
                    match timeout_at(until.into(), self.stream.read(&mut self.buf[..])).await {
                        Ok(Ok(0)) | Ok(Err(_)) => session.handle_eof(Instant::now()),
                        Ok(Ok(n)) => {
                            // As for SMTP: no delayed ACK for a reply the server writes in two pieces.
                            crate::quick_ack(&self.stream);
                            session.handle_input(Instant::now(), &self.buf[..n]);
                        }
                        Err(_) => session.handle_timeout(Instant::now()),
                    }
                }
                MailboxSessionOutput::Ready => return Pumped::Ready,
                MailboxSessionOutput::Done => return Pumped::Done,
            }
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
