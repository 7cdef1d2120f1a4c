//! Round trips from tokio: log in to the mailbox, submit a tokenised message with [`probe`](crate::probe), then
//! let the core's [`MailboxSession`] search until the message shows up or the deadline passes. This module only
//! connects, pumps bytes and sleeps; every decision is in `smtp_probe_proto`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_proto::connect::{self, ConnectFailure};
use smtp_probe_proto::imap::{MailboxConfig, MailboxReport, MailboxSession, MailboxSessionOutput};
use smtp_probe_proto::roundtrip::RoundTripTimings;
use smtp_probe_proto::{Cause, RoundTripConfig, RoundTripReport, Target, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use crate::{Error, READ_CHUNK};

/// Runs one round trip: the mailbox is opened first (so a wrong IMAP password never leaves a message behind),
/// then the message is submitted, then the mailbox is searched until the message shows up or the deadline passes,
/// and the message is deleted. One deadline bounds the whole run (plus the configured cleanup time).
///
/// `Err` only when the run cannot start (an invalid target); everything the servers do is in the report.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use smtp_probe_tokio::proto::imap::MailboxConfig;
/// use smtp_probe_tokio::{ProbeConfig, RoundTripConfig, Secret, Target, TlsMode, Verdict};
///
/// let submit = ProbeConfig::builder("smtp.example.org")
///     .tls(TlsMode::StartTlsRequired)
///     .auth("monitor@example.org", Secret::new("submit-secret"))
///     .mail_from("monitor@example.org")
///     .rcpt_to("roundtrip@example.org");
/// let mailbox = MailboxConfig::builder("imap.example.org", "roundtrip@example.org", Secret::new("imap-secret"))
///     .junk_folder("Junk")
///     .build()?;
/// let config = RoundTripConfig::builder(Target::new("smtp.example.org", 587), submit, Target::new("imap.example.org", 993), mailbox)
///     .delivery_time(Some(std::time::Duration::from_secs(30)), None)
///     .build()?;
/// let report = smtp_probe_tokio::roundtrip(&config).await?;
/// println!("{}", report.summary()); // e.g. "up: delivered to INBOX in 212 ms (queued as 4Xyz)"
/// # Ok(()) }
/// ```
pub async fn roundtrip(config: &RoundTripConfig) -> Result<RoundTripReport, Error> {
    let start = Instant::now();
    let wall = SystemTime::now();
    let since_epoch = wall.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let token = Token::generate(since_epoch, entropy());
    let search_deadline = start + config.deadline();
    let overall_deadline = search_deadline + config.cleanup_time();
    let mut timings = RoundTripTimings::default();

    let (stream, connect_time) = match connect_mailbox(config.mailbox_target(), config.mailbox(), search_deadline).await
    {
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
    let mut pump = Pump::new(stream);
    let mut session = MailboxSession::new(
        config.mailbox().clone(),
        token.clone(),
        connected,
        wall,
        search_deadline,
        overall_deadline,
    );

    let mut submit = None;
    if pump.run(&mut session).await.is_none() {
        timings.mailbox_ready = Some(start.elapsed());
        let submit_started = start.elapsed();
        let date = smtp_probe_proto::date::rfc5322(since_epoch.as_secs() as i64);
        let left = search_deadline.saturating_duration_since(Instant::now());
        let submit_config = config.submit_config(&token, &date, left)?;
        let before = Instant::now();
        let report = crate::probe(config.submit_target(), &submit_config).await?;
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
        let _ = pump.run(&mut session).await;
    }
    let _ = pump.stream.shutdown().await;
    drop(pump);
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
async fn connect_mailbox(
    target: &Target,
    config: &MailboxConfig,
    deadline: Instant,
) -> Result<(TcpStream, Duration), String> {
    let addrs: Vec<std::net::SocketAddr> = match connect::literal_address(target) {
        Some(addr) => vec![addr],
        None => match timeout_at(deadline.into(), tokio::net::lookup_host((target.host.as_str(), target.port))).await {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => return Err(format!("{}: {e}", target.host)),
            Err(_) => return Err(format!("{}: no DNS answer before the deadline", target.host)),
        },
    };
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
    let tried: Vec<String> = failures
        .iter()
        .map(|(addr, f)| match f {
            ConnectFailure::Io(e) => format!("{addr}: {e}"),
            ConnectFailure::TimedOut(d) => format!("{addr}: no answer within {} ms", d.as_millis()),
        })
        .collect();
    Err(format!("could not connect to the IMAP server ({})", tried.join("; ")))
}

/// The byte pump between one socket and one mailbox session.
struct Pump {
    stream: TcpStream,
    buf: Box<[u8; READ_CHUNK]>,
}

impl Pump {
    fn new(stream: TcpStream) -> Pump {
        Pump { stream, buf: Box::new([0; READ_CHUNK]) }
    }

    /// Drives the session until it is ready for the submission (`None`) or done (`Some`).
    async fn run(&mut self, session: &mut MailboxSession) -> Option<()> {
        loop {
            match session.poll_output(Instant::now()) {
                MailboxSessionOutput::Transmit(bytes) => {
                    let until = session.next_deadline().unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
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
                MailboxSessionOutput::Ready => return None,
                MailboxSessionOutput::Done(_) => return Some(()),
                _ => unreachable!("MailboxSessionOutput has no other variants yet"),
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
