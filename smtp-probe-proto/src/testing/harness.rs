//! The harness: a scripted server and a simulated clock around a [`Probe`].

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use crate::probe::{Output, Probe};
use crate::{ProbeConfig, Report, TlsFailure, TlsInfo};

/// One thing the scripted server does.
#[derive(Debug, Clone)]
pub enum ServerStep {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Wait for the client's next command line and check it starts with this text (case-insensitive).
    Expect(String),
    /// Let this much time pass before the next step.
    Delay(Duration),
    /// Close the connection.
    Close,
    /// Never say anything again.
    Hang,
    /// When the probe asks for TLS, report this handshake as established.
    TlsEstablished(TlsInfo),
    /// When the probe asks for TLS, report this failure.
    TlsFailed(TlsFailure),
}

/// A server script.
pub type Script = Vec<ServerStep>;

/// Shorthand for `ServerStep::Expect`.
pub fn expect(prefix: &str) -> ServerStep {
    ServerStep::Expect(prefix.to_owned())
}

/// Shorthand for `ServerStep::Send` of text.
pub fn send(text: &str) -> ServerStep {
    ServerStep::Send(text.as_bytes().to_vec())
}

/// How server bytes reach the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Each `Send` in one piece.
    Whole,
    /// Cut once at this offset into the whole server byte stream.
    SplitAt(usize),
    /// In pieces of this many bytes.
    Chunks(usize),
}

/// Drives a probe against a script with a simulated clock.
#[derive(Debug)]
pub struct Harness {
    probe: Probe,
    script: VecDeque<ServerStep>,
    start: Instant,
    now: Instant,
    feed: Feed,
    /// Server bytes fed so far (for `Feed::SplitAt`).
    fed: usize,
    client_bytes: Vec<u8>,
    client_lines: Vec<String>,
    unread_lines: VecDeque<String>,
    mismatches: Vec<String>,
    server_closed: bool,
}

/// The wall-clock time a harness's probe starts at, 2026-01-01T00:00:00Z: fixed, so that reports are reproducible.
pub fn wall_start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// Polls after which a probe that has not finished is a bug: a finite script and finite deadlines must end.
const MAX_POLLS: usize = 100_000;

impl Harness {
    /// A harness starting at `start` (the connection instant), at the wall-clock time [`wall_start`].
    pub fn new(config: ProbeConfig, start: Instant, script: Script) -> Harness {
        Harness {
            probe: Probe::new(config, start, wall_start()),
            script: script.into(),
            start,
            now: start,
            feed: Feed::Whole,
            fed: 0,
            client_bytes: Vec::new(),
            client_lines: Vec::new(),
            unread_lines: VecDeque::new(),
            mismatches: Vec::new(),
            server_closed: false,
        }
    }

    /// Feeds server bytes this way.
    pub fn with_feed(mut self, feed: Feed) -> Harness {
        self.feed = feed;
        self
    }

    /// Runs to the end and returns the report. Panics if the probe does not finish within a bounded number of
    /// polls (a bug in the probe, never in the server).
    pub fn run(&mut self) -> Report {
        for _ in 0..MAX_POLLS {
            match self.probe.poll_output(self.now) {
                // A copy: the harness keeps the probe for inspection after the run.
                Output::Done => return self.probe.report().clone(),
                Output::Transmit(bytes) => self.client_sent(&bytes),
                Output::StartTls(_) => self.tls(),
                Output::Timeout(deadline) => self.serve_until(deadline),
            }
        }
        panic!("the probe did not finish within {MAX_POLLS} polls");
    }

    /// The command lines the probe sent, credentials as they went on the wire.
    pub fn client_lines(&self) -> &[String] {
        &self.client_lines
    }

    /// Every byte the probe sent.
    pub fn client_bytes(&self) -> &[u8] {
        &self.client_bytes
    }

