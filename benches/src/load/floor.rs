//! The floor: a minimal hand-written tokio client doing the same exchange as a probe (connect, greeting, EHLO,
//! [STARTTLS, TLS handshake, EHLO,] QUIT) with trivial parsing: a reply is complete when the buffer ends in CRLF
//! and its last line has a space after the code. No report, no timings, no capability parsing. Its CPU per probe
//! is what the network exchange itself costs in this process (syscalls, the runtime, TLS), the floor a probe
//! engine is measured against.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How the floor client uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorTls {
    /// No TLS.
    None,
    /// STARTTLS after the first EHLO, then EHLO again.
    StartTls,
    /// TLS from the first byte.
    Implicit,
    /// Only a TLS handshake on an implicit-TLS port, then close_notify and close: no SMTP at all. What the
    /// handshake alone costs, to split a TLS probe's cost into handshake and conversation.
    HandshakeOnly,
}

/// What the floor client needs: address, TLS mode and (for TLS) a connector and the name to verify.
#[derive(Clone)]
pub struct Floor {
    /// Where to connect.
    pub addr: SocketAddr,
    /// TLS mode.
    pub tls: FloorTls,
    /// The connector: ring, the given roots only, full verification, no session resumption (a probe must see
    /// the certificate each time, as smtp-probe does).
    pub connector: Option<(TlsConnector, ServerName<'static>)>,
}

/// A rustls client configuration like smtp-probe's: ring, safe default versions, these roots, no resumption.
pub fn client_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// Reads until a complete reply is buffered and returns its code. Trivial parsing, on purpose.
async fn reply<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut [u8; 2048]) -> Result<u16, &'static str> {
    let mut len = 0;
    loop {
        let n = stream.read(&mut buf[len..]).await.map_err(|_| "io")?;
        if n == 0 {
            return Err("connection_closed");
        }
        len += n;
        let data = &buf[..len];
        if data.ends_with(b"\r\n") {
            let last_start = data[..len - 2].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let last = &data[last_start..];
            if last.len() >= 4 && last[3] == b' ' {
                let code = last[..3].iter().fold(0u16, |acc, &d| acc * 10 + u16::from(d.wrapping_sub(b'0')));
                return Ok(code);
            }
        }
        if len == buf.len() {
            return Err("reply_too_long");
        }
    }
}

async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut [u8; 2048],
    line: &[u8],
    want: u16,
    cause: &'static str,
) -> Result<(), &'static str> {
    stream.write_all(line).await.map_err(|_| "io")?;
    match reply(stream, buf).await? {
        code if code == want => Ok(()),
        _ => Err(cause),
    }
}

/// EHLO and QUIT, the part every mode ends with.
async fn ehlo_quit<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut [u8; 2048],
) -> Result<(), &'static str> {
    command(stream, buf, b"EHLO probe.example.org\r\n", 250, "ehlo_rejected").await?;
    command(stream, buf, b"QUIT\r\n", 221, "quit_rejected").await?;
    let _ = stream.shutdown().await;
    Ok(())
}

/// The TCP stream under TLS, acknowledging at once when it is read again without a write in between: the same
/// ACK policy as smtp-probe's adapters. An OpenSSL server (Postfix) sends its TLS 1.3 session tickets, then its
/// next reply, and with Nagle on the reply waits for our delayed ACK of the tickets (40 ms per probe) unless the
/// client acknowledges them as soon as it finds it needs more input. Reads answered by a write need nothing: the
/// write carries the ACK.
pub struct AckTcp {
    tcp: TcpStream,
    read_since_write: bool,
}

impl AsyncRead for AckTcp {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if std::mem::take(&mut self.read_since_write) {
            let _ = self.tcp.set_quickack(true);
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.read_since_write = true;
        }
        polled
    }
}

impl AsyncWrite for AckTcp {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.read_since_write = false;
        Pin::new(&mut self.tcp).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

impl Floor {
    /// One probe. `Err` names the step that failed.
    pub async fn probe(&self) -> Result<(), &'static str> {
        let tcp = TcpStream::connect(self.addr).await.map_err(|_| "connect_failed")?;
        let _ = tcp.set_nodelay(true);
        let mut buf = [0u8; 2048];
        match (self.tls, &self.connector) {
            (FloorTls::None, _) => {
                let mut tcp = tcp;
                if reply(&mut tcp, &mut buf).await? != 220 {
                    return Err("greeting_rejected");
                }
                ehlo_quit(&mut tcp, &mut buf).await
            }
            (FloorTls::StartTls, Some((connector, name))) => {
                let mut tcp = tcp;
                if reply(&mut tcp, &mut buf).await? != 220 {
                    return Err("greeting_rejected");
                }
                command(&mut tcp, &mut buf, b"EHLO probe.example.org\r\n", 250, "ehlo_rejected").await?;
                command(&mut tcp, &mut buf, b"STARTTLS\r\n", 220, "starttls_rejected").await?;
                let mut tls = connector
                    .connect(name.clone(), AckTcp { tcp, read_since_write: false })
                    .await
                    .map_err(|_| "tls_handshake_failed")?;
                ehlo_quit(&mut tls, &mut buf).await
            }
            (FloorTls::Implicit, Some((connector, name))) => {
                let mut tls = connector
                    .connect(name.clone(), AckTcp { tcp, read_since_write: false })
                    .await
                    .map_err(|_| "tls_handshake_failed")?;
                if reply(&mut tls, &mut buf).await? != 220 {
                    return Err("greeting_rejected");
                }
                ehlo_quit(&mut tls, &mut buf).await
            }
            (FloorTls::HandshakeOnly, Some((connector, name))) => {
                let mut tls = connector
                    .connect(name.clone(), AckTcp { tcp, read_since_write: false })
                    .await
                    .map_err(|_| "tls_handshake_failed")?;
                let _ = tls.shutdown().await;
                Ok(())
            }
            (_, None) => Err("no_tls_connector"),
        }
    }
}
