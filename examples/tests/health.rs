//! `health-endpoint` in-process against a loopback responder: 200 while the server is up, 503 once it is gone
//! and the next background probe ran; requests answer at once, whatever the prober is doing.

mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use smtp_probe_examples::health::{Args, serve};
use smtp_probe_testserver::Responder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Starts the endpoint for `target` with a short interval; returns its address and a stop switch.
async fn start(target: &str, interval: &str) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let args = Args::try_parse_from([
        "health-endpoint",
        "--listen",
        "127.0.0.1:0",
        "--target",
        target,
        "--interval",
        interval,
        "--timeout",
        "3",
        "--ehlo-name",
        "probe.test",
    ])
    .unwrap();
    let (settings, _) = args.settings().unwrap();
    let listener = TcpListener::bind(args.listen).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        serve(listener, &settings, async {
            let _ = stopped.await;
        })
        .await
    });
    (addr, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_then_down_after_the_server_stops() {
    let server = Responder::new().start().unwrap();
    let target = format!("127.0.0.1:{}", server.port());
    let (addr, stop) = start(&target, "0.2").await;

    let up = support::wait_for_status(addr, "/health/mail", 200, Duration::from_secs(5)).await;
    assert_eq!(up.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&up.body).unwrap();
    assert_eq!(body["verdict"], "up", "{body}");
    assert_eq!(body["cause"], serde_json::Value::Null, "{body}");
    assert!(body["summary"].as_str().unwrap().starts_with(&format!("up: {target} answered in")), "{body}");
    assert_eq!(body["target"], target.as_str());
    // Every probe said goodbye.
    let transcripts = server.transcripts();
    assert!(transcripts.iter().all(|t| t.last().map(String::as_str) == Some("QUIT")), "{transcripts:?}");

    tokio::task::spawn_blocking(move || server.shutdown()).await.unwrap();
    let down = support::wait_for_status(addr, "/health/mail", 503, Duration::from_secs(5)).await;
    let body: serde_json::Value = serde_json::from_str(&down.body).unwrap();
    assert_eq!(body["verdict"], "down", "{body}");
    assert_eq!(body["cause"], "connect_refused", "{body}");
    assert!(body["summary"].as_str().unwrap().starts_with("down: connect_refused"), "{body}");

    assert_eq!(support::get(addr, "/elsewhere").await.status, 404);
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_wait_for_a_probe() {
    // A server that takes a second to greet: the first probe is still running when the requests come.
    let server = Responder::new().greeting_delay(Duration::from_secs(1)).start().unwrap();
    let (addr, stop) = start(&format!("127.0.0.1:{}", server.port()), "60").await;
    for _ in 0..3 {
        let asked = Instant::now();
        let pending = support::get(addr, "/health/mail").await;
        assert!(asked.elapsed() < Duration::from_millis(500), "the request waited {:?}", asked.elapsed());
        assert_eq!(pending.status, 503);
        let body: serde_json::Value = serde_json::from_str(&pending.body).unwrap();
        assert_eq!((body["verdict"].as_str(), body["cause"].as_str()), (Some("unknown"), Some("pending")), "{body}");
    }
    // Then the probe finishes, and its result is served.
    support::wait_for_status(addr, "/health/mail", 200, Duration::from_secs(5)).await;
    assert_eq!(server.connections(), 1, "one probe per interval, however many requests");
    let _ = stop.send(());
}
