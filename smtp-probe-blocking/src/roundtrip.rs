//! Round trips from blocking code: log in to the mailbox, submit a tokenised message with [`probe`](crate::probe),
//! then let the core's mailbox conversation search until the message shows up or the deadline passes. The mailbox
//! connection steps through the core's planner ([`Dialer::mailbox`]) as a probe's does, with the same bounded
//! resolver, socket options and ACK policy. This module only resolves, connects, pumps bytes and sleeps; every
//! decision is in `smtp_probe_proto`.

use std::net::{Shutdown, TcpStream};
use std::time::{Instant, SystemTime};

use smtp_probe_proto::connect::{Dial, Dialer, MailboxConnection, MailboxConversation, MailboxIo};
use smtp_probe_proto::imap::MailboxReport;
use smtp_probe_proto::roundtrip::{RoundTripStart, RoundTripTimings};
use smtp_probe_proto::{RoundTripConfig, RoundTripReport};

use crate::READ_CHUNK;
use crate::socket::{connect, quick_ack, read_before, write_before};

/// Runs one round trip on the calling thread and returns its report: the mailbox is opened first (so a wrong IMAP
/// password never leaves a message behind), then the message is submitted, then the mailbox is searched until the
/// message shows up or the deadline passes, and the message is deleted. One deadline bounds the whole run (plus
/// the configured cleanup time), the IMAP server's name lookup included (see the crate docs).
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
    let (mut stream, connection) = match connect_mailbox(config, &run) {
        Ok(connected) => connected,
        Err(report) => {
            timings.total = run.at.elapsed();
            return RoundTripReport::assemble(config, &run, None, *report, timings);
        }
    };
    let mut conversation = MailboxConversation::over(connection, &run);

    let mut submit = None;
    if pump(&mut stream, &mut conversation) == Pumped::Ready {
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
            Some(accepted) => conversation.handle_accepted(Instant::now(), run.at + accepted),
            None => conversation.handle_abandon(Instant::now()),
        }
        submit = Some(report);
        // Ready comes once: this run ends in Close.
        pump(&mut stream, &mut conversation);
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mailbox = conversation.into_report();
    timings.total = run.at.elapsed();
    RoundTripReport::assemble(config, &run, submit, mailbox, timings)
}

/// Steps the mailbox's planner until connected; when no connection is made, the mailbox report says why (boxed:
/// it is large).
fn connect_mailbox(
    config: &RoundTripConfig,
    run: &RoundTripStart,
) -> Result<(TcpStream, MailboxConnection), Box<MailboxReport>> {
    let mut dialer = Dialer::mailbox(config.mailbox(), run);
    loop {
        match dialer.poll(Instant::now()) {
            Dial::Resolve { deadline } => match crate::dns::resolve(dialer.target(), deadline) {
                Ok(addrs) => dialer.handle_resolved(Instant::now(), addrs),
                Err(failure) => dialer.handle_resolve_failed(Instant::now(), failure),
            },
            Dial::Connect { addr, deadline } => match connect(addr, deadline) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok((stream, dialer.handle_connected(Instant::now())));
                }
                Err(failure) => dialer.handle_connect_failed(Instant::now(), failure),
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

/// The pump: what the mailbox conversation asks for, done on the socket (see [`MailboxIo`]), until it is ready for
/// the submission, or done.
fn pump(stream: &mut TcpStream, conversation: &mut MailboxConversation) -> Pumped {
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match conversation.poll(Instant::now()) {
            MailboxIo::Write { bytes, until } => match write_before(stream, &bytes, until) {
                Ok(true) => {}
                Ok(false) => conversation.handle_timeout(Instant::now()),
                Err(_) => conversation.handle_eof(Instant::now()),
            },
            MailboxIo::Read { until, quick_ack: ack } => {
                if ack {
                    quick_ack(stream);
                }
                match read_before(stream, &mut buf, until) {
                    Ok(Some(0)) | Err(_) => conversation.handle_eof(Instant::now()),
                    Ok(Some(n)) => conversation.handle_input(Instant::now(), &buf[..n]),
                    Ok(None) => conversation.handle_timeout(Instant::now()),
                }
            }
            MailboxIo::Ready => return Pumped::Ready,
            MailboxIo::Close => return Pumped::Done,
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
