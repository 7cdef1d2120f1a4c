//! Probe SMTP servers from blocking code (std::net, no async runtime): a thin byte pump around the sans-IO core,
//! which does all SMTP and TLS work in memory and plans the connections ([`proto::connect`]).
//!
//! Probe a mail server, STARTTLS required, and say what is wrong:
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
//! The same against a few-line SMTP server on loopback, to try it without a mail server:
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use smtp_probe_blocking::{probe, ProbeConfig, Target, TlsMode, Verdict};
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let port = listener.local_addr()?.port();
//! std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut socket, _) = listener.accept()?;
//!     socket.write_all(b"220 mx.test ESMTP\r\n")?;
//!     for command in BufReader::new(socket.try_clone()?).lines() {
//!         let reply: &[u8] = match command?.starts_with("EHLO") {
//!             true => b"250-mx.test\r\n250 SIZE 10240000\r\n",
//!             false => b"221 2.0.0 Bye\r\n",
//!         };
//!         socket.write_all(reply)?;
//!     }
//!     Ok(())
//! });
//!
//! let config = ProbeConfig::builder(Target::new("127.0.0.1", port)?).tls(TlsMode::None).build()?;
//! let report = probe(&config);
//! assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
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
//! The calling thread blocks for the whole probe, which the overall deadline bounds from before DNS to the end:
//! each connect attempt gets what the planner allows, and every read and write a socket timeout recomputed from the
//! next deadline just before the call. The OS resolver (`getaddrinfo`) cannot be interrupted, so each lookup runs
//! on a thread of its own, abandoned when the deadline passes; at most
//! [`MAX_LOOKUPS`](proto::connect::MAX_LOOKUPS) such threads are alive at once in the process, so a resolver that
//! hangs cannot pile them up (a probe that finds none free before its deadline reports `local_error`). A round
//! trip's mailbox connection follows the same planner and socket rules.
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

use std::net::{Shutdown, TcpStream};
use std::time::{Instant, SystemTime};

use smtp_probe_proto::connect::{Conversation, Dial, Dialer, Io, ProbeStart};

pub use smtp_probe_proto::imap::MailboxConfig;
pub use smtp_probe_proto::{
    self as proto, AddressFamily, AddressPolicy, Cause, ConfigError, EnvelopePart, Error, HostnameError, Origin,
    ProbeConfig, Report, Target, TargetError, TlsConfig, TlsConfigError, TlsMode, Verdict,
};
pub use smtp_probe_proto::{RoundTripConfig, RoundTripReport, Secret};

mod roundtrip;
pub use roundtrip::roundtrip;

mod dns;
mod socket;

use socket::{connect, quick_ack, read_before, write_before};

/// Bytes read from the socket at a time. SMTP replies are small; TLS records are reassembled by rustls.
const READ_CHUNK: usize = 4096;

/// Probes the configuration's target once and returns the report. With [`AddressFamily::Both`], each family is
/// probed and the worst report is returned (the others are noted in its findings); use [`probe_each`] for all of
/// them.
///
/// Everything the network or the server does is in the report: a name that does not resolve, a refused
/// connection, a timeout, an address the [`AddressPolicy`] denies are verdicts, not errors.
pub fn probe(config: &ProbeConfig) -> Report {
    dial(config).into_report()
}

/// Probes the configuration's target, one report per address group of the address-family policy (one, or one per
/// family for [`AddressFamily::Both`]). Never empty.
pub fn probe_each(config: &ProbeConfig) -> Vec<Report> {
    dial(config).into_reports()
}

/// Steps a dialer to the end: lookups, connections and conversations.
fn dial(config: &ProbeConfig) -> Dialer {
    let mut dialer = Dialer::new(config, ProbeStart::new(config, Instant::now(), SystemTime::now()));
    loop {
        match dialer.poll(Instant::now()) {
            Dial::Resolve { deadline } => match dns::resolve(dialer.target(), deadline) {
                Ok(addrs) => dialer.handle_resolved(Instant::now(), addrs),
                Err(failure) => dialer.handle_resolve_failed(Instant::now(), failure),
            },
            Dial::Connect { addr, deadline } => match connect(addr, deadline) {
                Ok(stream) => {
                    let report = converse(stream, Conversation::over(dialer.handle_connected(Instant::now())));
                    dialer.handle_report(Instant::now(), report);
                }
                Err(failure) => dialer.handle_connect_failed(Instant::now(), failure),
            },
            Dial::Done => return dialer,
        }
    }
}

/// Runs a session over an already connected stream (for callers who connect themselves, e.g. through a proxy).
/// The overall deadline starts now.
pub fn probe_stream(stream: TcpStream, config: &ProbeConfig) -> Report {
    let now = Instant::now();
    let start = ProbeStart::new(config, now, SystemTime::now());
    let peer = stream.peer_addr().ok();
    converse(stream, Conversation::new(config, now, start, peer))
}

/// The pump: what the conversation asks for, done on the socket (see [`proto::connect::Io`]).
fn converse(mut stream: TcpStream, mut conversation: Conversation) -> Report {
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; READ_CHUNK];
    loop {
        match conversation.poll(Instant::now()) {
            Io::Write { bytes, until } => match write_before(&mut stream, &bytes, until) {
                Ok(true) => {}
                Ok(false) => conversation.handle_timeout(Instant::now()),
                Err(_) => conversation.handle_eof(Instant::now()),
            },
            Io::Read { until, quick_ack: ack } => {
                if ack {
                    quick_ack(&stream);
                }
                match read_before(&mut stream, &mut buf, until) {
                    Ok(Some(0)) | Err(_) => conversation.handle_eof(Instant::now()),
                    Ok(Some(n)) => conversation.handle_input(Instant::now(), &buf[..n]),
                    Ok(None) => conversation.handle_timeout(Instant::now()),
                }
            }
            Io::Close => {
                let _ = stream.shutdown(Shutdown::Write);
                return conversation.into_report();
            }
        }
    }
}
