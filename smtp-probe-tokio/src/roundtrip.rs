//! Round trips from tokio: log in to the mailbox, submit a tokenised message with [`probe`](crate::probe), then
//! let the core's mailbox conversation search until the message shows up or the deadline passes. The mailbox
//! connection steps through the core's planner ([`Dialer::mailbox`]) as a probe's does, with the same resolver, socket
//! options and ACK policy. This module only resolves, connects, pumps bytes and sleeps; every decision is in
//! `smtp_probe_proto`.

use std::time::{Instant, SystemTime};

use smtp_probe_proto::connect::{ConnectFailure, Dial, Dialer, MailboxConnection, MailboxConversation, MailboxIo};
use smtp_probe_proto::imap::MailboxReport;
use smtp_probe_proto::roundtrip::{RoundTripStart, RoundTripTimings};
use smtp_probe_proto::{RoundTripConfig, RoundTripReport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use crate::{READ_CHUNK, Resolve};

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
    let (stream, connection) = match connect_mailbox(config, &run).await {
        Ok(connected) => connected,
        Err(report) => {
            timings.total = run.at.elapsed();
            return RoundTripReport::assemble(config, &run, None, *report, timings);
        }
    };
    let mut pump = Pump::new(stream, MailboxConversation::over(connection, &run));

    let mut submit = None;
    if pump.run().await == Pumped::Ready {
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
            Some(accepted) => pump.conversation.handle_accepted(Instant::now(), run.at + accepted),
            None => pump.conversation.handle_abandon(Instant::now()),
        }
        submit = Some(report);
        // Ready comes once: this run ends in Close.
        pump.run().await;
    }
    // shutdown(2) of the write side: it does not wait for the peer.
    let _ = pump.stream.shutdown().await;
    let mailbox = pump.conversation.into_report();
    timings.total = run.at.elapsed();
    RoundTripReport::assemble(config, &run, submit, mailbox, timings)
}

/// Steps the mailbox's planner until connected; when no connection is made, the mailbox report says why (boxed:
/// it is large).
async fn connect_mailbox(
    config: &RoundTripConfig,
    run: &RoundTripStart,
) -> Result<(TcpStream, MailboxConnection), Box<MailboxReport>> {
    let mut dialer = Dialer::mailbox(config.mailbox(), run);
    loop {
        match dialer.poll(Instant::now()) {
            Dial::Resolve { deadline } => {
                match crate::dns::System.resolve(dialer.target(), dialer.address_family(), deadline).await {
                    Ok(addrs) => dialer.handle_resolved(Instant::now(), addrs),
                    Err(failure) => dialer.handle_resolve_failed(Instant::now(), failure),
                }
            }
            Dial::Connect { addr, deadline } => match timeout_at(deadline.into(), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok((stream, dialer.handle_connected(Instant::now())));
                }
                Ok(Err(e)) => dialer.handle_connect_failed(Instant::now(), ConnectFailure::Io(e)),
                Err(_) => dialer.handle_connect_failed(Instant::now(), ConnectFailure::TimedOut),
            },
            Dial::Done => return Err(Box::new(dialer.into_report())),
        }
    }
}

/// Where a pump stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pumped {
    /// The mailbox is ready: submit now.
    Ready,
    /// The check is over.
    Done,
}

/// The byte pump between one socket and the mailbox conversation (see [`MailboxIo`]).
struct Pump {
    stream: TcpStream,
    conversation: MailboxConversation,
    buf: Box<[u8; READ_CHUNK]>,
}

impl Pump {
    fn new(stream: TcpStream, conversation: MailboxConversation) -> Pump {
        Pump { stream, conversation, buf: Box::new([0; READ_CHUNK]) }
    }

    /// Drives the conversation until it is ready for the submission, or done.
    async fn run(&mut self) -> Pumped {
        let conversation = &mut self.conversation;
        loop {
            match conversation.poll(Instant::now()) {
                MailboxIo::Write { bytes, until } => {
                    match timeout_at(until.into(), self.stream.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => conversation.handle_eof(Instant::now()),
                        Err(_) => conversation.handle_timeout(Instant::now()),
                    }
                }
                MailboxIo::Read { until, quick_ack } => {
                    if quick_ack {
                        crate::quick_ack(&self.stream);
                    }
                    match timeout_at(until.into(), self.stream.read(&mut self.buf[..])).await {
                        Ok(Ok(0) | Err(_)) => conversation.handle_eof(Instant::now()),
                        Ok(Ok(n)) => conversation.handle_input(Instant::now(), &self.buf[..n]),
                        Err(_) => conversation.handle_timeout(Instant::now()),
                    }
                }
                MailboxIo::Ready => return Pumped::Ready,
                MailboxIo::Close => return Pumped::Done,
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
