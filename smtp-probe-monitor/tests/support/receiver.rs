//! A loopback webhook receiver for the alert tests: records every request (path, headers, JSON body, time)
//! and answers as scripted — 200 by default, or a queue of statuses with `Retry-After`, or not at all (its port
//! closed: connection refused). It can also enforce a rate limit the way Slack does, answering 429 past it.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub at: Instant,
    /// What it was answered.
    pub status: u16,
}

impl Received {
    /// The JSON body's alerts (generic webhook format).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        self.body["alerts"].as_array().cloned().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// A scripted answer.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub retry_after_secs: Option<u64>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply { status, retry_after_secs: None, delay: Duration::ZERO }
    }

    pub fn retry_after(mut self, secs: u64) -> Reply {
        self.retry_after_secs = Some(secs);
        self
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
    /// Slack-like limit: (requests per second, burst); past it, 429 with Retry-After: 1.
    limit: Option<(f64, f64)>,
    tokens: f64,
    refilled: Option<Instant>,
    in_flight: usize,
    max_in_flight: usize,
    delay: Duration,
}

/// The receiver. Dropping it stops it.
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A port on 127.0.0.1 that nothing listens on (for now).
pub fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

impl Receiver {
    /// Listens on a fresh port.
    pub async fn start() -> Receiver {
        Receiver::start_on(free_addr()).await
    }

    /// Listens on `addr` (a port reserved with [`free_addr`]), retrying the bind for a while.
    pub async fn start_on(addr: SocketAddr) -> Receiver {
        let mut r = Receiver { addr, inner: Arc::default(), task: None };
        r.listen().await;
        r
    }

    async fn listen(&mut self) {
        let mut last = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    let app = axum::Router::new().fallback(handle).with_state(self.inner.clone());
                    self.task = Some(tokio::spawn(async move {
                        let _ = axum::serve(listener, app).await;
                    }));
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot listen on {}: {last:?}", self.addr);
    }

    /// Stops listening: new connections are refused (every answer closes its connection, so none is reused).
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        if self.task.is_none() {
            self.listen().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with these, then 200 again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    /// Answers 429 (`Retry-After: 1`) past `per_second` with bursts of `burst`, as Slack does.
    pub fn rate_limit(&self, per_second: f64, burst: f64) {
        let mut i = self.inner.lock().unwrap();
        i.limit = Some((per_second, burst));
        i.tokens = burst;
    }

    /// Takes this long to answer each request.
    pub fn delay(&self, d: Duration) {
        self.inner.lock().unwrap().delay = d;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| (200..300).contains(&r.status)).collect()
    }

    /// Alerts in requests answered 2xx (generic webhook format), in order.
    pub fn accepted_alerts(&self) -> Vec<serde_json::Value> {
        self.accepted().iter().flat_map(Received::alerts).collect()
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_in_flight
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (reply, delay) = {
        let mut i = inner.lock().unwrap();
        i.in_flight += 1;
        i.max_in_flight = i.max_in_flight.max(i.in_flight);
        let now = Instant::now();
        let limited = match i.limit {
            Some((rate, burst)) => {
                let elapsed = i.refilled.map_or(0.0, |t| now.duration_since(t).as_secs_f64());
                i.tokens = (i.tokens + elapsed * rate).min(burst);
                i.refilled = Some(now);
                if i.tokens >= 1.0 {
                    i.tokens -= 1.0;
                    false
                } else {
                    true
                }
            }
            None => false,
        };
        let reply = if limited {
            Reply::status(429).retry_after(1)
        } else {
            i.script.pop_front().unwrap_or(Reply::status(200))
        };
        (reply, reply.delay.max(i.delay))
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    {
        let mut i = inner.lock().unwrap();
        i.in_flight -= 1;
        i.received.push(Received {
            path: uri.path().to_owned(),
            headers,
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            at: Instant::now(),
            status: reply.status,
        });
    }
    let mut h = HeaderMap::new();
    h.insert("connection", "close".parse().unwrap());
    if let Some(s) = reply.retry_after_secs {
        h.insert("retry-after", s.to_string().parse().unwrap());
    }
    let body = if reply.status == 200 { "ok" } else { "try later" };
    (StatusCode::from_u16(reply.status).unwrap(), h, body)
}
