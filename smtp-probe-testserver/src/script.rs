//! Scripted mode: a fixed list of [`Step`]s run on each accepted connection.
//!
//! A script that runs out of steps closes the connection gracefully (as
//! [`Step::Close`]). A failed expectation is recorded in the connection's
//! [`ConnectionLog::errors`](crate::ConnectionLog::errors) and closes the
//! connection the same way; so does the client closing while a step waits
//! for input.
//!
//! ```
//! use smtp_probe_testserver::Script;
//! use std::io::{BufRead, BufReader, Write};
//!
//! let server = Script::new()
//!     .reply("220 mx.test ESMTP")
//!     .expect("EHLO")
//!     .send("250-mx.test\r\n250 PIPELINING\n") // bare LF on the last line
//!     .expect("QUIT")
//!     .reply("221 Bye")
//!     .start()?;
//!
//! let mut stream = std::net::TcpStream::connect(server.addr())?;
//! let mut reader = BufReader::new(stream.try_clone()?);
//! let mut line = String::new();
//! reader.read_line(&mut line)?;
//! stream.write_all(b"EHLO probe.test\r\nQUIT\r\n")?;
//! for _ in 0..3 {
//!     line.clear();
//!     reader.read_line(&mut line)?;
//! }
//! assert_eq!(line, "221 Bye\r\n");
//! drop((reader, stream));
//! assert!(server.wait_for_closed(1, std::time::Duration::from_secs(10)));
//! assert_eq!(server.transcripts()[0], ["EHLO probe.test", "QUIT"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use crate::certs::TestCert;
use crate::conn::Conn;
use crate::server::{ServerBuilder, TestServer, starts_with_ignore_case};

/// One step of a [`Script`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Step {
    /// Write these bytes verbatim (malformed replies, bare LF, TLS records, garbage...).
    Send(Vec<u8>),
    /// Write the bytes one at a time, sleeping `interval` between bytes
    /// (inside TLS, each byte is its own TLS record).
    Drip {
        /// What to send.
        bytes: Vec<u8>,
        /// Pause between two bytes.
        interval: Duration,
    },
    /// Stay silent for this long (still not reading).
    Sleep(Duration),
    /// Read one line (any content). A line ends at LF; whether the client
    /// sent CRLF or a bare LF shows in [`ConnectionLog::raw`](crate::ConnectionLog::raw).
    ExpectLine,
    /// Read one line that must start with this prefix (ASCII case-insensitive).
    /// On mismatch the error is recorded and the connection closed.
    Expect(String),
    /// Read a DATA body up to and including the `\r\n.\r\n` terminator.
    ReadDataBody,
    /// TLS server handshake now, with this certificate; the rest of the
    /// script runs inside TLS. Plaintext the client pipelined before the
    /// handshake is recorded and discarded. A failed handshake is recorded
    /// and ends the connection.
    StartTls(TestCert),
    /// Graceful close (TLS close_notify if in TLS, then FIN). The server then
    /// reads and records whatever the client still sends, for up to 3 s.
    Close,
    /// Abortive close: the client gets a TCP RST (SO_LINGER 0).
    Reset,
    /// Keep the connection open until the server stops, reading and recording
    /// (never replying).
    Hang,
}

/// A list of steps run on a connection, optionally inside implicit TLS.
/// Build it with the chained methods, then [`start`](Self::start) it (same
/// script for every connection) or pass a `Vec<Script>` to
/// [`start`](crate::start) (one script per connection, in accept order).
#[derive(Clone, Debug, Default)]
pub struct Script {
    steps: Vec<Step>,
    implicit_tls: Option<TestCert>,
}

impl Script {
    /// An empty script (which just closes the connection).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Appends [`Step::Send`] with these exact bytes.
    pub fn send(self, bytes: impl AsRef<[u8]>) -> Self {
        self.step(Step::Send(bytes.as_ref().to_vec()))
    }

    /// Appends [`Step::Send`] of `line` followed by CRLF.
    pub fn reply(self, line: impl AsRef<str>) -> Self {
        let mut bytes = line.as_ref().as_bytes().to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.step(Step::Send(bytes))
    }