    /// `Expect` steps whose line did not match, as `"expected X, got Y"`.
    pub fn mismatches(&self) -> &[String] {
        &self.mismatches
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.start)
    }

    /// The probe (for inspecting buffers after a run).
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    fn client_sent(&mut self, bytes: &[u8]) {
        self.client_bytes.extend_from_slice(bytes);
        // A message body follows DATA in one transmit; the server answers it once, after the final dot.
        if self.client_lines.last().is_some_and(|l| l.eq_ignore_ascii_case("DATA")) && bytes.ends_with(b"\r\n.\r\n") {
            self.record_line("<message>".to_owned());
            return;
        }
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.record_line(String::from_utf8_lossy(line).into_owned());
        }
    }

    fn record_line(&mut self, line: String) {
        self.client_lines.push(line.clone());
        self.unread_lines.push_back(line);
    }

    fn tls(&mut self) {
        match self.script.pop_front() {
            Some(ServerStep::TlsEstablished(info)) => {
                self.probe.handle_tls_established(self.now, info).expect("the probe asked for TLS");
            }
            Some(ServerStep::TlsFailed(failure)) => {
                self.probe.handle_tls_failed(self.now, failure).expect("the probe asked for TLS");
            }
            other => {
                self.mismatches.push(format!("expected a TLS step, script has {other:?}"));
                self.probe.handle_tls_failed(self.now, TlsFailure::Closed).expect("the probe asked for TLS");
            }
        }
    }

    /// Runs the server until it has given the probe something new, or jumps to the deadline when it never will.
    fn serve_until(&mut self, deadline: Instant) {
        loop {
            let Some(step) = self.script.pop_front() else {
                // The script is over: the server closes, as a real one does after QUIT.
                if !self.server_closed {
                    self.server_closed = true;
                    self.probe.handle_eof(self.now);
                    return;
                }
                self.jump(deadline);
                return;
            };
            match step {
                ServerStep::Send(bytes) => {
                    self.feed_bytes(&bytes);
                    return;
                }
                ServerStep::Expect(prefix) => match self.unread_lines.pop_front() {
                    Some(line) => {
                        if !line.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()) {
                            self.mismatches.push(format!("expected {prefix:?}, got {line:?}"));
                        }
                    }
                    None => {
                        // The server waits for a command while the probe waits for a reply: time passes.
                        self.script.push_front(ServerStep::Expect(prefix));
                        self.jump(deadline);
                        return;
                    }
                },
                ServerStep::Delay(d) => {
                    let until = crate::config::deadline_after(self.now, d);
                    if until < deadline {
                        self.now = until;
                    } else {
                        let left = d.saturating_sub(deadline.saturating_duration_since(self.now));
                        self.script.push_front(ServerStep::Delay(left));
                        self.jump(deadline);
                        return;
                    }
                }
                ServerStep::Close => {
                    self.server_closed = true;
                    self.probe.handle_eof(self.now);
                    return;
                }
                ServerStep::Hang => {
                    self.script.push_front(ServerStep::Hang);
                    self.jump(deadline);
                    return;
                }
                step @ (ServerStep::TlsEstablished(_) | ServerStep::TlsFailed(_)) => {
                    // The probe did not ask for TLS yet: it waits for something else, so time passes.
                    self.script.push_front(step);
                    self.jump(deadline);
                    return;
                }
            }
        }
    }

    fn jump(&mut self, deadline: Instant) {
        self.now = self.now.max(deadline);
        self.probe.handle_timeout(self.now);
    }

    fn feed_bytes(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            // An empty write delivers nothing (and `chunks` would make no piece at all).
            return;
        }
        let pieces: Vec<&[u8]> = match self.feed {
            Feed::Whole => vec![bytes],
            Feed::Chunks(n) => bytes.chunks(n.max(1)).collect(),
            Feed::SplitAt(at) if at > self.fed && at < self.fed + bytes.len() => {
                let (a, b) = bytes.split_at(at - self.fed);
                vec![a, b]
            }
            Feed::SplitAt(_) => vec![bytes],
        };
        self.fed += bytes.len();
        let last = pieces.len() - 1;
        let mut tls_requested = false;
        for (i, piece) in pieces.into_iter().enumerate() {
            self.probe.handle_input(self.now, piece);
            if i < last && !tls_requested {
                // Let the probe look at the partial input, as it would between two reads.
                match self.probe.poll_output(self.now) {
                    Output::Timeout(_) => {}
                    Output::Transmit(bytes) => self.client_sent(&bytes),
                    Output::Done => return,
                    // The rest of this write went out in plaintext before any handshake: it reaches the probe
                    // before the handshake's result does, never as if it had come through TLS.
                    Output::StartTls(_) => tls_requested = true,
                }
            }
        }
        if tls_requested {
            self.tls();
        }
    }
}
