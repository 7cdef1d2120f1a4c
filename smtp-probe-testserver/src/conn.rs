//! One accepted connection: a plain-or-TLS stream, a line reader and the
//! recorder that writes the connection's transcript into the shared state.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::server::Shared;

/// Longest line (or unterminated run of bytes) the server buffers.
const MAX_LINE: usize = 1 << 20;

/// How long a graceful close waits for the client to close its side.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection already closed")
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(s) => Some(s.get_ref().0),
            Stream::Gone => None,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
}

/// Writes one connection's events into the shared log. Marks the connection
/// closed when dropped (also on panic or server shutdown).
pub(crate) struct Recorder {
    shared: Arc<Shared>,
    index: usize,
}

impl Recorder {
    pub(crate) fn new(shared: Arc<Shared>, index: usize) -> Self {
        Recorder { shared, index }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn raw(&self, bytes: &[u8]) {
        self.shared.with_log(self.index, |log| log.raw.extend_from_slice(bytes));
    }

    fn line(&self, line: &[u8]) {
        let text = line_text(line);
        self.shared.with_log(self.index, |log| log.lines.push(text));
    }

    pub(crate) fn error(&self, message: impl Into<String>) {
        let message = message.into();
        self.shared.with_log(self.index, |log| log.errors.push(message));
    }

    fn tls_started(&self, sni: Option<String>, version: Option<String>) {
        self.shared.with_log(self.index, |log| {
            log.tls_started_at = Some(log.lines.len());
            log.sni = sni;
            log.tls_version = version;
        });
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shared.connection_closed(self.index);
    }
}

/// A transcript line: the bytes without their `\r\n` (or bare `\n`), lossy UTF-8.
fn line_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

pub(crate) struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    pub(crate) rec: Recorder,
}

impl Conn {
    pub(crate) fn new(tcp: TcpStream, rec: Recorder) -> Self {
        Conn { stream: Stream::Plain(tcp), buf: Vec::new(), rec }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Writes and flushes.
    pub(crate) async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads one `\n`-terminated line (terminator included) and records it.
    /// `Ok(None)` on end of stream; an unterminated tail is recorded and dropped.
    pub(crate) async fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                self.rec.line(&line);
                return Ok(Some(line));
            }
            if self.buf.len() > MAX_LINE {
                self.buf.clear();
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                if !self.buf.is_empty() {
                    let tail = std::mem::take(&mut self.buf);
                    self.rec.line(&tail);
                    self.rec.error("client closed the connection in the middle of a line");
                }
                return Ok(None);
            }
            self.rec.raw(&chunk[..n]);
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads a DATA body up to and excluding the `.` line that follows a CRLF.
    /// Returns the raw (still dot-stuffed) body, or `None` on end of stream.
    /// Stops storing bytes after `limit` bytes (the rest is read and discarded)
    /// and then reports `true` as the second element.
    pub(crate) async fn read_data_body(&mut self, limit: usize) -> io::Result<Option<(Vec<u8>, bool)>> {
        let mut body = Vec::new();
        let mut too_big = false;
        let mut after_crlf = true;
        loop {
            let Some(line) = self.read_line().await? else {
                return Ok(None);
            };
            if after_crlf && line == b".\r\n" {
                return Ok(Some((body, too_big)));
            }
            after_crlf = line.ends_with(b"\r\n");
            if body.len() + line.len() > limit {
                too_big = true;
            } else {
                body.extend_from_slice(&line);
            }
        }
    }

    /// Server-side TLS handshake on the current (plain) stream. Plaintext the
    /// client pipelined before the handshake is recorded and discarded.
    pub(crate) async fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
        if !self.buf.is_empty() {
            let pending = std::mem::take(&mut self.buf);
            for line in pending.split_inclusive(|&b| b == b'\n') {
                self.rec.line(line);
            }
            self.rec.error(format!("discarded {} bytes of plaintext sent before the TLS handshake", pending.len()));
        }
        let tcp = match std::mem::replace(&mut self.stream, Stream::Gone) {
            Stream::Plain(tcp) => tcp,
            other => {
                self.stream = other;
                return Err(io::Error::other("TLS is already active"));
            }
        };
        match tokio_rustls::TlsAcceptor::from(config).accept(tcp).await {
            Ok(tls) => {
                let session = tls.get_ref().1;
                let sni = session.server_name().map(str::to_owned);
                let version = session.protocol_version().map(|v| format!("{v:?}"));
                self.rec.tls_started(sni, version);
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
            Err(e) => {
                self.rec.error(format!("TLS handshake failed: {e}"));
                Err(e)
            }
        }
    }

    /// Graceful close: TLS close_notify (if in TLS) and FIN, then read (and
    /// record) whatever the client still sends until it closes, for a while.
    /// Draining avoids the kernel answering unread data with a RST.
    pub(crate) async fn close(mut self) {
        if matches!(self.stream, Stream::Gone) {
            return;
        }
        let _ = self.stream.shutdown().await;
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, async { while let Ok(Some(_)) = self.read_line().await {} }).await;
    }

    /// Abortive close: SO_LINGER 0 then close, so the client gets a RST.
    pub(crate) fn reset(mut self) {
        if let Some(tcp) = self.stream.tcp() {
            if let Err(e) = tcp.set_zero_linger() {
                self.rec.error(format!("could not set SO_LINGER 0: {e}"));
            }
        }
        self.stream = Stream::Gone;
    }

    /// Reads and records until the client closes, then keeps the socket open
    /// until the server shuts down.
    pub(crate) async fn hang(mut self) {
        while let Ok(Some(_)) = self.read_line().await {}
        std::future::pending::<()>().await;
    }
}
