//! Driving the peer tools: blackbox_exporter over HTTP (one `GET /probe` per probe, as Prometheus scrapes it) and
//! check_smtp as a process per probe (as Nagios runs it).

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One blackbox_exporter probe: `GET /probe?module=M&target=T` on a loopback exporter.
#[derive(Debug, Clone)]
pub struct Blackbox {
    /// The exporter's listen address (loopback).
    pub exporter: SocketAddr,
    /// The request, built once.
    pub request: Vec<u8>,
}

impl Blackbox {
    /// A driver for `module` probing `target` (HOST:PORT).
    pub fn new(exporter: SocketAddr, module: &str, target: &str) -> Blackbox {
        let request = format!(
            "GET /probe?module={module}&target={target} HTTP/1.1\r\nHost: {exporter}\r\n\
             X-Prometheus-Scrape-Timeout-Seconds: 10\r\nConnection: close\r\n\r\n"
        );
        Blackbox { exporter, request: request.into_bytes() }
    }

    /// One probe: the exporter's verdict (`probe_success 1`) or why not.
    pub async fn probe(&self) -> Result<(), &'static str> {
        let mut http = TcpStream::connect(self.exporter).await.map_err(|_| "exporter_unreachable")?;
        http.write_all(&self.request).await.map_err(|_| "exporter_io")?;
        let mut body = Vec::with_capacity(8192);
        http.read_to_end(&mut body).await.map_err(|_| "exporter_io")?;
        if !body.starts_with(b"HTTP/1.1 200") {
            return Err("exporter_http_error");
        }
        if contains(&body, b"\nprobe_success 1\n") { Ok(()) } else { Err("probe_failed") }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// check_smtp, a process per probe.
#[derive(Debug, Clone)]
pub struct CheckSmtp {
    /// Path of the plugin.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
}

impl CheckSmtp {
    /// `check_smtp -H host -p port -t 10 [-S]`.
    pub fn new(path: &str, host: &str, port: u16, starttls: bool) -> CheckSmtp {
        let mut args =
            vec!["-H".to_owned(), host.to_owned(), "-p".to_owned(), port.to_string(), "-t".into(), "10".into()];
        if starttls {
            args.push("-S".into());
        }
        CheckSmtp { path: path.to_owned(), args }
    }

    /// Runs it once and waits (the child is reaped, so its CPU lands in `RUSAGE_CHILDREN`). Exit 0 is OK.
    pub fn probe(&self) -> Result<(), &'static str> {
        let status = Command::new(&self.path)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|_| "spawn_failed")?;
        match status.code() {
            Some(0) => Ok(()),
            Some(1) => Err("check_smtp_warning"),
            Some(2) => Err("check_smtp_critical"),
            _ => Err("check_smtp_unknown"),
        }
    }
}
