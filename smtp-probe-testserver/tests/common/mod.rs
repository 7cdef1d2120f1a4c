//! Minimal SMTP client helpers for the tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use smtp_probe_testserver::TestPki;
use smtp_probe_testserver::rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client<S> {
    pub io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Client { io: BufReader::new(stream) }
    }

    /// One raw line (with terminator); empty string on EOF.
    pub async fn line(&mut self) -> String {
        let mut line = String::new();
        tokio::time::timeout(TIMEOUT, self.io.read_line(&mut line))
            .await
            .expect("timed out reading a line")
            .expect("read error");
        line
    }

    /// One reply: all its lines without CRLF.
    pub async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            assert!(line.ends_with("\r\n"), "bad reply line {line:?} after {lines:?}");
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    pub async fn send(&mut self, text: &str) {
        self.io.get_mut().write_all(text.as_bytes()).await.unwrap();
        self.io.get_mut().flush().await.unwrap();
    }

    /// Sends `line` + CRLF and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> Vec<String> {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }

    /// Sends `line` + CRLF and returns the single-line reply.
    pub async fn cmd1(&mut self, line: &str) -> String {
        let mut reply = self.cmd(line).await;
        assert_eq!(reply.len(), 1, "{reply:?}");
        reply.remove(0)
    }
}

pub async fn connect(addr: std::net::SocketAddr) -> Client<TcpStream> {
    Client::new(TcpStream::connect(addr).await.unwrap())
}

pub fn connector(pki: &TestPki) -> TlsConnector {
    TlsConnector::from(pki.client_config())
}

pub async fn tls_handshake(pki: &TestPki, tcp: TcpStream, name: &str) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    tokio::time::timeout(TIMEOUT, connector(pki).connect(name, tcp)).await.expect("TLS handshake timed out")
}

/// The rustls error inside an I/O error from a failed handshake.
pub fn rustls_error(e: &std::io::Error) -> Option<&smtp_probe_testserver::rustls::Error> {
    e.get_ref()?.downcast_ref()
}

pub fn plain(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"))
}

pub fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub fn shared_pki() -> Arc<TestPki> {
    Arc::new(TestPki::new().unwrap())
}
