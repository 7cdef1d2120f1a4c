//! Task 2: a readiness endpoint in an axum service, answered from a probe kept fresh in the background
//! (`CachedProbe`): a request never waits for SMTP, and the mail server sees one connection per interval, not one
//! per request. The body is the last report (the adapter's `serde` feature) and its age.

mod support;

// ---- user code ------------------------------------------------------------------------------------------------
use std::time::Duration;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};
use smtp_probe_tokio::{CachedProbe, Verdict};

/// `GET /ready`: 200 while a recent probe says the mail server takes mail (`up`, or `degraded`: it still does),
/// 503 before the first probe has finished, when it is down, or when the last report is stale.
fn readiness(cache: CachedProbe) -> Router {
    Router::new().route("/ready", get(ready)).with_state(cache)
}

async fn ready(State(cache): State<CachedProbe>) -> (StatusCode, Json<Value>) {
    let Some(last) = cache.latest() else {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "no probe has finished yet" })));
    };
    let fresh = last.age() <= 3 * cache.interval(); // a prober that stopped must not keep us ready
    let takes_mail = last.report().verdict != Verdict::Down;
    let status = if fresh && takes_mail { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "age_seconds": last.age().as_secs(), "report": last.report() })))
}
// Wiring it up: `let cache = CachedProbe::spawn(config, Duration::from_secs(120));`, then serve `readiness(cache)`.
// ---- end of user code -----------------------------------------------------------------------------------------

use smtp_probe_tokio::{ProbeConfig, Target, TlsConfig, TlsMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves the endpoint on a loopback port and returns `GET /ready`'s status and JSON body.
async fn get_ready(cache: &CachedProbe) -> (u16, Value) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, readiness(cache.clone())).into_future());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    server.abort();
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole HTTP response");
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}")))
}

#[tokio::test]
async fn ready_while_the_mail_server_takes_mail() {
    let Some(env) = support::postfix() else { return };
    let ca = std::fs::read(support::get(&env, "CA")).expect("the test CA");
    let target = Target::new(support::get(&env, "HOST"), support::get(&env, "PLAIN_PORT").parse().unwrap()).unwrap();
    let config = ProbeConfig::builder(target)
        .tls(TlsMode::StartTlsRequired)
        .tls_name(support::get(&env, "TLS_NAME"))
        .tls_config(TlsConfig::builder().add_ca_pem("test CA", &ca).unwrap().build().unwrap())
        .build()
        .unwrap();
    let cache = CachedProbe::spawn(config, Duration::from_secs(120));
    cache.wait_for_report().await;

    let (status, body) = get_ready(&cache).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["report"]["verdict"], "up");
    assert_eq!(body["report"]["tls"]["verified"], true);
    assert!(body["age_seconds"].as_u64().unwrap() < 120);
}

#[tokio::test]
async fn not_ready_before_the_first_probe_nor_when_the_server_is_down() {
    // A server that accepts connections but never greets: the first probe is still waiting when we ask.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = ProbeConfig::builder(Target::new("127.0.0.1", silent.local_addr().unwrap().port()).unwrap())
        .tls(TlsMode::None)
        .build()
        .unwrap();
    let (status, body) = get_ready(&CachedProbe::spawn(config, Duration::from_secs(120))).await;
    assert_eq!((status, body["status"].as_str()), (503, Some("no probe has finished yet")));

    // Nothing listens on the port any more: the connection is refused, the report says down.
    let closed = silent.local_addr().unwrap().port();
    drop(silent);
    let config = ProbeConfig::builder(Target::new("127.0.0.1", closed).unwrap()).tls(TlsMode::None).build().unwrap();
    let cache = CachedProbe::spawn(config, Duration::from_secs(120));
    cache.wait_for_report().await;
    let (status, body) = get_ready(&cache).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["report"]["verdict"], "down");
    assert_eq!(body["report"]["cause"], "connect_refused");
}
