//! What the tests share: a tiny HTTP/1.1 client (loopback only) and `promtool check metrics`.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status code, headers (lower-case names), body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// `GET path` on a loopback server, with extra headers.
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    assert!(addr.ip().is_loopback(), "tests talk to loopback only");
    let mut stream = TcpStream::connect(addr).await.expect("connect to the HTTP server");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await.expect("HTTP answer").unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete HTTP response");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    assert!(headers.iter().all(|(n, _)| n != "transfer-encoding"), "this client reads only Content-Length bodies");
    Response { status, headers, body: body.to_owned() }
}

/// `GET path` on a loopback server.
pub async fn get(addr: SocketAddr, path: &str) -> Response {
    get_with(addr, path, &[]).await
}

/// Polls `GET path` until it answers `status`, for at most `limit`.
pub async fn wait_for_status(addr: SocketAddr, path: &str, status: u16, limit: Duration) -> Response {
    let start = Instant::now();
    loop {
        let response = get(addr, path).await;
        if response.status == status {
            return response;
        }
        assert!(start.elapsed() < limit, "no {status} from {path} within {limit:?}; last: {response:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `promtool check metrics` on `text`; `None` (with the reason printed) when promtool is not installed.
pub fn promtool_check(text: &str) -> Option<Result<(), String>> {
    smtp_probe_testsuite::promtool::check_metrics(text)
}