    /// Appends [`Step::Drip`].
    pub fn drip(self, bytes: impl AsRef<[u8]>, interval: Duration) -> Self {
        self.step(Step::Drip { bytes: bytes.as_ref().to_vec(), interval })
    }

    /// Appends [`Step::Sleep`].
    pub fn sleep(self, duration: Duration) -> Self {
        self.step(Step::Sleep(duration))
    }

    /// Appends [`Step::ExpectLine`].
    pub fn expect_line(self) -> Self {
        self.step(Step::ExpectLine)
    }

    /// Appends [`Step::Expect`].
    pub fn expect(self, prefix: impl Into<String>) -> Self {
        self.step(Step::Expect(prefix.into()))
    }

    /// Appends [`Step::ReadDataBody`].
    pub fn read_data_body(self) -> Self {
        self.step(Step::ReadDataBody)
    }

    /// Appends [`Step::StartTls`].
    pub fn start_tls(self, cert: &TestCert) -> Self {
        self.step(Step::StartTls(cert.clone()))
    }

    /// Appends [`Step::Close`].
    pub fn close(self) -> Self {
        self.step(Step::Close)
    }

    /// Appends [`Step::Reset`].
    pub fn reset(self) -> Self {
        self.step(Step::Reset)
    }

    /// Appends [`Step::Hang`].
    pub fn hang(self) -> Self {
        self.step(Step::Hang)
    }

    /// Do a TLS handshake with this certificate as soon as the connection is
    /// accepted, before the first step (SMTPS, port 465 style).
    pub fn implicit_tls(mut self, cert: &TestCert) -> Self {
        self.implicit_tls = Some(cert.clone());
        self
    }

    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Starts a server on `127.0.0.1:0` running this script on every connection.
    pub fn start(self) -> Result<TestServer, crate::Error> {
        ServerBuilder::new(self).start()
    }
}

enum Flow {
    Next,
    Close,
    Reset,
    Hang,
}

pub(crate) async fn run(mut conn: Conn, script: &Script) {
    if let Some(cert) = &script.implicit_tls {
        if conn.start_tls(cert.server_config()).await.is_err() {
            return;
        }
    }
    for (i, step) in script.steps.iter().enumerate() {
        match run_step(&mut conn, i, step).await {
            Ok(Flow::Next) => {}
            Ok(Flow::Close) => break,
            Ok(Flow::Reset) => return conn.reset(),
            Ok(Flow::Hang) => return conn.hang().await,
            Err(e) => {
                conn.rec.error(format!("step {i} ({step:?}): {e}"));
                if matches!(step, Step::StartTls(_)) {
                    return; // the socket is gone
                }
                break;
            }
        }
    }
    conn.close().await;
}

async fn run_step(conn: &mut Conn, i: usize, step: &Step) -> std::io::Result<Flow> {
    match step {
        Step::Send(bytes) => conn.send(bytes).await?,
        Step::Drip { bytes, interval } => {
            for (n, byte) in bytes.iter().enumerate() {
                if n > 0 {
                    tokio::time::sleep(*interval).await;
                }
                conn.send(std::slice::from_ref(byte)).await?;
            }
        }
        Step::Sleep(d) => tokio::time::sleep(*d).await,
        Step::ExpectLine | Step::Expect(_) => {
            let Some(line) = conn.read_line().await? else {
                conn.rec.error(format!("step {i}: client closed the connection while {step:?} waited"));
                return Ok(Flow::Close);
            };
            if let Step::Expect(prefix) = step {
                let text = String::from_utf8_lossy(&line);
                if !starts_with_ignore_case(&text, prefix) {
                    conn.rec.error(format!(
                        "step {i}: expected a line starting with {prefix:?}, got {:?}",
                        text.trim_end_matches(['\r', '\n'])
                    ));
                    return Ok(Flow::Close);
                }
            }
        }
        Step::ReadDataBody => {
            if conn.read_data_body(0).await?.is_none() {
                conn.rec.error(format!("step {i}: client closed the connection inside a DATA body"));
                return Ok(Flow::Close);
            }
        }
        Step::StartTls(cert) => conn.start_tls(cert.server_config()).await?,
        Step::Close => return Ok(Flow::Close),
        Step::Reset => return Ok(Flow::Reset),
        Step::Hang => return Ok(Flow::Hang),
    }
    Ok(Flow::Next)
}
